"""The GMM controller's logic without ROS: state freshness, skill evaluation, clamping, windows.

:class:`ControllerCore` is what the ``gmm_controller`` node wraps (and what tests can drive
directly). Frames and units:

* ``ee`` and ``target`` positions are in the world frame (m); times are seconds on one
  monotonic clock, ``clock`` (default ``time.monotonic``), which the caller also passes as ``now``.
* The skill's input is the end-effector position in the *target frame*: origin at the
  perceived target, axes those of the world (the simulator's convention) or, with
  ``use_target_orientation``, those of the target pose's orientation. The returned velocity is
  expressed in world axes (m/s).

Gripper (optional, :meth:`ControllerCore.set_gripper`): the gripper's opening (m) last
received goes into every window message, and so does the position at the step in which the
opening first fell below ``held_below`` (a grasp) in that window, for the refiner's via-point
steering and hindsight labels (:mod:`sacgmm.skill.via_point`).

Safety: the command is zero when no skill is loaded, no pose or target was received, the pose
is older than ``pose_timeout`` or the target older than ``target_timeout`` (if > 0), or the
skill gives a non-finite velocity; otherwise each component is clipped to ``+-max_speed``.
The skill's command and its adaptation by a delta-theta are :mod:`sacgmm.skill.adaptation`'s,
the functions the in-process training runs.
"""
from __future__ import annotations

import math
from collections import OrderedDict
import time
from dataclasses import dataclass

import numpy as np

from sacgmm.ros.layouts import DeltaThetaMessage, WindowEnd
from sacgmm.skill.adaptation import adapt, command
from sacgmm.skill.via_point import HELD_BELOW

ZERO3 = np.zeros(3)


@dataclass
class StepResult:
    """One control step: ``velocity`` (3,) m/s world axes; ``active`` False means a safety stop
    (``reason`` says why); ``window`` is set on the step that ends a window."""

    velocity: np.ndarray
    active: bool
    reason: str
    window: WindowEnd | None = None


