"""Hindsight imitation labels of a grasping episode, decision by decision.

With via-point steering (:mod:`sacgmm.skill.via_point`) a grasp tells, once it has happened,
where every earlier approach decision should have aimed: at the grasp position.
:class:`GraspHindsight` (``TrainConfig.hindsight_grasp``) follows one episode's decisions, as
the in-process trainer (:class:`sacgmm.rl.train_task.TaskRun`) and the ``sac_refiner`` node
both see them, and as soon as the episode's first grasp is reported hands back the via-point
decisions taken with the gripper open before it, each labelled with the via-point at the grasp
position, to add to the imitation buffer
(:meth:`sacgmm.rl.experience.Experience.add_imitation`).

A sample is ``(obs, label, reward, next_obs, terminated)``. Positions are ``obs["position"]``
(m, perceived target frame). Pure numpy; imports no torch or ROS.
"""
from __future__ import annotations

from typing import Any

import numpy as np

Sample = tuple[dict, np.ndarray, float, dict, bool]


class GraspHindsight:
    """See the module docstring; ``steering`` is the run's
    :class:`~sacgmm.skill.via_point.ViaPointSteering`."""

    def __init__(self, steering):
        self.steering = steering
        self.start_episode()

    def start_episode(self) -> None:
        self.approach: list[tuple[dict, dict, float, bool]] = []
        self.grasp_position: np.ndarray | None = None   # m, the episode's first grasp

    def observe(self, obs: dict, next_obs: dict, reward: float, terminated: bool,
                info: dict[str, Any]) -> list[Sample]:
        """One decision's transition and its window's report (``via_point``, ``held``,
        ``grasp_position`` as in :class:`sacgmm.rl.task_env.GMMWindowEnv`); returns the
        samples labelled now."""
        if self.grasp_position is not None:
            return []
        if info.get("via_point", False) and not info.get("held", False):
            self.approach.append((obs, next_obs, reward, terminated))
        if info.get("grasp_position") is None:
            return []
        self.grasp_position = np.asarray(info["grasp_position"], dtype=np.float64)
        return [(o, self.steering.hindsight_label(o["position"], self.grasp_position), r, o2, t)
                for o, o2, r, t in self.approach]
