"""Demonstrations from a pose stream: hand-to-gripper offset and resampling at a fixed dt.

A recorded sample is ``(t, position, orientation)``: time (s, monotonically increasing after
sorting), position (world frame, m) and a unit quaternion ``(x, y, z, w)`` of the tracked
frame (hand, teleoperation device or robot flange). The gripper position is
``position + R(q) @ offset`` (offset in the tracked frame's axes, ``offset_frame="pose"``) or
``position + offset`` (world axes, ``offset_frame="world"``). Demonstrations are stored in the
target frame with world-aligned axes (``gripper - target``), as ``gmm_controller`` uses them
with ``use_target_orientation: false``.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def quaternion_matrix(q) -> np.ndarray:
    """3x3 rotation of the quaternion ``(x, y, z, w)`` (normalised; identity if zero/NaN)."""
    q = np.asarray(q, dtype=float)
    n = float(np.linalg.norm(q))
    if not np.isfinite(n) or n < 1e-12:
        return np.eye(3)
    return Rotation.from_quat(q).as_matrix()


def gripper_position(position, quaternion, offset, offset_frame: str = "pose") -> np.ndarray:
    """Gripper position (world, m) from the tracked frame's pose and the hand-to-gripper offset."""
    p = np.asarray(position, dtype=float)
    off = np.asarray(offset, dtype=float)
    if offset_frame == "pose":
        return p + quaternion_matrix(quaternion) @ off
    if offset_frame == "world":
        return p + off
    raise ValueError(f"offset_frame must be 'pose' or 'world', got {offset_frame!r}")


def resample(times, positions, dt: float) -> np.ndarray:
    """Positions ``(T, d)`` at ``times`` (s) linearly interpolated on the grid ``t0, t0 + dt, ...``
    up to the last time. Non-finite samples are dropped, times sorted, repeated times keep the
    last sample. Raises ``ValueError`` with fewer than 2 usable samples or ``dt <= 0``."""
    t = np.asarray(times, dtype=float).ravel()
    x = np.asarray(positions, dtype=float)
    if x.ndim != 2 or x.shape[0] != t.size:
        raise ValueError(f"positions must be (T, d) with T = {t.size}, got {x.shape}")
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt}")
    ok = np.isfinite(t) & np.isfinite(x).all(axis=1)
    t, x = t[ok], x[ok]
    order = np.argsort(t, kind="stable")
    t, x = t[order], x[order]
    keep = np.append(t[1:] > t[:-1], True)           # last sample of each repeated time
    t, x = t[keep], x[keep]
    if t.size < 2:
        raise ValueError(f"need at least 2 samples at different times, got {t.size}")
    n = int(np.floor((t[-1] - t[0]) / dt + 1e-9)) + 1
    grid = t[0] + dt * np.arange(n)
    return np.stack([np.interp(grid, t, x[:, k]) for k in range(x.shape[1])], axis=1)
