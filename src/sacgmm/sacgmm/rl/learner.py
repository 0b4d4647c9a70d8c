"""The learning side of a run, decision by decision: act, store, label, update, close episodes.

:class:`Learner` is shared by ``sacgmm train`` (:class:`sacgmm.rl.train_task.TaskRun`) and the
ROS ``sac_refiner`` node, which call it in the same order, so a graph in lock-step learns what
the in-process loop learns. Per episode::

    learner.start_episode()
    while not done:
        action = learner.act(obs, explore=True)        # warm-up, then the stochastic policy
        ...                                             # the environment runs the decision
        learner.store(obs, action, reward, next_obs, terminated, truncated, report)
        learner.learn()                                 # the update schedule
    learner.end_episode(success)

``report`` is the window's report (``via_point``, ``held``, ``grasp_position``, as
:class:`sacgmm.rl.task_env.GMMWindowEnv` gives it) for the hindsight labels. With
``cfg.decision_memory`` the learner adds what its previous decision did to every observation
(:mod:`sacgmm.rl.memory`): callers pass the environment's observations, in the order above.
"""
from __future__ import annotations

import time
from typing import Mapping

import numpy as np

from sacgmm.rl.config import TrainConfig


def updates_due(credit: float, decisions: int, buffer_len: int,
                cfg: TrainConfig) -> tuple[int, float]:
    """The update schedule: after ``cfg.learning_starts`` decisions, each decision earns
    ``cfg.updates_per_step`` gradient updates (fractions accumulate in ``credit``). Returns
    ``(updates to run now, remaining credit)``."""
    if decisions < cfg.learning_starts or buffer_len < 2:
        return 0, credit
    credit += cfg.updates_per_step
    n = int(credit)
    return n, credit - n


def warmup_action(rng: np.random.Generator, cfg: TrainConfig, act_dim: int) -> np.ndarray:
    """A warm-up action in ``[-1, 1]``: N(0, ``cfg.warmup_std``) clipped, or uniform if the
    std is 0."""
    if cfg.warmup_std > 0:
        eps = rng.standard_normal(act_dim)
        return np.clip(cfg.warmup_std * eps, -1.0, 1.0).astype(np.float32)
    return rng.uniform(-1.0, 1.0, act_dim).astype(np.float32)


