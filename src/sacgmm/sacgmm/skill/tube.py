"""A GMR whose local linear maps are fitted so that its rollouts stay on the demonstrated paths.

EM on the joint samples ``[x, x_dot]`` places the Gaussians well, but the regression it implies
(each component's own conditional ``A_k x + b_k``) is fitted component by component on the
demonstrations alone: the blended velocity ``f(x) = sum_k h_k(x) (A_k x + b_k)`` is nowhere
asked to match the data, and nothing says what to do a little beside a path. An Euler rollout
drifts off the path, and off the path the field may point anywhere (the spurious attractors
of plain EM + GMR).

Here the maps are fitted on the *blended* output (for a given gating, one linear least-squares
problem; :func:`sacgmm.skill.fit.fit_skill` then fits gating and maps together on the same
samples):

    min_{A, b}  sum_n |sum_k h_k(x_n) (A_k x_n + b_k) - v_n|^2  +  ridge |(A, b)|^2

over the demonstrations plus *corrective samples*: copies of every sample moved by ``delta``
perpendicular to its velocity (``+-w/2``, ``+-w`` and ``+-3w`` along each of the ``d - 1``
normal directions; the far ones keep an adapted skill that was shifted off its path pulling
back rather than extrapolating) whose velocity is the demonstrated one plus a pull back onto the path,
``v_n - kappa delta``; and the attractor at rest with points around it moving in, since
demonstrations may stop short of it. The result is still a GMM with a GMR (joint means and covariances
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

from sacgmm.skill.demos import gain_scale
from sacgmm.skill.model import GMMSkill, _joint_from_linear
from sacgmm.skill.projections import nearest_spd

DEFAULT_TUBE_WIDTH = 0.05       # w, as a fraction of the demonstrations' extent
DEFAULT_TUBE_GAIN = 5.0         # kappa, as a multiple of the demonstrations' gain scale
RIDGE = 1e-6                    # relative to the mean diagonal of the normal equations
OFFSETS = (-3.0, -1.0, -0.5, 0.5, 1.0, 3.0)   # corrective samples per normal direction (w)
ANCHOR_SHARE = 0.1      # weight of the attractor's samples, as a share of all other samples'


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


def attractor_samples(d: int, width: float, gain: float) -> tuple[np.ndarray, np.ndarray]:
    """The attractor (the origin, at rest) and points around it along every axis at the
    corrective offsets, moving to it: ``v = -gain x``."""
    xs = [np.zeros((1, d))] + [o * width * np.eye(d) for o in OFFSETS]
    x = np.concatenate(xs)
    return x, -gain * x


def tube_gain(x: np.ndarray, v: np.ndarray, dt: float,
              gain_multiple: float = DEFAULT_TUBE_GAIN) -> float:
    """``kappa`` (1/s): ``gain_multiple`` times the demonstrations' gain scale
    ``sqrt(mean |v|^2 / mean |x|^2)``, at most ``0.5 / dt``."""
    return min(gain_multiple * gain_scale(x, v), 0.5 / dt)


def tube_samples(x: np.ndarray, v: np.ndarray, dt: float, *,
                 width_fraction: float = DEFAULT_TUBE_WIDTH,
                 gain_multiple: float = DEFAULT_TUBE_GAIN
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The samples the maps are fitted on: demonstrated positions ``x`` (m) and velocities
    ``v`` (m/s), both (n, d), their corrective copies and the attractor's samples; returns
    positions, velocities and weights (the attractor's samples together weigh
    :data:`ANCHOR_SHARE` of the rest). ``dt`` (s): the demonstrations' sampling period."""
    if not (math.isfinite(width_fraction) and width_fraction >= 0):
        raise ValueError(f"tube width_fraction must be >= 0, got {width_fraction!r}")
    if not (math.isfinite(gain_multiple) and gain_multiple >= 0):
        raise ValueError(f"tube gain_multiple must be >= 0, got {gain_multiple!r}")
    extent = float(np.ptp(x, axis=0).max())
    kappa = tube_gain(x, v, dt, gain_multiple)
    xa, va = corrective_samples(x, v, width_fraction * extent, kappa)
    # demonstrations may stop short of the attractor (a peg resting on the hole's rim): the
    # attractor's own samples make the GMR come to rest exactly there and pull in around it
    x0, v0 = attractor_samples(x.shape[1], width_fraction * extent, kappa)
    weight = np.concatenate([np.ones(len(xa)), np.full(len(x0), ANCHOR_SHARE * len(xa) / len(x0))])
    return np.concatenate([xa, x0]), np.concatenate([va, v0]), weight


