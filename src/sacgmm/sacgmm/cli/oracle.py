"""``sacgmm oracle``: can a privileged look-ahead policy reach the handle through delta-theta?

Example::

    sacgmm oracle --task door --windows 8 16 32 --episodes 30 --noise --out results/door/oracle.json

Runs :mod:`sacgmm.experiments.oracle` once per window length on the same episodes (episode
``i`` reset with seed ``seed + i``) and writes one JSON with a row per window, the command,
the seed and the machine. Simulation only: with ``--aim true`` the oracle reads the true
handle position; with ``--aim perceived`` it reads where the perceived target frame puts it.

``--distil-eval M`` also fits a policy network to the oracle's decisions on its ``--episodes``
episodes (behaviour cloning from the pose and gripper opening,
:mod:`sacgmm.experiments.distil`) and evaluates it on ``M`` other episodes (seeds from
``--eval-seed``)::

    sacgmm oracle --task door --windows 16 --episodes 150 --seed 1000000 --noise \
        --aim perceived --distil-eval 100 --out results/door/oracle_distil.json
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("oracle", help="privileged look-ahead steering through delta-theta, "
                       "per window length (grasping tasks)", description=__doc__.split("\n\n")[0])
    p.add_argument("--task", required=True, help="lever or door")
    p.add_argument("--windows", type=int, nargs="+", default=[32],
                   help="window lengths N to compare (control steps)")
    p.add_argument("--episodes", type=int, default=30)
    p.add_argument("--seed", type=int, default=10_000, help="episode i uses seed + i")
    p.add_argument("--noise", action="store_true", help="perceived target noise N(0, 1 cm)")
    p.add_argument("--skill", help="skill file (default: the task's demonstrated skill)")
    p.add_argument("--levels", type=int, default=5,
                   help="grid values per axis of the attractor shift (default layout)")
    p.add_argument("--approach-height", type=float, default=0.03,
                   help="m above the handle the oracle aims at until it is over it")
    p.add_argument("--aim", choices=("true", "perceived"), default="true",
                   help="aim at the handle where it is (privileged) or where the noisy "
                        "perceived target frame puts it (what a pose-only agent knows)")
    p.add_argument("--pull-lead", type=float, default=None, metavar="M",
                   help="once the handle is held, steer the pull to M metres beyond the goal "
                        "(default: the demonstrated skill pulls, zero action)")
    p.add_argument("--held-action", type=float, nargs="+", default=None, metavar="A",
                   help="the action (in [-1, 1]) sent while the handle is held, e.g. 0 0 0.4 "
                        "for a 2 cm upward shift at the default 5 cm scale (default: zero)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="delta_theta setting, e.g. attractor_scale=0.1 (repeatable; YAML values)")
    p.add_argument("--distil-eval", type=int, default=0, metavar="M",
                   help="fit a policy to the oracle's decisions and evaluate it on M episodes")
    p.add_argument("--eval-seed", type=int, default=900_000,
                   help="first episode seed of the distilled policy's evaluation")
    p.add_argument("--out", help="JSON file to write (atomically)")
    p.add_argument("--progress", action="store_true")
    p.set_defaults(func=run)


def _delta_settings(overrides: list[str]) -> dict:
    """``--set`` items as DeltaThetaConfig overrides (``delta_theta.`` prefix optional)."""
    from sacgmm.rl.config import parse_override
    out: dict = {}
    for item in overrides:
        item = item if item.startswith("delta_theta.") else "delta_theta." + item
        out.update(parse_override(item)["delta_theta"])
    return out


def _command(args: argparse.Namespace) -> str:
    """The command line that reproduces ``args`` (every option spelled out)."""
    parts = ["sacgmm", "oracle", "--task", args.task, "--windows", *map(str, args.windows),
             "--episodes", str(args.episodes), "--seed", str(args.seed),
             "--levels", str(args.levels), "--approach-height", str(args.approach_height),
             "--aim", args.aim]
    parts += ["--pull-lead", str(args.pull_lead)] if args.pull_lead is not None else []
    parts += (["--held-action", *map(str, args.held_action)]
              if args.held_action is not None else [])
    parts += ["--noise"] if args.noise else []
    parts += ["--skill", args.skill] if args.skill else []
    if args.distil_eval:
        parts += ["--distil-eval", str(args.distil_eval), "--eval-seed", str(args.eval_seed)]
    for item in args.overrides:
        parts += ["--set", item]
    parts += ["--out", args.out] if args.out else []
    return " ".join(shlex.quote(p) for p in parts)


def run(args: argparse.Namespace) -> int:
    from sacgmm.experiments.oracle import run_oracle
    from sacgmm.sim.config import TASKS, unknown_task_message

    if args.task not in TASKS:
        raise ValueError(unknown_task_message(args.task))
    if args.episodes < 1:
        raise ValueError("--episodes must be at least 1")
    if args.distil_eval < 0:
        raise ValueError("--distil-eval must be >= 0 episodes")
    settings = _delta_settings(args.overrides)
    skill = None
    if args.skill:
        from sacgmm.skill import load_skill
        skill = load_skill(args.skill)
    log = (lambda m: print(m, file=sys.stderr)) if args.progress else None
    rows = []
    for w in args.windows:
        records: list | None = [] if args.distil_eval else None
        row = run_oracle(args.task, w, args.episodes, args.seed, noise=args.noise, skill=skill,
                         delta_theta=settings, levels=args.levels,
                         approach_height=args.approach_height, aim=args.aim,
                         pull_lead=args.pull_lead, held_action=args.held_action,
                         progress=log,
                         record=records)
        if args.distil_eval:
            from sacgmm.experiments.distil import distil_oracle
            row["distilled"] = distil_oracle(args.task, w, records, args.distil_eval,
                                             args.eval_seed, args.noise, skill, settings)
        rows.append(row)
    from sacgmm.machine import machine_info
    report = {"command": _command(args),
              "delta_theta": settings, "machine": machine_info(), "windows": rows}
    text = json.dumps(report, indent=2)
    if args.out:
        from sacgmm.fileio import atomic_write_text
        atomic_write_text(args.out, text + "\n")
    for r in rows:
        print(f"window {r['window']:>3}: success {r['successes']}/{r['episodes']}, "
              f"grasped {r['grasped']}/{r['episodes']}, {r['wall_time_s']:.0f} s")
        if "distilled" in r:
            d = r["distilled"]
            print(f"            distilled policy: success {d['successes']}/{d['eval_episodes']} "
                  f"(fitted to {d['samples']} decisions of {d['train_episodes']} episodes)")
    return 0
