"""Synthetic demonstration sets (straight, curved and S-shaped reaching motions).

Used by the tests, the benchmarks and the main job to exercise the skill model on shapes of
very different difficulty before any simulator is involved. Each demonstration starts near a
nominal start point (metres, target frame), follows the shape with a minimum-jerk speed profile
and a little human-like variation in duration, path and start, and ends at the origin with
zero velocity.
"""
from __future__ import annotations

import numpy as np

SHAPES = ("line", "curve", "s-shape")


def _min_jerk(tau: np.ndarray) -> np.ndarray:
    return 10 * tau ** 3 - 15 * tau ** 4 + 6 * tau ** 5


def make_demos(shape: str, n: int = 20, dim: int = 3, seed: int = 0, dt: float = 1.0 / 30.0,
               length: int = 300, start: np.ndarray | None = None,
               start_noise: float = 0.02) -> list[np.ndarray]:
    """``n`` demonstrations ``(T_i, dim)`` (metres) of ``shape`` ending at the origin.

    ``length`` is the nominal number of samples (each demo varies by +-15%); ``dt`` only sets
    the time base of the speed profile (the positions do not depend on it otherwise).
    ``start`` is the nominal start position (default 0.30 m away along a diagonal).
    """
    if shape not in SHAPES:
        raise ValueError(f"unknown synthetic shape {shape!r}; valid shapes: {', '.join(SHAPES)}")
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    rng = np.random.default_rng(seed)
    if start is None:
        start = np.array([0.25, 0.15, 0.10, 0.05][:dim] + [0.05] * max(0, dim - 4))
    start = np.asarray(start, dtype=np.float64)
    if start.shape != (dim,):
        raise ValueError(f"start has shape {start.shape}, expected ({dim},)")
    # a direction perpendicular to the start direction for the bulges
    perp = np.zeros(dim)
    if dim >= 2:
        perp[0], perp[1] = -start[1], start[0]
        perp /= np.linalg.norm(perp) or 1.0
    demos = []
    for _ in range(n):
        t_len = int(round(length * rng.uniform(0.85, 1.15)))
        s = _min_jerk(np.linspace(0.0, 1.0, t_len))[:, None]
        x0 = start + rng.normal(0.0, start_noise, dim)
        amp = np.linalg.norm(start) * rng.uniform(0.25, 0.35)
        if shape == "line":
            bulge = np.zeros((t_len, 1))
        elif shape == "curve":
            bulge = amp * np.sin(np.pi * s)
        else:
            bulge = amp * np.sin(2.0 * np.pi * s)
        demos.append((1.0 - s) * x0 + bulge * perp)
    return demos