class ControllerCore:
    """See the module docstring. ``window_steps`` is the refinement window N (32)."""

    def __init__(self, skill=None, *, max_speed: float = 0.15, pose_timeout: float = 0.2,
                 target_timeout: float = 0.0, window_steps: int = 32,
                 stable_adaptation: bool = True, use_target_orientation: bool = False,
                 sync_windows: bool = False, held_below: float = HELD_BELOW,
                 clock=time.monotonic):
        if skill is not None and skill.dim != 3:
            raise ValueError(f"the controller needs a 3-D position skill, got d={skill.dim}")
        self.base_skill = skill
        self.skill = skill
        self.clock = clock        # the callers' clock; measures window-end -> delta latency
        self.max_speed = float(max_speed)
        self.pose_timeout = float(pose_timeout)
        self.target_timeout = float(target_timeout)
        self.window_steps = int(window_steps)
        self.stable_adaptation = bool(stable_adaptation)
        self.use_target_orientation = bool(use_target_orientation)
        # sync_windows: windows are announced at the boundary by boundary(), not by step()
        self.sync_windows = bool(sync_windows)
        self.announced = -2       # window index last announced by boundary() in this episode
        self.ee: np.ndarray | None = None
        self.ee_time = -math.inf
        self.ee_stamp = 0.0
        self.target: np.ndarray | None = None
        self.target_rot = np.eye(3)
        self.target_time = -math.inf
        self.episode = -1
        self.steps = 0            # active control steps in this episode
        self.last_velocity = ZERO3.copy()
        self.last_window_index = -1
        self.deltas_applied = 0
        self.apply_latencies: list[float] = []   # s, window end -> delta applied
        self.stale_deltas = 0     # deltas that arrived after a newer window had ended
        self.window_times: "OrderedDict[int, float]" = OrderedDict()
        self.held_below = float(held_below)   # m: a gripper opening below this holds
        self.gripper: float | None = None     # m, last received opening (None: no gripper)
        self._closed = False                  # the opening was below held_below last step
        self._grasp_position: np.ndarray | None = None   # this window's grasp (target frame)

    # -- inputs ---------------------------------------------------------------------------
    def set_pose(self, position, now: float, stamp: float = 0.0) -> None:
        """End-effector position (3,) m world, received at ``now``; NaN/inf is ignored."""
        p = np.asarray(position, dtype=np.float64)
        if p.shape == (3,) and np.isfinite(p).all():
            self.ee, self.ee_time, self.ee_stamp = p, now, stamp

    def set_target(self, position, now: float, rotation: np.ndarray | None = None) -> None:
        """Perceived target origin (3,) m world (and its 3x3 rotation), received at ``now``."""
        p = np.asarray(position, dtype=np.float64)
        if p.shape == (3,) and np.isfinite(p).all():
            self.target, self.target_time = p, now
            if rotation is not None and np.isfinite(rotation).all():
                self.target_rot = np.asarray(rotation, dtype=np.float64)

    def set_gripper(self, opening: float) -> None:
        """The gripper's opening (m); NaN/inf or negative values are ignored."""
        g = float(opening)
        if math.isfinite(g) and g >= 0.0:
            self.gripper = g

    def _track_grasp(self, x: np.ndarray) -> None:
        if self.gripper is None:
            return
        closed = self.gripper < self.held_below
        if closed and not self._closed and self._grasp_position is None:
            self._grasp_position = x.copy()
        self._closed = closed

    def _window_end(self, x, v, index: int) -> WindowEnd:
        w = WindowEnd(x.copy(), v.copy(), self.target.copy(), index, self.steps, self.episode,
                      self.ee_stamp, self.gripper, self._grasp_position)
        self._grasp_position = None
        return w

    def new_episode(self, index: int) -> None:
        """Start of an episode: window counter to 0 and the skill back to the loaded one."""
        self.episode = int(index)
        self.steps = 0
        self.skill = self.base_skill
        self.last_window_index = -1
        self.window_times.clear()
        self.announced = -2
        self._closed, self._grasp_position = False, None

    def load(self, skill) -> None:
        if skill.dim != 3:
            raise ValueError(f"the controller needs a 3-D position skill, got d={skill.dim}")
        self.base_skill = self.skill = skill

    # -- the loop -------------------------------------------------------------------------
    def position_in_target(self) -> np.ndarray | None:
        if self.ee is None or self.target is None:
            return None
        rel = self.ee - self.target
        return self.target_rot.T @ rel if self.use_target_orientation else rel

    def _stop(self, reason: str) -> StepResult:
        self.last_velocity = ZERO3.copy()
        return StepResult(ZERO3.copy(), False, reason)

    def step(self, now: float) -> StepResult:
        """One control step at time ``now`` (same clock as the inputs)."""
        if self.skill is None:
            return self._stop("no_skill")
        if self.ee is None:
            return self._stop("no_pose")
        if self.target is None:
            return self._stop("no_target")
        if now - self.ee_time > self.pose_timeout:
            return self._stop("stale_pose")
        if self.target_timeout > 0 and now - self.target_time > self.target_timeout:
            return self._stop("stale_target")
        x = self.position_in_target()
        v = command(self.skill, x, self.max_speed,
                    self.target_rot if self.use_target_orientation else None)
        if v is None:
            return self._stop("nonfinite")
        self.last_velocity = v
        self.steps += 1
        self._track_grasp(x)
        window = None
        if self.steps % self.window_steps == 0 and not self.sync_windows:
            self.last_window_index = self.steps // self.window_steps - 1
            self._remember_window(self.last_window_index, now)
            window = self._window_end(x, v, self.last_window_index)
        return StepResult(v, True, "ok", window)

    def _remember_window(self, index: int, now: float) -> None:
        """Announcement time of recent windows of this episode (latency of late answers too)."""
        self.window_times[index] = now
        while len(self.window_times) > 256:
            self.window_times.popitem(last=False)

    def boundary(self, now: float) -> WindowEnd | None:
        """``sync_windows``: the window boundary the next step starts from, once per boundary.

        Returns a :class:`WindowEnd` when the next step is the first of a window (the episode's
        start, ``window_index`` -1, or after every ``window_steps`` steps) and that boundary was
        not announced yet, and the state is usable (skill, pose and target known); else None.
        ``position`` is the current position in the target frame: the observation the
        in-process :class:`~sacgmm.rl.task_env.GMMWindowEnv` returns at that boundary.
        """
        if self.skill is None or self.steps % self.window_steps:
            return None
        x = self.position_in_target()
        if x is None:
            return None
        index = self.steps // self.window_steps - 1
        if index == self.announced:
            return None
        self.announced = self.last_window_index = index
        self._remember_window(index, now)
        return self._window_end(x, self.last_velocity, index)

    def apply_delta(self, delta: DeltaThetaMessage, episode: int | None = None) -> None:
        """Adapt the loaded skill by ``delta`` (from the loaded skill, not accumulated).

        Raises ``ValueError`` (skill unchanged) if no skill is loaded or the delta is invalid.
        ``episode``: the episode the delta was received in; if a new episode started since
        (the skill was reset), the delta is dropped. The new skill replaces the old one by a
        single reference assignment, so a control step running on another thread sees either.
        """
        if self.base_skill is None:
            raise ValueError("no skill loaded")
        new = adapt(self.base_skill, (delta.d_priors, delta.d_means, delta.d_covariances),
                    self.stable_adaptation)
        if episode is not None and episode != self.episode:
            return
        self.skill = new
        self.deltas_applied += 1
        t_window = self.window_times.get(delta.window_index) \
            if delta.window_index is not None else None
        if t_window is not None:
            self.apply_latencies.append(self.clock() - t_window)
            self.stale_deltas += int(delta.window_index != self.last_window_index)
