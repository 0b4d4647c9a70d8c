"""``sacgmm policy-stats``: how widely a trained policy explores, on the states it last visited.

Example::

    sacgmm policy-stats runs/door_s0 runs/door_s1 --last 500 --json

For each run directory (its ``checkpoint.pt``) or checkpoint file: the policy's mean pre-tanh
standard deviation, mean absolute mode and share of saturated modes per action dimension
(:mod:`sacgmm.rl.policy_stats`) on the ``--last`` most recent states of the saved replay
buffer, the mean absolute action the agent took in them, the entropy temperature and the
number of updates. A std near 0.85 in every dimension means the training actions are nearly
uniform on ``[-1, 1]``.

``--held-below M`` (m; runs with the gripper's opening in the observation): the same figures
also for the states in which the gripper was open (opening >= M) and holding (< M) apart, with
the mean signed mode and action taken, e.g. to see what a grasping policy does once it holds.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("policy-stats", help="spread and mode of a trained policy on the "
                       "states of its replay buffer", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+", help="run directories or checkpoint files")
    p.add_argument("--last", type=int, default=500,
                   help="the most recent replay states to evaluate on (default 500)")
    p.add_argument("--held-below", type=float, default=None, metavar="M",
                   help="also split the states by the gripper's opening: open >= M m, held < M")
    p.add_argument("--json", action="store_true", help="one JSON object per checkpoint")
    p.set_defaults(func=_run)


def _stats(path: str, last: int, held_below: float | None = None) -> dict:
    import numpy as np
    import torch

    from sacgmm.rl.checkpoint import load_checkpoint
    from sacgmm.rl.policy_stats import policy_stats, recent_actions, recent_observations
    from sacgmm.rl.sac import SACAgent

    file = Path(path) / "checkpoint.pt" if Path(path).is_dir() else Path(path)
    payload = load_checkpoint(file)
    if payload.get("replay") is None:
        raise ValueError(f"{file}: the checkpoint holds no replay buffer (saved without it), "
                         "so there are no visited states to evaluate the policy on")
    torch.set_num_threads(1)
    agent = SACAgent.from_state_dict(payload["agent"])
    obs = recent_observations(payload["replay"], last)
    actions = recent_actions(payload["replay"], last)
    row = {"checkpoint": str(file), **policy_stats(agent, obs),
           # what the agent did: uniform actions on [-1, 1] give 0.5
           "abs_action_taken": [round(float(x), 4) for x in np.abs(actions).mean(0)]}
    if held_below is not None:
        if "gripper" not in obs:
            raise ValueError(f"{file}: --held-below needs the gripper's opening in the "
                             "observation (a run with gripper_obs=true)")
        opening = obs["gripper"][:, 0]
        for name, mask in (("open", opening >= held_below), ("held", opening < held_below)):
            if mask.any():
                part = policy_stats(agent, {k: v[mask] for k, v in obs.items()})
                row[name] = {k: part[k] for k in ("states", "std", "mode")}
                row[name]["action_taken"] = [round(float(x), 4) for x in actions[mask].mean(0)]
            else:
                row[name] = {"states": 0}
    return row


def _run(args) -> int:
    for path in args.checkpoints:
        row = _stats(path, args.last, args.held_below)
        if args.json:
            print(json.dumps(row))
        else:
            print(f"{row['checkpoint']}: {row['states']} states, {row['updates']} updates, "
                  f"alpha {row['alpha']:.4g}; std {row['std']}, |mode| {row['abs_mode']}, "
                  f"saturated {row['saturated']}, |action taken| {row['abs_action_taken']}")
            for name in ("open", "held"):
                if name in row:
                    print(f"  {name}: {row[name]}")
    return 0
