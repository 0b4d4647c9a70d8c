"""Train and evaluate the SAC core on a gymnasium environment with Box actions.

This checks the core apart from the robot tasks: ``sacgmm train-gym --env Pendulum-v1``.
Observations: a ``Box`` becomes the vector part ``"state"`` (flattened, float32); a ``Dict``
of ``Box`` spaces keeps its parts (3-D uint8 parts are images). Actions: the agent acts in
``[-1, 1]^A`` and :class:`ActionScaler` maps to the env's bounds.

Loop (one environment, CleanRL-like): uniform random actions for ``learning_starts`` steps,
then the stochastic policy; one gradient update per environment step from ``learning_starts``
on. ``done`` in the buffer is the env's *termination* (time-limit truncations bootstrap).
Evaluation: the deterministic policy (``tanh(mean)``) on ``eval_episodes`` episodes with
seeds ``eval_seed, eval_seed + 1, ...`` (the same episodes at every evaluation).

Checkpoints (``out_dir/checkpoint.pt``) are written at the first episode end after every
``checkpoint_every`` steps and at the end; they hold the agent, buffer, global RNGs, the
action-noise generator, the environment generator's state before the current episode's reset
and the counters, so resuming from a checkpoint written at an episode boundary continues
exactly as an uninterrupted run (see the tests). The final checkpoint may fall mid-episode
(``extra["mid_episode"]``): resuming from it restarts that episode from its initial state.
"""
from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from sacgmm.fileio import atomic_write_text
from sacgmm.machine import machine_info
from sacgmm.rl.checkpoint import restore_checkpoint, save_checkpoint
from sacgmm.rl.replay import ReplayBuffer
from sacgmm.rl.sac import SACAgent, SACConfig


class ActionScaler:
    """Affine map between the agent's ``[-1, 1]^A`` and a Box's ``[low, high]``."""

    def __init__(self, low: np.ndarray, high: np.ndarray):
        self.low = np.asarray(low, dtype=np.float64)
        self.high = np.asarray(high, dtype=np.float64)
        if not (np.all(np.isfinite(self.low)) and np.all(np.isfinite(self.high))):
            raise ValueError("the action space must have finite bounds")

    def to_env(self, action: np.ndarray) -> np.ndarray:
        a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        return (self.low + 0.5 * (a + 1.0) * (self.high - self.low)).astype(np.float32)

    def to_agent(self, env_action: np.ndarray) -> np.ndarray:
        a = 2.0 * (np.asarray(env_action, dtype=np.float64) - self.low) / (self.high - self.low) - 1.0
        return np.clip(a, -1.0, 1.0).astype(np.float32)


def obs_layout(observation_space) -> tuple[dict[str, tuple[int, ...]], Callable[[Any], dict]]:
    """``(obs_shapes, convert)`` for a gymnasium observation space (Box or Dict of Box)."""
    import gymnasium as gym
    if isinstance(observation_space, gym.spaces.Box):
        shape = (int(np.prod(observation_space.shape)),)
        return {"state": shape}, lambda o: {"state": np.asarray(o, np.float32).reshape(-1)}
    if isinstance(observation_space, gym.spaces.Dict):
        shapes = {}
        for k, sp in observation_space.spaces.items():
            if not isinstance(sp, gym.spaces.Box):
                raise ValueError(f"observation part {k!r} is {type(sp).__name__}, not Box")
            shapes[k] = tuple(sp.shape) if len(sp.shape) == 3 else (int(np.prod(sp.shape)),)
        return shapes, lambda o: {k: (np.asarray(o[k]) if len(shapes[k]) == 3
                                      else np.asarray(o[k], np.float32).reshape(-1))
                                  for k in shapes}
    raise ValueError(f"unsupported observation space {observation_space}")


def evaluate(agent: SACAgent, env, episodes: int, seed: int,
             convert: Callable, scaler: ActionScaler) -> list[float]:
    """Returns of ``episodes`` deterministic-policy episodes (reset seeds ``seed + i``)."""
    returns = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        total, done = 0.0, False
        while not done:
            action = agent.act(convert(obs), deterministic=True)
            obs, r, term, trunc, _ = env.step(scaler.to_env(action))
            total += float(r)
            done = term or trunc
        returns.append(total)
    return returns


