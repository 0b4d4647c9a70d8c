"""sacgmm.stats: the Wilson interval of a success rate, mean and spread, loop timing."""
import numpy as np
import pytest

from sacgmm.stats import mean_std, period_jitter, wilson_interval


@pytest.mark.parametrize("successes, n, low, high", [
    (0, 10, 0.0, 0.277533),            # Wilson (1927) score interval, z = 1.96
    (7, 20, 0.181192, 0.567146),
    (50, 100, 0.403832, 0.596168),
    (10, 10, 0.722467, 1.0),
])
def test_wilson_interval_known_values(successes, n, low, high):
    lo, hi = wilson_interval(successes, n)
    assert (lo, hi) == pytest.approx((low, high), abs=1e-6)
    assert isinstance(lo, float) and isinstance(hi, float)


def test_wilson_interval_without_episodes_is_uninformative():
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_interval_narrows_with_confidence():
    lo95, hi95 = wilson_interval(7, 20)
    lo80, hi80 = wilson_interval(7, 20, confidence_level=0.80)
    assert lo95 < lo80 < 7 / 20 < hi80 < hi95


def test_mean_std_and_period_jitter():
    assert mean_std([1.0, 2.0, 3.0]) == pytest.approx((2.0, 1.0))
    assert mean_std([4.0]) == (4.0, 0.0)
    j = period_jitter(np.full(100, 0.002), 0.001)
    assert j["rate_hz_achieved"] == pytest.approx(500.0)
    assert j["jitter_p99_ms"] == pytest.approx(1.0)


def test_bootstrap_interval_brackets_the_mean_and_is_reproducible():
    from sacgmm.stats import bootstrap_interval
    vals = [0.2, 0.5, 0.4, 0.9, 0.6]
    lo, hi = bootstrap_interval(vals)
    assert lo < np.mean(vals) < hi and 0.2 <= lo and hi <= 0.9
    assert bootstrap_interval(vals) == (lo, hi)                 # fixed resampling seed
    lo80, hi80 = bootstrap_interval(vals, confidence_level=0.8)
    assert lo <= lo80 and hi80 <= hi
    assert bootstrap_interval([0.7, 0.7, 0.7]) == (0.7, 0.7)
    assert all(np.isnan(bootstrap_interval([0.5])))


def test_rank_test_separates_clearly_different_groups_only():
    from sacgmm.stats import rank_test
    # five seeds each, no overlap: the exact two-sided p-value is 2 / C(10, 5) = 0.0079
    assert rank_test([0.9, 0.95, 1.0, 0.85, 0.92], [0.1, 0.2, 0.15, 0.3, 0.05]) == \
        pytest.approx(2 / 252)
    assert rank_test([0.5, 0.6, 0.4], [0.55, 0.45, 0.5]) > 0.5
    assert np.isnan(rank_test([0.5], [0.1, 0.2]))
