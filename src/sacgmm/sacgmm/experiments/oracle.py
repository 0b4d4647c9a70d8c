"""A privileged steering oracle: how much of a grasping task can a delta-theta layout reach?

SAC-GMM's agent can only act through delta-theta, once per window of ``N`` control steps. Before
spending hours of training on a layout and a window length, this module asks whether *any*
policy with that interface can reach the handle: a model-based oracle that, unlike the agent,
knows where the handle really is (simulation only) picks each window's action by look-ahead.

At each window start it rolls the adapted skill out kinematically for ``N`` control steps
(Euler steps of ``dt`` seconds, speed clamped to the task's ``max_speed``) from the current
position, for every candidate action, and takes the action whose roll-out comes closest to its
aim (perceived target frame, m). The grippers of the lever and door tasks close over the
handle from above, so, like the scripted demonstrator, the oracle first aims at a point
``approach_height`` above the handle's grasp point and at the grasp point itself once the TCP
is within the grasp's capture radius of it horizontally (a straight line into a bar from the side or below
meets the bar with the palm). Once the handle is held it sends the zero action (the
demonstrated skill pulls it), or, with ``pull_lead`` (m), it steers the pull too: it aims
``pull_lead`` beyond the goal (the target frame's origin, where the handle is when the task is
done), along the line from the hand to the goal, so the skill's flow is led past the goal
instead of slowing down as it nears it; or, with ``held_action``, it sends that fixed action
while it holds the handle (e.g. a small upward shift, which stops the demonstrated flow's
descent from opening a gap under the closed fingers, the cause of most slips). Candidates:
the zero action plus, for the default layout (the attractor shift only), a grid of
``levels`` values per axis in [-1, 1]; for any other layout, ``samples`` uniform random
actions (seeded).

``aim="perceived"`` takes away the privilege: the oracle then aims where the noisy perceived
target frame puts the handle (its fixed place in the target frame), which is all a pose-only
agent could know; only the look-ahead through the skill remains beyond the agent.

The figures bound what a learned policy could do from the same interface only loosely: the
oracle sees the true handle and the agent a noisy pose and a camera image, and a greedy
one-window look-ahead is not the best policy either. They do show when a window is too long to
steer with (``sacgmm oracle --task door --windows 8 16 32``, ``results/door/oracle.json``).
"""
from __future__ import annotations

import itertools
import time
from typing import Callable, Sequence

import numpy as np

from sacgmm.stats import wilson_interval
from sacgmm.skill.delta_theta import DeltaTheta, DeltaThetaConfig
from sacgmm.skill.model import GMMSkill


def candidate_actions(delta: DeltaTheta, levels: int = 5, samples: int = 125,
                      seed: int = 0) -> np.ndarray:
    """``(C, delta.size)`` float32 candidate actions, the zero action first (see module doc)."""
    if levels < 2:
        raise ValueError(f"levels must be at least 2, got {levels}")
    if set(delta.slices) == {"attractor"}:
        axis = np.linspace(-1.0, 1.0, int(levels))
        grid = np.array(list(itertools.product(axis, repeat=delta.size)))
    else:
        grid = np.random.default_rng(seed).uniform(-1.0, 1.0, (int(samples), delta.size))
    grid = grid[np.any(grid != 0.0, axis=1)]
    return np.vstack([np.zeros((1, delta.size)), grid]).astype(np.float32)


def lookahead_action(adapted: list[GMMSkill], candidates: np.ndarray, x: np.ndarray,
                     goal: np.ndarray, window: int, dt: float, max_speed: float) -> np.ndarray:
    """The candidate whose ``window``-step roll-out from ``x`` (m) passes closest to ``goal``
    (m, same frame); ``adapted[i]`` is the skill adapted by ``candidates[i]`` (the same for
    every window: each delta applies to the demonstrated skill). Ties go to the earlier
    candidate."""
    best, best_d = candidates[0], np.inf
    for a, skill in zip(candidates, adapted):
        path = skill.rollout(x, dt, window, max_speed=max_speed)[1:]
        d = float(np.min(np.linalg.norm(path - goal, axis=1)))
        if d < best_d - 1e-12:
            best, best_d = a, d
    return best


