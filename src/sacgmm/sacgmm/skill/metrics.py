"""Measures of how well a skill reproduces its demonstrations."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def dtw_path(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dynamic-time-warping alignment of trajectories ``a`` (n, d) and ``b`` (m, d).

    Returns the optimal monotone path as an ``(L, 2)`` array of index pairs (Euclidean cost).
    Rows are filled with a vectorised recurrence: along a row, the horizontal moves are a
    running minimum of ``t[k] - C[k]`` plus the cumulative row cost ``C[j]``.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n, m = len(a), len(b)
    cost = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)
    acc = np.empty((n, m))
    acc[0] = np.cumsum(cost[0])
    for i in range(1, n):
        t = cost[i].copy()
        t[0] += acc[i - 1, 0]
        t[1:] += np.minimum(acc[i - 1, 1:], acc[i - 1, :-1])
        c = np.cumsum(cost[i])
        acc[i] = c + np.minimum.accumulate(t - c)
    # backtrack
    i, j = n - 1, m - 1
    path = [(i, j)]
    while i > 0 or j > 0:
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        else:
            moves = (acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
            step = int(np.argmin(moves))
            if step == 0:
                i, j = i - 1, j - 1
            elif step == 1:
                i -= 1
            else:
                j -= 1
        path.append((i, j))
    return np.asarray(path[::-1])


def dtw_mean_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean Euclidean distance (in the trajectories' unit) along the DTW alignment of a and b."""
    path = dtw_path(a, b)
    return float(np.linalg.norm(np.asarray(a)[path[:, 0]] - np.asarray(b)[path[:, 1]], axis=1).mean())


def reproduction_error(skill, demos: Sequence[np.ndarray], dt: float,
                       horizon_factor: float = 1.5) -> float:
    """Mean over demos of the DTW-aligned mean distance (m) between a demo and the skill's rollout.

    Each rollout starts at the demo's first sample and runs ``horizon_factor * T`` Euler steps
    of ``dt`` seconds (DTW absorbs differences in speed); all rollouts are integrated as one
    batch.
    """
    demos = [np.asarray(demo, dtype=np.float64) for demo in demos]
    steps = [int(np.ceil(horizon_factor * len(demo))) for demo in demos]
    roll = skill.rollout(np.stack([demo[0] for demo in demos]), dt, max(steps))
    return float(np.mean([dtw_mean_distance(roll[:n + 1, i], demo)
                          for i, (n, demo) in enumerate(zip(steps, demos))]))
