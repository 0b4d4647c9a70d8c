"""Hindsight imitation labels of a grasping episode, decision by decision.

With via-point steering (:mod:`sacgmm.skill.via_point`) a grasp tells, once it has happened,
where every earlier approach decision should have aimed: at the grasp position.
:class:`GraspHindsight` follows one episode's decisions, as the in-process trainer
(:class:`sacgmm.rl.train_task.TaskRun`) and the ``sac_refiner`` node both see them, and hands
back the labelled samples to add to the imitation buffer
(:meth:`sacgmm.rl.experience.Experience.add_imitation`):

* ``grasp`` (``TrainConfig.hindsight_grasp``): the via-point decisions taken with the gripper
  open before the episode's first grasp, each labelled with the via-point at the grasp
  position, as soon as the grasp is reported;
* ``kept_only`` (``hindsight_grasp_kept``): the same labels, but only at the episode's end and
  only if no later decision's window ended with the gripper open again (the grasp was kept);
* ``held`` (``hindsight_held``): every decision whose window started and ended with the gripper
  holding, labelled by :meth:`~sacgmm.skill.via_point.ViaPointSteering.held_label`.

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

    def __init__(self, steering, grasp: bool = True, kept_only: bool = False,
                 held: bool = False):
        self.steering = steering
        self.grasp, self.kept_only, self.held = bool(grasp), bool(kept_only), bool(held)
        self.start_episode()

    def start_episode(self) -> None:
        self.approach: list[tuple[dict, dict, float, bool]] = []
        self.grasp_position: np.ndarray | None = None   # m, the episode's first grasp
        self.lost = False          # the gripper opened again after the first grasp
        self._kept: list | None = None

    def observe(self, obs: dict, next_obs: dict, reward: float, terminated: bool,
                info: dict[str, Any]) -> list[Sample]:
        """One decision's transition and its window's report (``via_point``, ``held``,
        ``held_end``, ``grasp_position`` as in :class:`sacgmm.rl.task_env.GMMWindowEnv`);
        returns the samples labelled now."""
        out: list[Sample] = []
        if self.grasp and self.grasp_position is None:
            if info.get("via_point", False) and not info.get("held", False):
                self.approach.append((obs, next_obs, reward, terminated))
            if info.get("grasp_position") is not None:
                self.grasp_position = np.asarray(info["grasp_position"], dtype=np.float64)
                if self.kept_only:
                    self._kept = self.approach
                else:
                    out += self._grasp_labels(self.approach)
        elif self.grasp_position is not None and not info.get("held_end", True):
            self._kept, self.lost = None, True
        if self.held and info.get("held") and info.get("held_end"):
            label = self.steering.held_label(obs["position"], next_obs["position"])
            if label is not None:
                out.append((obs, label, reward, next_obs, terminated))
        return out

    def end_episode(self) -> list[Sample]:
        """The samples labelled at the episode's end (``kept_only``: a kept grasp's)."""
        kept, self._kept = self._kept, None
        return self._grasp_labels(kept) if kept else []

    def _grasp_labels(self, approach: list) -> list[Sample]:
        return [(obs, self.steering.hindsight_label(obs["position"], self.grasp_position),
                 reward, next_obs, term) for obs, next_obs, reward, term in approach]