def _gate(priors: np.ndarray, mu_x: np.ndarray, sxx: np.ndarray) -> GMMSkill:
    """A skill with this gating (its velocities are not used)."""
    k, d = mu_x.shape
    covs = np.zeros((k, 2 * d, 2 * d))
    covs[:, :d, :d] = sxx
    covs[:, d:, d:] = np.eye(d)
    return GMMSkill(priors, np.concatenate([mu_x, np.zeros((k, d))], 1), covs)


def least_squares_maps(priors: np.ndarray, mu_x: np.ndarray, sxx: np.ndarray, xa: np.ndarray,
                       va: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``A`` (K, d, d) and ``b`` (K, d) minimising the weighted squared error of the blended
    velocity ``sum_k h_k(x) (A_k x + b_k)`` on samples ``xa, va`` (n, d), for the gating
    ``priors, mu_x, sxx`` (one linear least-squares problem, a small ridge)."""
    k, d = mu_x.shape
    h = _gate(priors, mu_x, sxx).responsibilities(xa)
    feats = np.concatenate([xa, np.ones((len(xa), 1))], axis=1)              # (N, d + 1)
    phi = (h[:, :, None] * feats[:, None, :]).reshape(len(xa), -1)          # (N, K (d + 1))
    normal = phi.T @ (weight[:, None] * phi)
    normal[np.diag_indices_from(normal)] += RIDGE * float(np.trace(normal)) / len(normal)
    theta = np.linalg.solve(normal, phi.T @ (weight[:, None] * va)).reshape(k, d + 1, d)
    return np.swapaxes(theta[:, :d, :], 1, 2), theta[:, d, :]


def gmr_from_maps(priors: np.ndarray, mu_x: np.ndarray, sxx: np.ndarray, a: np.ndarray,
                  b: np.ndarray, xa: np.ndarray, va: np.ndarray, weight: np.ndarray,
                  frame: str = "target") -> GMMSkill:
    """The GMM whose GMR has this gating and the maps ``A_k x + b_k``; each component's
    velocity noise is its responsibility-weighted residual on the samples (floor: 1 % of the
    RMS speed)."""
    d = mu_x.shape[1]
    h = _gate(priors, mu_x, sxx).responsibilities(xa) * weight[:, None]
    resid = va[:, None, :] - (np.einsum("kij,nj->nki", a, xa) + b)          # (N, K, d)
    w = h / np.maximum(h.sum(0), 1e-300)
    v2 = float(np.average(np.sum(va ** 2, axis=1), weights=weight))
    noise = nearest_spd(np.einsum("nk,nki,nkj->kij", w, resid, resid), max(1e-4 * v2, 1e-12))
    means, covs = _joint_from_linear(mu_x, sxx, a, noise)
    means[:, d:] += b
    return GMMSkill(priors, means, covs, frame=frame)


def tube_gmr(priors: np.ndarray, mu_x: np.ndarray, sxx: np.ndarray, x: np.ndarray,
             v: np.ndarray, dt: float, *, width_fraction: float = DEFAULT_TUBE_WIDTH,
             gain_multiple: float = DEFAULT_TUBE_GAIN, frame: str = "target") -> GMMSkill:
    """The GMR with gating ``priors`` (K,), ``mu_x`` (K, d), ``sxx`` (K, d, d) and local maps
    fitted by least squares on demonstrated positions ``x`` (m) and velocities ``v`` (m/s),
    both (n, d), their corrective samples and the attractor's (:func:`tube_samples`)."""
    xa, va, weight = tube_samples(x, v, dt, width_fraction=width_fraction,
                                  gain_multiple=gain_multiple)
    a, b = least_squares_maps(priors, mu_x, sxx, xa, va, weight)
    return gmr_from_maps(priors, mu_x, sxx, a, b, xa, va, weight, frame)
