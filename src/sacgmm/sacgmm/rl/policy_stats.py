"""How widely a trained SAC policy explores, and where its mode sits, on the states it visited.

SAC's stochastic policy is a tanh-squashed diagonal Gaussian (:mod:`sacgmm.rl.networks`). With
sparse rewards its spread is set by the entropy temperature far more than by the critics: a
pre-tanh standard deviation near 0.8-0.9 in every action dimension means the training actions
are close to uniform on ``[-1, 1]`` (the squashed Gaussian's entropy is largest there), i.e.
the agent explores at random however good its deterministic policy is. These statistics read
that off a checkpoint, on the most recent states of its replay buffer.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np


def recent_observations(replay_state: Mapping, last: int) -> dict[str, np.ndarray]:
    """The ``last`` most recently stored observations of a saved replay buffer
    (:meth:`sacgmm.rl.replay.ReplayBuffer.state_dict`), oldest first; the ring buffer's
    wrap-around is undone."""
    idx = _recent_indices(replay_state, last)
    return {k: np.asarray(v)[idx] for k, v in replay_state["obs"].items()}


def recent_actions(replay_state: Mapping, last: int) -> np.ndarray:
    """The actions (``(n, A)``, in ``[-1, 1]``) stored with :func:`recent_observations`."""
    return np.asarray(replay_state["action"])[_recent_indices(replay_state, last)]


def _recent_indices(replay_state: Mapping, last: int) -> np.ndarray:
    size, capacity, pos = int(replay_state["size"]), int(replay_state["capacity"]), \
        int(replay_state["pos"])
    if size == 0:
        raise ValueError("the checkpoint's replay buffer is empty: no visited states to "
                         "evaluate the policy on")
    n = min(int(last), size)
    if n < 1:
        raise ValueError(f"last must be at least 1 state, got {last}")
    # the newest entry is at pos - 1 (mod capacity), whether the buffer is full or not
    return np.arange(pos - n, pos) % capacity


def policy_stats(agent, obs: Mapping[str, np.ndarray]) -> dict:
    """Statistics of ``agent``'s policy on a batch of observations ``obs`` (dict part ->
    ``(B, ...)``): per action dimension the mean pre-tanh standard deviation (``std``), the
    mean absolute mode ``|tanh(mean)|`` (``abs_mode``, in action units: 1 = the bound), the
    mean signed mode (``mode``: where the deterministic policy points on average) and the
    share of states whose mode is beyond 0.9 of the bound (``saturated``); the entropy
    temperature ``alpha`` and the number of updates."""
    import torch

    tensors = {k: torch.as_tensor(np.asarray(v)) for k, v in obs.items()}
    with torch.no_grad():
        mean, log_std = agent.actor.distribution_params(agent.features(tensors))
    signed = torch.tanh(mean)
    mode = signed.abs()
    return {
        "states": int(mean.shape[0]),
        "std": [round(float(x), 4) for x in log_std.exp().mean(0)],
        "mode": [round(float(x), 4) for x in signed.mean(0)],
        "abs_mode": [round(float(x), 4) for x in mode.mean(0)],
        "saturated": [round(float(x), 4) for x in (mode > 0.9).float().mean(0)],
        "alpha": float(agent.alpha),
        "updates": int(agent.num_updates),
    }
