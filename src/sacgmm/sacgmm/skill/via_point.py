"""Via-point steering: an agent action that says *where* the skill should go, not how to shift it.

With the attractor-shift layout of delta-theta (:mod:`sacgmm.skill.delta_theta`) the agent's
action moves the whole skill; which shift brings the hand onto a handle depends on where the
hand is, because the skill's flow bends differently from every start. A policy that grasps
from one start then teaches nothing about another, and a grasping task needs many successes
before the policy generalises.

Via-point steering changes what an action means while the gripper is open: the action ``a`` in
``[-1, 1]^3`` is a *via-point* for the next window,

    g = p0(x) + scale * a        (m, target frame),

where ``p0(x)`` is where the demonstrated (unadapted) skill would take the hand from ``x`` by
the end of the window. The attractor shift sent to the skill is then chosen by look-ahead:
every shift of a grid (``levels`` values per axis over the delta-theta layout's attractor
range, the zero shift first) is rolled out kinematically for the window (Euler steps of ``dt``
seconds, each velocity axis clipped to ``max_speed``, as the window environment commands it),
and the one whose path
passes closest to ``g`` wins (ties go to the zero shift, so the zero action *is* the
demonstrated skill). The skill still drives the robot; the agent only picks among its
adaptations, once per window.

While the hand holds something (the gripper's opening, m, below ``held_below``) the action is
the plain attractor shift again.

Why: once a grasp has happened, where it happened is known (the hand's position when the
gripper closed; :meth:`ViaPointSteering.hindsight_label` turns it into the via-point label of
every earlier decision of that episode). The labels say "aim at the place where the hand
grasped", which is nearly the same point from every start, so a handful of grasps teaches the
approach from all starts. Pure numpy; nothing here imports torch or ROS.
"""
from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np

from sacgmm.retired import ANY, drop_retired
from sacgmm.skill.delta_theta import DeltaTheta
from sacgmm.skill.model import GMMSkill
from sacgmm.skill.speed import limit_velocity

#: m: a gripper opening below this means the hand holds something (0.108 m open, 0.054 m
#: closed on the door's or lever's handle)
HELD_BELOW = 0.08

#: settings no longer offered, with the value that left them off (:mod:`sacgmm.retired`)
RETIRED = {"held": False, "held_scale": ANY}