class Learner:
    """A SAC agent with its replay and schedule for configuration ``cfg`` (a checked
    :class:`TrainConfig`), observations of ``obs_shapes`` and ``act_dim`` actions.

    ``train`` False: acting only (no replay is allocated). ``steering``: the run's
    :class:`~sacgmm.skill.via_point.ViaPointSteering` for the hindsight grasp labels
    (``cfg.hindsight_grasp``). Seeds torch, numpy's global generator, the warm-up actions and
    the replay sampling from ``cfg.seed``.
    """

    def __init__(self, cfg: TrainConfig, obs_shapes: Mapping[str, tuple[int, ...]],
                 act_dim: int, *, train: bool = True, steering=None):
        import torch

        from sacgmm.rl.experience import Experience
        from sacgmm.rl.hindsight import GraspHindsight
        from sacgmm.rl.sac import SACAgent

        from sacgmm.rl.memory import KEY, DecisionMemory

        self.cfg, self.train = cfg, bool(train)
        self.obs_shapes = {k: tuple(int(d) for d in v) for k, v in obs_shapes.items()}
        self.act_dim = int(act_dim)
        self.memory = (DecisionMemory(self.act_dim, cfg.sac.vector_scale)
                       if cfg.decision_memory else None)
        if self.memory is not None:
            self.obs_shapes[KEY] = self.memory.shape
        self._viewed = None       # the observation (with memory) of the last action
        torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        self.agent = SACAgent(self.obs_shapes, self.act_dim, cfg.sac)
        self.experience = (Experience.for_agent(self.agent, cfg.buffer_size, seed=cfg.seed,
                                                n_step=cfg.n_step,
                                                demo_fraction=cfg.demo_fraction)
                           if self.train else None)
        self.action_rng = np.random.default_rng(cfg.seed + 12345)
        if cfg.hindsight_grasp and self.train and steering is None:
            raise ValueError("hindsight_grasp needs via-point steering")
        self.hindsight = (GraspHindsight(steering)
                          if self.train and cfg.hindsight_grasp else None)
        self.actions = 0          # actions chosen (training or not)
        self.decisions = 0        # transitions stored
        self.updates = 0
        self.update_credit = 0.0
        self.update_time = 0.0    # s spent in gradient updates
        self.last_losses: dict[str, float] = {}

    @property
    def buffer(self):
        """The main replay buffer (None when not training)."""
        return self.experience.buffer if self.experience is not None else None

    # -- one decision -----------------------------------------------------------------------
    def act(self, obs: dict, explore: bool) -> np.ndarray:
        """Exploring: ``learning_starts`` warm-up actions, then the stochastic policy; else the
        deterministic policy."""
        self.actions += 1
        if self.memory is not None:
            obs = self._viewed = self.memory.view(obs)
        if explore and self.decisions < self.cfg.learning_starts:
            action = warmup_action(self.action_rng, self.cfg, self.act_dim)
        else:
            action = self.agent.act(obs, deterministic=not explore)
        if self.memory is not None:
            self.memory.acted(obs, action)
        return action

    def start_episode(self) -> None:
        """A new episode (training or evaluation) begins."""
        if self.hindsight is not None:
            self.hindsight.start_episode()
        if self.memory is not None:
            self.memory.reset()
            self._viewed = None

    def store(self, obs, action, reward: float, next_obs, terminated: bool,
              truncated: bool = False, report: dict | None = None) -> None:
        """One decision's transition (and its hindsight labels, from its window's
        ``report``); nothing when not training."""
        if not self.train:
            return
        if self.memory is not None:
            if self._viewed is None or not np.array_equal(
                    np.asarray(obs["position"], dtype=np.float32), self._viewed["position"]):
                raise ValueError("store() must follow act() on the same observation")
            obs, next_obs = self._viewed, self.memory.view(next_obs)
        self.decisions += 1
        self.experience.add(obs, action, reward, next_obs, terminated, truncated)
        if self.hindsight is not None:
            for sample in self.hindsight.observe(obs, next_obs, reward, terminated, report or {}):
                self.experience.add_imitation(*sample)

    def learn(self) -> int:
        """The updates the schedule owes now; returns how many ran."""
        if not self.train:
            return 0
        n, self.update_credit = updates_due(self.update_credit, self.decisions,
                                            len(self.experience), self.cfg)
        if n:
            self.last_losses, seconds = self.experience.update(self.agent, n, self.cfg.batch_size)
            self.updates += n
            self.update_time += seconds
        return n

    def end_episode(self, success: bool) -> None:
        """Close the episode (its transitions go to the successes if it succeeded)."""
        if self.train:
            self.experience.end_episode(bool(success))
        self.start_episode()

    # -- persistence --------------------------------------------------------------------------
    def state(self) -> dict:
        """Counters, warm-up generator and successes, for a checkpoint's extras."""
        return {"decisions": self.decisions, "updates": self.updates,
                "update_credit": self.update_credit,
                "action_rng": self.action_rng.bit_generator.state,
                "successes": self.experience.successes_state() if self.train else None,
                "demos": self.experience.demos_state() if self.train else None}

    def load_state(self, extra: Mapping) -> None:
        """Restore what :meth:`state` saved (keys it lacks keep their values)."""
        for key in ("decisions", "updates", "update_credit"):
            if key in extra:
                setattr(self, key, type(getattr(self, key))(extra[key]))
        if extra.get("action_rng") is not None:
            self.action_rng.bit_generator.state = extra["action_rng"]
        if self.train:
            self.experience.load_successes_state(extra.get("successes"))
            self.experience.load_demos_state(extra.get("demos"))

    def load(self, path) -> dict:
        """Continue from the agent and counters of checkpoint ``path`` (``sacgmm train`` or
        the refiner's ``save_policy``); returns its extras. ``ValueError`` if it was trained
        with settings under which its actions or observations mean something else here."""
        from sacgmm.rl.checkpoint import load_checkpoint
        payload = load_checkpoint(path)
        extra = dict(payload.get("extra") or {})
        if extra.get("config"):
            try:
                trained = TrainConfig.from_dict(extra["config"])
            except ValueError as exc:      # e.g. trained with an option that no longer exists
                raise ValueError(f"{path}: {exc}") from None
            for key in ("window", "gripper_obs", "decision_memory", "via_point", "delta_theta"):
                was, now = getattr(trained, key), getattr(self.cfg, key)
                if was != now:
                    raise ValueError(f"{path}: trained with {key}={_show(was)}, but this "
                                     f"configuration has {key}={_show(now)}: its actions would "
                                     "be misread here")
        try:
            self.agent.load_state_dict(payload["agent"])
        except (KeyError, RuntimeError, ValueError) as exc:
            raise ValueError(f"{path}: the saved agent does not fit this observation/action "
                             f"layout ({exc})") from None
        self.load_state({k: v for k, v in extra.items() if k != "action_rng"})
        return extra

    def save(self, path, extra: dict, replay: bool = True):
        """Write the agent (and the replay buffer if ``replay``) with ``extra`` and this
        learner's :meth:`state` atomically to ``path``; returns the path."""
        from sacgmm.rl.checkpoint import save_checkpoint
        return save_checkpoint(path, self.agent, self.buffer if replay else None,
                               extra={**extra, **self.state(), "config": self.cfg.to_dict()})


def _show(value) -> str:
    """A setting for a message (sections as their non-default fields)."""
    from dataclasses import fields, is_dataclass
    if is_dataclass(value):
        changed = {f.name: getattr(value, f.name) for f in fields(value)
                   if getattr(value, f.name) != f.default}
        return str(changed)
    return repr(value)
