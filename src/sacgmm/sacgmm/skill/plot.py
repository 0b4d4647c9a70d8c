"""Pictures of a skill: demonstrations, rollouts, streamlines and Gaussian ellipses.

For ``d = 3`` everything is projected onto the plane through the attractor (origin) spanned by
the two principal directions of the demonstrated positions; streamlines show the skill's
velocity field on that plane, projected into it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from sacgmm.skill.model import GMMSkill


def projection_basis(demos: Sequence[np.ndarray]) -> np.ndarray:
    """(2, d) orthonormal rows spanning the demos' main plane through the origin."""
    x = np.concatenate([np.asarray(d, dtype=np.float64) for d in demos])
    d = x.shape[1]
    if d == 1:
        return np.array([[1.0], [0.0]])
    if d == 2:
        return np.eye(2)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return vt[:2]


def plot_skill(skill: GMMSkill, demos: Sequence[np.ndarray], dt: float,
               path: str | os.PathLike, title: str | None = None) -> Path:
    """Write a PNG of ``skill`` against its ``demos`` (positions in metres) to ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sacgmm.fileio import atomic_write_bytes
    import io

    basis = projection_basis(demos)
    d = skill.dim
    fig, ax = plt.subplots(figsize=(7, 6), dpi=110)
    pts = np.concatenate([np.asarray(dm) @ basis.T for dm in demos])
    lo, hi = pts.min(0), pts.max(0)
    span = np.maximum(hi - lo, 1e-3)
    lo, hi = np.minimum(lo - 0.25 * span, 0.0), np.maximum(hi + 0.25 * span, 0.0)
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 40), np.linspace(lo[1], hi[1], 40))
    plane = np.stack([gx.ravel(), gy.ravel()], axis=1) @ basis[:, :d] if d > 1 else gx.ravel()[:, None]
    vel = skill.velocity(plane) @ basis.T if d > 1 else np.c_[skill.velocity(plane), 0 * gx.ravel()]
    ax.streamplot(gx, gy, vel[:, 0].reshape(gx.shape), vel[:, 1].reshape(gx.shape),
                  color="0.75", density=1.2, linewidth=0.7, arrowsize=0.7)
    for i, demo in enumerate(demos):
        p = np.asarray(demo) @ basis.T
        ax.plot(p[:, 0], p[:, 1], color="tab:blue", lw=1.0, alpha=0.6,
                label="demonstrations" if i == 0 else None)
        roll = skill.rollout(np.asarray(demo)[0], dt, int(1.5 * len(demo))) @ basis.T
        ax.plot(roll[:, 0], roll[:, 1], color="tab:red", lw=1.0, ls="--",
                label="skill rollouts" if i == 0 else None)
    t = np.linspace(0, 2 * np.pi, 80)
    circle = np.stack([np.cos(t), np.sin(t)])
    for k in range(skill.n_components):
        mu = basis @ skill.means[k, :d]
        cov = basis @ skill.covariances[k, :d, :d] @ basis.T
        w, q = np.linalg.eigh(cov)
        ell = mu[:, None] + 2.0 * (q * np.sqrt(np.maximum(w, 0))) @ circle
        ax.plot(ell[0], ell[1], color="tab:green", lw=1.5,
                label="Gaussians (2 sigma)" if k == 0 else None)
    ax.plot([0], [0], marker="*", ms=14, color="k", label="attractor (target)")
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    ax.set_xlabel("m" if d <= 2 else "principal axis 1 (m)")
    ax.set_ylabel("m" if d <= 2 else "principal axis 2 (m)")
    ax.set_title(title or f"GMM skill: K={skill.n_components}, d={d}")
    ax.legend(loc="best", fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())