def _write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    import io
    buf = io.StringIO()
    # every column of any row, first-seen order (a run resumed from an older version's
    # checkpoint has rows without the columns added since: their cells are left empty)
    fieldnames = list(dict.fromkeys(k for row in rows for k in row))
    w = csv.DictWriter(buf, fieldnames=fieldnames, restval="")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def train_sac(make_env: Callable[[], Any], total_steps: int, seed: int = 0,
              config: SACConfig | None = None, learning_starts: int = 1000,
              batch_size: int = 256, buffer_size: int = 1_000_000, updates_per_step: int = 1,
              eval_every: int = 5000, eval_episodes: int = 10, eval_seed: int = 10_000,
              out_dir: str | os.PathLike | None = None, checkpoint_every: int = 0,
              resume: bool = False, log: Callable[[str], None] | None = None) -> dict:
    """Train SAC for ``total_steps`` environment steps; returns the summary dict.

    ``make_env()`` builds a fresh gymnasium env (called twice: training and evaluation).
    With ``out_dir``: writes ``checkpoint.pt``, ``episodes.csv``, ``evals.csv`` and
    ``summary.json`` there. ``resume=True`` continues from ``out_dir/checkpoint.pt``.
    Raises ``FloatingPointError`` (from :meth:`SACAgent.update`) on a non-finite loss; no
    checkpoint is written after it.
    """
    import gymnasium as gym
    t_start = time.perf_counter()
    env, eval_env = make_env(), make_env()
    if not isinstance(env.action_space, gym.spaces.Box):
        raise ValueError(f"the action space must be Box, got {env.action_space}")
    act_dim = int(np.prod(env.action_space.shape))
    scaler = ActionScaler(env.action_space.low.reshape(-1), env.action_space.high.reshape(-1))
    obs_shapes, convert = obs_layout(env.observation_space)
    out = Path(out_dir) if out_dir is not None else None
    ckpt = out / "checkpoint.pt" if out is not None else None

    torch.manual_seed(seed)
    np.random.seed(seed)
    agent = SACAgent(obs_shapes, act_dim, config)
    buffer = ReplayBuffer(buffer_size, obs_shapes, act_dim, seed=seed,
                          image_layout=agent.image_layout)
    action_rng = np.random.default_rng(seed + 1)
    step, episode, updates, update_time = 0, 0, 0, 0.0
    episodes_log: list[dict] = []
    evals_log: list[dict] = []
    obs, _ = env.reset(seed=seed)
    # the env generator's state just before the reset that began the current episode: a
    # resumed run restores it and resets again, re-creating that episode's start exactly
    reset_rng = env.unwrapped.np_random.bit_generator.state
    if resume:
        if ckpt is None:
            raise ValueError("resume needs out_dir")
        extra = restore_checkpoint(ckpt, agent, buffer)
        step, episode, updates = extra["step"], extra["episode"], extra["updates"]
        episodes_log, evals_log = list(extra["episodes_log"]), list(extra["evals_log"])
        action_rng.bit_generator.state = extra["action_rng"]
        reset_rng = extra["env_rng"]
        env.unwrapped.np_random.bit_generator.state = reset_rng
        obs, _ = env.reset()   # the same episode start as when the checkpoint was written
        if log:
            log(f"resumed from {ckpt} at step {step}")

    def checkpoint() -> None:
        if ckpt is None:
            return
        save_checkpoint(ckpt, agent, buffer, extra={
            "step": step, "episode": episode, "updates": updates,
            "episodes_log": episodes_log, "evals_log": evals_log,
            "action_rng": action_rng.bit_generator.state,
            "env_rng": reset_rng, "mid_episode": ep_len > 0,
        })

    def run_eval() -> list[float]:
        rets = evaluate(agent, eval_env, eval_episodes, eval_seed, convert, scaler)
        evals_log.append({"step": step, "mean_return": float(np.mean(rets)),
                          "std_return": float(np.std(rets))})
        if log:
            log(f"step {step}: eval return {np.mean(rets):.1f} +- {np.std(rets):.1f} "
                f"({episode} episodes, {updates} updates, alpha {agent.alpha:.3f})")
        return rets

    ep_return, ep_len = 0.0, 0
    last_losses: dict[str, float] = {}
    next_ckpt = (step // checkpoint_every + 1) * checkpoint_every if checkpoint_every else None
    start_step, run_updates, t_loop = step, 0, time.perf_counter()
    while step < total_steps:
        o = convert(obs)
        if step < learning_starts:
            action = action_rng.uniform(-1.0, 1.0, act_dim).astype(np.float32)
        else:
            action = agent.act(o)
        obs, reward, term, trunc, _ = env.step(scaler.to_env(action))
        buffer.add(o, action, float(reward), convert(obs), bool(term))
        ep_return += float(reward)
        ep_len += 1
        step += 1
        if step >= learning_starts:
            t0 = time.perf_counter()
            for _ in range(updates_per_step):
                last_losses = agent.update(buffer.sample(batch_size))
                updates += 1
                run_updates += 1
            update_time += time.perf_counter() - t0
        if eval_every and step % eval_every == 0 and step < total_steps:
            run_eval()
        if term or trunc:
            episode += 1
            episodes_log.append({"step": step, "episode": episode, "return": ep_return,
                                 "length": ep_len})
            ep_return, ep_len = 0.0, 0
            reset_rng = env.unwrapped.np_random.bit_generator.state
            obs, _ = env.reset()
            if next_ckpt is not None and step >= next_ckpt:
                checkpoint()
                next_ckpt = (step // checkpoint_every + 1) * checkpoint_every
    loop_time = time.perf_counter() - t_loop
    final_returns = run_eval()
    checkpoint()
    final = evals_log[-1]
    recent = [e["return"] for e in episodes_log[-10:]]
    summary = {
        "env_steps": step, "updates": updates, "episodes": episode,
        "final_eval": {"mean_return": final["mean_return"], "std_return": final["std_return"],
                       "episodes": eval_episodes, "deterministic": True,
                       "returns": final_returns},
        "evals": evals_log,
        "train_return_last10_mean": float(np.mean(recent)) if recent else None,
        "env_steps_per_s": (step - start_step) / loop_time if loop_time > 0 else None,
        "updates_per_s": run_updates / update_time if update_time > 0 else None,
        "wall_time_s": time.perf_counter() - t_start,
        "seed": seed, "learning_starts": learning_starts, "batch_size": batch_size,
        "buffer_size": buffer.capacity, "sac_config": asdict(agent.config),
        "last_losses": last_losses, "machine": machine_info(),
    }
    if out is not None:
        _write_csv(out / "episodes.csv", episodes_log)
        _write_csv(out / "evals.csv", evals_log)
        atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def train_gym(env_id: str, total_steps: int, seed: int = 0, **kwargs) -> dict:
    """:func:`train_sac` on ``gymnasium.make(env_id)``; adds ``env`` to the summary."""
    import gymnasium as gym
    summary = train_sac(lambda: gym.make(env_id), total_steps, seed, **kwargs)
    return {"env": env_id, **summary}
