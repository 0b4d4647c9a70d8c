"""Distilling the steering oracle: can the agent's policy network represent its steering?

:mod:`sacgmm.experiments.oracle` bounds what an interface (delta-theta layout, window length)
can reach. When a learned SAC-GMM policy stays below that bound, the gap is either in the
policy class (a network from the agent's observation to an action cannot express the oracle's
choices, or not from so few episodes) or in the learning signal (sparse rewards). This module
separates the two: it records the oracle's decisions on a budget of training episodes, fits a
network of the SAC actor's shape by behaviour cloning (supervised, on every recorded decision),
and evaluates that network alone on other episodes.

The distilled policy sees what a pose-only SAC-GMM agent with ``gripper_obs`` sees: the TCP
position in the perceived target frame (m) and the gripper opening (m), both times
``vector_scale`` as the SAC agent scales them; its output is ``tanh`` of an MLP, in [-1, 1].
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def fit_policy(features: np.ndarray, actions: np.ndarray, hidden: Sequence[int] = (256, 256),
               steps: int = 3000, batch_size: int = 128, lr: float = 1e-3,
               vector_scale: float = 50.0, seed: int = 0):
    """Behaviour cloning: an MLP ``a = tanh(f(vector_scale * features))`` fitted by Adam on
    the squared action error. ``features`` ``(M, F)``, ``actions`` ``(M, A)`` in [-1, 1].
    Returns ``(policy, final loss)``; ``policy(features (F,) or (B, F)) -> actions``
    (numpy float32)."""
    import torch

    from sacgmm.rl.networks import mlp

    x = np.asarray(features, dtype=np.float32)
    y = np.asarray(actions, dtype=np.float32)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y) or len(x) == 0:
        raise ValueError(f"need matching non-empty (M, F) features and (M, A) actions, got "
                         f"shapes {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("features or actions contain NaN or inf")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = mlp(x.shape[1], y.shape[1], hidden)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    tx, ty = torch.as_tensor(x) * vector_scale, torch.as_tensor(y)
    loss = torch.tensor(float("nan"))
    for _ in range(int(steps)):
        idx = torch.randint(len(tx), (min(batch_size, len(tx)),), generator=gen)
        loss = ((torch.tanh(net(tx[idx])) - ty[idx]) ** 2).sum(-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.eval()

    @torch.no_grad()
    def policy(feat: np.ndarray) -> np.ndarray:
        f = torch.as_tensor(np.asarray(feat, dtype=np.float32)) * vector_scale
        return torch.tanh(net(f)).numpy()

    return policy, float(loss.detach())


def distil_oracle(task: str, window: int, records: list[dict], eval_episodes: int,
                  eval_seed: int, noise: bool, skill=None, delta_theta: dict | None = None,
                  steps: int = 3000, seed: int = 0) -> dict:
    """Fit a policy to the oracle decisions in ``records`` (from
    :func:`sacgmm.experiments.oracle.run_oracle` with ``record=``) and evaluate it on
    ``eval_episodes`` episodes from seed ``eval_seed``. Returns its success figures."""
    import time

    from sacgmm.experiments.oracle import decision_features, oracle_env, run_episodes
    from sacgmm.stats import wilson_interval

    if not records:
        raise ValueError("no oracle episodes were recorded to distil")
    features = np.concatenate([r["features"] for r in records])
    actions = np.concatenate([r["actions"] for r in records])
    t0 = time.perf_counter()
    policy, loss = fit_policy(features, actions, steps=steps, seed=seed)
    env, _, _ = oracle_env(task, window, noise, skill, delta_theta, gripper=True)
    try:
        counts = run_episodes(env, lambda obs, held, nominal: policy(decision_features(obs)),
                              eval_episodes, eval_seed)
    finally:
        env.close()
    n = counts["successes"]
    return {"train_episodes": len(records), "samples": int(len(features)),
            "fit_steps": int(steps), "fit_loss": loss, "eval_episodes": int(eval_episodes),
            "eval_seed": int(eval_seed), "successes": n,
            "success_rate": n / eval_episodes if eval_episodes else 0.0,
            "ci95": list(wilson_interval(n, eval_episodes)), "grasped": counts["grasped"],
            "end_reasons": counts["end_reasons"], "wall_time_s": time.perf_counter() - t0}
