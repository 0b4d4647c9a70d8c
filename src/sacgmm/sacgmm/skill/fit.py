"""Fitting a skill to demonstrations: EM initialisation, then a stability-constrained fit.

``stable=False``: expectation-maximisation on the joint samples ``[x, x_dot]`` (scikit-learn's
``GaussianMixture``, full covariances), used directly for GMR.

``stable=True`` (SEDS-style, stable by construction, no constrained solver): with the attractor
at the origin, each component's local linear system is parameterised as::

    A_k = -(B_k B_k^T + eps I) + (S_k - S_k^T),   b_k = 0

so ``A_k + A_k^T = -2 (B_k B_k^T + eps I)`` is negative definite for any ``B_k, S_k``, and
``f(x) = sum_k h_k(x) A_k x`` gives ``d/dt |x|^2 = 2 x^T f(x) <= -2 eps |x|^2``: global
asymptotic (in fact exponential, rate >= eps) stability at the origin. The gating (priors,
mu_x,k, Cholesky factors of Sigma_xx,k) and ``B_k, S_k`` are optimised jointly with L-BFGS on

    loss = mean |f(x_n) - v_n|^2 / mean |v_n|^2  +  lam * (-mean log p(x_n))

i.e. the normalised velocity error (SEDS' MSE criterion) plus a small likelihood term that
keeps the gating Gaussians on the data. Gradients are analytic (checked against finite
differences in the tests). The joint covariance is then ``Sigma_vx = A Sigma_xx``,
``Sigma_vv = A Sigma_xx A^T + R_k`` with ``R_k`` the responsibility-weighted residual covariance.

``eps`` (the guaranteed contraction rate, 1/s) defaults to 20% of the demonstrations' gain
scale ``sqrt(mean |v|^2 / mean |x|^2)``.

``metric="learned"`` widens the stable set from ``V = |x|^2`` to ``V = x^T P x`` with ``P``
fitted jointly: ``A_k = G M_k`` with ``M_k`` as above and ``G = P^-1 = R R^T`` (``R`` lower
triangular, determinant 1), so ``A_k^T P + P A_k = M_k + M_k^T = -2 (B_k B_k^T + eps I)``
stays negative definite for any parameters and ``dV/dt <= -2 eps |x|^2``. The skill keeps
``P`` (``meta["lyapunov"]``, :attr:`GMMSkill.lyapunov`), which :meth:`GMMSkill.stabilized`
projects with. On ``sacgmm bench-skill --shapes`` it lowers the median reproduction error
from 0.054 to 0.044 of the shape's extent with 1000 iterations (plain EM + GMR: 0.028, from
which almost no start converges); the default stays ``"euclidean"``.

``method="clf"`` (with ``stable=True``) fits a GMR without stability constraints and adds a
control-Lyapunov-function filter that corrects the velocity at query time only where it does
not decrease a Lyapunov function learned from the demonstrations (:mod:`sacgmm.skill.clf`,
stored in ``meta["clf"]``): globally asymptotically stable by construction, also along Euler
rollouts with the demonstrations' sampling period, whatever the GMR. The GMR is fitted to be
followed: on the demonstrations plus corrective samples beside them and the attractor's own
samples (:mod:`sacgmm.skill.tube`), first EM's gating with least-squares maps, then gating and
unconstrained maps ``A_k x + b_k`` together (the loss above, without the constraints); of a
few EM initialisations the one whose rollouts from the demonstrations' starts follow them best
is kept.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax

from sacgmm.skill.demos import check_dt, stack_demos
from sacgmm.skill.model import GMMSkill, _joint_from_linear
from sacgmm.skill.projections import clip_symmetric_eigenvalues, nearest_spd

_LOG_2PI = math.log(2.0 * math.pi)
DEFAULT_LIKELIHOOD_WEIGHT = 0.02
DEFAULT_EPS_FRACTION = 0.2
MAX_OPT_SAMPLES = 2000
DEFAULT_CLF_CANDIDATES = 3    # EM initialisations tried by method="clf" (n_init)
CLF_JOINT_SAMPLES = 3000      # samples (with corrective ones) of method="clf"'s joint fit
CLF_JOINT_ITERATIONS = 150
CHOL_FLOOR_FRACTION = 0.005   # min std of a gating Gaussian, relative to the RMS position


def fit_skill(demos: Sequence[np.ndarray], dt: float, n_components: int = 3, stable: bool = True,
              seed: int = 0, *, eps: float | None = None, max_iter: int = 300,
              likelihood_weight: float = DEFAULT_LIKELIHOOD_WEIGHT, n_init: int | None = None,
              frame: str = "target", metric: str = "euclidean",
              method: str = "seds") -> GMMSkill:
    """Fit a GMR skill to demonstrations.

    Parameters
    ----------
    demos: list of ``(T_i, d)`` positions (m) in the target frame (attractor at the origin),
        each with at least 3 samples.
    dt: sampling period of the demonstrations (s). Velocities are estimated inside.
    n_components: K, the number of Gaussians.
    stable: if True, the SEDS-stable fit described in the module docstring; else plain EM + GMR.
    seed: seeds the EM initialisation (the fit is deterministic for a given seed).
    eps: guaranteed contraction rate (1/s) for ``stable=True``; default from the data.
    metric: ``"learned"``: the Lyapunov function ``V = x^T P x`` has a ``P`` fitted with the
        skill (``"euclidean"``: ``P = I``, ``V = |x|^2``). For ``method="seds"`` only.
    method: how ``stable=True`` gets its guarantee: ``"seds"`` (the constrained fit above) or
        ``"clf"`` (a path-attracting GMR, :mod:`sacgmm.skill.tube`, under a
        control-Lyapunov-function filter, :mod:`sacgmm.skill.clf`; ``eps``, ``max_iter``,
        ``likelihood_weight`` and ``metric`` do not apply).
    n_init: EM initialisations. ``"seds"`` and plain EM keep the most likely (scikit-learn's
        ``n_init``, default 1); ``"clf"`` keeps the one whose rollouts from the
        demonstrations' starts follow them best (default 3).

    Raises ``ValueError`` naming the demonstration and the problem for bad input.

    The fit runs with one BLAS/OpenMP thread: with more, floating-point sums are ordered
    differently, L-BFGS can end in a different local optimum, and the same demos and seed gave
    different skills on machines with different thread settings.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _fit_skill(demos, dt, n_components, stable, seed, eps=eps, max_iter=max_iter,
                          likelihood_weight=likelihood_weight, n_init=n_init, frame=frame,
                          metric=metric, method=method)


