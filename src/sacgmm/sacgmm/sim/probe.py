"""What the peg task's tactile images say about where a press landed.

A scripted press (no learning, no noise): the peg starts ``offset`` metres beside the hole's
axis (along x or y of the target frame, or in any direction of its xy plane) with its tip 2 cm
above the board, holds that lateral
position and descends at ``speed`` m/s until the commanded TCP reaches ``z_end`` (target
frame; 0 is the attractor, where an inserted peg's tip is 3 cm deep) or ``max_steps`` control
steps pass. The two fingertip images are compared between the presses at ``+offset`` and
``-offset``, step by step (both descend alike until they touch): the mean absolute
difference (grey levels 0-255) at the end of the press and its largest value during it. A
sensor that tells on which side the peg bears gives a large difference. ``peg_slip`` (m) is
how far the press pushed the peg up into the hand.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

#: m: the tip's height above the board surface where a press starts (target frame z is the
#: TCP height above the attractor, whose tip is ``goal_depth`` below the surface)
START_ABOVE = 0.02


@dataclass
class Press:
    """One scripted press: where it was aimed and what it left."""

    axis: str | float    # "x" or "y" of the target frame, or a direction in its xy plane (rad)
    offset: float        # m from the hole's axis along ``axis``
    images: np.ndarray   # (steps, 2, 64, 64) uint8 fingertip images after every control step
    peg_slip: float      # m, + = the peg slid up into the hand
    peg_depth: float     # m of the peg tip below the board surface (negative: above it)
    success: bool
    steps: int

    def row(self) -> dict:
        """Everything but the images (asdict would deep-copy them first)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "images"}


def press(env, axis: str | float, offset: float, speed: float = 0.02, z_end: float = 0.0,
          max_steps: int = 150, gain: float = 5.0, seed: int = 0) -> Press:
    """One press (module docstring) on a peg environment made with ``sensor=True`` and
    ``noise=False``; ``gain`` (1/s) holds the lateral position against the contact forces.
    ``axis``: ``"x"`` or ``"y"`` of the target frame, or a direction in its xy plane (rad from
    x towards y)."""
    if isinstance(axis, str):
        if axis not in ("x", "y"):
            raise ValueError(f"axis must be 'x', 'y' or an angle (rad), got {axis!r}")
        angle = 0.0 if axis == "x" else np.pi / 2
    else:
        angle = float(axis)
        if not np.isfinite(angle):
            raise ValueError(f"axis must be 'x', 'y' or a finite angle (rad), got {axis!r}")
    if not np.isfinite(offset) or not 0 < speed <= 0.15 or max_steps < 1:
        raise ValueError("offset must be finite, speed in (0, 0.15] m/s, max_steps >= 1")
    goal_depth = float(env.unwrapped.g["goal_depth"])
    aim = np.array([offset * np.cos(angle), offset * np.sin(angle), 0.0])
    start = aim + np.array([0.0, 0.0, goal_depth + START_ABOVE])
    obs, info = env.reset(seed=seed, options={"start": start})
    z_cmd = float(start[2])
    steps, images = 0, []
    for steps in range(1, max_steps + 1):
        z_cmd = max(z_end, z_cmd - speed * env.unwrapped.dt)
        pos = np.asarray(obs["position"], dtype=float)
        v = gain * (np.array([aim[0], aim[1], z_cmd]) - pos)
        obs, _, terminated, truncated, info = env.step(v)
        images.append(np.asarray(obs["tactile"]))
        if terminated or truncated or (z_cmd <= z_end and abs(pos[2] - z_end) < 1e-3):
            break
    return Press(axis, float(offset), np.stack(images), float(info["peg_slip"]),
                 float(info["peg_depth"]), bool(info["success"]), steps)


def side_contrast(offsets, speed: float = 0.02, seed: int = 0) -> list[dict]:
    """Per offset (m) and axis: the mean absolute difference between the images of the presses
    at ``+offset`` and ``-offset`` (grey levels) at their end and at most during them, and each
    press's slip, depth and success; ``press_change``: how much the ``+offset`` press changed
    its images (end against the first step, before contact)."""
    from sacgmm.sim import make_env

    env = make_env("peg", sensor=True, noise=False)
    rows = []
    try:
        for offset in offsets:
            for axis in ("x", "y"):
                plus = press(env, axis, float(offset), speed=speed, seed=seed)
                minus = press(env, axis, -float(offset), speed=speed, seed=seed)
                n = min(len(plus.images), len(minus.images))
                diff = np.abs(plus.images[:n].astype(np.int16)
                              - minus.images[:n].astype(np.int16)).mean(axis=(1, 2, 3))
                rows.append({"axis": axis, "offset_m": float(offset),
                             "difference_at_end": round(float(diff[-1]), 2),
                             "largest_difference": round(float(diff.max()), 2),
                             "at_step": int(diff.argmax()) + 1,
                             # the press itself: end image against the first, before contact
                             "press_change": round(float(np.abs(
                                 plus.images[-1].astype(np.int16)
                                 - plus.images[0].astype(np.int16)).mean()), 2),
                             "plus": plus.row(), "minus": minus.row()})
    finally:
        env.close()
    return rows
