"""Scripted teleoperation-like demonstrator and demonstration recording.

The expert follows task waypoints given in the *true* target frame (it plays the role of a
human teleoperator who sees the scene): random via points (``expert.via_jitter``), a random
speed per segment (``expert.speed``, m/s), a proportional approach (``expert.gain``, 1/s) and a
smooth random velocity disturbance (about 10 % of the speed, low-pass filtered), so no two
demonstrations are alike. Grasp phases wait until the force-limited grasp has closed.

Waypoints: peg -- a via point, a hover point above the hole (``hover_height``), then down
into it; lever -- a pre-grasp point behind (``pregrasp_back``, -y) and above
(``hover_height``) the knob, the knob, then the slide end (+``overshoot``), so every segment
moves towards the slide end; door -- a pre-grasp point above the shut door's handle bar
(``pregrasp_height``; ``pregrasp`` < 0 is just behind the bar), the bar, then points on the
handle's opening arc.

:func:`record_demos` runs episodes (``noise=False``) and keeps only the successful ones, writing
the TCP positions in the target frame at the control rate (30 Hz) in the ``sacgmm-demo`` format
(:mod:`sacgmm.skill.demos`).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sacgmm.sim.config import TASKS, unknown_task_message


def _waypoints(env, rng: np.random.Generator) -> list[tuple[np.ndarray, str]]:
    """(waypoint in target frame (m), condition to advance) for one episode."""
    e = env.unwrapped
    ex = e.cfg["expert"]
    jit = float(ex["via_jitter"])

    def jitter(z=0.0):
        return np.array([rng.normal(0, jit), rng.normal(0, jit), z])

    if e.TASK == "peg":
        hover = np.array([0.0, 0.0, rng.uniform(*ex["hover_height"])])
        mid = (e.info_position() + hover) / 2 + jitter()
        return [(mid, "near"), (hover, "aligned"), (np.array([0.0, 0.0, -0.005]), "never")]
    if e.TASK == "lever":
        L = e.g["slide_length"]
        knob = np.array([0.0, -L, 0.0])
        # pre-grasp point above and behind the knob (-y, away from the slide end), so that
        # the approach, the grasp and the slide all move towards the slide end
        back = rng.uniform(*ex.get("pregrasp_back", [0.0, 0.0]))
        hover = (knob + np.array([0.0, -back, rng.uniform(*ex["hover_height"])])
                 + jitter() * 0.3)
        end = np.array([0.0, float(ex["overshoot"]), 0.0])
        return [(hover, "aligned"), (knob, "grasped"), (end, "never")]
    if e.TASK == "door":
        from sacgmm.sim.door import handle_local, rot_open
        hl = handle_local(e.g)

        def handle(a):
            return e._hinge + rot_open(a, hl) - e.target

        # pre-grasp point in front of (-x, ``pregrasp``) and above (``pregrasp_height``, m)
        # the shut door's handle bar; the gripper points down, so it closes over the bar
        up = rng.uniform(*ex.get("pregrasp_height", [0.0, 0.0]))
        pre = handle(0.0) + np.array([-float(ex["pregrasp"]), 0.0, up]) + jitter() * 0.5
        pts = [(pre, "aligned"), (handle(0.0), "grasped")]
        goal = float(e.g["goal_angle"])
        n = int(ex["arc_steps"])
        for a in np.linspace(goal / n, goal + 0.05, n):
            pts.append((handle(a), "near"))
        pts[-1] = (pts[-1][0], "never")
        return pts
    raise ValueError(unknown_task_message(e.TASK))


def run_expert_episode(env, seed: int) -> tuple[np.ndarray, dict]:
    """One expert episode; returns the TCP positions (target frame, m) and the final info."""
    rng = np.random.default_rng(seed + 1_000_003)
    obs, info = env.reset(seed=seed)
    e = env.unwrapped
    e.info_position = lambda: np.asarray(info["true_position"], dtype=float)
    ex = e.cfg["expert"]
    gain = float(ex["gain"])
    tol = float(ex["hover_tolerance"])
    vmax = e.max_speed
    points = _waypoints(env, rng)
    seg = 0
    speed = rng.uniform(*ex["speed"])
    disturbance = np.zeros(3)
    positions = [np.asarray(info["true_position"], dtype=float)]
    while True:
        x = np.asarray(info["true_position"], dtype=float)
        goal, cond = points[seg]
        d = goal - x
        dist = float(np.linalg.norm(d))
        done = ((cond == "near" and dist < 0.01) or (cond == "aligned" and dist < tol)
                or (cond == "grasped" and info.get("grasped", False)))
        if done and seg + 1 < len(points):
            seg += 1
            speed = rng.uniform(*ex["speed"])
            continue
        v = d * min(gain, speed / max(dist, 1e-9))
        disturbance = 0.9 * disturbance + 0.1 * rng.normal(0, 0.1 * speed, 3)
        v = np.clip(v + disturbance * min(1.0, dist / 0.02), -vmax, vmax)
        obs, _, term, trunc, info = env.step(v)
        positions.append(np.asarray(info["true_position"], dtype=float))
        if term or trunc:
            return np.asarray(positions), info


#: demonstration set ``s`` runs the expert's episodes ``DEMO_SET_STRIDE * s + i``: the sets of
#: different seeds share no episode (at most ``4 n`` attempts per set, n <= 100), and for
#: ``s`` < 500 none is a training or evaluation episode (``sacgmm.rl.train_task``'s seeds)
DEMO_SET_STRIDE = 1000


def demo_episode_seed(seed: int, attempt: int) -> int:
    """The episode seed of attempt ``attempt`` (0, 1, ...) of demonstration set ``seed``."""
    if not 0 <= attempt < DEMO_SET_STRIDE:
        raise ValueError(f"attempt {attempt} outside 0..{DEMO_SET_STRIDE - 1}")
    return DEMO_SET_STRIDE * int(seed) + int(attempt)


def record_demos(task: str, n: int, seed: int, out_dir: str | os.PathLike,
                 max_attempts: int | None = None, progress=None) -> list[Path]:
    """Record ``n`` successful expert demonstrations of ``task`` into ``out_dir``.

    Attempt ``i`` runs episode seed :func:`demo_episode_seed` ``(seed, i)``, so two seeds give
    two disjoint sets; failures are discarded (at most ``max_attempts`` episodes, default
    ``4 n``). Returns the written file paths. Raises ``RuntimeError`` if too few
    demonstrations succeed.
    """
    if task not in TASKS:
        raise ValueError(unknown_task_message(task))
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    from sacgmm.sim import make_env
    from sacgmm.skill.demos import save_demos

    env = make_env(task, noise=False, sensor=False)
    demos, attempts = [], 0
    limit = min(max_attempts or 4 * n, DEMO_SET_STRIDE)
    try:
        while len(demos) < n and attempts < limit:
            pos, info = run_expert_episode(env, demo_episode_seed(seed, attempts))
            attempts += 1
            if info["success"]:
                demos.append(pos)
            if progress:
                progress(attempts, len(demos), info)
    finally:
        env.close()
    if len(demos) < n:
        raise RuntimeError(f"only {len(demos)} of {attempts} expert episodes of {task!r} "
                           f"succeeded; {n} needed")
    return save_demos(Path(out_dir), demos, dt=env.unwrapped.dt, frame="target")
