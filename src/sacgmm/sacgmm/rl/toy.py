"""A tiny 1-D target-reaching task for testing that the SAC core learns.

State: position ``x`` and target ``g``, both in ``[-1, 1]``; observation ``[x, g]`` (float32,
``(2,)``). Action: ``(1,)`` in ``[-1, 1]``, a velocity: ``x <- clip(x + step_size * a, -1, 1)``.
Reward: ``-|x - g|`` after the move (dense, at most 0). Episodes are truncated after
``horizon`` steps (never terminated). A uniformly random policy scores about ``-0.6`` per step;
a good one reaches the target within ``ceil(2 / step_size)`` steps and then stays there.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np


class Reach1D(gym.Env):
    """``Reach1D(horizon=15, step_size=0.25)``; gymnasium API (``reset``/``step``)."""

    metadata = {"render_modes": []}

    def __init__(self, horizon: int = 15, step_size: float = 0.25):
        self.horizon = int(horizon)
        self.step_size = float(step_size)
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self._x = 0.0
        self._g = 0.0
        self._t = 0

    def _obs(self) -> np.ndarray:
        return np.array([self._x, self._g], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._x, self._g = (float(v) for v in self.np_random.uniform(-1.0, 1.0, 2))
        self._t = 0
        return self._obs(), {}

    def step(self, action):
        a = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -1.0, 1.0))
        self._x = float(np.clip(self._x + self.step_size * a, -1.0, 1.0))
        self._t += 1
        reward = -abs(self._x - self._g)
        return self._obs(), reward, False, self._t >= self.horizon, {}
