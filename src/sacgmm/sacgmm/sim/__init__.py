"""Simulated SAC-GMM tasks on a PyBullet KUKA iiwa (no torch, no ROS).

Importing this package registers three gymnasium environments:

=========================  ==========  ==========================================
id                         task name   sensor image (``sensor=True``)
=========================  ==========  ==========================================
``sacgmm/PegInsertion-v0`` ``peg``     ``tactile`` (2, 64, 64) uint8, one per finger
``sacgmm/LeverSliding-v0`` ``lever``   ``depth`` (64, 64) float32 metres, static camera
``sacgmm/DoorOpening-v0``  ``door``    ``rgb`` (64, 64, 3) uint8, gripper camera
=========================  ==========  ==========================================

Conventions (units, frames, action, termination) are documented in :mod:`sacgmm.sim.base`;
the frozen task settings are in ``sacgmm/tasks/<task>.yaml``.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

from sacgmm.sim.config import TASKS, load_task_config, unknown_task_message

ENV_IDS = {
    "peg": "sacgmm/PegInsertion-v0",
    "lever": "sacgmm/LeverSliding-v0",
    "door": "sacgmm/DoorOpening-v0",
}
_ENTRY_POINTS = {
    "peg": "sacgmm.sim.peg:PegInsertionEnv",
    "lever": "sacgmm.sim.lever:LeverSlidingEnv",
    "door": "sacgmm.sim.door:DoorOpeningEnv",
}


def register_envs() -> None:
    """Register the three environments with gymnasium (idempotent)."""
    import gymnasium as gym

    for task, env_id in ENV_IDS.items():
        if env_id not in gym.registry:
            # the horizon is enforced by the env itself (sacgmm/tasks/*.yaml: control.horizon)
            gym.register(id=env_id, entry_point=_ENTRY_POINTS[task])


@dataclass(frozen=True)
class TaskLayout:
    """What an agent needs to know of a task without running it: ``observation_space`` (a
    gymnasium Dict), the control period ``dt`` (s) and the per-axis speed limit ``max_speed``
    (m/s)."""

    observation_space: Any
    dt: float
    max_speed: float


def task_layout(task: str, sensor: bool = True) -> TaskLayout:
    """The :class:`TaskLayout` of a task name, read from its definition (no simulator)."""
    env_id(task)                               # a clear error for an unknown name
    module, name = _ENTRY_POINTS[task].split(":")
    env_class = getattr(import_module(module), name)
    cfg = load_task_config(task)
    ctrl = cfg["control"]
    return TaskLayout(env_class.observation_space_of(cfg, sensor), 1.0 / int(ctrl["control_hz"]),
                      float(ctrl["max_speed"]))


def env_id(task: str) -> str:
    """The gymnasium id of a task name; ``ValueError`` listing the valid names otherwise."""
    if task not in ENV_IDS:
        raise ValueError(unknown_task_message(task))
    return ENV_IDS[task]


def make_env(task: str, **kwargs):
    """``gymnasium.make`` for a task name (``peg``, ``lever``, ``door``) with env options
    ``noise``, ``sensor``, ``dense``, ``render_mode``, ``config``."""
    import gymnasium as gym

    eid = env_id(task)
    register_envs()
    return gym.make(eid, disable_env_checker=True, **kwargs)


try:  # register on import when gymnasium is installed
    register_envs()
except ImportError:  # pragma: no cover - gymnasium is an optional (sim) dependency
    pass

__all__ = ["ENV_IDS", "TASKS", "env_id", "make_env", "register_envs"]