def approach_aim(x: np.ndarray, handle: np.ndarray, approach_height: float,
                 capture: float) -> np.ndarray:
    """Where a top grasp aims from ``x`` (m): ``approach_height`` (m) above ``handle`` until
    ``x`` is within ``capture`` (m) of it horizontally, then ``handle``."""
    if float(np.linalg.norm((x - handle)[:2])) <= capture:
        return np.asarray(handle, dtype=np.float64)
    return np.asarray(handle, dtype=np.float64) + np.array([0.0, 0.0, approach_height])


def pull_aim(x: np.ndarray, lead: float) -> np.ndarray:
    """Where a held handle is pulled to from ``x`` (m, target frame): ``lead`` (m) beyond the
    goal, the frame's origin, along the line from ``x`` to it (the origin when ``x`` is on it)."""
    x = np.asarray(x, dtype=np.float64)
    dist = float(np.linalg.norm(x))
    return np.zeros(3) if dist < 1e-9 else -x / dist * float(lead)


def decision_features(obs: dict) -> np.ndarray:
    """The features of one decision, as recorded and as a distilled policy reads them:
    ``(3 + g,)`` float32, the position (m, perceived target frame) and, if the observation
    has it, the gripper opening (m)."""
    return np.concatenate([obs["position"], obs.get("gripper", [])]).astype(np.float32)


def run_episodes(env, choose: Callable[[dict, bool, np.ndarray], np.ndarray], episodes: int,
                 seed: int, record: list | None = None,
                 progress: Callable[[str], None] | None = None) -> dict:
    """Run a window-level policy on a :class:`GMMWindowEnv` of a grasping task (episode ``i``
    reset with ``seed + i``). ``choose(obs, held, nominal)`` returns the next action from the
    agent's observation, whether the handle has been held, and the handle's nominal place
    (the shut door's or lever's handle in the true target frame at the start, m).

    ``record``: if given, one dict per episode is appended: ``features`` ``(D, 3 + g)``
    (:func:`decision_features`), ``actions`` ``(D, A)`` and ``success``. Returns the counts (successes, grasps, decisions, end reasons).
    """
    task_env = env.task_env.unwrapped
    successes = grasps = decisions = 0
    reasons: dict[str, int] = {}
    for i in range(episodes):
        obs, info = env.reset(seed=seed + i)
        # the handle in the true target frame at the start (shut door): a pose-only agent
        # knows this geometry, but reads it in the perceived frame
        nominal = task_env.grasp.point_world() - task_env.target
        held, feats, acts = False, [], []
        while True:
            a = np.asarray(choose(obs, held, nominal), dtype=np.float32)
            if record is not None:
                feats.append(decision_features(obs))
                acts.append(a)
            obs, _, term, trunc, info = env.step(a)
            decisions += 1
            held = held or bool(info.get("grasped", False))
            if term or trunc:
                break
        successes += int(info["success"])
        grasps += int(held)
        reasons[info["end_reason"]] = reasons.get(info["end_reason"], 0) + 1
        if record is not None:
            record.append({"features": np.array(feats, dtype=np.float32),
                           "actions": np.array(acts, dtype=np.float32),
                           "success": bool(info["success"])})
        if progress:
            progress(f"episode {i + 1}/{episodes} {info['end_reason']}")
    return {"successes": successes, "grasped": grasps, "decisions": decisions,
            "end_reasons": reasons}


def oracle_env(task: str, window: int, noise: bool, skill: GMMSkill | None = None,
               delta_theta: dict | None = None, gripper: bool = False):
    """``(env, skill, delta)``: the :class:`GMMWindowEnv` (no sensor image; ``gripper``: the
    gripper opening in the observation) the oracle steers; refuses tasks without a handle."""
    from sacgmm.sim.default_skill import default_skill
    from sacgmm.rl.task_env import GMMWindowEnv
    from sacgmm.sim import make_env

    if window < 1:
        raise ValueError(f"window must be >= 1 control step, got {window}")
    skill = skill if skill is not None else default_skill(task)
    delta = DeltaTheta.for_skill(skill, DeltaThetaConfig.from_dict(delta_theta))
    env = GMMWindowEnv(make_env(task, noise=noise, sensor=False), skill, delta, window,
                       gripper=gripper)
    if getattr(env.task_env.unwrapped, "grasp", None) is None:
        env.close()
        raise ValueError(f"the oracle steers to a handle: task {task!r} has none "
                         "(grasping tasks: lever, door)")
    return env, skill, delta


