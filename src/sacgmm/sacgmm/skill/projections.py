"""Projections that keep GMM parameters valid after they are perturbed.

- :func:`project_simplex`: mixing weights back onto the probability simplex (with a floor so
  that no component's log-prior becomes -inf).
- :func:`nearest_spd`: a (batch of) square matrices to the nearest symmetric positive-definite
  matrix in the Frobenius norm with an eigenvalue floor (Higham, 1988: symmetrise, then clip the
  eigenvalues of the symmetric part).
"""
from __future__ import annotations

import numpy as np

DEFAULT_PRIOR_FLOOR = 1e-6
DEFAULT_EIGEN_FLOOR = 1e-8


def project_simplex(p: np.ndarray, floor: float = DEFAULT_PRIOR_FLOOR) -> np.ndarray:
    """Euclidean projection of ``p`` (K,) onto ``{q : sum(q) = 1, q_k >= floor}``.

    Uses the sort-based algorithm (Held et al. 1974; Duchi et al. 2008) on ``p - floor`` with
    total mass ``1 - K * floor``. Requires ``K * floor < 1``.
    """
    p = np.asarray(p, dtype=np.float64)
    k = p.shape[0]
    mass = 1.0 - k * floor
    if mass <= 0.0:
        raise ValueError(f"prior floor {floor} too large for {k} components")
    v = (p - floor).tolist()
    # theta such that sum(max(v - theta, 0)) = mass; found on the sorted values
    css, theta = 0.0, 0.0
    for i, u in enumerate(sorted(v, reverse=True), start=1):
        css += u
        t = (css - mass) / i
        if u - t > 0:
            theta = t
    return np.maximum(np.asarray(v) - theta, 0.0) + floor


def nearest_spd(m: np.ndarray, floor: float = DEFAULT_EIGEN_FLOOR) -> np.ndarray:
    """Nearest symmetric matrix with all eigenvalues ``>= floor`` to each of ``m`` (..., n, n).

    For a symmetric input this is the Frobenius-nearest such matrix (eigenvalue clipping); for
    a non-symmetric input it is that of its symmetric part, which is Higham's nearest
    symmetric positive-(semi)definite matrix.
    """
    m = np.asarray(m, dtype=np.float64)
    sym = 0.5 * (m + np.swapaxes(m, -1, -2))
    shifted = sym.copy()
    idx = np.arange(sym.shape[-1])
    shifted[..., idx, idx] -= floor
    try:  # already >= floor (e.g. delta-theta's covariance scalings): Cholesky is the cheap test
        np.linalg.cholesky(shifted)
        return sym
    except np.linalg.LinAlgError:
        pass
    w, q = np.linalg.eigh(sym)
    w = np.maximum(w, floor)
    out = (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)
    return 0.5 * (out + np.swapaxes(out, -1, -2))


def clip_symmetric_eigenvalues(m: np.ndarray, upper: float) -> np.ndarray:
    """Symmetric part of ``m`` (..., n, n) with every eigenvalue clipped to ``<= upper``."""
    sym = 0.5 * (m + np.swapaxes(m, -1, -2))
    w, q = np.linalg.eigh(sym)
    w = np.minimum(w, upper)
    out = (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)
    return 0.5 * (out + np.swapaxes(out, -1, -2))