def _fit_skill(demos, dt, n_components, stable, seed, *, eps, max_iter, likelihood_weight,
               n_init, frame, metric, method) -> GMMSkill:
    from sklearn.mixture import GaussianMixture

    t0 = time.perf_counter()
    if method not in ("seds", "clf"):
        raise ValueError(f"method must be 'seds' or 'clf', got {method!r}")
    if method == "clf" and not stable:
        raise ValueError("method='clf' is a stable fit: it needs stable=True")
    if method == "clf" and metric != "euclidean":
        raise ValueError(f"metric={metric!r} is for method='seds'; method='clf' learns its own "
                         "Lyapunov function")
    dt = check_dt(dt)
    x, v = stack_demos(demos, dt)
    if isinstance(n_components, bool) or int(n_components) != n_components or n_components < 1:
        raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
    k = int(n_components)
    n, d = x.shape
    if k > n:
        raise ValueError(f"n_components={k} is more than the number of samples ({n}) in the demos")
    joint = np.concatenate([x, v], axis=1)
    scale = float(np.sqrt(np.mean(np.square(joint))) or 1.0)
    if n_init is None:
        n_init = DEFAULT_CLF_CANDIDATES if method == "clf" else 1
    if isinstance(n_init, bool) or int(n_init) != n_init or n_init < 1:
        raise ValueError(f"n_init must be a positive integer, got {n_init!r}")
    n_init = int(n_init)
    meta = {"method": "em", "dt": dt, "n_demos": len(demos), "n_samples": n, "seed": seed}
    v2 = float(np.mean(np.sum(v ** 2, axis=1)))
    x2 = float(np.mean(np.sum(x ** 2, axis=1)))
    if stable and (v2 <= 0 or x2 <= 0):
        raise ValueError("the demonstrations do not move (zero velocity or all at the origin)")
    if method == "clf":
        return _fit_clf(demos, x, v, v2, dt, k, seed, n_init, frame, meta, scale, t0)
    gm = GaussianMixture(k, covariance_type="full", n_init=n_init, random_state=seed,
                         reg_covar=1e-6 * scale ** 2, max_iter=500)
    gm.fit(joint)
    if not stable:
        covs = nearest_spd(gm.covariances_, 1e-12 * scale ** 2)
        skill = GMMSkill(gm.weights_, gm.means_, covs, frame=frame, meta=meta)
        skill.meta["fit_seconds"] = time.perf_counter() - t0
        return skill

    if eps is None:
        eps = DEFAULT_EPS_FRACTION * math.sqrt(v2 / x2)
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive contraction rate (1/s), got {eps!r}")
    # Consecutive samples at robot rates are nearly duplicates: optimise on an evenly strided
    # subset of at most MAX_OPT_SAMPLES (the EM initialisation above used all of them).
    stride = max(1, int(math.ceil(n / MAX_OPT_SAMPLES)))
    if metric not in ("learned", "euclidean"):
        raise ValueError(f"metric must be 'learned' or 'euclidean', got {metric!r}")
    problem = _StableProblem(x[::stride], v[::stride], k, eps, likelihood_weight, v2,
                             learn_metric=metric == "learned")
    theta0 = problem.initial(gm)
    res = minimize(problem.loss_and_grad, theta0, jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter, "maxcor": 20, "ftol": 1e-10, "gtol": 1e-7})
    params = problem.unpack(res.x)
    priors, mu_x, chol, a = params.priors, params.mu_x, params.chol, params.a
    sxx = chol @ np.swapaxes(chol, -1, -2)
    h = softmax(params.logits(x), axis=1)                     # (n, K)
    resid = v[:, None, :] - np.einsum("kij,nj->nki", a, x)    # (n, K, d)
    w = h / np.maximum(h.sum(0), 1e-300)
    noise = np.einsum("nk,nki,nkj->kij", w, resid, resid)
    noise = nearest_spd(noise, max(1e-4 * v2, 1e-12))   # velocity noise std >= 1% of RMS speed
    means, covs = _joint_from_linear(mu_x, sxx, a, noise)
    p_metric = np.linalg.inv(params.r @ params.r.T)
    meta.update(method="seds-stable", eps=float(eps), likelihood_weight=likelihood_weight,
                lyapunov=(0.5 * (p_metric + p_metric.T)).tolist(),
                loss=float(res.fun), iterations=int(res.nit), optimizer_message=str(res.message),
                fit_seconds=time.perf_counter() - t0)
    skill = GMMSkill(priors, means, covs, frame=frame, meta=meta)
    # the stiffer gains a learned P allows make the round-off of b_k reach 1e-5 m/s
    return skill._exact_attractor() if metric == "learned" else skill


