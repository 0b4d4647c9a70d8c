"""The SAC agent: it learns a tiny task, the encoder is detached for the actor, NaN stops it."""
import math

import numpy as np
import pytest

import torch
torch.set_num_threads(1)   # 2-core machine: more threads only contend with other workers

from sacgmm.rl.replay import ReplayBuffer  # noqa: E402
from sacgmm.rl.sac import SACAgent, SACConfig  # noqa: E402
from sacgmm.rl.toy import Reach1D  # noqa: E402
from sacgmm.rl.train_gym import train_sac  # noqa: E402

SMALL = SACConfig(hidden=(64, 64), latent_dim=8, encoder_channels=16)


def random_policy_return(episodes: int = 50) -> float:
    env = Reach1D()
    rng = np.random.default_rng(0)
    total = 0.0
    for i in range(episodes):
        env.reset(seed=10_000 + i)
        done = False
        while not done:
            _, r, term, trunc, _ = env.step(rng.uniform(-1, 1, 1))
            total += r
            done = term or trunc
    return total / episodes


def test_sac_learns_1d_reaching_within_a_few_hundred_updates():
    # rewards are small (|r| < 2), so a small initial temperature; alpha = 1 learns too,
    # only more slowly (about -5 after these 600 updates)
    config = SACConfig(hidden=(64, 64), init_alpha=0.1)
    summary = train_sac(Reach1D, total_steps=900, seed=0, config=config, learning_starts=300,
                        batch_size=64, eval_every=0, eval_episodes=20)
    learned = summary["final_eval"]["mean_return"]
    rand = random_policy_return()
    assert summary["updates"] == 601
    # random: about -0.6 per step (-9 per episode); reaching costs about -2 per episode
    assert rand < -7.0
    assert learned > -3.0, (learned, rand)


