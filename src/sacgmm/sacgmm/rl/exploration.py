"""Exploration noise of training episodes: the standard-normal draws behind a stochastic action.

A SAC policy samples ``a = tanh(mean + std * eps)`` with ``eps ~ N(0, I)``. Which ``eps`` a
training episode uses is the exploration scheme (``TrainConfig.exploration``):

- ``step``: a fresh draw per agent decision (plain SAC);
- ``episode``: one draw held for the whole episode;
- ``correlated``: a first-order auto-regressive sequence,
  ``eps_t = rho eps_{t-1} + sqrt(1 - rho^2) xi_t`` with ``xi_t ~ N(0, I)`` and
  ``rho = correlation``. Every ``eps_t`` is still N(0, I), so each action is distributed as the
  policy says, but consecutive decisions lean the same way for about ``1 / (1 - rho)``
  decisions: a skill can be pushed in one direction for several windows (e.g. lifted before it
  reaches a handle from below), which independent draws average away.

The same draws drive the warm-up actions (``N(0, warmup_std)``) before learning starts.
"""
from __future__ import annotations

import math

import numpy as np

SCHEMES = ("step", "episode", "correlated")


def check_exploration(scheme: str, correlation: float) -> None:
    """Raise ``ValueError`` naming the setting if ``scheme`` or ``correlation`` is invalid."""
    if scheme not in SCHEMES:
        raise ValueError(f"exploration must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    if not (math.isfinite(correlation) and 0.0 <= correlation < 1.0):
        raise ValueError(f"exploration_correlation must be in [0, 1), got {correlation!r}")


class ExplorationNoise:
    """The draws of one training run. ``dim``: action size; ``rng``: the run's generator.

    Call :meth:`start_episode` at each episode start and :meth:`draw` before each decision;
    :meth:`draw` returns None for ``step`` (the policy then draws its own).
    """

    def __init__(self, scheme: str, dim: int, rng: np.random.Generator, correlation: float = 0.8):
        check_exploration(scheme, correlation)
        self.scheme, self.dim, self.rng, self.rho = scheme, int(dim), rng, float(correlation)
        self._eps: np.ndarray | None = None

    def start_episode(self) -> None:
        """A new episode: the next :meth:`draw` starts a fresh sequence."""
        self._eps = None

    def draw(self) -> np.ndarray | None:
        """The standard-normal draw ``(dim,)`` float32 for the next decision (None: ``step``)."""
        if self.scheme == "step":
            return None
        if self._eps is None:
            self._eps = self.rng.standard_normal(self.dim)
        elif self.scheme == "correlated":
            xi = self.rng.standard_normal(self.dim)
            self._eps = self.rho * self._eps + math.sqrt(1.0 - self.rho ** 2) * xi
        return self._eps.astype(np.float32)