def _fit_clf(demos, x, v, v2, dt, k, seed, n_init, frame, meta, scale, t0) -> GMMSkill:
    """The CLF method (module doc): for each of ``n_init`` EM initialisations (seeds ``seed,
    seed + 1, ...``) EM's gating with least-squares maps on the tube samples
    (:mod:`sacgmm.skill.tube`), then gating and maps fitted together; the one whose filtered
    rollouts from the demonstrations' starts follow them best (DTW) is kept."""
    from sklearn.mixture import GaussianMixture

    from sacgmm.skill.clf import clf_spec
    from sacgmm.skill.metrics import reproduction_error
    from sacgmm.skill.tube import (DEFAULT_TUBE_GAIN, DEFAULT_TUBE_WIDTH, OFFSETS,
                                   gmr_from_maps, least_squares_maps, tube_samples)

    d = x.shape[1]
    stride = max(1, int(math.ceil(len(x) / MAX_OPT_SAMPLES)))
    xs, vs = x[::stride], v[::stride]
    spec = clf_spec(xs, vs, dt)
    tube = tube_samples(xs, vs, dt)                    # positions, velocities, weights
    # the joint fit of gating and maps runs on the samples of an evenly strided share
    per_sample = 1 + len(OFFSETS) * (d - 1)             # a sample and its corrective copies
    js = max(1, int(math.ceil(len(x) * per_sample / CLF_JOINT_SAMPLES)))
    xj, vj, wj = tube_samples(x[::js], v[::js], dt)
    chosen = _selection_demos(demos)

    problem = _StableProblem(xj, vj, k, 0.0, DEFAULT_LIKELIHOOD_WEIGHT, v2, free_maps=True,
                             weights=wj)
    joint = np.concatenate([x, v], axis=1)
    best = None
    for attempt in range(n_init):
        gm = GaussianMixture(k, covariance_type="full", random_state=seed + attempt,
                             reg_covar=1e-6 * scale ** 2, max_iter=500).fit(joint)
        priors, mu_x = gm.weights_, gm.means_[:, :d]
        sxx = nearest_spd(gm.covariances_[:, :d, :d], 1e-12 * scale ** 2)
        a, b = least_squares_maps(priors, mu_x, sxx, *tube)
        # then gating and maps together, unconstrained (the filter gives the guarantee)
        res = minimize(problem.loss_and_grad, problem.initial_free(priors, mu_x, sxx, a, b),
                       jac=True, method="L-BFGS-B",
                       options={"maxiter": CLF_JOINT_ITERATIONS, "maxcor": 20})
        p = problem.unpack(res.x)
        base = gmr_from_maps(p.priors, p.mu_x, p.chol @ np.swapaxes(p.chol, -1, -2), p.a,
                             p.offset, *tube, frame)
        means = base.means.copy()
        means[:, d:] -= base.velocity(np.zeros(d))      # sum_k h_k = 1: f(0) becomes 0
        skill = GMMSkill(base.priors, means, base.covariances, frame=frame,
                         meta={**meta, "clf": spec})
        error = reproduction_error(skill, chosen, dt) if n_init > 1 else 0.0
        if best is None or error < best[0]:
            best = (error, attempt, skill)
    error, attempt, skill = best
    skill.meta.update(method="em-gmr-clf", tube={"width_fraction": DEFAULT_TUBE_WIDTH,
                                                 "gain_multiple": DEFAULT_TUBE_GAIN},
                      em_seed=seed + attempt, n_init=n_init,
                      fit_seconds=time.perf_counter() - t0)
    if n_init > 1:
        skill.meta["selection_error_m"] = float(error)
    return skill


