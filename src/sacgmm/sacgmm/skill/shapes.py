"""Hard demonstration shapes for judging a skill fit: corners, loops, reversals, 2-D and 3-D.

Each shape is a path in the target frame that ends at the origin (the attractor), about
``EXTENT`` metres across. Corner shapes are polylines through waypoints (sharp turns); curved
ones are sampled curves (loops, spirals, helices, S-turns). Some first move away from or past
the target before they reach it, which no motion contracting towards the target in the
Euclidean sense can follow. :func:`shape_demos` draws demonstrations of one shape the way a
person repeats a motion: the start, the waypoints and the duration vary a little, the speed
follows a minimum-jerk profile, and every demonstration ends at the origin at rest.

Used by ``sacgmm bench-skill`` (reproduction error and convergence of the stable fit against
unconstrained EM + GMR on every shape).
"""
from __future__ import annotations

import numpy as np

EXTENT = 0.15        # m: the shapes' nominal size


def _arc(center, radius, a0, a1, n=40):
    t = np.linspace(a0, a1, n)
    return np.stack([center[0] + radius * np.cos(t), center[1] + radius * np.sin(t)], axis=1)


def _curve_loop() -> np.ndarray:
    """A straight approach with a full loop half-way."""
    lead = np.linspace([-1.0, 0.6], [-0.45, 0.6], 15)
    loop = _arc((-0.45, 0.25), 0.35, np.pi / 2, np.pi / 2 - 2 * np.pi, 60)
    tail = np.linspace([-0.45, 0.6], [0.0, 0.0], 15)
    return np.concatenate([lead, loop[1:], tail[1:]])


def _curve_spiral() -> np.ndarray:
    t = np.linspace(0.0, 3.0 * np.pi, 120)
    r = 1.0 - t / (3.0 * np.pi)
    return np.stack([r * np.cos(t + np.pi), r * np.sin(t + np.pi)], axis=1)


def _curve_s() -> np.ndarray:
    s = np.linspace(0.0, 1.0, 100)
    return np.stack([-1.0 + s, 0.45 * np.sin(2.0 * np.pi * s) * (1.0 - s) + 0.4 * (1 - s)], 1)


def _curve_c() -> np.ndarray:
    """Around the target: from above it, round its far side, in from below."""
    arc = _arc((0.0, 0.0), 0.8, np.pi / 2, 3 * np.pi / 2, 60)
    return np.concatenate([arc, np.linspace(arc[-1], [0.0, 0.0], 15)[1:]])


def _curve_helix() -> np.ndarray:
    t = np.linspace(0.0, 3.0 * np.pi, 120)
    r = 0.7 * (1.0 - 0.5 * t / (3.0 * np.pi))
    z = 1.0 - t / (3.0 * np.pi)
    pts = np.stack([r * np.cos(t), r * np.sin(t), z], axis=1)
    return np.concatenate([pts, np.linspace(pts[-1], np.zeros(3), 15)[1:]])


def _curve_loop3d() -> np.ndarray:
    loop = _curve_loop()
    tilt = np.array([[1.0, 0.0], [0.0, 0.7], [0.0, 0.7]])
    return loop @ tilt.T


#: name -> (polyline waypoints or a sampled curve, corners: polyline kinks are kept sharp)
SHAPES: dict[str, tuple[np.ndarray, bool]] = {
    "corner": (np.array([[-1.0, 1.0], [-1.0, 0.0], [0.0, 0.0]]), True),
    "acute-v": (np.array([[-1.0, 1.0], [-0.45, -0.7], [0.0, 0.0]]), True),
    "zigzag": (np.array([[-1.0, 1.0], [-0.7, 0.1], [-0.35, 0.9], [0.0, 0.0]]), True),
    "staircase": (np.array([[-1.0, 1.0], [-1.0, 0.66], [-0.66, 0.66], [-0.66, 0.33],
                            [-0.33, 0.33], [-0.33, 0.0], [0.0, 0.0]]), True),
    "overshoot": (np.array([[-1.0, 0.5], [0.45, 0.35], [0.5, -0.3], [0.0, 0.0]]), True),
    "u-turn": (np.array([[-0.3, 0.25], [-1.0, 0.8], [-1.15, 0.1], [-0.5, -0.3],
                         [0.0, 0.0]]), True),
    "w": (np.array([[-1.0, 1.0], [-0.8, 0.0], [-0.55, 0.7], [-0.3, 0.0], [-0.15, 0.5],
                    [0.0, 0.0]]), True),
    "loop": (_curve_loop(), False),
    "spiral": (_curve_spiral(), False),
    "s-turn": (_curve_s(), False),
    "c-around": (_curve_c(), False),
    "corner-3d": (np.array([[-1.0, 1.0, 1.0], [-1.0, -0.5, 1.0], [-1.0, -0.5, 0.0],
                            [0.0, 0.0, 0.0]]), True),
    "over-the-top": (np.array([[-1.0, 0.0, 0.0], [-0.8, 0.2, 1.0], [0.35, 0.0, 0.8],
                               [0.3, -0.1, 0.25], [0.0, 0.0, 0.0]]), True),
    "helix": (_curve_helix(), False),
    "loop-3d": (_curve_loop3d(), False),
}


def _resample(path: np.ndarray, profile: np.ndarray) -> np.ndarray:
    """Points of ``path`` at arc-length fractions ``profile`` (0..1)."""
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    s /= s[-1]
    return np.stack([np.interp(profile, s, path[:, j]) for j in range(path.shape[1])], axis=1)


def shape_demos(name: str, n: int = 7, seed: int = 0, length: int = 150,
                extent: float = EXTENT) -> list[np.ndarray]:
    """``n`` demonstrations ``(T_i, d)`` (m) of shape ``name``, ending at the origin at rest.

    The start moves by up to 5 % of the extent, inner waypoints (or the curve, as a smooth
    bend) by about 3 %; the duration varies by +-15 % around ``length`` samples."""
    if name not in SHAPES:
        raise ValueError(f"unknown shape {name!r}; valid shapes: {', '.join(SHAPES)}")
    base, corners = SHAPES[name]
    rng = np.random.default_rng(seed)
    d = base.shape[1]
    demos = []
    for _ in range(n):
        if corners:
            pts = base.copy()
            pts[:-1] += rng.normal(0.0, 0.03, pts[:-1].shape)
            pts[0] += rng.normal(0.0, 0.05, d)
        else:
            s = np.linspace(0.0, 1.0, len(base))[:, None]
            bend = rng.normal(0.0, 0.03, d) * np.sin(np.pi * s)
            pts = base + bend + (1.0 - s) ** 3 * rng.normal(0.0, 0.05, d)
        pts[-1] = 0.0
        t_len = int(round(length * rng.uniform(0.85, 1.15)))
        tau = np.linspace(0.0, 1.0, t_len)
        profile = 10 * tau ** 3 - 15 * tau ** 4 + 6 * tau ** 5
        demos.append(extent * _resample(pts, profile))
    return demos
