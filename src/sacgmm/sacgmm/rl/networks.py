"""Networks of the SAC core: MLPs, the tanh-squashed Gaussian actor and twin Q critics.

All networks take float32 tensors with a leading batch dimension ``B``. Actions live in
``[-1, 1]^A``; scaling to an environment's bounds happens outside (see
:class:`sacgmm.rl.train_gym.ActionScaler`).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

_ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh, "silu": nn.SiLU}

LOG_STD_MIN = -5.0
LOG_STD_MAX = 2.0


def mlp(in_dim: int, out_dim: int, hidden: Sequence[int] = (256, 256),
        activation: str = "relu", layer_norm: bool = False) -> nn.Sequential:
    """A fully connected network ``in_dim -> hidden... -> out_dim`` (no output activation).

    ``layer_norm``: a LayerNorm after each hidden linear layer, before its activation.
    """
    if activation not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose from {sorted(_ACTIVATIONS)}")
    layers: list[nn.Module] = []
    dim = in_dim
    for width in hidden:
        layers.append(nn.Linear(dim, int(width)))
        if layer_norm:
            layers.append(nn.LayerNorm(int(width)))
        layers.append(_ACTIVATIONS[activation]())
        dim = int(width)
    layers.append(nn.Linear(dim, out_dim))
    return nn.Sequential(*layers)


def squashed_gaussian_log_prob(u: torch.Tensor, mean: torch.Tensor,
                               log_std: torch.Tensor) -> torch.Tensor:
    """Log-density of ``a = tanh(u)`` where ``u ~ N(mean, exp(log_std)^2)`` (diagonal).

    Shapes: ``u, mean, log_std`` are ``(B, A)``; returns ``(B,)``. Change of variables:
    ``log p(a) = log N(u) - sum_i log(1 - tanh(u_i)^2)``, with the stable identity
    ``log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))`` (no ``log(0)`` when ``|a| -> 1``).
    """
    z = (u - mean) * torch.exp(-log_std)
    gauss = -0.5 * z.pow(2) - log_std - 0.5 * math.log(2.0 * math.pi)
    log_det = 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))
    return (gauss - log_det).sum(dim=-1)


class SquashedGaussianActor(nn.Module):
    """Policy ``pi(a|s)``: a diagonal Gaussian in pre-tanh space squashed by ``tanh``.

    ``obs_dim`` input features (``(B, obs_dim)``) -> actions ``(B, act_dim)`` in ``[-1, 1]``.
    ``log_std`` is bounded smoothly to ``[LOG_STD_MIN, log(max_std)]`` with a tanh (``max_std``
    None: ``LOG_STD_MAX``).
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (256, 256),
                 activation: str = "relu", zero_init: bool = False,
                 init_std: float | None = None, max_std: float | None = None):
        super().__init__()
        self.act_dim = act_dim
        self.log_std_max = LOG_STD_MAX
        if max_std is not None:
            top = math.log(max_std) if max_std > 0 else -math.inf
            if not LOG_STD_MIN < top <= LOG_STD_MAX:
                raise ValueError(f"max_std must lie in (exp({LOG_STD_MIN}), exp({LOG_STD_MAX})], "
                                 f"got {max_std!r}")
            self.log_std_max = top
        self.net = mlp(obs_dim, 2 * act_dim, hidden, activation)
        if init_std is not None and not zero_init:
            raise ValueError("init_std needs zero_init: only a zero-initialised actor has one "
                             "initial standard deviation in every state")
        if zero_init:
            # the initial policy is N(0, init_std^2) before tanh in every state (default: the
            # middle of the log-std range, exp(-1.5) = 0.22 without max_std): a refining agent
            # (SAC-GMM, Res-GMM) starts from "change nothing" plus modest exploration
            last = [m for m in self.net.modules() if isinstance(m, nn.Linear)][-1]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
            if init_std is not None:
                log_std = math.log(init_std) if init_std > 0 else -math.inf
                if not LOG_STD_MIN < log_std < self.log_std_max:
                    raise ValueError(f"init_std must lie in (exp({LOG_STD_MIN}), "
                                     f"{math.exp(self.log_std_max):g}) (the largest std), "
                                     f"got {init_std!r}")
                # the raw output r whose bounded log-std (see distribution_params) is log_std
                raw = math.atanh(2.0 * (log_std - LOG_STD_MIN)
                                 / (self.log_std_max - LOG_STD_MIN) - 1.0)
                with torch.no_grad():
                    last.bias[act_dim:] = raw

    def distribution_params(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, log_std)``, each ``(B, A)``, of the pre-tanh Gaussian."""
        mean, raw = self.net(obs).chunk(2, dim=-1)
        log_std = LOG_STD_MIN + 0.5 * (self.log_std_max - LOG_STD_MIN) * (torch.tanh(raw) + 1.0)
        return mean, log_std

    def forward(self, obs: torch.Tensor, deterministic: bool = False,
                with_log_prob: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Sample (reparameterised) or take the mode: returns ``(action (B, A), log_prob (B,))``.

        With ``deterministic=True`` the action is ``tanh(mean)``; its log-prob is still the
        density at that point when requested.
        """
        mean, log_std = self.distribution_params(obs)
        if deterministic:      # the mode; no draw, so the random stream is left untouched
            u = mean
        else:
            u = mean + torch.exp(log_std) * torch.randn_like(mean)
        action = torch.tanh(u)
        log_prob = squashed_gaussian_log_prob(u, mean, log_std) if with_log_prob else None
        return action, log_prob


class TwinQ(nn.Module):
    """Two independent critics ``Q_1, Q_2 : (s, a) -> R`` (clipped double-Q learning).

    ``forward(obs (B, obs_dim), act (B, act_dim)) -> (q1 (B,), q2 (B,))``. ``layer_norm``:
    LayerNorm in the hidden layers (keeps the critics' features bounded when they are fitted
    to few, sparse returns; RLPD, Ball et al. 2023).
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (256, 256),
                 activation: str = "relu", layer_norm: bool = False):
        super().__init__()
        self.q1 = mlp(obs_dim + act_dim, 1, hidden, activation, layer_norm)
        self.q2 = mlp(obs_dim + act_dim, 1, hidden, activation, layer_norm)

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([obs, act], dim=-1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)