SELECTION_DEMOS = 10        # at most this many demonstrations judge the EM initialisations


def _selection_demos(demos: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Up to :data:`SELECTION_DEMOS` demonstrations, evenly chosen."""
    demos = [np.asarray(dm, dtype=np.float64) for dm in demos]
    if len(demos) <= SELECTION_DEMOS:
        return demos
    return [demos[i] for i in np.linspace(0, len(demos) - 1, SELECTION_DEMOS).round().astype(int)]


@dataclass
class _Params:
    w: np.ndarray        # (K,) prior logits
    mu_x: np.ndarray     # (K, d)
    chol: np.ndarray     # (K, d, d) lower-triangular, positive diagonal
    b: np.ndarray        # (K, d, d)
    s: np.ndarray        # (K, d, d) strictly lower-triangular
    m: np.ndarray        # (K, d, d) = -(B B^T + eps I) + (S - S^T)
    r: np.ndarray        # (d, d) lower-triangular, det 1: G = P^-1 = R R^T
    a: np.ndarray        # (K, d, d) = G M_k (free maps: A_k itself)
    offset: np.ndarray | None = None    # (K, d) b_k of the free maps (None: b_k = 0)

    @property
    def priors(self) -> np.ndarray:
        return softmax(self.w)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """log pi_k + log N(x; mu_k, Sigma_xx,k) for ``x`` (n, d) -> (n, K)."""
        d = x.shape[1]
        z = x[:, None, :] - self.mu_x[None]
        y = np.linalg.solve(self.chol[None], z[..., None])[..., 0]
        logdet = np.log(np.diagonal(self.chol, axis1=1, axis2=2)).sum(1)
        return (self.w - logsumexp(self.w) - logdet - 0.5 * d * _LOG_2PI
                - 0.5 * np.square(y).sum(-1))


class _StableProblem:
    """Loss and analytic gradient of the stable fit over a flat parameter vector.

    ``free_maps=True``: the same fit of gating and local maps, but with unconstrained
    ``A_k x + b_k`` (no stability; for the CLF method, whose filter gives the guarantee), and
    ``weights`` (n,) on the samples' squared velocity errors."""

    def __init__(self, x, v, k, eps, lam, v2, learn_metric: bool = True,
                 free_maps: bool = False, weights: np.ndarray | None = None):
        self.x, self.v, self.k, self.eps, self.lam, self.v2 = x, v, k, eps, lam, v2
        self.learn_metric = bool(learn_metric) and not free_maps
        self.free_maps = bool(free_maps)
        n, d = x.shape
        self.weights = (np.ones(n) if weights is None else np.asarray(weights, float)) / (
            1.0 if weights is None else float(np.mean(weights)))
        self.d = d
        self.tril = np.tril_indices(d)
        self.strict = np.tril_indices(d, -1)
        self.diag_pos = [i for i, (r, c) in enumerate(zip(*self.tril)) if r == c]
        n_strict = len(self.strict[0])
        self.sizes = ([k, k * d, k * len(self.tril[0]), k * d * d, k * d] if free_maps else
                      [k, k * d, k * len(self.tril[0]), k * d * d, k * n_strict, n_strict, d])
        # Cholesky diagonals are floor + exp(raw): the gating Gaussians cannot collapse onto
        # a line (which would let the likelihood term run to -inf on straight demos).
        self.chol_floor = CHOL_FLOOR_FRACTION * math.sqrt(float(np.mean(x ** 2)))

    def _chol_raw(self, chol: np.ndarray) -> np.ndarray:
        """The flat parameters of Cholesky factors (K, d, d): lower triangle, diagonal as
        log(value - floor)."""
        lt = chol[:, self.tril[0], self.tril[1]].copy()
        lt[:, self.diag_pos] = np.log(np.maximum(lt[:, self.diag_pos] - self.chol_floor,
                                                 self.chol_floor))
        return lt

    def pack(self, w, mu_x, chol, b, s, u=None, logd=None) -> np.ndarray:
        d = self.d
        lt = self._chol_raw(chol)
        u = np.zeros(len(self.strict[0])) if u is None else u
        logd = np.zeros(d) if logd is None else logd
        return np.concatenate([w, mu_x.ravel(), lt.ravel(), b.ravel(),
                               s[:, self.strict[0], self.strict[1]].ravel(), u, logd])

    def unpack(self, theta: np.ndarray) -> _Params:
        k, d = self.k, self.d
        parts = np.split(theta, np.cumsum(self.sizes)[:-1])
        w = parts[0]
        mu_x = parts[1].reshape(k, d)
        lt = parts[2].reshape(k, -1).copy()
        lt[:, self.diag_pos] = self.chol_floor + np.exp(lt[:, self.diag_pos])
        chol = np.zeros((k, d, d))
        chol[:, self.tril[0], self.tril[1]] = lt
        b = parts[3].reshape(k, d, d)
        if self.free_maps:
            return _Params(w, mu_x, chol, b, b, b, np.eye(d), b, parts[4].reshape(k, d))
        s = np.zeros((k, d, d))
        s[:, self.strict[0], self.strict[1]] = parts[4].reshape(k, -1)
        m = -(b @ np.swapaxes(b, -1, -2) + self.eps * np.eye(d)) + (s - np.swapaxes(s, -1, -2))
        r = np.eye(d)
        if self.learn_metric:
            r[self.strict[0], self.strict[1]] = parts[5]
            r = r * np.exp(parts[6] - parts[6].mean())[None, :]     # R = U D, det D = 1
        g = r @ r.T
        return _Params(w, mu_x, chol, b, s, m, r, g @ m)

    def initial_free(self, priors, mu_x, sxx, a, offset) -> np.ndarray:
        """Start of the free-maps fit: a gating and maps ``A_k``, ``b_k`` given."""
        lt = self._chol_raw(np.linalg.cholesky(sxx))
        return np.concatenate([np.log(priors), mu_x.ravel(), lt.ravel(), a.ravel(),
                               offset.reshape(-1)])

    def initial(self, gm) -> np.ndarray:
        """Start from EM: its gating, and each A_k projected onto the stable set."""
        d = self.d
        covs = nearest_spd(gm.covariances_, 1e-12)
        sxx = covs[:, :d, :d]
        svx = covs[:, d:, :d]
        a_em = svx @ np.linalg.inv(sxx)
        sym = clip_symmetric_eigenvalues(a_em, -2.0 * self.eps)   # <= -2 eps, so B B^T >= eps I
        w_sym, q = np.linalg.eigh(-sym - self.eps * np.eye(d))
        b = q * np.sqrt(np.maximum(w_sym, 0.0))[:, None, :]      # B B^T = -sym - eps I
        skew = 0.5 * (a_em - np.swapaxes(a_em, -1, -2))
        s = np.tril(skew, -1)                                    # S - S^T = skew
        return self.pack(np.log(gm.weights_), gm.means_[:, :d], np.linalg.cholesky(sxx), b, s)

    def loss_and_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        p = self.unpack(theta)
        x, v, lam, k = self.x, self.v, self.lam, self.k
        n, d = x.shape
        linv = np.linalg.inv(p.chol)                                     # (K, d, d)
        # y_nk = L_k^-1 (x_n - mu_k) and a_nk = A_k x_n, each as one (n, K*d) matmul
        y = (x @ linv.reshape(k * d, d).T
             - np.einsum("kij,kj->ki", linv, p.mu_x).reshape(k * d)).reshape(n, k, d)
        ax = (x @ p.a.reshape(k * d, d).T).reshape(n, k, d)
        if p.offset is not None:
            ax = ax + p.offset
        logdiag = np.log(np.diagonal(p.chol, axis1=1, axis2=2))          # (K, d)
        logit = (p.w - logsumexp(p.w) - logdiag.sum(1) - 0.5 * d * _LOG_2PI
                 - 0.5 * np.square(y).sum(-1))                           # (n, K)
        top = logit.max(axis=1, keepdims=True)
        h = np.exp(logit - top)
        tot = h.sum(axis=1, keepdims=True)
        h /= tot
        lse = top + np.log(tot)                                          # (n, 1)
        f = np.matmul(h[:, None, :], ax)[:, 0, :]                        # (n, d)
        err = f - v
        wts = self.weights[:, None]
        mse = float((wts * np.square(err)).sum()) / (n * self.v2)
        nll = -float(lse.sum()) / n
        loss = mse + lam * nll

        g = 2.0 * wts * err / (n * self.v2)                              # dloss/df, (n, d)
        hg = (h[:, :, None] * g[:, None, :]).reshape(n, k * d)
        g_a = (hg.T @ x).reshape(k, d, d)                                # dloss/dA_k
        ga = np.matmul(ax, g[:, :, None])[..., 0]                        # (n, K): g . a_k
        gf = (g * f).sum(1, keepdims=True)
        r = h * (ga - gf) - lam * h / n                                  # dloss/dlogit
        pri = softmax(p.w)
        rk = r.sum(0)
        g_w = rk - pri * rk.sum()
        ry = r[:, :, None] * y                                           # (n, K, d)
        g_mu = np.einsum("kji,kj->ki", linv, ry.sum(0))                  # sum_n r L^-T y
        m = np.matmul(ry.transpose(1, 2, 0), y.transpose(1, 0, 2))       # sum_n r y y^T
        diag_vals = np.diagonal(p.chol, axis1=1, axis2=2)
        g_chol = np.swapaxes(linv, -1, -2) @ m
        g_chol[:, np.arange(d), np.arange(d)] -= rk[:, None] / diag_vals
        lt = g_chol[:, self.tril[0], self.tril[1]]
        lt[:, self.diag_pos] *= diag_vals - self.chol_floor
        if self.free_maps:
            grad = np.concatenate([g_w, g_mu.ravel(), lt.ravel(), g_a.ravel(),
                                   (h.T @ g).ravel()])                   # dloss/db_k
            if not np.isfinite(loss) or not np.isfinite(grad).all():
                return float("inf"), np.zeros_like(theta)
            return loss, grad
        g_metric = p.r @ p.r.T
        g_m = g_metric @ g_a                                             # dloss/dM_k
        g_b = -(g_m + np.swapaxes(g_m, -1, -2)) @ p.b
        g_s = (g_m - np.swapaxes(g_m, -1, -2))[:, self.strict[0], self.strict[1]]
        g_u = np.zeros(len(self.strict[0]))
        g_logd = np.zeros(d)
        if self.learn_metric:
            g_g = np.einsum("kij,klj->il", g_a, p.m)                     # dloss/dG
            g_r = (g_g + g_g.T) @ p.r
            dvec = np.diagonal(p.r)
            g_u = (g_r * dvec[None, :])[self.strict[0], self.strict[1]]  # R_ij = U_ij D_jj
            g_logd = (g_r * p.r).sum(0)
            g_logd -= g_logd.mean()
        grad = np.concatenate([g_w, g_mu.ravel(), lt.ravel(), g_b.ravel(), g_s.ravel(), g_u,
                               g_logd])
        if not np.isfinite(loss) or not np.isfinite(grad).all():
            return float("inf"), np.zeros_like(theta)
        return loss, grad
