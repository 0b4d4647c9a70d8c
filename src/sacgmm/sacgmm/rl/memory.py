"""What the agent's previous decision did, as part of its next observation.

A policy that sees only where the hand is and what the sensor shows now cannot search: under
perception noise the same pose and image follow a window that went in and one that stuck, and
it repeats what just failed. :class:`DecisionMemory` adds ``obs["memory"]`` to every
observation of an episode::

    memory = [x_t - x_{t-1},  a_{t-1} / vector_scale]

the hand's displacement over the previous window (m, the observation's ``position`` frame)
and the previous decision's action, divided by the agent's ``vector_scale`` so that the
networks see it in its own units (``[-1, 1]``) after the scaling every vector part gets. Both
are zero at an episode's first decision. Pure numpy; :class:`sacgmm.rl.learner.Learner` applies
it, so the in-process loop and the ROS refiner see the same memory.
"""
from __future__ import annotations

import numpy as np

KEY = "memory"


class DecisionMemory:
    """The previous decision of the current episode (see the module docstring)."""

    def __init__(self, act_dim: int, vector_scale: float = 1.0):
        if not (isinstance(act_dim, int) and act_dim > 0):
            raise ValueError(f"act_dim must be a positive integer, got {act_dim!r}")
        if not (np.isfinite(vector_scale) and vector_scale > 0):
            raise ValueError(f"vector_scale must be a positive number, got {vector_scale!r}")
        self.act_dim, self.vector_scale = act_dim, float(vector_scale)
        self.reset()

    @property
    def shape(self) -> tuple[int]:
        return (3 + self.act_dim,)

    def reset(self) -> None:
        """A new episode: nothing was done yet."""
        self._position: np.ndarray | None = None
        self._action = np.zeros(self.act_dim, dtype=np.float32)

    def view(self, obs: dict) -> dict:
        """``obs`` with its ``memory`` entry (a new dict; ``obs`` is not changed)."""
        if KEY in obs:
            raise ValueError(f"the observation already has a {KEY!r} entry")
        position = np.asarray(obs["position"], dtype=np.float32)
        moved = (np.zeros(3, dtype=np.float32) if self._position is None
                 else position - self._position)
        return {**obs, KEY: np.concatenate([moved, self._action / self.vector_scale]
                                           ).astype(np.float32)}

    def acted(self, obs: dict, action) -> None:
        """The agent chose ``action`` at observation ``obs``."""
        action = np.asarray(action, dtype=np.float32).reshape(-1)
        if action.shape != (self.act_dim,):
            raise ValueError(f"action must have {self.act_dim} values, got {action.shape}")
        self._position = np.asarray(obs["position"], dtype=np.float32).copy()
        self._action = action.copy()