@dataclass(frozen=True)
class ViaPointConfig:
    """Settings of via-point steering (``TrainConfig.via_point``); off unless ``enabled``."""

    enabled: bool = False
    scale: float = 0.15        # m of via-point offset per unit action, per target-frame axis
    levels: int = 5            # attractor shifts searched per axis (levels ** 3 candidates)
    held_below: float = HELD_BELOW   # m: a gripper opening below this means the hand holds
    label_height: float = 0.0  # m added to z of the grasp point in hindsight labels

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "ViaPointConfig":
        """Build from a plain dict; unknown keys and bad values are a ``ValueError``. Removed
        settings are accepted at the value that left them off (older runs)."""
        data = drop_retired(data or {}, RETIRED, "via_point.")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown via_point setting(s) {unknown}; "
                             f"valid: {sorted(cls.__dataclass_fields__)}")
        cfg = cls(**data)
        if not isinstance(cfg.enabled, bool):
            raise ValueError(f"via_point.enabled must be true or false, got {cfg.enabled!r}")
        for name in ("scale", "held_below"):
            value = getattr(cfg, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not np.isfinite(value) or value <= 0:
                raise ValueError(f"via_point.{name} must be a finite number of metres > 0, "
                                 f"got {value!r}")
        if isinstance(cfg.label_height, bool) or not isinstance(cfg.label_height, (int, float)) \
                or not np.isfinite(cfg.label_height):
            raise ValueError(f"via_point.label_height must be a finite number of metres, "
                             f"got {cfg.label_height!r}")
        if isinstance(cfg.levels, bool) or not isinstance(cfg.levels, int) or cfg.levels < 2:
            raise ValueError(f"via_point.levels must be an integer >= 2, got {cfg.levels!r}")
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ViaPointSteering:
    """Maps via-point actions to attractor-shift actions for ``skill`` (see the module doc).

    ``delta`` must be the attractor-shift-only layout; ``window`` control steps of ``dt``
    seconds at most ``max_speed`` m/s per window.
    """

    def __init__(self, skill: GMMSkill, delta: DeltaTheta, window: int, dt: float,
                 max_speed: float, config: ViaPointConfig | None = None):
        if set(delta.slices) != {"attractor"}:
            raise ValueError("via-point steering picks an attractor shift: delta_theta must "
                             f"adapt the attractor only, got parts {list(delta.slices)}")
        if skill.dim != 3:
            raise ValueError(f"via-point steering needs a 3-D position skill, got d={skill.dim}")
        if int(window) < 1:
            raise ValueError(f"window must be >= 1 control step, got {window}")
        self.config = config or ViaPointConfig(enabled=True)
        self.skill, self.delta = skill, delta
        self.window, self.dt, self.max_speed = int(window), float(dt), float(max_speed)
        axis = np.linspace(-1.0, 1.0, self.config.levels)
        grid = np.array(list(itertools.product(axis, repeat=3)))
        grid = grid[np.any(grid != 0.0, axis=1)]
        #: ``(C, 3)`` candidate attractor-shift actions, the zero action first
        self.candidates = np.vstack([np.zeros((1, 3)), grid])
        self._shifts = self.candidates * delta.attractor_scale     # (C, 3) m
        self.scale = float(self.config.scale)

    def paths(self, x: np.ndarray) -> np.ndarray:
        """``(window, C, 3)`` positions (m) of every candidate's roll-out from ``x`` (m), after
        each control step. A shift ``s`` makes the flow ``f(x - s)``, so all candidates are one
        batched roll-out of the demonstrated skill from ``x - s``, translated back by ``s``."""
        x = np.asarray(x, dtype=np.float64).reshape(3)
        return self._rollout(x - self._shifts) + self._shifts

    def _rollout(self, starts: np.ndarray) -> np.ndarray:
        """``(window, n, 3)``: the demonstrated skill's Euler roll-out from ``starts`` ``(n, 3)``
        (m), each velocity axis clipped to ``max_speed`` like ``GMMWindowEnv``'s control."""
        y = np.array(starts, dtype=np.float64)
        out = np.empty((self.window,) + y.shape)
        for t in range(self.window):
            y = y + self.dt * limit_velocity(self.skill.velocity(y), self.max_speed)
            out[t] = y
        return out

    def nominal_end(self, x: np.ndarray) -> np.ndarray:
        """``p0(x)``: where the demonstrated skill takes the hand from ``x`` in one window (m)."""
        x = np.asarray(x, dtype=np.float64).reshape(1, 3)
        return self._rollout(x)[-1, 0]

    def via_point(self, x: np.ndarray, action: np.ndarray) -> np.ndarray:
        """The via-point (m, target frame) that ``action`` names from ``x`` (m)."""
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(3), -1.0, 1.0)
        return self.nominal_end(x) + self.scale * a

    def shift_action(self, x: np.ndarray, action: np.ndarray) -> np.ndarray:
        """The attractor-shift action (``(3,)`` in [-1, 1]) whose roll-out from ``x`` (m) passes
        closest to the via-point of ``action``; the zero shift on ties."""
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (3,) or not np.isfinite(a).all():
            raise ValueError(f"a via-point action must be 3 finite numbers, got {action!r}")
        goal = self.via_point(x, a)
        dist = np.min(np.linalg.norm(self.paths(x) - goal, axis=2), axis=0)     # (C,)
        return self.candidates[int(np.argmin(dist))].copy()

    def label(self, x: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """The via-point action (``(3,)`` float32 in [-1, 1]) from ``x`` (m) that names ``goal``
        (m, target frame), clipped to the action range."""
        g = np.asarray(goal, dtype=np.float64).reshape(3)
        return np.clip((g - self.nominal_end(x)) / self.scale, -1.0, 1.0).astype(np.float32)

    def hindsight_label(self, x: np.ndarray, grasp_point: np.ndarray) -> np.ndarray:
        """The label of a decision taken at ``x`` (m) before a grasp made at ``grasp_point``
        (m, the hand's position when the gripper closed, same frame): aim at the grasp point,
        raised by the config's ``label_height``."""
        goal = np.asarray(grasp_point, dtype=np.float64).reshape(3).copy()
        goal[2] += self.config.label_height
        return self.label(x, goal)
