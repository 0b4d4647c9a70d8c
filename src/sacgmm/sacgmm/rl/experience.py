"""The replay data of a learning agent, shared by ``sacgmm train`` and the ``sac_refiner`` node.

:class:`Experience` owns the main replay buffer, folds each episode's transitions into n-step
ones on the way in (:mod:`sacgmm.rl.nstep`; ``n_step = 1`` stores them as they come) and,
when the agent imitates its own successes (``SACConfig.success_bc_weight`` > 0), keeps the
transitions of successful episodes in a second buffer. With ``demo_fraction`` > 0 the
demonstrations live in a buffer of their own and every batch takes that fraction of its
transitions from it (RLPD's symmetric sampling at 0.5, Ball et al. 2023), however much online
data has come in. :meth:`Experience.update` runs SAC updates on batches from them.
"""
from __future__ import annotations

import time
from typing import Mapping

from sacgmm.rl.nstep import NStepFolder, Transition
from sacgmm.rl.replay import ReplayBuffer, concat_batches

# capacity (transitions) of the buffer of successful episodes
SUCCESS_BUFFER_SIZE = 5000


class Experience:
    """Replay for one agent. ``capacity``: main buffer size (transitions); ``gamma``: the
    critic's discount (for n-step returns); ``keep_successes``: also keep the transitions of
    successful episodes (:attr:`successes`, at most ``SUCCESS_BUFFER_SIZE``).

    ``demo_fraction``: the share of each batch drawn from the demonstrations (0: they go into
    the main buffer like any episode).

    Per episode: :meth:`add` each decision's transition in order (``demonstration=True`` for
    a demonstrated episode), then :meth:`end_episode`.
    """

    def __init__(self, capacity: int, obs_shapes: Mapping[str, tuple[int, ...]], act_dim: int,
                 *, seed: int, n_step: int = 1, gamma: float = 0.99,
                 keep_successes: bool = False, image_layout: tuple[int, int] | None = None,
                 demo_fraction: float = 0.0):
        if not 0.0 <= demo_fraction < 1.0:
            raise ValueError(f"demo_fraction must lie in [0, 1), got {demo_fraction!r}")
        self.buffer = ReplayBuffer(capacity, obs_shapes, act_dim, seed=seed,
                                   image_layout=image_layout)
        self.demo_fraction = float(demo_fraction)
        #: the demonstrations' transitions (None unless ``demo_fraction`` > 0)
        self.demos = (ReplayBuffer(capacity, obs_shapes, act_dim, seed=seed + 2,
                                   image_layout=image_layout) if demo_fraction > 0 else None)
        self._demonstrating = self._in_episode = False
        self.folder = NStepFolder(n_step, gamma)
        self.successes = (ReplayBuffer(min(capacity, SUCCESS_BUFFER_SIZE), obs_shapes, act_dim,
                                       seed=seed + 1, image_layout=image_layout)
                          if keep_successes else None)
        self._episode: list[Transition] = []
        #: episodes that gave the imitation term something: successful ones and those with
        #: labels (the evidence that ``SACConfig.skill_prior_episodes`` weighs against)
        self.imitation_episodes = 0
        self._episode_labelled = False

    @classmethod
    def for_agent(cls, agent, capacity: int, *, seed: int, n_step: int = 1,
                  demo_fraction: float = 0.0) -> "Experience":
        """The replay for a :class:`~sacgmm.rl.sac.SACAgent`: its observation layout, action
        size, discount and image layout; successes kept when its ``success_bc_weight`` is
        > 0."""
        keep = agent.config.success_bc_weight > 0
        return cls(capacity, agent.obs_shapes, agent.act_dim, seed=seed, n_step=n_step,
                   gamma=agent.config.gamma, keep_successes=keep,
                   image_layout=agent.image_layout, demo_fraction=demo_fraction)

    def __len__(self) -> int:
        """Transitions available for updates (online and demonstrated)."""
        return len(self.buffer) + (len(self.demos) if self.demos is not None else 0)

    def add(self, obs, action, reward: float, next_obs, terminated: bool,
            truncated: bool = False, demonstration: bool = False) -> None:
        """One decision's transition; ``terminated``/``truncated`` as in gymnasium (either
        ends the episode's n-step folding); ``demonstration``: it belongs to a demonstrated
        episode (all of that episode's transitions must say so)."""
        if self._in_episode and bool(demonstration) != self._demonstrating:
            raise ValueError("an episode's transitions are either all demonstrated or none")
        self._in_episode, self._demonstrating = True, bool(demonstration)
        self._store(self.folder.push(obs, action, reward, next_obs, terminated, truncated))

    def add_imitation(self, obs, action, reward: float, next_obs, terminated: bool) -> None:
        """A labelled state for the imitation term, stored in :attr:`successes` at once, whatever
        the episode's outcome (e.g. hindsight labels: ``action`` is what the state *should*
        have chosen, not what it did, so it never enters the main buffer the critics learn
        from)."""
        if self.successes is None:
            raise ValueError("imitation labels need the buffer of successes: set "
                             "sac.success_bc_weight > 0")
        self.successes.add(obs, action, float(reward), next_obs, bool(terminated), 1)
        self._episode_labelled = True

    def _store(self, transitions: list[Transition]) -> None:
        target = self.demos if self._demonstrating and self.demos is not None else self.buffer
        for t in transitions:
            target.add(*t)
            if self.successes is not None:
                self._episode.append(t)

    def end_episode(self, success: bool) -> None:
        """Close the episode: its transitions go to :attr:`successes` if it succeeded.
        Transitions still being folded (the episode's last one was never added) are stored
        as they stand."""
        self._store(self.folder.flush())
        if success and self.successes is not None:
            for t in self._episode:
                self.successes.add(*t)
        if self._episode_labelled or (success and self._episode):
            self.imitation_episodes += 1
        self._episode = []
        self._episode_labelled = False
        self._demonstrating = self._in_episode = False

    def sample(self, batch_size: int):
        """One batch: ``demo_fraction`` of it (rounded) from the demonstrations, the rest
        online; all from whichever of the two holds transitions when the other is empty."""
        demos = self.demos
        if demos is None or not len(demos):
            return self.buffer.sample(batch_size)
        if not len(self.buffer):
            return demos.sample(batch_size)
        k = min(batch_size - 1, max(1, round(self.demo_fraction * batch_size)))
        return concat_batches(self.buffer.sample(batch_size - k), demos.sample(k))

    def update(self, agent, n: int, batch_size: int) -> tuple[dict[str, float], float]:
        """``n`` SAC updates: ``(last losses or {}, seconds taken)``. While :attr:`successes`
        holds any transition, each update also gets a half-size batch of them."""
        t0 = time.perf_counter()
        losses: dict[str, float] = {}
        for _ in range(n):
            wins = self.successes
            extra = wins.sample(max(1, batch_size // 2)) if wins is not None and len(wins) else None
            losses = agent.update(self.sample(batch_size), extra,
                                  imitation_episodes=self.imitation_episodes)
        return losses, time.perf_counter() - t0

    def successes_state(self) -> dict | None:
        """:attr:`successes` for a checkpoint's extras (None when not kept)."""
        if self.successes is None:
            return None
        return {"buffer": self.successes.state_dict(), "episodes": self.imitation_episodes}

    def load_successes_state(self, state: dict | None) -> None:
        if self.successes is not None and state is not None:
            if "buffer" not in state:       # a checkpoint that kept the buffer alone
                state = {"buffer": state, "episodes": 0}
            self.successes.load_state_dict(state["buffer"])
            self.imitation_episodes = int(state["episodes"])

    def demos_state(self) -> dict | None:
        """:attr:`demos` for a checkpoint's extras (None when not kept apart)."""
        return self.demos.state_dict() if self.demos is not None else None

    def load_demos_state(self, state: dict | None) -> None:
        if self.demos is not None and state is not None:
            self.demos.load_state_dict(state)
