"""The squashed-Gaussian actor's log-probability and the twin critics."""
import math

import numpy as np
import pytest

import torch
torch.set_num_threads(1)   # 2-core machine: more threads only contend with other workers

from sacgmm.rl.networks import (SquashedGaussianActor, TwinQ, mlp,  # noqa: E402
                                squashed_gaussian_log_prob)


def test_log_prob_matches_torch_tanh_transformed_normal():
    torch.manual_seed(0)
    mean = torch.randn(64, 3)
    log_std = torch.rand(64, 3) * 2 - 1.5
    u = mean + log_std.exp() * torch.randn(64, 3)
    ours = squashed_gaussian_log_prob(u, mean, log_std)
    dist = torch.distributions.TransformedDistribution(
        torch.distributions.Normal(mean.double(), log_std.double().exp()),
        [torch.distributions.TanhTransform()])
    # evaluate the reference at the same pre-image (avoid atanh round-off near |a| = 1)
    ref = (torch.distributions.Normal(mean.double(), log_std.double().exp()).log_prob(u.double())
           - torch.distributions.TanhTransform().log_abs_det_jacobian(u.double(), torch.tanh(u.double()))
           ).sum(-1)
    assert torch.allclose(ours.double(), ref, atol=1e-4)
    inner = torch.tanh(u.double()).clamp(-1 + 1e-6, 1 - 1e-6)
    assert torch.allclose(ours.double()[inner.abs().amax(-1) < 0.99],
                          dist.log_prob(inner).sum(-1)[inner.abs().amax(-1) < 0.99], atol=1e-3)


def test_log_prob_density_integrates_to_one_and_matches_monte_carlo():
    # 1-D: p(a) from the formula, integrated over (-1, 1), and compared with a histogram
    mean, log_std = torch.tensor([[0.7]]), torch.tensor([[math.log(0.8)]])
    a = torch.linspace(-1 + 1e-6, 1 - 1e-6, 200001).double()
    u = torch.atanh(a).float().unsqueeze(-1)
    dens = squashed_gaussian_log_prob(u, mean.expand(len(a), 1), log_std.expand(len(a), 1)).exp()
    integral = torch.trapezoid(dens.double(), a).item()
    assert abs(integral - 1.0) < 2e-3

    g = torch.Generator().manual_seed(1)
    samples = torch.tanh(mean + log_std.exp() * torch.randn(400000, 1, generator=g)).numpy().ravel()
    hist, edges = np.histogram(samples, bins=40, range=(-1, 1), density=True)
    centers = torch.tensor((edges[:-1] + edges[1:]) / 2).unsqueeze(-1)
    pred = squashed_gaussian_log_prob(torch.atanh(centers).float(), mean.expand(40, 1),
                                      log_std.expand(40, 1)).exp().numpy()
    inner = slice(2, 38)   # the density is steep near |a| = 1; compare the interior bins
    assert np.allclose(hist[inner], pred[inner], rtol=0.05, atol=0.02)


def test_actor_outputs_in_bounds_and_log_prob_finite_when_saturated():
    torch.manual_seed(0)
    actor = SquashedGaussianActor(4, 2, hidden=(32, 32))
    obs = torch.randn(128, 4) * 100.0   # large inputs saturate tanh
    a, logp = actor(obs)
    assert a.shape == (128, 2) and logp.shape == (128,)
    assert torch.all(a.abs() <= 1.0) and torch.all(torch.isfinite(logp))
    a_det, _ = actor(obs, deterministic=True)
    mean, _ = actor.distribution_params(obs)
    assert torch.allclose(a_det, torch.tanh(mean))


def test_twin_q_independent_heads_and_mlp_shapes():
    q = TwinQ(5, 2, hidden=(16,))
    q1, q2 = q(torch.randn(7, 5), torch.randn(7, 2))
    assert q1.shape == (7,) and q2.shape == (7,) and not torch.allclose(q1, q2)
    assert mlp(3, 4, (8, 8))(torch.zeros(2, 3)).shape == (2, 4)
    with pytest.raises(ValueError, match="activation"):
        mlp(3, 4, activation="nope")


def test_the_mode_draws_nothing():
    actor = SquashedGaussianActor(3, 2, hidden=(8,))
    obs = torch.zeros(4, 3)
    torch.manual_seed(0)
    actor(obs, deterministic=True)
    after_mode = torch.rand(1)
    torch.manual_seed(0)
    assert torch.equal(torch.rand(1), after_mode)     # evaluation leaves the stream untouched


def test_layer_norm_critic_normalises_each_hidden_layer():
    torch.manual_seed(0)
    q = TwinQ(5, 2, hidden=(16, 16), layer_norm=True)
    norms = [m for m in q.q1 if isinstance(m, torch.nn.LayerNorm)]
    assert len(norms) == 2 and all(m.normalized_shape == (16,) for m in norms)
    # the hidden features are normalised: inputs 1000x larger change the output little,
    # while the plain critic's output grows with them
    plain = TwinQ(5, 2, hidden=(16, 16))
    x, a = torch.randn(64, 5), torch.randn(64, 2)
    big_ln, small_ln = q(1000 * x, a)[0].abs().max(), q(x, a)[0].abs().max()
    assert float(big_ln) < 10 * float(small_ln) + 1.0
    assert float(plain(1000 * x, a)[0].abs().max()) > 100 * float(plain(x, a)[0].abs().max())


def test_actor_spread_is_capped_by_max_std():
    torch.manual_seed(0)
    actor = SquashedGaussianActor(3, 2, hidden=(8,), zero_init=True, init_std=0.1, max_std=0.2)
    obs = torch.randn(16, 3)
    _, log_std = actor.distribution_params(obs)
    assert torch.allclose(log_std.exp(), torch.full_like(log_std, 0.1), atol=1e-5)
    with torch.no_grad():                         # push the spread as far up as it goes
        [m for m in actor.net.modules() if isinstance(m, torch.nn.Linear)][-1].bias[2:] = 50.0
    _, log_std = actor.distribution_params(obs)
    assert float(log_std.exp().max()) <= 0.2 + 1e-6
    with pytest.raises(ValueError, match="init_std"):
        SquashedGaussianActor(3, 2, hidden=(8,), zero_init=True, init_std=0.3, max_std=0.2)
    with pytest.raises(ValueError, match="max_std"):
        SquashedGaussianActor(3, 2, hidden=(8,), max_std=100.0)
