"""Small statistics: success rates over seeds and episodes (intervals, a rank test between
conditions), and the timing of a periodic loop."""
from __future__ import annotations

import math
from typing import Sequence


def wilson_interval(successes: int, n: int, confidence_level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval ``(low, high)`` of the binomial proportion ``successes / n``
    (95 % by default; ``(0, 1)`` when ``n`` is 0)."""
    if n <= 0:
        return 0.0, 1.0
    from scipy.stats import binomtest
    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence_level,
                                                         method="wilson")
    return float(ci.low), float(ci.high)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    n = len(values)
    if n == 0:
        return float("nan"), float("nan")
    m = sum(values) / n
    if n == 1:
        return m, 0.0
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))


def bootstrap_interval(values: Sequence[float], confidence_level: float = 0.95,
                       resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of ``values`` (e.g. one success rate per seed),
    by ``scipy.stats.bootstrap`` with a fixed ``seed`` (the same report gives the same interval);
    ``(v, v)`` when every value is ``v``, ``(nan, nan)`` for fewer than two values."""
    import numpy as np
    from scipy.stats import bootstrap
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        return float("nan"), float("nan")
    if np.all(v == v[0]):
        return float(v[0]), float(v[0])
    res = bootstrap((v,), np.mean, confidence_level=confidence_level, n_resamples=resamples,
                    method="percentile", random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def rank_test(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U test of two groups of per-seed results: the p-value that both
    come from the same distribution (exact for small groups without ties; nan when a group
    has fewer than two values)."""
    from scipy.stats import mannwhitneyu
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    return float(mannwhitneyu(list(a), list(b), alternative="two-sided").pvalue)


def period_jitter(periods_s, nominal_s: float) -> dict[str, float]:
    """Achieved rate (Hz) and |period - nominal| percentiles (ms) of a periodic loop, from its
    measured periods (s): ``rate_hz_achieved``, ``jitter_p50_ms``, ``jitter_p99_ms``,
    ``jitter_max_ms``. ``periods_s`` must not be empty."""
    import numpy as np
    per = np.asarray(periods_s, dtype=np.float64)
    jitter = np.abs(per - nominal_s)
    return {"rate_hz_achieved": float(1.0 / per.mean()),
            "jitter_p50_ms": float(1e3 * np.percentile(jitter, 50)),
            "jitter_p99_ms": float(1e3 * np.percentile(jitter, 99)),
            "jitter_max_ms": float(1e3 * jitter.max())}