def run_oracle(task: str, window: int, episodes: int, seed: int, noise: bool = False,
               skill: GMMSkill | None = None, delta_theta: dict | None = None, levels: int = 5,
               samples: int = 125, approach_height: float = 0.03, aim: str = "true",
               pull_lead: float | None = None, held_action: Sequence[float] | None = None,
               progress: Callable[[str], None] | None = None,
               record: list | None = None) -> dict:
    """Run the oracle for ``episodes`` episodes (episode ``i`` reset with ``seed + i``).

    ``aim="true"``: the oracle aims at the handle where it really is (privileged);
    ``aim="perceived"``: where the noisy perceived target frame puts it (the handle's position
    in the true target frame at the episode start, read in the perceived frame), i.e. what an
    agent that sees only its pose could know. With ``noise=False`` the two agree at the start.
    ``pull_lead``: None, the zero action once the handle is held; a distance (m), steer the
    pull to :func:`pull_aim` (see the module doc).
    ``held_action``: the action (``(A,)`` in [-1, 1]) sent while the handle is held, instead
    of zero; not together with ``pull_lead``.
    ``record``: see :func:`run_episodes` (the features include the gripper opening).
    """
    if pull_lead is not None and held_action is not None:
        raise ValueError("give pull_lead or held_action, not both")
    if pull_lead is not None and not (np.isfinite(pull_lead) and pull_lead >= 0):
        raise ValueError(f"pull_lead must be a finite number of metres >= 0, got {pull_lead!r}")
    if aim not in ("true", "perceived"):
        raise ValueError(f"aim must be 'true' or 'perceived', got {aim!r}")
    if not (np.isfinite(approach_height) and approach_height >= 0):
        raise ValueError(f"approach_height must be a finite number of metres >= 0, "
                         f"got {approach_height!r}")
    env, skill, delta = oracle_env(task, window, noise, skill, delta_theta, gripper=True)
    task_env = env.task_env.unwrapped
    while_held = np.zeros(delta.size)
    if held_action is not None:
        while_held = np.asarray(held_action, dtype=np.float64).reshape(-1)
        if while_held.shape != (delta.size,) or not np.all(np.abs(while_held) <= 1.0):
            raise ValueError(f"held_action must be {delta.size} numbers in [-1, 1] "
                             f"({', '.join(delta.labels())}), got {held_action!r}")
    cands = candidate_actions(delta, levels, samples, seed)
    adapted = [delta.apply(skill, a) for a in cands]
    dt, vmax = float(task_env.dt), float(task_env.max_speed)

    def choose(obs: dict, held: bool, nominal: np.ndarray) -> np.ndarray:
        x = obs["position"].astype(np.float64)
        if held:
            if pull_lead is None:     # the demonstrated skill pulls the handle
                return while_held.astype(np.float32)
            return lookahead_action(adapted, cands, x, pull_aim(x, pull_lead), window, dt, vmax)
        handle = (task_env.grasp.point_world() - task_env.perceived_target
                  if aim == "true" else nominal)
        goal = approach_aim(x, handle, approach_height, task_env.grasp.capture_radius)
        return lookahead_action(adapted, cands, x, goal, window, dt, vmax)

    t0 = time.perf_counter()
    log = (lambda m: progress(f"window {window}: {m}")) if progress else None
    try:
        counts = run_episodes(env, choose, episodes, seed, record, log)
    finally:
        env.close()
    successes = counts["successes"]
    return {"task": task, "window": int(window), "episodes": int(episodes), "seed": int(seed),
            "noise": bool(noise), "candidates": int(len(cands)),
            "approach_height": float(approach_height), "aim": aim,
            "pull_lead": None if pull_lead is None else float(pull_lead),
            "held_action": while_held.tolist(), "successes": successes,
            "success_rate": successes / episodes if episodes else 0.0,
            "ci95": list(wilson_interval(successes, episodes)), "grasped": counts["grasped"],
            "decisions": counts["decisions"], "end_reasons": counts["end_reasons"],
            "wall_time_s": time.perf_counter() - t0}
