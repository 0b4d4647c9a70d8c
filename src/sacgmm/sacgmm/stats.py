"""Small statistics: success rates over seeds and episodes, and the timing of a periodic loop."""
from __future__ import annotations

import math
from typing import Sequence


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """95% (by default) Wilson score interval of a binomial proportion ``successes / n``."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    n = len(values)
    if n == 0:
        return float("nan"), float("nan")
    m = sum(values) / n
    if n == 1:
        return m, 0.0
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1))


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
