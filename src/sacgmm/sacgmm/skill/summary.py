"""A skill's fit summary: likelihood, reproduction error, stability margin."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from sacgmm.skill.demos import stack_demos
from sacgmm.skill.metrics import reproduction_error
from sacgmm.skill.model import GMMSkill


def summarize_fit(skill: GMMSkill, demos: Sequence[np.ndarray], dt: float) -> dict[str, Any]:
    """Figures that say how good a fitted skill is, as plain numbers.

    - ``log_likelihood``: mean per-sample log density (nats) of ``[x, x_dot]`` of the demos.
    - ``reproduction_error_m``: mean DTW-aligned distance (m) between each demo and the
      rollout from its start.
    - ``stability_margin``: max_k max eigenvalue of ``A_k + A_k^T`` (1/s); < 0 is contracting.
    - ``attractor_offset``: max_k |b_k| (m/s); 0 for an attractor exactly at the origin.
    """
    x, v = stack_demos(demos, dt)
    return {
        "n_demos": len(demos),
        "dim": skill.dim,
        "n_components": skill.n_components,
        "dt": dt,
        "method": skill.meta.get("method"),
        "log_likelihood": float(np.mean(skill.log_likelihood(x, v))),
        "reproduction_error_m": reproduction_error(skill, demos, dt),
        "stability_margin": skill.stability_margin,
        "attractor_offset": skill.attractor_offset,
        "globally_stable": skill.is_stable(tol=1e-6),
        "guarantee": "clf" if skill.clf is not None else "seds",
        "fit_seconds": skill.meta.get("fit_seconds"),
    }


def format_summary(s: dict[str, Any]) -> str:
    """Human-readable lines for :func:`summarize_fit`'s result."""
    clf = s.get("guarantee") == "clf"
    if clf:    # stable by construction; is_stable says the field is also continuous there
        stable = ("yes (CLF filter: a learned Lyapunov function decreases along every path)"
                  + ("" if s["globally_stable"] else "; the GMR's own velocity at the attractor "
                     "is not zero"))
    else:
        stable = "yes (SEDS conditions hold)" if s["globally_stable"] else "NOT guaranteed"
    fit_s = s.get("fit_seconds")
    gains = ([] if clf else [
        f"  stability margin     {s['stability_margin']:.4g} 1/s (max eig of A_k + A_k^T; < 0 contracts)",
        f"  attractor offset     {s['attractor_offset']:.2g} m/s (max |b_k|)"])
    return "\n".join([
        f"skill: K={s['n_components']}, d={s['dim']}, method={s['method']}, "
        f"{s['n_demos']} demos at dt={s['dt']:.4g} s" + (f", fitted in {fit_s:.2f} s" if fit_s else ""),
        f"  log-likelihood       {s['log_likelihood']:.3f} nats/sample",
        f"  reproduction error   {1000 * s['reproduction_error_m']:.2f} mm (DTW, mean over demos)",
        *gains,
        f"  globally stable      {stable}",
    ])
