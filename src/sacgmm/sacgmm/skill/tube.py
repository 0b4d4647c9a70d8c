"""A GMR whose local linear maps are fitted so that its rollouts stay on the demonstrated paths.

EM on the joint samples ``[x, x_dot]`` places the Gaussians well, but the regression it implies
(each component's own conditional ``A_k x + b_k``) is fitted component by component on the
demonstrations alone: the blended velocity ``f(x) = sum_k h_k(x) (A_k x + b_k)`` is nowhere
asked to match the data, and nothing says what to do a little beside a path. An Euler rollout
drifts off the path, and off the path the field may point anywhere (the spurious attractors
of plain EM + GMR).

Here the gating (priors, ``mu_x,k``, ``Sigma_xx,k``) is kept from EM and the maps are refitted
by one linear least-squares problem on the *blended* output:

    min_{A, b}  sum_n |sum_k h_k(x_n) (A_k x_n + b_k) - v_n|^2  +  ridge |(A, b)|^2

over the demonstrations plus *corrective samples*: copies of every sample moved by ``delta``
perpendicular to its velocity (``+-w/2`` and ``+-w`` along each of the ``d - 1`` normal
directions) whose velocity is the demonstrated one plus a pull back onto the path,
``v_n - kappa delta``. The result is still a GMM with a GMR (joint means and covariances
follow from ``A_k, b_k`` and the residuals), so everything that adapts or stores a skill works
on it unchanged; it is not stable by itself and is meant to be used under the CLF filter
(:mod:`sacgmm.skill.clf`).

Defaults: ``w`` = 5 % of the demonstrations' extent (m), ``kappa`` = 5 times their gain scale
``sqrt(mean |v|^2 / mean |x|^2)`` (1/s), capped at ``0.5 / dt`` so an Euler step never
overshoots the path.
"""
from __future__ import annotations

import math

import numpy as np

from sacgmm.skill.model import GMMSkill, _joint_from_linear
from sacgmm.skill.projections import nearest_spd

DEFAULT_TUBE_WIDTH = 0.05       # w, as a fraction of the demonstrations' extent
DEFAULT_TUBE_GAIN = 5.0         # kappa, as a multiple of the demonstrations' gain scale
RIDGE = 1e-6                    # relative to the mean diagonal of the normal equations
OFFSETS = (-1.0, -0.5, 0.5, 1.0)    # corrective samples per normal direction, in units of w


def normal_directions(v: np.ndarray) -> np.ndarray:
    """``(n, d, d - 1)`` orthonormal directions perpendicular to each velocity ``v`` (n, d)
    (any orthonormal set for a zero velocity)."""
    n, d = v.shape
    speed = np.linalg.norm(v, axis=1, keepdims=True)
    frame = np.broadcast_to(np.eye(d), (n, d, d)).copy()
    frame[:, :, 0] = v / np.where(speed > 0, speed, 1.0)
    q, _ = np.linalg.qr(frame)            # Householder: orthonormal even where rank-deficient
    return q[:, :, 1:]


def corrective_samples(x: np.ndarray, v: np.ndarray, width: float,
                       gain: float) -> tuple[np.ndarray, np.ndarray]:
    """The demonstrations ``x, v`` (n, d) followed by their corrective copies (module doc)."""
    normals = normal_directions(v)
    xs, vs = [x], [v]
    for j in range(normals.shape[2]):
        for o in OFFSETS:
            delta = (o * width) * normals[:, :, j]
            xs.append(x + delta)
            vs.append(v - gain * delta)
    return np.concatenate(xs), np.concatenate(vs)


def tube_gmr(priors: np.ndarray, mu_x: np.ndarray, sxx: np.ndarray, x: np.ndarray,
             v: np.ndarray, dt: float, *, width_fraction: float = DEFAULT_TUBE_WIDTH,
             gain_multiple: float = DEFAULT_TUBE_GAIN, frame: str = "target") -> GMMSkill:
    """The GMR with gating ``priors`` (K,), ``mu_x`` (K, d), ``sxx`` (K, d, d) and local maps
    fitted on demonstrated positions ``x`` (m) and velocities ``v`` (m/s), both (n, d), plus
    their corrective samples; ``dt`` (s) is the demonstrations' sampling period."""
    if not (math.isfinite(width_fraction) and width_fraction >= 0):
        raise ValueError(f"tube width_fraction must be >= 0, got {width_fraction!r}")
    if not (math.isfinite(gain_multiple) and gain_multiple >= 0):
        raise ValueError(f"tube gain_multiple must be >= 0, got {gain_multiple!r}")
    k, d = mu_x.shape
    extent = float(np.ptp(x, axis=0).max())
    gain = math.sqrt(float(np.mean(np.sum(v ** 2, 1))) / max(float(np.mean(np.sum(x ** 2, 1))),
                                                             1e-300))
    kappa = min(gain_multiple * gain, 0.5 / dt)
    xa, va = corrective_samples(x, v, width_fraction * extent, kappa)
    # the responsibilities depend only on the x-marginal (priors, mu_x, Sigma_xx)
    gate_covs = np.zeros((k, 2 * d, 2 * d))
    gate_covs[:, :d, :d] = sxx
    gate_covs[:, d:, d:] = np.eye(d)
    gate = GMMSkill(priors, np.concatenate([mu_x, np.zeros((k, d))], 1), gate_covs)
    h = gate.responsibilities(xa)
    feats = np.concatenate([xa, np.ones((len(xa), 1))], axis=1)              # (N, d + 1)
    phi = (h[:, :, None] * feats[:, None, :]).reshape(len(xa), -1)          # (N, K (d + 1))
    normal = phi.T @ phi
    normal[np.diag_indices_from(normal)] += RIDGE * float(np.trace(normal)) / len(normal)
    theta = np.linalg.solve(normal, phi.T @ va).reshape(k, d + 1, d)
    a = np.swapaxes(theta[:, :d, :], 1, 2)                                  # (K, d, d)
    b = theta[:, d, :]                                                      # (K, d)
    resid = va[:, None, :] - (np.einsum("kij,nj->nki", a, xa) + b)          # (N, K, d)
    w = h / np.maximum(h.sum(0), 1e-300)
    v2 = float(np.mean(np.sum(v ** 2, axis=1)))
    noise = nearest_spd(np.einsum("nk,nki,nkj->kij", w, resid, resid), max(1e-4 * v2, 1e-12))
    means, covs = _joint_from_linear(mu_x, sxx, a, noise)
    means[:, d:] += b
    return GMMSkill(priors, means, covs, frame=frame)
