"""The skill's look-ahead as a critic input: where will this action take the end effector?

SAC-GMM's action does not move the robot directly: it adapts the demonstrated skill, and the
adapted skill then drives the robot for a window of ``N`` control steps. That mapping is known
(it is the GMM agent itself), so the critics need not learn it from sparse rewards. This module
rolls the adapted skill out kinematically in torch, batched and differentiable in the action,
and gives the critics the predicted positions along the window as extra inputs. Two
state-action pairs whose windows end in the same place then look alike to the critics, and the
value of "the end effector passes over the handle" can be learnt once instead of once per start
position.

The roll-out repeats what :class:`~sacgmm.rl.task_env.GMMWindowEnv` commands: Euler steps of
``dt`` seconds of the adapted skill's velocity, each axis clipped to ``max_speed`` (m/s), from
the observed position (m, perceived target frame). It ignores contacts and the arm's tracking
lag, so it predicts the commanded path, not the measured one.

Only the default action layout (the attractor shift alone, :mod:`sacgmm.skill.delta_theta`) is
supported: a shift ``s`` translates the whole skill, ``f_a(x) = f(x - s)``, so the roll-out is the
demonstrated skill's flow from ``x - s``, translated back by ``s``.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from sacgmm.skill.delta_theta import DeltaTheta
from sacgmm.skill.model import GMMSkill


class SkillLookahead(nn.Module):
    """Predicted end-effector positions (m, target frame) after each of ``points`` control steps
    of the window, for positions ``x`` ``(B, d)`` and actions ``a`` ``(B, A)`` in ``[-1, 1]``:
    ``forward(x, a) -> (B, len(points) * d)``.

    ``skill``: the demonstrated skill; ``delta``: the action layout (attractor shift only);
    ``window``: control steps per decision; ``dt``: control period (s); ``max_speed``: the
    per-axis velocity clip (m/s); ``points``: the steps to report, each in ``1..window``
    (default: the middle and the end of the window).
    """

    def __init__(self, skill: GMMSkill, delta: DeltaTheta, window: int, dt: float,
                 max_speed: float, points: Sequence[int] | None = None):
        super().__init__()
        if set(delta.slices) != {"attractor"}:
            raise ValueError("the skill look-ahead supports the attractor-shift layout only "
                             f"(delta_theta parts {sorted(delta.slices)}); turn it off or adapt "
                             "only the attractor")
        if int(window) < 1:
            raise ValueError(f"window must be >= 1 control step, got {window}")
        for name, value in (("dt", dt), ("max_speed", max_speed)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be positive and finite, got {value}")
        self.window, self.dt, self.max_speed = int(window), float(dt), float(max_speed)
        pts = sorted({int(p) for p in (points or (max(1, self.window // 2), self.window))})
        if pts[0] < 1 or pts[-1] > self.window:
            raise ValueError(f"look-ahead points must lie in 1..{self.window}, got {pts}")
        self.points = tuple(pts)
        d = skill.dim
        self.dim = d
        self.out_dim = len(self.points) * d
        # one stacked map per Euler step (GMMSkill.regression_map): x W^T - c gives
        # L_k^-1 (x - mu_k) (entries 0..Kd-1) and the local velocities A_k x + b_k (m/s)
        w, c, log_c = skill.regression_map()
        self.k = skill.n_components
        self.register_buffer("w_t", torch.tensor(w.T, dtype=torch.float32))       # (d, 2Kd)
        self.register_buffer("c", torch.tensor(c, dtype=torch.float32))           # (2Kd,)
        self.register_buffer("log_c", torch.tensor(log_c, dtype=torch.float32))   # (K,)
        self.register_buffer("shift_scale",
                             torch.tensor(delta.attractor_scale, dtype=torch.float32))   # (d,) m

    def velocity(self, x: torch.Tensor) -> torch.Tensor:
        """The demonstrated skill's velocity (m/s) at positions ``x`` ``(B, d)`` (GMR)."""
        kd = self.k * self.dim
        yz = x @ self.w_t - self.c
        maha = yz[:, :kd].square().reshape(-1, self.k, self.dim).sum(-1)    # (B, K)
        h = torch.softmax(self.log_c - 0.5 * maha, dim=-1)
        return (h[..., None] * yz[:, kd:].reshape(-1, self.k, self.dim)).sum(1)

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        shift = a.clamp(-1.0, 1.0) * self.shift_scale
        y = x - shift
        out = []
        for t in range(1, self.window + 1):
            y = y + self.dt * self.velocity(y).clamp(-self.max_speed, self.max_speed)
            if t in self.points:
                out.append(y + shift)
        return torch.cat(out, dim=-1)
