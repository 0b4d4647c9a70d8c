"""SAC-GMM's control side: from the policy's action to the skill of a window, and its command.

One implementation for every path, so a policy runs as it was trained: the in-process window
environment (:class:`sacgmm.rl.task_env.GMMWindowEnv`) and the ROS graph, where the
``sac_refiner`` node decides (:meth:`SkillAdaptation.decide`) and the ``gmm_controller`` node
adapts its skill (:func:`adapt`) and commands the robot (:func:`command`).

Frames and units: positions are the end effector in the perceived target frame (m); the
gripper's opening is the distance between the fingertips (m); velocities are m/s.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sacgmm.skill.delta_theta import DeltaTheta
from sacgmm.skill.model import GMMSkill
from sacgmm.skill.speed import limit_velocity
from sacgmm.skill.via_point import HELD_BELOW

Deltas = tuple  # (d_priors, d_means, d_covariances), each an array or None (unchanged)


@dataclass
class WindowDecision:
    """What one action means for its window.

    ``action``: the delta-theta action applied (``[-1, 1]^A``; with via-point steering the
    attractor shift its look-ahead picked); ``deltas``: its parameter changes for
    :meth:`GMMSkill.adapted` (physical units); ``via``: the policy's action was read as a
    via-point; ``held``: the gripper held at the decision.
    """

    action: np.ndarray
    deltas: Deltas
    via: bool
    held: bool


def adapt(skill: GMMSkill, deltas: Deltas, stable: bool) -> GMMSkill:
    """``skill`` adapted by ``deltas`` (a new skill, from ``skill``: deltas never accumulate);
    ``ValueError`` if the result gives a non-finite velocity."""
    new = skill.adapted(*deltas, stable=stable)
    if not np.isfinite(new.velocity(np.zeros(skill.dim))).all():
        raise ValueError("adapted skill gives a non-finite velocity")
    return new


def command(skill: GMMSkill, position: np.ndarray, max_speed: float,
            rotation: np.ndarray | None = None) -> np.ndarray | None:
    """The velocity command (m/s) of ``skill`` at ``position`` (m): each component clipped to
    ``+-max_speed`` (:func:`~sacgmm.skill.speed.limit_velocity`); None if not finite.
    ``rotation``: the axes of the skill's frame in the robot's (3x3); the velocity is turned
    into the robot's axes before the limit."""
    v = skill.velocity(position)
    if rotation is not None:
        v = rotation @ v
    if not np.isfinite(v).all():
        return None
    return limit_velocity(v, max_speed)


def check_action(action, size: int) -> np.ndarray:
    """``action`` as a float64 ``(size,)`` array clipped to ``[-1, 1]``; ``ValueError`` for a
    wrong shape or a NaN/inf."""
    a = np.asarray(action, dtype=np.float64).reshape(-1)
    if a.shape != (size,):
        raise ValueError(f"action has shape {np.shape(action)}, expected ({size},)")
    if not np.isfinite(a).all():
        raise ValueError("action contains NaN or inf")
    return np.clip(a, -1.0, 1.0)


class SkillAdaptation:
    """The demonstrated ``skill``, its delta-theta layout ``delta`` and, optionally, via-point
    ``steering`` (:class:`~sacgmm.skill.via_point.ViaPointSteering`): while the gripper is open
    (its opening at least the steering's ``held_below``) an action names a via-point, turned
    into the attractor shift for the window; while it holds, the action is the shift itself."""

    def __init__(self, skill: GMMSkill, delta: DeltaTheta, steering=None):
        self.skill, self.delta, self.steering = skill, delta, steering
        self.held_below = steering.config.held_below if steering is not None else HELD_BELOW

    @classmethod
    def from_settings(cls, skill: GMMSkill, delta_config, via_config, window: int, dt: float,
                      max_speed: float) -> "SkillAdaptation":
        """For ``skill`` with :class:`~sacgmm.skill.delta_theta.DeltaThetaConfig`
        ``delta_config`` and :class:`~sacgmm.skill.via_point.ViaPointConfig` ``via_config``
        (steering only if enabled), windows of ``window`` control steps of ``dt`` s and the
        task's ``max_speed`` (m/s, per axis)."""
        from sacgmm.skill.via_point import ViaPointSteering
        delta = DeltaTheta.for_skill(skill, delta_config)
        steering = (ViaPointSteering(skill, delta, int(window), float(dt), float(max_speed),
                                     via_config) if via_config.enabled else None)
        return cls(skill, delta, steering)

    @property
    def size(self) -> int:
        """The action's size ``A``."""
        return self.delta.size

    def holds(self, gripper_opening: float | None) -> bool:
        """Whether the gripper's opening (m) means it holds (False when unknown)."""
        return gripper_opening is not None and gripper_opening < self.held_below

    def decide(self, action, position, gripper_opening: float | None = None) -> WindowDecision:
        """The decision of ``action`` taken at ``position`` with the gripper's opening
        ``gripper_opening``; ``ValueError`` for a malformed action, or with via-point steering
        and no opening."""
        a = check_action(action, self.delta.size)
        held = self.holds(gripper_opening)
        via = self.steering is not None and not held
        if via:
            if gripper_opening is None:
                raise ValueError("via-point steering needs the gripper's opening")
            a = self.steering.shift_action(np.asarray(position, dtype=np.float64), a)
        return WindowDecision(a, self.delta.deltas(self.skill, a), via, held)

    def skill_for(self, decision: WindowDecision) -> GMMSkill:
        """The skill that drives the decision's window."""
        return adapt(self.skill, decision.deltas, self.delta.config.stable)
