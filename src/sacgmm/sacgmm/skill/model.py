"""The GMM agent's skill: a dynamical system x_dot = f(x) by Gaussian mixture regression.

A :class:`GMMSkill` holds a Gaussian mixture over the joint vector ``[x, x_dot]`` (positions
``x`` in metres in the target frame, velocities in m/s) and regresses the velocity at a
position (GMR)::

    h_k(x)  = pi_k N(x; mu_x,k, Sigma_xx,k) / sum_j pi_j N(x; mu_x,j, Sigma_xx,j)
    f(x)    = sum_k h_k(x) (A_k x + b_k),   A_k = Sigma_vx,k Sigma_xx,k^-1,
                                            b_k = mu_v,k - A_k mu_x,k

If ``A_k + A_k^T`` is negative definite and ``b_k = 0`` for every component (SEDS conditions
with the attractor at the origin of the target frame), V(x) = |x|^2 strictly decreases along
every trajectory: the system is globally asymptotically stable at the origin.

A skill whose ``meta`` holds ``"clf"`` (``fit_skill(..., method="clf")``) corrects the GMR
velocity at query time with a control-Lyapunov-function filter (:mod:`sacgmm.skill.clf`): it
is globally asymptotically stable by construction, for any GMM parameters.

Skills are immutable: :meth:`GMMSkill.adapted` returns a new skill. Responsibilities use
log-sum-exp, so the velocity is finite for any finite position, however far from the data.
"""
from __future__ import annotations

import functools
import io
import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import yaml

from sacgmm.fileio import atomic_write_text
from sacgmm.skill.projections import (DEFAULT_EIGEN_FLOOR, DEFAULT_PRIOR_FLOOR,
                                      clip_symmetric_eigenvalues, nearest_spd, project_simplex)

SKILL_FORMAT = "sacgmm-skill"
SKILL_VERSION = 1
_LOG_2PI = math.log(2.0 * math.pi)
_MAHA_CAP = 1e300  # keeps responsibilities finite for astronomically distant queries


def _frozen(a: np.ndarray) -> np.ndarray:
    """A read-only float64 array; an array that is already read-only is shared, not copied."""
    if isinstance(a, np.ndarray) and a.dtype == np.float64 and not a.flags.writeable:
        return a
    a = np.array(a, dtype=np.float64, copy=True)
    a.setflags(write=False)
    return a


