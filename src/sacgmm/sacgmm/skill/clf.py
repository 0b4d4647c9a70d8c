"""A control-Lyapunov-function (CLF) filter on unconstrained GMR: ``fit_skill(..., method="clf")``.

The skill is plain EM + GMR, ``f_gmr``, whose velocity is corrected at query time only where it
does not decrease a Lyapunov function ``V`` learned from the demonstrations (after the
"learning control Lyapunov function" idea of Khansari-Zadeh & Billard, 2014; the function
family, the fit of ``V`` and the discrete-time guard here are this module's own).

The Lyapunov function (:class:`GaugeLyapunov`) is homogeneous of degree 2::

    V(x) = |x|^2 exp(p(x / |x|)),      V(0) = 0,

with ``p`` a polynomial (monomials of degree 1..m of the direction ``u = x/|x|``). For any
coefficients, ``V`` is positive definite and radially unbounded (``p`` is bounded on the unit
sphere), continuously differentiable, and Euler's relation ``x . grad V(x) = 2 V(x) > 0`` means
its gradient vanishes only at the origin: ``V`` has no other minimum or saddle, whatever was
learned. Its level sets are arbitrary star-shaped curves/surfaces around the attractor, not
ellipses, so demonstrations that circle the target (c-around, spirals) or pass beside it can
decrease it. The coefficients are fitted so that the demonstrated velocities point down ``V``
(a convex problem: ``grad V(x_n) . v_n / (|x_n| e^p |v_n|)`` is linear in them; a squared hinge
on a margin plus a small ridge).

The corrected velocity, at a query ``x != 0``::

    f_b   = f_gmr(x) * min(1, v_max / |f_gmr(x)|)                  (speed cap, keeps direction)
    rho   = c V(x) + a |grad V| |f_b|                               (required decrease)
    f_c   = f_b - max(0, grad V . f_b + rho) / |grad V|^2 grad V    (minimal correction)
    f     = s f_c,   s in (0, 1]                                    (discrete-time guard)

so ``dV/dt = grad V . f <= -s c V(x) < 0`` for every ``x != 0`` (``grad V . f_c <= -rho``): the
origin is globally asymptotically stable, by construction, for any GMM parameters. ``s`` is 1
unless an Euler step of the design period ``tau`` (the demonstrations' sampling period) would
not decrease ``V`` by at least half the first-order prediction: ``V(x + tau f) <= V(x) + tau/2
grad V . f < V(x)``; then ``s`` comes from a quadratic model of ``V`` along the step and is
halved until that holds (it holds for a small enough ``s`` because the first-order term is
negative). So ``V`` also strictly decreases along every Euler rollout with step ``tau``, which is
what a controller running the skill at the demonstrations' rate does. The EM means are shifted
so that ``f_gmr(0) = 0`` (a constant change of every ``b_k``: the regression stays a GMR), which
makes the correction vanish continuously at the attractor.

The default degree of ``p`` is 2 (``p(u) = lin . u + u^T Q u``): on the shape benchmark
higher degrees gave the same accuracy once the GMR follows the demonstrations
(:mod:`sacgmm.skill.tube`), and degree 2 lets the controller's single query use a handful of
small products. The attractor is ``meta["clf"]["center"]`` (default the origin): SAC-GMM's
shared shift of the position means translates the whole skill, filter included
(:meth:`sacgmm.skill.model.GMMSkill.adapted`).
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Mapping

import numpy as np
from scipy.optimize import minimize

from sacgmm.skill.demos import gain_scale

DEFAULT_DEGREE = 2          # of the polynomial p on the sphere
DEFAULT_RATE_FRACTION = 0.05    # c at least, as a fraction of the demonstrations' gain scale (1/s)
DEMO_RATE_QUANTILE = 10.0       # c at least DEMO_RATE_SHARE of this percentile of the
DEMO_RATE_SHARE = 0.5           # demonstrations' own decrease rates -dV/dt / V
DEFAULT_ANGLE_MARGIN = 0.1      # a: required decrease, relative to |grad V| |f|
DEFAULT_SPEED_CAP = 2.0         # v_max as a multiple of the fastest demonstrated speed
FIT_MARGIN = 0.2                # hinge margin of the normalised decrease when fitting V
FIT_RIDGE = 1e-3
_MAX_HALVINGS = 60


def monomial_exponents(dim: int, degree: int) -> np.ndarray:
    """Exponents (M, dim) of all monomials of total degree 1..degree in ``dim`` variables."""
    if isinstance(degree, bool) or int(degree) != degree or degree < 1:
        raise ValueError(f"clf degree must be a positive integer, got {degree!r}")
    rows = [e for e in itertools.product(range(int(degree) + 1), repeat=dim)
            if 1 <= sum(e) <= degree]
    return np.array(sorted(rows, key=lambda e: (sum(e), tuple(-i for i in e))), dtype=np.int64)


class GaugeLyapunov:
    """``V(x) = |x|^2 exp(p(x/|x|))`` with ``p(u) = sum_j coef_j u^(E_j)`` (see module doc)."""

    __slots__ = ("exponents", "coef", "dim", "_deg", "_idx", "_didx", "_dscale", "_ar",
                 "_idx1", "_didx1", "_lin", "_quad")

    def __init__(self, exponents: np.ndarray, coef: np.ndarray):
        e = np.asarray(exponents, dtype=np.int64)
        c = np.asarray(coef, dtype=np.float64)
        if e.ndim != 2 or e.shape[0] < 1 or (e < 0).any() or c.shape != (e.shape[0],):
            raise ValueError(f"clf: exponents {e.shape} and coefficients {c.shape} do not match")
        if not np.isfinite(c).all():
            raise ValueError("clf: Lyapunov coefficients contain NaN or inf")
        self.exponents, self.coef, self.dim = e, c, e.shape[1]
        self._deg = int(e.max())
        d = self.dim
        # powers table pw[:, i, k] = u_i^k; monomial j = prod_i pw[:, i, E_ji]
        self._idx = (np.arange(d)[:, None] * (self._deg + 1) + e.T)            # (d, M)
        # d/du_i of monomial j = E_ji u_i^(E_ji - 1) prod_{l != i} u_l^(E_jl)
        didx = np.repeat(self._idx[None], d, axis=0)                              # (d, d, M)
        for i in range(d):
            didx[i, i] = i * (self._deg + 1) + np.maximum(e[:, i] - 1, 0)
        self._didx = didx
        self._dscale = (e.T * c[None, :]).astype(np.float64)                      # (d, M)
        self._ar = np.arange(self._deg + 1)
        self._idx1 = self._idx.T.copy()                                           # (M, d)
        self._didx1 = np.ascontiguousarray(np.transpose(didx, (0, 2, 1)))         # (d, M, d)
        # degree <= 2: p(u) = lin . u + u^T quad u, evaluated with two small products
        self._lin = self._quad = None
        if self._deg <= 2 and (e.sum(1) <= 2).all():
            lin, quad = np.zeros(d), np.zeros((d, d))
            for row, cj in zip(e, c):
                nz = np.flatnonzero(row)
                if row.sum() == 1:
                    lin[nz[0]] += cj
                elif len(nz) == 1:
                    quad[nz[0], nz[0]] += cj
                else:
                    quad[nz[0], nz[1]] += 0.5 * cj
                    quad[nz[1], nz[0]] += 0.5 * cj
            self._lin, self._quad = lin, quad

    # -- one unit direction (the controller's hot loop): few, small numpy operations ------
    def unit_value(self, y: np.ndarray) -> float:
        """V at one point ``y`` (d,)."""
        r2 = float(y @ y)
        if r2 == 0.0:
            return 0.0
        if self._quad is not None:
            r = math.sqrt(r2)
            return r2 * math.exp(float(self._lin @ y) / r + float(y @ self._quad @ y) / r2)
        pw = (y / math.sqrt(r2))[:, None] ** self._ar
        return r2 * math.exp(float(pw.ravel()[self._idx1].prod(1) @ self.coef))

    def unit_value_and_grad(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        """V and grad V at one unit vector ``u`` (d,)."""
        if self._quad is not None:
            qu = self._quad @ u
            ep = math.exp(float(self._lin @ u) + float(qu @ u))
            gp = self._lin + 2.0 * qu
            return ep, ep * (2.0 * u + gp - float(gp @ u) * u)
        flat = (u[:, None] ** self._ar).ravel()
        ep = math.exp(float(flat[self._idx1].prod(1) @ self.coef))
        gp = (flat[self._didx1].prod(2) * self._dscale).sum(1)
        return ep, ep * (2.0 * u + gp - float(gp @ u) * u)

    def _powers(self, u: np.ndarray) -> np.ndarray:
        return (u[:, :, None] ** np.arange(self._deg + 1)).reshape(len(u), -1)

    def value(self, x: np.ndarray) -> np.ndarray:
        """V at positions ``(n, d)`` -> ``(n,)``."""
        r2 = np.einsum("ni,ni->n", x, x)
        r = np.sqrt(r2)
        u = x / np.where(r > 0, r, 1.0)[:, None]
        pw = self._powers(u)
        p = np.prod(pw[:, self._idx], axis=1) @ self.coef
        return r2 * np.exp(p)

    def value_and_grad(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """V ``(n,)`` and grad V ``(n, d)`` at positions ``(n, d)`` (both 0 at the origin)."""
        r2 = np.einsum("ni,ni->n", x, x)
        r = np.sqrt(r2)
        u = x / np.where(r > 0, r, 1.0)[:, None]
        pw = self._powers(u)
        p = np.prod(pw[:, self._idx], axis=1) @ self.coef
        gp = np.einsum("nim,im->ni", np.prod(pw[:, self._didx], axis=2), self._dscale)
        tang = gp - np.einsum("ni,ni->n", gp, u)[:, None] * u      # tangential part of grad p
        ep = np.exp(p)
        return r2 * ep, (ep * r)[:, None] * (2.0 * u + tang)

    def to_dict(self) -> dict[str, Any]:
        return {"exponents": self.exponents.tolist(), "coefficients": self.coef.tolist()}


def _decrease_rows(x: np.ndarray, v: np.ndarray, exponents: np.ndarray):
    """``q_n = grad V(x_n) . v_n / (|x_n| e^p |v_n|) = a_n + B_n coef`` for a unit ``v``."""
    r = np.linalg.norm(x, axis=1)
    u = x / r[:, None]
    vh = v / np.linalg.norm(v, axis=1)[:, None]
    tv = vh - np.sum(vh * u, 1)[:, None] * u
    probe = GaugeLyapunov(exponents, np.zeros(len(exponents)))
    pw = probe._powers(u)
    dmono = np.prod(pw[:, probe._didx], axis=2) * exponents.T[None]            # (n, d, M)
    return 2.0 * np.sum(u * vh, 1), np.einsum("nim,ni->nm", dmono, tv)


def fit_gauge_lyapunov(x: np.ndarray, v: np.ndarray, degree: int = DEFAULT_DEGREE,
                       margin: float = FIT_MARGIN, ridge: float = FIT_RIDGE,
                       max_iter: int = 500) -> tuple[GaugeLyapunov, float]:
    """Fit ``V`` so that the demonstrated velocities ``v`` at positions ``x`` (both (n, d))
    decrease it: minimise ``mean max(0, q_n + margin)^2 + ridge |coef|^2`` (convex).

    Returns the Lyapunov function and the share of (moving, off-origin) samples that decrease
    it with ``q_n < 0``."""
    exponents = monomial_exponents(x.shape[1], degree)
    speed = np.linalg.norm(v, axis=1)
    dist = np.linalg.norm(x, axis=1)
    keep = (speed > 1e-3 * speed.max()) & (dist > 1e-3 * dist.max())
    if not keep.any():
        return GaugeLyapunov(exponents, np.zeros(len(exponents))), 0.0
    a, b = _decrease_rows(x[keep], v[keep], exponents)
    n = len(a)

    def loss(c):
        h = np.maximum(a + b @ c + margin, 0.0)
        return float(h @ h) / n + ridge * float(c @ c), 2.0 * (b.T @ h) / n + 2.0 * ridge * c

    res = minimize(loss, np.zeros(len(exponents)), jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter})
    return GaugeLyapunov(exponents, res.x), float(np.mean(a + b @ res.x < 0.0))


class CLFFilter:
    """The query-time correction of a GMR velocity (module doc); built from ``meta["clf"]``."""

    __slots__ = ("lyapunov", "rate", "angle", "max_speed", "step", "center", "_ql", "_lin",
                 "_ll", "_dim")

    def __init__(self, spec: Mapping[str, Any]):
        try:
            self.lyapunov = GaugeLyapunov(spec["exponents"], spec["coefficients"])
            self.rate = float(spec["rate"])
            self.angle = float(spec["angle_margin"])
            self.max_speed = float(spec["max_speed"])
            self.step = float(spec["step"])
        except KeyError as exc:
            raise ValueError(f"meta['clf'] misses field {exc.args[0]!r}") from None
        for name, val in (("rate", self.rate), ("max_speed", self.max_speed),
                          ("step", self.step)):
            if not (math.isfinite(val) and val > 0):
                raise ValueError(f"meta['clf'][{name!r}] must be positive and finite, got {val!r}")
        if not (math.isfinite(self.angle) and self.angle >= 0):
            raise ValueError(f"meta['clf']['angle_margin'] must be >= 0, got {self.angle!r}")
        lyap = self.lyapunov
        self._dim = lyap.dim
        #: the attractor (m, skill frame): V and the correction are about x - center; None at
        #: the origin (the fitted skill), so the hot loop subtracts nothing
        self.center = _checked_center(spec.get("center", [0.0] * lyap.dim), lyap.dim)
        self._lin = lyap._lin
        self._ll = None if lyap._lin is None else float(lyap._lin @ lyap._lin)
        # degree <= 2: [Q; lin] (d + 1, d), so that one product gives Q x and lin . x
        self._ql = None if lyap._quad is None else np.vstack([lyap._quad, lyap._lin])

    def moved(self, center: np.ndarray) -> "CLFFilter":
        """The same filter about another attractor ``center`` (m, skill frame)."""
        new = CLFFilter.__new__(CLFFilter)
        for name in CLFFilter.__slots__:
            setattr(new, name, getattr(self, name))
        new.center = _checked_center(center, self._dim)
        return new

    def center_list(self) -> list[float]:
        """The attractor as a list (m), for ``meta["clf"]["center"]``."""
        return [0.0] * self._dim if self.center is None else self.center.tolist()

    def apply_one(self, x: np.ndarray, f: np.ndarray, r2: float | None = None) -> np.ndarray:
        """:meth:`apply` for one position ``x`` and GMR velocity ``f`` (both (d,));
        ``r2``: ``x . x`` if the caller has it."""
        if self._ql is not None:
            out = self._apply_one_quadratic(x, f, float(np.dot(x, x)) if r2 is None else r2)
            if out is not None:
                return out
        lyap, tau = self.lyapunov, self.step
        speed = math.hypot(*f)                          # hypot: no overflow of a far square
        if speed > self.max_speed:
            f = f * (self.max_speed / speed)
            speed = self.max_speed
        speed2 = speed * speed
        r = math.hypot(*x)
        if r == 0.0:
            return np.zeros_like(f)
        u = x / r
        v_u, g = lyap.unit_value_and_grad(u)
        gg = float(g @ g)
        rho = self.rate * r * v_u + self.angle * math.sqrt(gg * speed2)
        gf = float(g @ f)
        if gf + rho > 0.0:
            f = f - ((gf + rho) / gg) * g
            gf = -rho
        h = tau / r
        v1 = lyap.unit_value(u + h * f)
        if v1 <= v_u + 0.5 * h * gf:
            return f
        kappa = v1 - v_u - h * gf
        s = min(1.0, max(1e-12, -0.5 * h * gf / kappa)) if kappa > 0 and math.isfinite(kappa) else 0.5
        for _ in range(_MAX_HALVINGS):
            if lyap.unit_value(u + (s * h) * f) <= v_u + 0.5 * s * h * gf:
                break
            s *= 0.5
        return f * s

    def _apply_one_quadratic(self, x: np.ndarray, f: np.ndarray, r2: float) -> np.ndarray | None:
        """:meth:`apply_one` for ``p(u) = lin . u + u^T Q u`` in position units (``V(x) =
        r^2 e^p``, ``grad V(x) = r g`` with ``g`` the gradient at ``u = x / r``), with as few
        numpy calls as the controller's hot loop allows. Returns None where the Euler step
        needs shortening or the position is too far to square, which :meth:`apply_one` does."""
        dot, d = np.dot, self._dim
        speed2 = float(dot(f, f))
        if not (r2 < 1e150 and speed2 < 1e150):
            return None
        if r2 == 0.0:
            return np.zeros_like(f)
        vmax = self.max_speed
        if speed2 > vmax * vmax:
            f = f * (vmax / math.sqrt(speed2))
            speed2 = vmax * vmax
        r = math.sqrt(r2)
        ql = self._ql
        qlx, qlf = dot(ql, x), dot(ql, f)                        # Q x, lin . x; Q f, lin . f
        qx, lx, lf = qlx[:d], float(qlx[d]), float(qlf[d])
        xqx, xqf, xf = float(dot(qx, x)), float(dot(qx, f)), float(dot(x, f))
        ep = math.exp(lx / r + xqx / r2)
        # gp = grad p at u = 2 Q x / r + lin; g = e^p (2u + gp - (gp.u) u) = a x + e^p gp. Only
        # products of g are needed unless the velocity is corrected, and they follow from
        # products already at hand
        gpx = 2.0 * xqx / r + lx
        a = ep * (2.0 - gpx / r) / r
        gpgp = (4.0 * float(dot(qx, qx)) / r + 4.0 * float(dot(self._lin, qx))) / r + self._ll
        gg = a * a * r2 + 2.0 * a * ep * gpx + ep * ep * gpgp
        gf = a * xf + ep * (2.0 * xqf / r + lf)
        rho = self.rate * r * ep + self.angle * math.sqrt(gg * speed2)
        tau = self.step
        if gf + rho > 0.0:
            gp = qx * (2.0 / r) + self._lin
            f = f - ((gf + rho) / gg) * (x * a + gp * ep)
            gf = -rho
            y = x + tau * f                                      # the Euler step
            qly = dot(ql, y)
            y2, ly, yqy = float(dot(y, y)), float(qly[d]), float(dot(qly[:d], y))
        else:   # the same from the products at hand, y = x + tau f
            y2 = r2 + tau * (2.0 * xf + tau * speed2)
            ly = lx + tau * lf
            yqy = xqx + tau * (2.0 * xqf + tau * float(dot(qlf[:d], f)))
        v1 = y2 * math.exp(ly / math.sqrt(y2) + yqy / y2) if y2 > 0.0 else 0.0
        return f if v1 <= r2 * ep + 0.5 * tau * r * gf else None

    def apply(self, x: np.ndarray, f: np.ndarray) -> np.ndarray:
        """Corrected velocities for positions ``x`` (relative to :attr:`center`) and GMR
        velocities ``f`` (both (n, d)).

        Computed on the unit directions ``u = x/|x|`` (``V`` is homogeneous of degree 2, its
        gradient of degree 1), so no square of a far position is ever formed. The origin is
        returned as a fixed point."""
        lyap, tau = self.lyapunov, self.step
        speed = _norms(f)
        if (speed > self.max_speed).any():
            f = f * np.minimum(1.0, self.max_speed / np.maximum(speed, 1e-300))[:, None]
            speed = np.minimum(speed, self.max_speed)
        speed2 = speed * speed
        r = _norms(x)
        at_origin = r == 0.0
        r = np.where(at_origin, 1.0, r)
        u = x / r[:, None]
        v_u, g = lyap.value_and_grad(u)                 # V(x) = r^2 v_u, grad V(x) = r g
        gg = np.einsum("ni,ni->n", g, g)                # > 0: u . g = 2 v_u > 0
        rho = self.rate * r * v_u + self.angle * np.sqrt(gg * speed2)    # required decrease / r
        gf = np.einsum("ni,ni->n", g, f)
        viol = gf + rho
        bad = viol > 0.0
        if bad.any():
            f = f - np.where(bad, viol / np.where(gg > 0, gg, 1.0), 0.0)[:, None] * g
            gf = np.where(bad, -rho, gf)
        # discrete-time guard: an Euler step of tau must decrease V by at least half its
        # first-order prediction; in units of r^2: V(u + tau f / r) <= v_u + tau/2 gf / r
        h = tau / r
        with np.errstate(over="ignore", invalid="ignore"):
            v1 = lyap.value(u + h[:, None] * f)
        bad = ~(v1 <= v_u + 0.5 * h * gf)
        if bad.any():
            kappa = v1 - v_u - h * gf                   # curvature term of a quadratic model
            s = np.ones_like(r)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                guess = -0.5 * h * gf / kappa
            s[bad] = np.clip(np.nan_to_num(guess[bad], nan=0.5, posinf=1.0), 1e-12, 1.0)
            for _ in range(_MAX_HALVINGS):
                with np.errstate(over="ignore", invalid="ignore"):
                    vs = lyap.value(u + (s * h)[:, None] * f)
                bad = ~(vs <= v_u + 0.5 * s * h * gf)
                if not bad.any():
                    break
                s = np.where(bad, 0.5 * s, s)
            f = f * s[:, None]
        if at_origin.any():
            f = np.where(at_origin[:, None], 0.0, f)
        return f


def _checked_center(value, dim: int) -> np.ndarray | None:
    """An attractor position (m) as ``(dim,)`` floats, None at the origin; ``ValueError``
    naming ``meta['clf']['center']`` if it is not ``dim`` finite numbers."""
    center = np.asarray(value, dtype=np.float64)
    if center.shape != (dim,) or not np.isfinite(center).all():
        raise ValueError(f"meta['clf']['center'] must be {dim} finite numbers (m), got {value!r}")
    return center if center.any() else None


def _norms(a: np.ndarray) -> np.ndarray:
    """Row norms of ``a`` (n, d) without overflow for far rows."""
    m = np.abs(a).max(axis=1)
    safe = np.where(m > 0, m, 1.0)
    return m * np.sqrt(np.einsum("ni,ni->n", a / safe[:, None], a / safe[:, None]))


def clf_spec(x: np.ndarray, v: np.ndarray, dt: float, *, degree: int = DEFAULT_DEGREE,
             rate_fraction: float = DEFAULT_RATE_FRACTION,
             angle_margin: float = DEFAULT_ANGLE_MARGIN,
             speed_cap: float = DEFAULT_SPEED_CAP) -> dict[str, Any]:
    """Fit the Lyapunov function on demonstrated ``x, v`` (n, d) and return ``meta["clf"]``.

    The required decrease rate ``c`` (1/s) is the larger of ``rate_fraction`` times the gain
    scale ``sqrt(mean |v|^2 / mean |x|^2)`` and half the rate at which the slowest tenth of the
    demonstrated samples decrease ``V`` (``-grad V . v / V``, its 10th percentile): the skill
    never lingers where the demonstrations do not, which matters where the GMR's velocity
    fades (a corner fitted by few components) and costs nothing where demonstrations start
    from rest or wind round the target (there the percentile is near zero)."""
    lyap, share = fit_gauge_lyapunov(x, v, degree)
    gain = gain_scale(x, v)
    val, grad = lyap.value_and_grad(x)
    moving = val > 1e-12 * float(val.max())
    demo_rate = (float(np.percentile(-np.sum(grad * v, 1)[moving] / val[moving],
                                     DEMO_RATE_QUANTILE)) if moving.any() else 0.0)
    rate = max(rate_fraction * gain, DEMO_RATE_SHARE * demo_rate)
    return {"kind": "gauge", "degree": int(degree), **lyap.to_dict(),
            "rate": rate, "angle_margin": float(angle_margin),
            "max_speed": float(speed_cap * np.linalg.norm(v, axis=1).max()),
            "step": float(dt), "demo_decrease_share": share}