def image_agent_and_batch(seed: int = 0):
    torch.manual_seed(seed)
    shapes = {"pos": (3,), "cam": (1, 64, 64)}
    agent = SACAgent(shapes, 2, SMALL)
    rb = ReplayBuffer(64, shapes, 2, seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(64):
        o = {"pos": rng.normal(size=3), "cam": rng.integers(0, 256, (1, 64, 64), dtype=np.uint8)}
        o2 = {"pos": rng.normal(size=3), "cam": rng.integers(0, 256, (1, 64, 64), dtype=np.uint8)}
        rb.add(o, rng.uniform(-1, 1, 2), rng.normal(), o2, False)
    return agent, rb


def test_encoder_gets_gradient_from_critic_and_reconstruction_only():
    agent, rb = image_agent_and_batch()
    enc_params = list(agent.autoencoders["cam"].encoder.parameters())
    calls = {"n": 0}
    handles = [p.register_hook(lambda g: calls.__setitem__("n", calls["n"] + 1)) for p in enc_params]
    batch = rb.sample(32)
    agent.update(batch)
    # exactly one backward pass (critic + reconstruction) reached each encoder parameter;
    # the actor's backward pass reached none of them
    assert calls["n"] == len(enc_params)
    for h in handles:
        h.remove()
    _, _, feat = agent.critic_losses(batch)
    assert not feat.requires_grad
    actor_loss, _, _ = agent.actor_losses(feat)
    grads = torch.autograd.grad(actor_loss, enc_params, allow_unused=True)
    assert all(g is None for g in grads)
    # while the critic loss alone does reach the encoder
    total, _, _ = agent.critic_losses(batch)
    grads = torch.autograd.grad(total, enc_params, allow_unused=True)
    assert all(g is not None and torch.any(g != 0) for g in grads)


def test_act_shapes_bounds_and_determinism():
    agent, _ = image_agent_and_batch()
    o = {"pos": np.zeros(3), "cam": np.zeros((1, 64, 64), np.uint8)}
    a = agent.act(o)
    assert a.shape == (2,) and a.dtype == np.float32 and np.all(np.abs(a) <= 1)
    assert np.array_equal(agent.act(o, deterministic=True), agent.act(o, deterministic=True))
    ob = {"pos": np.zeros((5, 3)), "cam": np.zeros((5, 1, 64, 64), np.uint8)}
    assert agent.act(ob).shape == (5, 2)
    assert agent.encode(o)["cam"].shape == (8,)


def test_temperature_and_targets_move():
    agent, rb = image_agent_and_batch()
    t0 = [p.clone() for p in agent.critic_target.parameters()]
    e0 = [p.clone() for p in agent.target_encoders["cam"].parameters()]
    info = {}
    for _ in range(3):
        info = agent.update(rb.sample(32))
    assert agent.alpha != 1.0 and info["alpha"] == pytest.approx(agent.alpha)
    assert any(not torch.equal(a, b) for a, b in zip(t0, agent.critic_target.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(e0, agent.target_encoders["cam"].parameters()))
    assert {"critic_loss", "actor_loss", "alpha_loss", "ae_loss/cam", "recon/cam"} <= set(info)


def test_nan_loss_raises_clear_error_and_leaves_parameters_untouched():
    agent, rb = image_agent_and_batch()
    rb.reward[:] = np.nan
    before = {k: v.clone() for k, v in agent.critic.state_dict().items()}
    with pytest.raises(FloatingPointError, match="critic_loss"):
        agent.update(rb.sample(16))
    assert all(torch.equal(before[k], v) for k, v in agent.critic.state_dict().items())
    assert agent.num_updates == 0


class NaNAfter(Reach1D):
    """Reach1D whose reward becomes NaN after ``bad_from`` steps in total."""

    def __init__(self, bad_from: int = 250):
        super().__init__()
        self.bad_from, self.count = bad_from, 0

    def step(self, action):
        obs, r, term, trunc, info = super().step(action)
        self.count += 1
        return obs, (float("nan") if self.count > self.bad_from else r), term, trunc, info


def test_training_with_nan_reward_stops_before_writing_a_checkpoint(tmp_path):
    with pytest.raises(FloatingPointError, match="critic_loss is nan"):
        train_sac(NaNAfter, total_steps=400, seed=0, config=SMALL, learning_starts=200,
                  batch_size=32, eval_every=0, eval_episodes=1, out_dir=tmp_path)
    assert not (tmp_path / "checkpoint.pt").exists()
    assert not (tmp_path / "summary.json").exists()


def test_action_scaler_maps_unit_box_to_env_bounds_and_back():
    from sacgmm.rl.train_gym import ActionScaler
    s = ActionScaler(np.array([-2.0, 0.0]), np.array([2.0, 10.0]))
    assert np.allclose(s.to_env([-1, -1]), [-2, 0]) and np.allclose(s.to_env([1, 1]), [2, 10])
    assert np.allclose(s.to_env([0, 0.5]), [0, 7.5])
    assert np.allclose(s.to_env([5, -5]), [2, 0])   # clipped to the box
    a = np.array([0.3, -0.7], np.float32)
    assert np.allclose(s.to_agent(s.to_env(a)), a, atol=1e-6)
    with pytest.raises(ValueError, match="finite"):
        ActionScaler(np.array([-np.inf]), np.array([1.0]))


def test_actor_step_leaves_critic_gradients_alone():
    agent, rb = image_agent_and_batch()
    _, _, feat = agent.critic_losses(rb.sample(8))
    actor_loss, _, _ = agent.actor_losses(feat)
    actor_loss.backward()
    assert all(p.grad is None for p in agent.critic.parameters())
    assert all(p.grad is not None for p in agent.actor.parameters())
    assert all(p.requires_grad for p in agent.critic.parameters())


def test_actor_q_weight_zero_leaves_the_actor_to_entropy_and_imitation():
    import torch

    def actor_loss_with(q_weight: float, critic_bias: float) -> float:
        torch.manual_seed(0)
        agent = SACAgent({"pos": (3,)}, 2, SACConfig(hidden=(16,), actor_q_weight=q_weight))
        with torch.no_grad():      # a different critic: its values rise by critic_bias
            for q in (agent.critic.q1, agent.critic.q2):
                list(q.modules())[-1].bias.add_(critic_bias)
        feat = torch.randn(32, 3, generator=torch.Generator().manual_seed(1))
        torch.manual_seed(2)
        return float(agent.actor_losses(feat)[0])

    # SAC's actor loss falls by the critics' rise; with weight 0 the critics do not enter it
    assert actor_loss_with(1.0, 5.0) == pytest.approx(actor_loss_with(1.0, 0.0) - 5.0, abs=1e-4)
    assert actor_loss_with(0.0, 5.0) == pytest.approx(actor_loss_with(0.0, 0.0), abs=1e-6)
    with pytest.raises(ValueError, match="actor_q_weight"):
        SACAgent({"pos": (3,)}, 2, SACConfig(hidden=(16,), actor_q_weight=-1.0))


def test_vector_scale_is_applied_in_acting_and_in_learning_alike():
    """The features the critic and actor learn on are those the policy acts on."""
    import torch

    from sacgmm.rl.replay import ReplayBuffer
    from sacgmm.rl.sac import SACAgent, SACConfig

    shapes = {"position": (3,)}
    agent = SACAgent(shapes, 2, SACConfig(hidden=(16, 16), vector_scale=10.0))
    buf = ReplayBuffer(16, shapes, 2, seed=0)
    obs = {"position": np.array([0.01, -0.02, 0.03], dtype=np.float32)}
    for _ in range(4):
        buf.add(obs, np.zeros(2), 0.0, obs, False)
    batch = buf.sample(4)
    _, _, feat = agent.critic_losses(batch)
    acting = agent.features({"position": torch.as_tensor(obs["position"])[None]})
    np.testing.assert_allclose(feat[0].numpy(), acting[0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(acting[0].numpy(), 10 * obs["position"], rtol=1e-6)


def test_success_imitation_is_q_filtered_and_pulls_the_mean_to_kept_actions():
    from torch import nn

    from sacgmm.rl.replay import Batch

    class PeakAt(nn.Module):        # both critics: Q(s, a) = -(a - 0.7)^2
        def forward(self, feat, action):
            q = -((action - 0.7) ** 2).sum(-1)
            return q, q

    torch.manual_seed(0)
    agent = SACAgent({"x": (2,)}, 1, SACConfig(hidden=(16,), actor_zero_init=True,
                                               success_bc_weight=1.0))
    agent.critic = PeakAt()
    n = 8
    obs = {"x": torch.randn(n, 2)}
    actions = torch.tensor([[0.6]] * 4 + [[-0.9]] * 4)   # 0.6 beats the mode 0; -0.9 does not
    batch = Batch(obs, actions, torch.zeros(n), obs, torch.ones(n))
    loss, kept = agent.success_bc_loss(batch)
    assert float(kept) == pytest.approx(0.5)
    assert float(loss) == pytest.approx(0.5 * 0.36, abs=0.02)   # only the kept half counts
    # descending it moves the mode to the kept action until the filter sees the mode rated as
    # high as it (|mode - 0.7| <= 0.1), never towards -0.9
    opt = torch.optim.Adam(agent.actor.parameters(), lr=1e-2)
    for _ in range(300):
        loss, _ = agent.success_bc_loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    mode, _ = agent.actor(agent.features(obs), deterministic=True, with_log_prob=False)
    assert torch.all((mode - 0.7).abs() < 0.15), mode

    # without the Q-filter every stored success action is imitated, the bad ones too
    agent.config = SACConfig(hidden=(16,), success_bc_weight=1.0, success_bc_filter=False)
    loss, kept = agent.success_bc_loss(batch)
    assert float(kept) == 1.0
    expected = ((mode - actions) ** 2).sum(-1).mean()
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)


def test_the_skill_prior_holds_the_policy_at_the_skill_until_evidence_outweighs_it():
    """With few episodes behind the imitated successes the policy's mean stays near the zero
    action (the skill unchanged); with many it reaches the imitated action."""
    from sacgmm.rl.replay import Batch

    def mean_after(imitation_episodes, n0):
        torch.manual_seed(0)
        agent = SACAgent({"x": (2,)}, 1, SACConfig(
            hidden=(16,), actor_zero_init=True, success_bc_weight=1.0,
            success_bc_filter=False, actor_q_weight=0.0, lr_actor=1e-2, init_alpha=1e-4,
            skill_prior_episodes=n0))
        obs = {"x": torch.randn(32, 2)}
        batch = Batch(obs, torch.zeros(32, 1), torch.zeros(32), obs, torch.zeros(32))
        wins = Batch(obs, torch.full((32, 1), 0.6), torch.ones(32), obs, torch.ones(32))
        for _ in range(300):
            info = agent.update(batch, wins, imitation_episodes=imitation_episodes)
        mode, _ = agent.actor(agent.features(obs), deterministic=True, with_log_prob=False)
        return float(mode.mean()), info

    assert SACAgent({"x": (2,)}, 1, SACConfig(skill_prior_episodes=10, success_bc_weight=1.0)
                    ).skill_prior_share(30) == pytest.approx(0.25)
    few, info = mean_after(1, 10.0)          # p = 10/11: the mean at about 0.6/11
    assert info["skill_prior"] == pytest.approx(10 / 11)
    many, _ = mean_after(990, 10.0)          # p = 0.01
    off, info_off = mean_after(1, 0.0)
    assert abs(few) < 0.12 and many > 0.5 and off > 0.5, (few, many, off)
    assert "skill_prior" not in info_off
    with pytest.raises(ValueError, match="skill_prior_episodes"):
        SACAgent({"x": (2,)}, 1, SACConfig(skill_prior_episodes=-1.0, success_bc_weight=1.0))
    with pytest.raises(ValueError, match="success_bc_weight > 0"):
        SACAgent({"x": (2,)}, 1, SACConfig(skill_prior_episodes=10.0))


def test_each_image_batch_is_encoded_once_per_update(monkeypatch):
    """Images dominate an update's cost: the success batch is encoded once, for the imitation
    (plus the critics' batch and the target encoder's next states)."""
    agent, rb = image_agent_and_batch()
    agent.config = SACConfig(hidden=(64, 64), latent_dim=8, encoder_channels=16,
                             success_bc_weight=1.0)
    encoder = agent.autoencoders["cam"].encoder
    sizes = []
    original = encoder.encode_prepared

    def counting(x):
        sizes.append(len(x))
        return original(x)
    monkeypatch.setattr(encoder, "encode_prepared", counting)
    info = agent.update(rb.sample(16), rb.sample(8))
    assert np.isfinite(info["success_bc"])
    assert sorted(sizes) == [8, 16]


def test_zero_initialised_actor_starts_at_the_requested_standard_deviation():
    torch.manual_seed(0)
    obs = {"x": torch.randn(64, 2)}
    stds = {}
    for init_std in (None, 0.11, 0.5):
        agent = SACAgent({"x": (2,)}, 3, SACConfig(hidden=(16,), actor_zero_init=True,
                                                   actor_init_std=init_std))
        mean, log_std = agent.actor.distribution_params(agent.features(obs))
        assert torch.all(mean == 0)
        stds[init_std] = torch.exp(log_std)
    assert torch.allclose(stds[None], torch.full((64, 3), math.exp(-1.5)))
    assert torch.allclose(stds[0.11], torch.full((64, 3), 0.11), rtol=1e-5)
    assert torch.allclose(stds[0.5], torch.full((64, 3), 0.5), rtol=1e-5)
    with pytest.raises(ValueError, match="init_std needs zero_init"):
        SACAgent({"x": (2,)}, 3, SACConfig(hidden=(16,), actor_init_std=0.1))
    with pytest.raises(ValueError, match="init_std must lie in"):
        SACAgent({"x": (2,)}, 3, SACConfig(hidden=(16,), actor_zero_init=True,
                                           actor_init_std=0.0))


def test_removed_options_are_accepted_only_at_their_off_values():
    off = {"critic_on_successes": False, "image_shift": 0, "policy_average": 0.0,
           "actor_q_where": None}
    assert SACConfig.from_dict({"hidden": [16], **off}) == SACConfig(hidden=(16,))
    for key, on in (("critic_on_successes", True), ("image_shift", 4),
                    ("policy_average", 0.01), ("actor_q_where", {"gripper": 0.08})):
        with pytest.raises(ValueError, match=f"sac.{key}=.*this option was removed"):
            SACConfig.from_dict({key: on})
    with pytest.raises(ValueError, match="unknown SAC config keys"):
        SACConfig.from_dict({"no_such_key": 1})


def test_actor_can_be_smaller_than_the_critics_down_to_linear():
    torch.manual_seed(0)
    cfg = SACConfig.from_dict({"hidden": [32, 32], "actor_hidden": [], "actor_zero_init": True})
    agent = SACAgent({"x": (2,)}, 3, cfg)
    linear = [m for m in agent.actor.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linear) == 1 and linear[0].in_features == 2 and linear[0].out_features == 6
    assert len([m for m in agent.critic.modules() if isinstance(m, torch.nn.Linear)]) == 6
    # a linear policy's mode is affine in the features
    clone = SACAgent.from_state_dict(agent.state_dict())
    assert clone.config.actor_hidden == ()
    with torch.no_grad():
        for p in clone.actor.parameters():
            p.normal_()
    x = torch.randn(3, 2)
    mean = lambda z: clone.actor.distribution_params(z)[0]   # noqa: E731
    assert torch.allclose(mean(x[0:1] + x[1:2]) - mean(x[1:2]), mean(x[0:1]) - mean(
        torch.zeros(1, 2)), atol=1e-5)


@pytest.mark.parametrize("kind,layout", [("conv", (2, 4)), ("patch", (1, 8))])
def test_agent_learns_from_a_patch_layout_buffer_like_from_images(kind, layout):
    """An agent gives the same losses on a batch whether its images come in the image layout
    or in its encoder's patch layout, and its Experience stores them in that layout."""
    from sacgmm.rl.experience import Experience
    shapes = {"pos": (3,), "cam": (1, 64, 64)}
    cfg = SACConfig(hidden=(32,), latent_dim=4, encoder_kind=kind, encoder_channels=8)
    agent = SACAgent(shapes, 2, cfg)
    assert agent.image_layout == layout
    exp = Experience.for_agent(agent, 32, seed=0)
    assert exp.buffer.image_layout == layout
    assert SACAgent({"pos": (3,)}, 2, cfg).image_layout is None
    plain = ReplayBuffer(32, shapes, 2, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(32):
        o = {"pos": rng.normal(size=3), "cam": rng.integers(0, 256, (1, 64, 64), dtype=np.uint8)}
        o2 = {"pos": rng.normal(size=3), "cam": rng.integers(0, 256, (1, 64, 64), dtype=np.uint8)}
        a = rng.uniform(-1, 1, 2)
        exp.buffer.add(o, a, 1.0, o2, False)
        plain.add(o, a, 1.0, o2, False)
    torch.manual_seed(0)
    a_total, a_info, _ = agent.critic_losses(exp.buffer.sample(16))
    torch.manual_seed(0)
    b_total, b_info, _ = agent.critic_losses(plain.sample(16))
    assert torch.allclose(a_total, b_total, atol=1e-6)
    assert torch.allclose(a_info["recon/cam"], b_info["recon/cam"], atol=1e-6)


def test_reconstruction_on_a_sub_batch_uses_only_its_first_images():
    agent, rb = image_agent_and_batch()
    batch = rb.sample(16)
    agent.config.autoencoder_batch = 4
    _, info, _ = agent.critic_losses(batch)
    ae = agent.autoencoders["cam"]
    expected, _ = ae.loss(batch.obs["cam"][:4])
    assert torch.allclose(info["ae_loss/cam"], expected, atol=1e-6)
    with pytest.raises(ValueError, match="autoencoder_batch"):
        SACAgent({"cam": (1, 64, 64)}, 2, SACConfig(autoencoder_batch=0))


def test_the_image_settings_leave_an_agent_without_images_unchanged():
    """``IMAGE_SETTINGS`` act on the autoencoders only: two agents without image parts that
    differ in all of them act and learn alike (grids rely on it to judge finished runs)."""
    from dataclasses import fields

    from sacgmm.rl.replay import Batch
    from sacgmm.rl.sac import IMAGE_SETTINGS

    assert set(IMAGE_SETTINGS) <= {f.name for f in fields(SACConfig)}
    other = {"latent_dim": 32, "encoder_kind": "patch", "encoder_channels": 8,
             "lambda_z": 1e-3, "autoencoder_batch": 16, "lr_autoencoder": 1e-2,
             "encoder_tau": 0.5}
    assert set(other) == set(IMAGE_SETTINGS)
    agents = []
    for changes in ({}, other):
        torch.manual_seed(0)
        agents.append(SACAgent({"x": (3,)}, 2, SACConfig(hidden=(16,), **changes)))
    g = torch.Generator().manual_seed(1)
    obs = {"x": torch.randn(16, 3, generator=g)}
    nxt = {"x": torch.randn(16, 3, generator=g)}
    batch = Batch(obs, torch.rand(16, 2, generator=g) * 2 - 1, torch.randn(16, generator=g),
                  nxt, torch.zeros(16))
    outs = []
    for agent in agents:
        torch.manual_seed(2)
        outs.append([agent.update(batch) for _ in range(3)])
    assert outs[0] == outs[1]
    for a, b in zip(agents[0].actor.parameters(), agents[1].actor.parameters()):
        assert torch.equal(a, b)
    for a, b in zip(agents[0].critic.parameters(), agents[1].critic.parameters()):
        assert torch.equal(a, b)