@functools.lru_cache(maxsize=64)
def _block_sum(k: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """(K*d, K) matrix that sums each component's d squared coordinates, and -0.5 times it."""
    out = np.kron(np.eye(k), np.ones((d, 1)))
    half = -0.5 * out
    out.setflags(write=False)
    half.setflags(write=False)
    return out, half


class GMMSkill:
    """A GMR dynamical system over ``d``-dimensional positions with ``K`` components.

    Parameters
    ----------
    priors: (K,) mixing weights on the simplex.
    means: (K, 2d) component means over ``[x (m), x_dot (m/s)]``.
    covariances: (K, 2d, 2d) symmetric positive-definite component covariances.
    frame: name of the frame positions are expressed in (the attractor is its origin).
    meta: free-form information about how the skill was made (saved with it).
    """

    __slots__ = ("_priors", "_means", "_covs", "frame", "meta", "dim", "n_components",
                 "_A", "_b", "_mu_x", "_W", "_c", "_logc", "_blocksum",
                 "_neg_half_blocksum", "_min_eig", "_clf")

    def __init__(self, priors: np.ndarray, means: np.ndarray, covariances: np.ndarray, *,
                 frame: str = "target", meta: Mapping[str, Any] | None = None):
        priors, means, covariances = _check_parameters(priors, means, covariances)
        self._init(priors, means, covariances, frame, meta)

    # -- construction -----------------------------------------------------------------
    def _init(self, priors, means, covs, frame, meta, clf_filter=None) -> None:
        k, two_d = means.shape
        d = two_d // 2
        self.dim = d
        self.n_components = k
        self.frame = frame
        self.meta = dict(meta or {})
        self._priors, self._means, self._covs = _frozen(priors), _frozen(means), _frozen(covs)
        try:
            chol = np.linalg.cholesky(covs[:, :d, :d])
        except np.linalg.LinAlgError:
            raise ValueError("position block Sigma_xx of a component is not positive definite") from None
        kd = k * d
        # One stacked matrix per query: rows 0..Kd-1 give L_k^-1 x, rows Kd.. give A_k x;
        # y = W x - c gives L_k^-1 (x - mu_k) and A_k x + b_k.
        w = np.empty((2 * kd, d))
        c = np.empty((2, k, d))
        linv = w[:kd].reshape(k, d, d)
        a = w[kd:].reshape(k, d, d)
        linv[...] = np.linalg.inv(chol)                        # L_k^-1
        np.matmul(covs[:, d:, :d], np.swapaxes(linv, -1, -2) @ linv, out=a)   # Sigma_vx Sigma_xx^-1
        mu_x = means[:, :d]
        np.matmul(linv, mu_x[:, :, None], out=c[0][:, :, None])
        np.matmul(a, mu_x[:, :, None], out=c[1][:, :, None])   # A_k mu_x,k
        c[1] -= means[:, d:]                                   # -b_k = A_k mu_x,k - mu_v,k
        self._A, self._b, self._mu_x = a, -c[1], mu_x
        self._W, self._c = w, c.reshape(2 * kd)
        self._min_eig = None
        clf = self.meta.get("clf")
        if clf is None:
            self._clf = None
        elif clf_filter is not None:            # built from this very spec by the caller
            self._clf = clf_filter
        else:
            from sacgmm.skill.clf import CLFFilter
            self._clf = CLFFilter(clf)
            if self._clf.lyapunov.dim != d:
                raise ValueError(f"meta['clf'] is for dimension {self._clf.lyapunov.dim}, "
                                 f"the skill has {d}")
        self._blocksum, self._neg_half_blocksum = _block_sum(k, d)
        self._logc = (np.log(np.maximum(priors, 1e-300))
                      - np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(1) - 0.5 * d * _LOG_2PI)

    @classmethod
    def _trusted(cls, priors, means, covs, frame, meta, clf_filter=None) -> "GMMSkill":
        """Build from valid parameters that nobody else holds (skips checks and copies);
        ``clf_filter``: the :class:`~sacgmm.skill.clf.CLFFilter` of ``meta["clf"]``, if the
        caller has it already."""
        for a in (priors, means, covs):
            a.setflags(write=False)
        obj = cls.__new__(cls)
        obj._init(priors, means, covs, frame, meta, clf_filter)
        return obj

    # -- parameters -------------------------------------------------------------------
    @property
    def priors(self) -> np.ndarray:
        """(K,) mixing weights (read-only)."""
        return self._priors

    @property
    def means(self) -> np.ndarray:
        """(K, 2d) means over ``[x (m), x_dot (m/s)]`` (read-only)."""
        return self._means

    @property
    def covariances(self) -> np.ndarray:
        """(K, 2d, 2d) covariances over ``[x, x_dot]`` (read-only)."""
        return self._covs

    @property
    def linear_gains(self) -> np.ndarray:
        """(K, d, d) the A_k of each component's local linear system (1/s)."""
        return self._A.copy()

    @property
    def offsets(self) -> np.ndarray:
        """(K, d) the b_k of each component's local linear system (m/s)."""
        return self._b.copy()

    @property
    def lyapunov(self) -> np.ndarray:
        """(d, d) the ``P`` of the skill's Lyapunov function ``V(x) = x^T P x`` (symmetric
        positive definite; the identity unless the fit learned one, ``meta["lyapunov"]``)."""
        p = self.meta.get("lyapunov")
        return np.eye(self.dim) if p is None else np.asarray(p, dtype=np.float64)

    def _metric_root(self) -> tuple[np.ndarray, np.ndarray]:
        """``(S, S^-1)`` with ``S = P^(1/2)``."""
        w, q = np.linalg.eigh(self.lyapunov)
        if not (w > 0).all():
            raise ValueError("meta['lyapunov'] is not positive definite")
        return (q * np.sqrt(w)) @ q.T, (q / np.sqrt(w)) @ q.T

    @property
    def stability_margin(self) -> float:
        """max_k of the largest eigenvalue of ``S A_k S^-1 + (S A_k S^-1)^T`` with
        ``S = P^(1/2)`` (1/s; ``A_k + A_k^T`` for ``P = I``); negative means that
        ``V(x) = x^T P x`` decreases along every motion: the skill converges to the origin."""
        root, inv = self._metric_root()
        a = root @ self._A @ inv
        return float(np.linalg.eigvalsh(a + np.swapaxes(a, -1, -2)).max())

    @property
    def attractor_offset(self) -> float:
        """max_k |b_k| (m/s); zero for a skill whose attractor is exactly the origin."""
        return float(np.linalg.norm(self._b, axis=1).max())

    def _clf_center(self) -> np.ndarray:
        """Where the CLF filter makes every motion end (m, skill frame): its ``center``."""
        c = None if self._clf is None else self._clf.center
        return np.zeros(self.dim) if c is None else c

    @property
    def clf(self):
        """The control-Lyapunov-function filter (:class:`sacgmm.skill.clf.CLFFilter`) applied to
        this skill's velocities, or None for a plain GMR skill."""
        return self._clf

    def is_stable(self, tol: float = 1e-6) -> bool:
        """True if ``A_k^T P + P A_k < 0`` (:attr:`lyapunov` ``P``) and ``|b_k| <= tol`` (m/s) for all k.

        ``b_k`` is derived from the joint covariances, so it carries round-off; 1e-6 m/s (a
        micrometre per second) is zero for any robot. For a skill with a CLF filter
        (:attr:`clf`): True if the GMR's own velocity at the attractor is ``<= tol`` (the filter
        makes any GMR stable; this says the corrected field is also continuous at the origin).
        """
        if self._clf is not None:
            return float(np.linalg.norm(self._gmr_velocity(self._clf_center()[None])[0])) <= tol
        return self.stability_margin < 0.0 and self.attractor_offset <= tol

    def regression_map(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The GMR as arrays, for re-implementations (e.g. batched in torch): ``(W (2Kd, d),
        c (2Kd,), log_c (K,))``. For positions ``x`` (m), ``x W^T - c`` stacks
        ``L_k^-1 (x - mu_k)`` (first ``K d`` entries, ``L_k`` the Cholesky factor of
        ``Sigma_xx,k``) and the local velocities ``A_k x + b_k`` (m/s); the responsibilities are
        ``softmax_k(log_c_k - 0.5 |L_k^-1 (x - mu_k)|^2)``. Copies. For a skill with a CLF
        filter (:attr:`clf`) this is the GMR before the filter, which :meth:`velocity` applies."""
        return self._W.copy(), self._c.copy(), self._logc.copy()

    # -- regression -------------------------------------------------------------------
    def _check_positions(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim not in (1, 2) or x.shape[-1] != self.dim:
            raise ValueError(f"positions must have shape ({self.dim},) or (n, {self.dim}), got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("positions contain NaN or inf")
        return x

    def responsibilities(self, x: np.ndarray) -> np.ndarray:
        """h_k(x) for positions ``(n, d)`` -> ``(n, K)`` (rows sum to 1)."""
        x = self._check_positions(x)
        return self._responsibilities(x if x.ndim == 2 else x[None])

    def _responsibilities(self, x: np.ndarray) -> np.ndarray:
        return self._gate(x @ self._W.T - self._c)[0]

    def _gate(self, yz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Responsibilities (n, K) and local velocities (n, K, d) from ``x W^T - c`` (n, 2Kd)."""
        kd = self.n_components * self.dim
        y = yz[:, :kd]
        maha = np.square(y) @ self._blocksum                   # (n, K) squared Mahalanobis
        np.minimum(maha, _MAHA_CAP, out=maha)                  # inf -> finite (never NaN)
        logit = self._logc - 0.5 * maha
        logit -= logit.max(axis=1, keepdims=True)
        h = np.exp(logit)
        h /= h.sum(axis=1, keepdims=True)
        return h, yz[:, kd:].reshape(-1, self.n_components, self.dim)

    def velocity(self, x: np.ndarray) -> np.ndarray:
        """Velocity (m/s) at positions ``x`` (m, target frame): ``(d,)`` -> ``(d,)``, ``(n, d)`` -> ``(n, d)``.

        Raises ``ValueError`` for a wrong shape or a NaN/inf position.
        """
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1 and x.shape[0] == self.dim and (xx := float(x @ x)) < _MAHA_CAP:
            # Single-query fast path (the controller's hot loop): a dozen small numpy ops.
            # ``x @ x`` is NaN or inf for a NaN/inf input (which the checked path below then
            # rejects) and for astronomically distant points (which it handles with capping).
            yz = self._W @ x - self._c
            kd = self.n_components * self.dim
            logit = np.square(yz[:kd]) @ self._neg_half_blocksum + self._logc
            top = logit.max()
            if top > -_MAHA_CAP:
                logit -= top
                h = np.exp(logit, out=logit)
                v = (h @ yz[kd:].reshape(self.n_components, self.dim)) / h.sum()
                clf = self._clf
                if clf is None:
                    return v
                if clf.center is None:
                    return clf.apply_one(x, v, xx)
                return clf.apply_one(x - clf.center, v)
        x = self._check_positions(x)
        xs = x if x.ndim == 2 else x[None]
        v = self._gmr_velocity(xs)
        if self._clf is not None:
            v = self._clf.apply(xs if self._clf.center is None else xs - self._clf.center, v)
        return v if x.ndim == 2 else v[0]

    def _gmr_velocity(self, xs: np.ndarray) -> np.ndarray:
        """The GMR velocity (before any CLF filter) at checked positions ``(n, d)``."""
        with np.errstate(over="ignore", invalid="ignore"):   # far points: capped below
            h, local = self._gate(xs @ self._W.T - self._c)
        return np.matmul(h[:, None, :], local)[:, 0, :]

    def rollout(self, x0: np.ndarray, dt: float, n_steps: int,
                max_speed: float | None = None) -> np.ndarray:
        """Euler-integrate ``x <- x + dt f(x)`` from ``x0``.

        ``x0``: ``(d,)`` or a batch ``(m, d)`` of start positions (m). ``dt`` in seconds.
        ``max_speed`` (m/s), if given, clamps the norm of each velocity as a controller would.
        Returns ``(n_steps + 1, d)`` or ``(n_steps + 1, m, d)``, starting with ``x0``.
        """
        if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be a positive finite number of seconds, got {dt!r}")
        if int(n_steps) != n_steps or n_steps < 0:
            raise ValueError(f"n_steps must be a non-negative integer, got {n_steps!r}")
        x = self._check_positions(x0).astype(np.float64, copy=True)
        out = np.empty((int(n_steps) + 1,) + x.shape)
        out[0] = x
        for t in range(int(n_steps)):
            v = self.velocity(x)
            if max_speed is not None:
                speed = np.linalg.norm(v, axis=-1, keepdims=True)
                v = v * np.minimum(1.0, max_speed / np.maximum(speed, 1e-300))
            x = x + dt * v
            out[t + 1] = x
        return out

    def log_likelihood(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Per-sample log density (nats) of the joint GMM at ``[x, v]``: ``(n, d), (n, d) -> (n,)``."""
        z = np.concatenate([np.atleast_2d(x), np.atleast_2d(v)], axis=1)
        k, two_d = self._means.shape
        chol = np.linalg.cholesky(self._covs)
        diff = z[:, None, :] - self._means[None]                               # (n, K, 2d)
        y = np.linalg.solve(chol[None], diff[..., None])[..., 0]
        logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(1)
        with np.errstate(divide="ignore"):
            comp = (np.log(self._priors) - 0.5 * (two_d * _LOG_2PI + logdet)
                    - 0.5 * np.square(y).sum(-1))
        m = comp.max(axis=1, keepdims=True)
        return (m + np.log(np.exp(comp - m).sum(axis=1, keepdims=True)))[:, 0]

    # -- adaptation (the SAC agent's action space) ------------------------------------
    def adapted(self, d_priors: np.ndarray | None = None, d_means: np.ndarray | None = None,
                d_covariances: np.ndarray | None = None, *, stable: bool = False,
                prior_floor: float = DEFAULT_PRIOR_FLOOR,
                eigen_floor: float = DEFAULT_EIGEN_FLOOR) -> "GMMSkill":
        """A new skill with ``theta + delta_theta``; this skill is unchanged.

        ``d_priors`` (K,), ``d_means`` (K, 2d) in metres / m/s, ``d_covariances`` (K, 2d, 2d).
        The priors are projected back onto the simplex (floor ``prior_floor``, or this skill's
        smallest prior if that is smaller), covariances to
        the nearest symmetric positive-definite matrix with eigenvalues ``>= eigen_floor``
        (Higham; the floor is lowered to this skill's own smallest eigenvalue if that is
        smaller, so a zero delta changes nothing). With ``stable=True`` the result is further projected onto the SEDS-stable
        set (see :meth:`stabilized`), so a refined skill keeps its convergence guarantee (a
        skill with a CLF filter keeps the filter, adapted or not).
        Raises ``ValueError`` for a NaN/inf delta or a wrong shape.
        """
        k, two_d = self._means.shape
        priors, means, covs = self._priors, self._means, self._covs
        if d_priors is not None:
            priors = project_simplex(priors + _check_delta("d_priors", d_priors, (k,)),
                                     min(prior_floor, float(priors.min())))
        if d_means is not None:
            means = means + _check_delta("d_means", d_means, (k, two_d))
        if d_covariances is not None:
            # never demand more definiteness than this skill itself has (a zero delta is a no-op)
            floor = min(eigen_floor, self._min_eigenvalue())
            covs = nearest_spd(covs + _check_delta("d_covariances", d_covariances, (k, two_d, two_d)),
                               floor)
        if self._clf is None:
            new = GMMSkill._trusted(priors, means, covs, self.frame, self.meta)
        elif d_means is None:
            new = GMMSkill._trusted(priors, means, covs, self.frame, self.meta, self._clf)
        else:
            # the filter's attractor moves with the position means, by their prior-weighted
            # shift: exactly the shift when all components move alike (a translated skill)
            d = self.dim
            shift = priors @ (means[:, :d] - self._means[:, :d])
            clf = self._clf.moved(self._clf_center() + shift)
            meta = {**self.meta, "clf": {**self.meta["clf"], "center": clf.center_list()}}
            new = GMMSkill._trusted(priors, means, covs, self.frame, meta, clf)
        return new.stabilized() if stable else new

    def _min_eigenvalue(self) -> float:
        if self._min_eig is None:
            self._min_eig = float(np.linalg.eigvalsh(self._covs).min())
        return self._min_eig

    def stabilized(self, margin: float | None = None) -> "GMMSkill":
        """The nearest skill (per component) that satisfies the SEDS stability conditions.

        Keeps the gating (priors, mu_x, Sigma_xx) and each component's regression noise
        (the Schur complement Sigma_vv - Sigma_vx Sigma_xx^-1 Sigma_xv); clips the eigenvalues
        of the symmetric part of each ``S A_k S^-1`` (``S = P^(1/2)``, :attr:`lyapunov`) to
        ``<= -margin`` (1/s; default: the contraction rate the skill was fitted with, else 10%
        of its mean gain |A_k|), keeps its skew part, and sets ``b_k = 0``.

        A skill with a CLF filter (:attr:`clf`) is stable for any GMM parameters; for it this
        only shifts every ``mu_v,k`` by the GMR velocity at the filter's attractor (its
        ``center``), so that the GMR's own velocity vanishes there and the filtered field is
        continuous there.
        """
        d = self.dim
        if self._clf is not None:
            return self._velocity_shifted(-self._gmr_velocity(self._clf_center()[None])[0])
        a = self._A
        root, inv = self._metric_root()
        if margin is None:
            # the fitted contraction rate if known (in the Lyapunov metric: eps / max eig P),
            # else 10% of the typical gain |A_k| (1/s)
            gain = float(np.mean(np.linalg.norm(a, ord=2, axis=(1, 2))))
            eps = self.meta.get("eps")
            margin = (float(eps) / float(np.linalg.eigvalsh(self.lyapunov).max()) if eps
                      else 0.1 * max(gain, 1e-6))
        # in the coordinates z = S x, with S = P^(1/2), V = |z|^2: there the conditions are
        # the Euclidean ones, and the result is turned back into x coordinates
        a_z = root @ a @ inv
        skew = 0.5 * (a_z - np.swapaxes(a_z, -1, -2))
        a_new = inv @ (clip_symmetric_eigenvalues(a_z, -margin) + skew) @ root
        sxx = self._covs[:, :d, :d]
        svx = self._covs[:, d:, :d]
        schur = self._covs[:, d:, d:] - a @ np.swapaxes(svx, -1, -2)
        schur = nearest_spd(schur, DEFAULT_EIGEN_FLOOR)
        means, covs = _joint_from_linear(self._means[:, :d], sxx, a_new, schur)
        return GMMSkill._trusted(self._priors, means, covs, self.frame,
                                 self.meta)._exact_attractor()

    def _velocity_shifted(self, dv: np.ndarray) -> "GMMSkill":
        """The same skill with every ``mu_v,k`` (so every ``b_k``, and the GMR velocity
        everywhere) moved by ``dv`` (m/s): only the offsets change, nothing is refactored."""
        d, kd = self.dim, self.n_components * self.dim
        new = object.__new__(GMMSkill)
        for name in GMMSkill.__slots__:
            if hasattr(self, name):
                setattr(new, name, getattr(self, name))
        new.meta = dict(self.meta)
        means = self._means.copy()
        means[:, d:] += dv
        new._means = _frozen(means)
        new._b = self._b + dv
        c = self._c.copy()
        c[kd:] -= np.tile(dv, self.n_components)          # c holds -b_k after the gating rows
        new._c = c
        return new

    def _exact_attractor(self) -> "GMMSkill":
        """The same skill with ``mu_v`` set to the re-derived ``A_k mu_x``, for skills built
        with ``b_k = 0``: ``b_k = mu_v - A_k mu_x`` is re-derived from the joint covariance,
        which rounds it off by up to eps * cond(Sigma_xx) * |A_k| |mu_x| (1e-5 m/s for an
        ill-conditioned component); this makes it zero to the last bit, so the attractor is
        exactly the origin."""
        d = self.dim
        exact = self._means.copy()
        exact[:, d:] = np.matmul(self._A, self._mu_x[:, :, None])[:, :, 0]
        return GMMSkill._trusted(self._priors, exact, self._covs, self.frame, self.meta)

    # -- persistence ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A plain, YAML-ready description of the skill (format ``sacgmm-skill`` v1)."""
        return {
            "format": SKILL_FORMAT,
            "version": SKILL_VERSION,
            "dim": self.dim,
            "n_components": self.n_components,
            "frame": self.frame,
            "units": {"position": "m", "velocity": "m/s"},
            "layout": "means and covariances are over [x (dim), x_dot (dim)]",
            "priors": self._priors.tolist(),
            "means": self._means.tolist(),
            "covariances": self._covs.tolist(),
            "meta": _plain(self.meta),
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the skill as human-readable YAML, atomically (never a half-written file)."""
        buf = io.StringIO()
        buf.write(f"# sacgmm skill: GMR dynamical system, K={self.n_components}, d={self.dim}\n")
        yaml.safe_dump(self.to_dict(), buf, default_flow_style=None, sort_keys=False, width=120)
        return atomic_write_text(path, buf.getvalue())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "skill") -> "GMMSkill":
        """Inverse of :meth:`to_dict`; errors name ``source`` and the offending field."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
        if data.get("format") != SKILL_FORMAT:
            raise ValueError(f"{source}: field 'format' is {data.get('format')!r}, expected {SKILL_FORMAT!r}")
        if data.get("version") != SKILL_VERSION:
            raise ValueError(f"{source}: unsupported skill version {data.get('version')!r} "
                             f"(this sacgmm reads version {SKILL_VERSION})")
        for name in ("priors", "means", "covariances"):
            if name not in data:
                raise ValueError(f"{source}: missing field {name!r} (truncated file?)")
        try:
            priors, means, covs = _check_parameters(data["priors"], data["means"], data["covariances"])
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None
        for name, expected in (("dim", means.shape[1] // 2), ("n_components", means.shape[0])):
            if name in data and data[name] != expected:
                raise ValueError(f"{source}: field {name!r} is {data[name]!r} but the parameters "
                                 f"imply {expected} (truncated or corrupt file?)")
        frame = data.get("frame", "target")
        meta = data.get("meta") or {}
        return cls._trusted(priors, means, covs, str(frame), meta)

    def __repr__(self) -> str:
        return (f"GMMSkill(K={self.n_components}, d={self.dim}, frame={self.frame!r}, "
                f"stability_margin={self.stability_margin:.3g})")


def load_skill(path: str | os.PathLike) -> GMMSkill:
    """Load a skill written by :meth:`GMMSkill.save`.

    Raises ``FileNotFoundError`` if missing, ``ValueError`` naming the file and the problem if
    it is not valid YAML, truncated, of another format/version, or has invalid parameters.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such skill file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a valid skill YAML file (truncated or corrupt?): {exc}") from None
    if data is None:
        raise ValueError(f"{path}: empty skill file")
    return GMMSkill.from_dict(data, source=str(path))


# -- helpers ---------------------------------------------------------------------------
def _joint_from_linear(mu_x: np.ndarray, sxx: np.ndarray, a: np.ndarray,
                       noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Joint means/covariances of components whose regression is ``x_dot = A_k x + noise``.

    ``mu_v = A mu_x``, ``Sigma_vx = A Sigma_xx``, ``Sigma_vv = A Sigma_xx A^T + noise``; the
    joint covariance is positive definite whenever Sigma_xx and ``noise`` are.
    """
    svx = a @ sxx
    svv = svx @ np.swapaxes(a, -1, -2) + noise
    svv = 0.5 * (svv + np.swapaxes(svv, -1, -2))
    means = np.concatenate([mu_x, np.einsum("kij,kj->ki", a, mu_x)], axis=1)
    top = np.concatenate([sxx, np.swapaxes(svx, -1, -2)], axis=2)
    bottom = np.concatenate([svx, svv], axis=2)
    return means, np.concatenate([top, bottom], axis=1)


def _check_delta(name: str, value: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"{name} has shape {arr.shape}, expected {shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def _check_parameters(priors, means, covariances) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        priors = np.array(priors, dtype=np.float64)            # copies: the skill owns them
        means = np.array(means, dtype=np.float64)
        covs = np.array(covariances, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"skill parameters are not numeric arrays ({exc})") from None
    if priors.ndim != 1 or priors.shape[0] < 1:
        raise ValueError(f"field 'priors' has shape {priors.shape}, expected (K,) with K >= 1")
    k = priors.shape[0]
    if means.ndim != 2 or means.shape[0] != k or means.shape[1] < 2 or means.shape[1] % 2:
        raise ValueError(f"field 'means' has shape {means.shape}, expected ({k}, 2d)")
    two_d = means.shape[1]
    if covs.shape != (k, two_d, two_d):
        raise ValueError(f"field 'covariances' has shape {covs.shape}, expected ({k}, {two_d}, {two_d})")
    for name, arr in (("priors", priors), ("means", means), ("covariances", covs)):
        if not np.isfinite(arr).all():
            raise ValueError(f"field {name!r} contains NaN or inf")
    if (priors < 0).any() or abs(priors.sum() - 1.0) > 1e-6:
        raise ValueError(f"field 'priors' must be non-negative and sum to 1, got {priors.tolist()}")
    if not np.allclose(covs, np.swapaxes(covs, -1, -2), rtol=1e-9, atol=1e-12):
        raise ValueError("field 'covariances' has a non-symmetric matrix")
    for i, c in enumerate(covs):
        try:
            np.linalg.cholesky(c)
        except np.linalg.LinAlgError:
            raise ValueError(f"field 'covariances'[{i}] is not positive definite") from None
    return priors / priors.sum(), means, 0.5 * (covs + np.swapaxes(covs, -1, -2))


def _plain(obj: Any) -> Any:
    """Convert numpy scalars/arrays inside ``obj`` to plain Python for YAML."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
