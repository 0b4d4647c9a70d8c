"""Exploration noise: fresh, held and correlated draws (sacgmm.rl.exploration)."""
import numpy as np
import pytest

from sacgmm.rl.exploration import ExplorationNoise


def draws(noise, episodes, per_episode):
    out = []
    for _ in range(episodes):
        noise.start_episode()
        out.append(np.array([noise.draw() for _ in range(per_episode)]))
    return out


def test_step_leaves_the_draw_to_the_policy():
    noise = ExplorationNoise("step", 3, np.random.default_rng(0))
    noise.start_episode()
    assert noise.draw() is None


def test_episode_holds_one_draw_until_the_next_episode():
    a, b = draws(ExplorationNoise("episode", 3, np.random.default_rng(0)), 2, 5)
    assert a.dtype == np.float32 and a.shape == (5, 3)
    assert np.all(a == a[0]) and np.all(b == b[0]) and not np.allclose(a[0], b[0])


def test_correlated_draws_are_standard_normal_with_the_given_lag_one_correlation():
    eps = draws(ExplorationNoise("correlated", 2, np.random.default_rng(1), 0.8), 400, 25)
    seq = np.stack(eps)                                   # (episodes, decisions, dim)
    assert seq[:, :, 0].std() == pytest.approx(1.0, abs=0.05)
    assert abs(seq.mean()) < 0.05
    lag1 = np.corrcoef(seq[:, :-1].ravel(), seq[:, 1:].ravel())[0, 1]
    assert lag1 == pytest.approx(0.8, abs=0.03)
    # a new episode starts afresh: its first draw is independent of the last one
    across = np.corrcoef(seq[:-1, -1].ravel(), seq[1:, 0].ravel())[0, 1]
    assert abs(across) < 0.1
    # correlation 0 is a fresh draw per decision
    fresh = np.stack(draws(ExplorationNoise("correlated", 1, np.random.default_rng(2), 0.0),
                           200, 20))
    assert abs(np.corrcoef(fresh[:, :-1].ravel(), fresh[:, 1:].ravel())[0, 1]) < 0.06


@pytest.mark.parametrize("scheme, rho, match", [("sometimes", 0.5, "exploration must be"),
                                                ("correlated", 1.0, "exploration_correlation"),
                                                ("correlated", -0.1, "exploration_correlation"),
                                                ("correlated", float("nan"), "exploration_correlation")])
def test_bad_settings_are_named(scheme, rho, match):
    with pytest.raises(ValueError, match=match):
        ExplorationNoise(scheme, 3, np.random.default_rng(0), rho)
