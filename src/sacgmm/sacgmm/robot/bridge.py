"""The Cartesian-velocity bridge to a joint-velocity-controlled arm, without ROS.

:class:`BridgeCore` turns a TCP linear velocity command (world frame, m/s) into joint
velocities (rad/s) once per control period ``dt`` (s), and runs the episode state machine of a
real-robot training session. The ROS node :mod:`sacgmm.ros.iiwa_bridge` is a thin shell.

Safety (every output goes through all of it)
  * non-finite commands are rejected (the previous command stays, and times out);
  * a command older than ``cmd_timeout`` counts as zero; a joint state older than
    ``state_timeout`` (or none yet) gives zero joint velocities;
  * the command's norm is clamped to ``max_cart_speed``;
  * workspace box ``[workspace_min, workspace_max]`` (world, m): per axis, the TCP may not be
    commanded past a face within ``max(dt, workspace_horizon)`` s -- the approach slows down
    exponentially, so a late next command (the driver holds the last one) does not carry the
    TCP out; moving back inside is always allowed;
  * orientation hold: an angular velocity ``orientation_gain * log(R_ref R^T)`` (at most
    ``max_ang_speed`` rad/s) keeps the TCP orientation at the one it had when the bridge was
    armed or last homed;
  * joints: DLS (:func:`sacgmm.robot.kinematics.dls_joint_velocities`) within the URDF
    position limits minus ``joint_margin`` and ``min(max_joint_speed, URDF velocity)``;
  * ``stop()`` halts (zero output) until ``arm()``; the output is finite, always;
  * faults: while any perception source reports one (:meth:`BridgeCore.set_fault`, e.g. a
    camera that stopped, a marker that was lost) the output is zero in ``running``,
    ``settling`` and ``idle``, and the running episode's time limit and the settle time stand
    still (measured time, not nominal periods): the episode is paused, not ended, no new one
    starts, and it continues when every fault has cleared. A success already reported still
    ends the episode. Homing goes on: it needs no perception, and it takes the hand away
    from the object (an arm that hides the marker would otherwise never let it be seen).

Modes: ``halted`` (zero), ``idle`` (commands are executed, no episode), ``homing``
(joint-space move to ``home_joints`` at up to ``home_speed`` rad/s; commands ignored),
``settling`` (zero for ``settle_time`` s after homing, e.g. while a door closes itself),
``running`` (an episode: commands executed; it ends on success, after ``episode_duration`` s,
on reset or on stop). With ``auto_reset`` an ended episode is followed by homing and the next
episode without a human. Every ended episode is appended to the :class:`EpisodeLog`.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from sacgmm.robot.episodes import EpisodeLog
from sacgmm.robot.kinematics import KinematicChain, dls_joint_velocities, rotation_error

HALTED, IDLE, HOMING, SETTLING, RUNNING = "halted", "idle", "homing", "settling", "running"


@dataclass
class BridgeConfig:
    """Limits and timings (units in the module docstring)."""

    workspace_min: np.ndarray = field(default_factory=lambda: np.array([0.2, -0.6, 0.05]))
    workspace_max: np.ndarray = field(default_factory=lambda: np.array([0.9, 0.6, 0.9]))
    workspace_horizon: float = 0.1
    max_cart_speed: float = 0.15
    max_joint_speed: float = 0.6
    joint_margin: float = 0.05
    damping: float = 0.02
    hold_orientation: bool = True
    orientation_gain: float = 1.0
    max_ang_speed: float = 0.3
    cmd_timeout: float = 0.2
    state_timeout: float = 0.1
    home_joints: np.ndarray | None = None
    home_speed: float = 0.3
    home_gain: float = 1.5
    home_tolerance: float = 0.01
    settle_time: float = 1.0
    episode_duration: float = 30.0
    auto_reset: bool = True


def clamp_norm(v: np.ndarray, limit: float) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v * (limit / n) if n > limit else v


def workspace_clamp(v: np.ndarray, p: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                    dt: float) -> np.ndarray:
    """Per axis, limit ``v`` (m/s) so that ``p + v dt`` does not pass a face of the box
    ``[lo, hi]``; from outside, only motion back towards the box is kept."""
    up = np.maximum((hi - p) / dt, 0.0)
    down = np.minimum((lo - p) / dt, 0.0)
    return np.clip(v, down, up)


class BridgeCore:
    """See the module docstring. ``now`` arguments are monotonic seconds."""

    def __init__(self, chain: KinematicChain, cfg: BridgeConfig, log: EpisodeLog | None = None,
                 armed: bool = False):
        self.chain, self.cfg = chain, cfg
        self.log = log or EpisodeLog(None)
        self.mode = IDLE if armed else HALTED
        self.q: np.ndarray | None = None
        self.q_time = -math.inf
        self.cmd = np.zeros(3)
        self.cmd_time = -math.inf
        self.r_ref: np.ndarray | None = None
        self.qdot_max = np.minimum(cfg.max_joint_speed, chain.velocity_limits)
        self.home = (np.asarray(cfg.home_joints, dtype=float) if cfg.home_joints is not None
                     else None)
        if self.home is not None and self.home.size != chain.n:
            raise ValueError(f"home_joints has {self.home.size} values, the chain {chain.n} joints")
        self._start_after_home = False
        self._settle_until = 0.0
        self.episode = self.log.next_index() - 1
        self.ep: dict | None = None           # the running episode's bookkeeping
        self.last_qdot = np.zeros(chain.n)
        self.faults: dict[str, str] = {}      # source -> why it stops the arm
        self._last_now: float | None = None   # the previous step's time

    # -- inputs -----------------------------------------------------------------------
    def set_joints(self, q, now: float) -> bool:
        q = np.asarray(q, dtype=float).ravel()
        if q.size != self.chain.n or not np.isfinite(q).all():
            return False
        self.q, self.q_time = q, now
        if self.r_ref is None:
            self.r_ref = self.chain.fk(q)[:3, :3]
        return True

    def set_command(self, v, now: float) -> bool:
        v = np.asarray(v, dtype=float).ravel()
        if v.size != 3 or not np.isfinite(v).all():
            return False
        self.cmd, self.cmd_time = v, now
        return True

    def on_reward(self, r: float) -> None:
        if self.ep is not None and math.isfinite(r):
            self.ep["reward"] += r
            self.ep["max_reward"] = max(self.ep["max_reward"], r)

    def on_success(self, success: bool) -> None:
        if self.ep is not None and success:
            self.ep["success"] = True

    def set_fault(self, source: str, fault: str | None) -> bool:
        """``source`` reports ``fault`` (why the arm must not move) or None (fine); True when
        this changes what the source reports."""
        if fault is None:
            return self.faults.pop(source, None) is not None
        changed = self.faults.get(source) != fault
        self.faults[source] = fault
        return changed

    # -- services ---------------------------------------------------------------------
    def stop(self, now: float) -> list[tuple]:
        events = self._end_episode(now, "stopped")
        self.mode = HALTED
        self._start_after_home = False
        return events

    def arm(self) -> str:
        if self.mode != HALTED:
            return f"already armed ({self.mode})"
        self.mode = IDLE
        self.cmd_time = -math.inf              # a command from before the stop is never executed
        if self.q is not None:
            self.r_ref = self.chain.fk(self.q)[:3, :3]
        return "armed"

    def request_home(self, now: float, start_episode: bool) -> tuple[bool, str, list[tuple]]:
        """Go home (and start an episode when there if ``start_episode``)."""
        if self.mode == HALTED:
            return False, "halted: call the arm service first", []
        if self.home is None:
            return False, "no home_joints configured", []
        events = self._end_episode(now, "reset")
        self.mode = HOMING
        self._start_after_home = start_episode
        return True, "homing" + (", then a new episode" if start_episode else ""), events

    # -- control ----------------------------------------------------------------------
    def state_fresh(self, now: float) -> bool:
        return self.q is not None and now - self.q_time <= self.cfg.state_timeout

    def tcp(self) -> np.ndarray | None:
        return None if self.q is None else self.chain.fk(self.q)

    def step(self, now: float, dt: float, wall_time: float | None = None) -> tuple[np.ndarray, list[tuple]]:
        """Joint velocities for the next ``dt`` seconds and the events of this step:
        ``("episode_started", index)``, ``("episode_ended", record)``, ``("mode", name)``."""
        events: list[tuple] = []
        zero = np.zeros(self.chain.n)
        if not self.state_fresh(now) or self.mode == HALTED:
            self.last_qdot = zero
            return zero, events
        elapsed = dt if self._last_now is None else min(max(now - self._last_now, 0.0), 1.0)
        self._last_now = now
        if self.faults and self.mode != HOMING:   # paused: nothing moves, no clock runs
            if self.mode == RUNNING and self.ep["success"]:
                events += self._end_episode(now, "success")
                if self.cfg.auto_reset and self.home is not None:
                    self.mode, self._start_after_home = HOMING, True
                events.append(("mode", self.mode))
            elif self.ep is not None:
                self.ep["t0"] += elapsed
            self._settle_until += elapsed
            self.last_qdot = zero
            return zero, events
        before = self.mode
        if self.mode == HOMING:
            qdot = self._homing(dt)
            if qdot is None:                   # arrived
                self.r_ref = self.chain.fk(self.q)[:3, :3]
                if self._start_after_home:
                    self.mode, self._settle_until = SETTLING, now + self.cfg.settle_time
                else:
                    self.mode = IDLE
                qdot = zero
        elif self.mode == SETTLING:
            qdot = zero
            if now >= self._settle_until:
                self._start_after_home = False
                self._start_episode(now, wall_time)
                events.append(("episode_started", self.episode))
        else:
            qdot = self._cartesian(now, dt)
            if self.mode == RUNNING:
                ep = self.ep
                reason = ("success" if ep["success"] else
                          "timeout" if now - ep["t0"] >= self.cfg.episode_duration else None)
                if reason is not None:
                    events += self._end_episode(now, reason)
                    qdot = zero
                    if self.cfg.auto_reset and self.home is not None:
                        self.mode, self._start_after_home = HOMING, True
        if self.mode != before:
            events.append(("mode", self.mode))
        qdot = np.where(np.isfinite(qdot), qdot, 0.0)
        self.last_qdot = qdot
        return qdot, events

    def _homing(self, dt: float) -> np.ndarray | None:
        err = self.home - self.q
        if float(np.max(np.abs(err))) < self.cfg.home_tolerance:
            return None
        lim = np.minimum(self.cfg.home_speed, self.qdot_max)
        qdot = np.clip(self.cfg.home_gain * err, -lim, lim)
        # never past the target within one period (no overshoot at low rates)
        return np.clip(qdot, np.minimum(err / dt, 0.0), np.maximum(err / dt, 0.0))

    def cartesian_command(self, now: float, dt: float) -> np.ndarray:
        """The linear velocity (world, m/s) actually requested: fresh, clamped, inside the box."""
        cfg = self.cfg
        v = self.cmd if now - self.cmd_time <= cfg.cmd_timeout else np.zeros(3)
        v = clamp_norm(v, cfg.max_cart_speed)
        p = self.chain.fk(self.q)[:3, 3]
        return workspace_clamp(v, p, cfg.workspace_min, cfg.workspace_max,
                               max(dt, cfg.workspace_horizon))

    def _cartesian(self, now: float, dt: float) -> np.ndarray:
        cfg = self.cfg
        v = self.cartesian_command(now, dt)
        tcp = self.chain.fk(self.q)
        w = np.zeros(3)
        if cfg.hold_orientation and self.r_ref is not None:
            w = clamp_norm(cfg.orientation_gain * rotation_error(self.r_ref, tcp[:3, :3]),
                           cfg.max_ang_speed)
        jac = self.chain.jacobian(self.q)
        qdot = dls_joint_velocities(jac, np.concatenate([v, w]), self.q, self.chain.lower,
                                    self.chain.upper, self.qdot_max, dt, cfg.damping,
                                    cfg.joint_margin)
        lin = float(np.linalg.norm(jac[:3] @ qdot))
        if lin > cfg.max_cart_speed:           # orientation correction must not exceed it either
            qdot *= cfg.max_cart_speed / lin
        return qdot

    # -- episodes ---------------------------------------------------------------------
    def _start_episode(self, now: float, wall_time: float | None) -> None:
        self.episode += 1
        self.mode = RUNNING
        tcp = self.chain.fk(self.q)
        self.ep = {"t0": now, "start_time": wall_time if wall_time is not None else time.time(),
                   "start_position": tcp[:3, 3].copy(), "start_joints": self.q.copy(),
                   "reward": 0.0, "max_reward": 0.0, "success": False}

    def _end_episode(self, now: float, reason: str) -> list[tuple]:
        if self.ep is None:
            return []
        ep, self.ep = self.ep, None
        end = self.chain.fk(self.q)[:3, 3] if self.q is not None else None
        rec = {"episode": self.episode, "start_time": ep["start_time"],
               "duration": now - ep["t0"], "start_position": ep["start_position"],
               "start_joints": ep["start_joints"], "end_position": end,
               "reward": ep["reward"], "max_reward": ep["max_reward"],
               "success": ep["success"], "end_reason": reason}
        self.log.append(rec)
        if self.mode == RUNNING:
            self.mode = IDLE
        return [("episode_ended", rec)]

    def shutdown(self, now: float) -> list[tuple]:
        """End a running episode (``end_reason: shutdown``) and halt."""
        events = self._end_episode(now, "shutdown")
        self.mode = HALTED
        return events
