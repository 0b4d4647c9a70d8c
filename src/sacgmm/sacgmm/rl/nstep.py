"""n-step transitions: ``k`` consecutive agent decisions folded into one replay transition.

With a sparse reward at the end of a long episode, one-step TD learning moves the success
back by one decision per round of target-network updates; an n-step transition carries it
``n`` decisions back at once (as in Rainbow and D4PG; no off-policy correction). The folded
transition from decision ``t`` is::

    obs_t, action_t, sum_{i<k} gamma^i r_{t+i}, obs_{t+k}, done_{t+k-1}, steps = k

with ``k = n``, or fewer at the episode's end (every decision is emitted once). The critic
bootstraps it with ``gamma ** k`` (:class:`sacgmm.rl.replay.Batch`). ``n = 1`` passes
transitions through unchanged.
"""
from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple


class Transition(NamedTuple):
    obs: Any
    action: Any
    reward: float
    next_obs: Any
    done: bool
    steps: int


class NStepFolder:
    """Folds one episode's transitions into ``n``-step ones (``gamma``: the critic's discount).

    :meth:`push` takes each one-decision transition in order and returns the folded
    transitions that are complete; at the episode's end (``terminated`` or ``truncated``) it
    returns all the rest, and the folder is empty for the next episode.
    """

    def __init__(self, n: int, gamma: float):
        if int(n) < 1:
            raise ValueError(f"n_step must be >= 1, got {n}")
        if not 0.0 <= float(gamma) <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {gamma}")
        self.n, self.gamma = int(n), float(gamma)
        self._pending: deque[tuple] = deque()

    def __len__(self) -> int:
        return len(self._pending)

    def _fold(self, end: int) -> Transition:
        """The transition from the oldest pending decision over the first ``end`` of them."""
        items = list(self._pending)[:end]
        ret = sum(self.gamma ** i * r for i, (_, _, r, _, _) in enumerate(items))
        obs, action = items[0][0], items[0][1]
        _, _, _, next_obs, done = items[-1]
        return Transition(obs, action, float(ret), next_obs, bool(done), len(items))

    def push(self, obs, action, reward: float, next_obs, terminated: bool,
             truncated: bool = False) -> list[Transition]:
        """Add decision ``t``'s transition; return the folded transitions now complete."""
        self._pending.append((obs, action, float(reward), next_obs, bool(terminated)))
        if terminated or truncated:
            return self.flush()
        out = []
        if len(self._pending) == self.n:
            out.append(self._fold(self.n))
            self._pending.popleft()
        return out

    def flush(self) -> list[Transition]:
        """Emit every pending transition, folded up to the last one pushed (an episode cut
        short without a terminated/truncated flag, e.g. a transition lost on the way)."""
        out = []
        while self._pending:
            out.append(self._fold(len(self._pending)))
            self._pending.popleft()
        return out
