"""The skill look-ahead: it predicts the window the GMM agent will run, and the critics read it."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from skill_helpers import make_skill  # noqa: E402

from sacgmm.rl.lookahead import SkillLookahead  # noqa: E402
from sacgmm.rl.replay import ReplayBuffer  # noqa: E402
from sacgmm.rl.sac import SACAgent, SACConfig  # noqa: E402
from sacgmm.rl.train_task import TrainConfig  # noqa: E402
from sacgmm.skill.delta_theta import DeltaTheta, DeltaThetaConfig  # noqa: E402

DT, VMAX, WINDOW = 1.0 / 30.0, 0.15, 12


def window_path(skill, delta, x0, action, steps=WINDOW):
    """What GMMWindowEnv commands: the adapted skill's velocity, each axis clipped, Euler."""
    adapted = delta.apply(skill, action)
    x, path = np.array(x0, dtype=np.float64), []
    for _ in range(steps):
        x = x + DT * np.clip(adapted.velocity(x), -VMAX, VMAX)
        path.append(x.copy())
    return np.array(path)


@pytest.mark.parametrize("scale", [0.05, (0.2, 0.1, 0.05)])
def test_lookahead_predicts_the_adapted_skills_window(scale):
    skill = make_skill()
    delta = DeltaTheta.for_skill(skill, DeltaThetaConfig(attractor_scale=scale))
    ahead = SkillLookahead(skill, delta, WINDOW, DT, VMAX, points=(4, WINDOW))
    assert ahead.out_dim == 6 and ahead.points == (4, WINDOW)
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.2, 0.2, (6, 3))
    a = rng.uniform(-1.0, 1.0, (6, 3))
    a[0] = 0.0
    a[1] = [1.0, -1.0, 1.0]              # saturated: the clip at max_speed is active
    pred = ahead(torch.tensor(x, dtype=torch.float32),
                 torch.tensor(a, dtype=torch.float32)).numpy()
    for i in range(6):
        path = window_path(skill, delta, x[i], a[i])
        np.testing.assert_allclose(pred[i, :3], path[3], atol=2e-6)
        np.testing.assert_allclose(pred[i, 3:], path[-1], atol=2e-6)
    # near the attractor (no axis saturated) the shift moves the prediction by about itself
    near = torch.tensor([[0.01, 0.0, 0.02]])
    moved = ahead(near, torch.tensor([[0.0, 0.0, 1.0]])) - ahead(near, torch.zeros(1, 3))
    assert float(moved[0, 5]) > 0.5 * delta.attractor_scale[2]


def test_lookahead_is_differentiable_in_the_action():
    skill = make_skill(gain=0.5)       # slow: no axis is clipped, so every entry has a gradient
    delta = DeltaTheta.for_skill(skill)
    ahead = SkillLookahead(skill, delta, WINDOW, DT, VMAX)
    a = torch.zeros(4, 3, requires_grad=True)
    x = torch.tensor(np.random.default_rng(1).uniform(-0.05, 0.05, (4, 3)), dtype=torch.float32)
    end = ahead(x, a)[:, 3:]
    end[:, 2].sum().backward()
    grad = a.grad.numpy()
    assert np.isfinite(grad).all()
    # a shift up (+z) moves the predicted end up: a positive d(end_z)/d(a_z)
    assert (grad[:, 2] > 0).all()
    # finite difference check on one sample
    eps = 1e-2
    up = ahead(x[:1], torch.tensor([[0.0, 0.0, eps]]))[0, 5]
    dn = ahead(x[:1], torch.tensor([[0.0, 0.0, -eps]]))[0, 5]
    assert float((up - dn) / (2 * eps)) == pytest.approx(float(grad[0, 2]), rel=1e-2)


def test_lookahead_rejects_what_it_cannot_predict():
    skill = make_skill()
    with pytest.raises(ValueError, match="attractor-shift layout only"):
        SkillLookahead(skill, DeltaTheta.for_skill(
            skill, DeltaThetaConfig(adapt_means=True, adapt_attractor=True)), WINDOW, DT, VMAX)
    delta = DeltaTheta.for_skill(skill)
    with pytest.raises(ValueError, match="window"):
        SkillLookahead(skill, delta, 0, DT, VMAX)
    with pytest.raises(ValueError, match="dt"):
        SkillLookahead(skill, delta, WINDOW, float("nan"), VMAX)
    with pytest.raises(ValueError, match="points"):
        SkillLookahead(skill, delta, WINDOW, DT, VMAX, points=(WINDOW + 1,))
    with pytest.raises(ValueError, match="lookahead is for the sac-gmm agent"):
        TrainConfig(task="peg", agent="res-gmm", lookahead=True).resolved()


def lookahead_agent(seed=0, with_lookahead=True):
    torch.manual_seed(seed)
    skill = make_skill()
    ahead = SkillLookahead(skill, DeltaTheta.for_skill(skill), WINDOW, DT, VMAX)
    shapes = {"position": (3,), "gripper": (1,)}
    cfg = SACConfig(hidden=(32, 32), vector_scale=50.0)
    return SACAgent(shapes, 3, cfg, lookahead=ahead if with_lookahead else None), ahead


def test_critics_read_the_lookahead_and_it_round_trips():
    agent, ahead = lookahead_agent()
    first = [m for m in agent.critic.modules() if isinstance(m, torch.nn.Linear)][0]
    # position 3 + gripper 1 + look-ahead 6, plus the action 3
    assert first.in_features == 3 + 1 + 6 + 3
    # the look-ahead reads the position part wherever it sits among the vector parts
    # (sorted: gripper first, then position) and in metres
    feat = torch.tensor([[0.04 * 50, 0.01 * 50, -0.02 * 50, 0.03 * 50]])
    a = torch.tensor([[0.3, -0.2, 0.5]])
    q_direct = agent.critic(torch.cat([feat, ahead(feat[:, 1:] / 50, a) * 50], -1), a)
    q = agent.q_values(feat, a)
    assert torch.allclose(q[0], q_direct[0]) and torch.allclose(q[1], q_direct[1])

    rb = ReplayBuffer(64, agent.obs_shapes, 3, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(64):
        o = {"position": rng.uniform(-0.1, 0.1, 3).astype(np.float32),
             "gripper": np.array([0.02], np.float32)}
        rb.add(o, rng.uniform(-1, 1, 3), float(rng.random() < 0.2), o, False)
    info = agent.update(rb.sample(32))
    assert np.isfinite(list(info.values())).all()

    state = agent.state_dict()
    assert state["lookahead_dim"] == 6
    clone = SACAgent.from_state_dict(state, lookahead=ahead)
    assert torch.allclose(clone.q_values(feat, a)[0], agent.q_values(feat, a)[0])
    with pytest.raises(ValueError, match="look-ahead"):
        SACAgent.from_state_dict(state)
    plain, _ = lookahead_agent(with_lookahead=False)
    with pytest.raises(ValueError, match="look-ahead"):
        plain.load_state_dict(state)


def test_lookahead_needs_the_position_part():
    skill = make_skill()
    ahead = SkillLookahead(skill, DeltaTheta.for_skill(skill), WINDOW, DT, VMAX)
    with pytest.raises(ValueError, match="'position'"):
        SACAgent({"pos": (3,)}, 3, SACConfig(hidden=(8,)), lookahead=ahead)


def test_actor_gradient_flows_through_the_lookahead():
    """With the look-ahead the actor's loss depends on the action also through the predicted
    positions: the gradient differs from the one with the look-ahead's input held fixed."""
    agent, ahead = lookahead_agent(seed=3)
    feat = torch.tensor(np.random.default_rng(2).uniform(-2, 2, (8, 4)), dtype=torch.float32)
    a = torch.zeros(8, 3, requires_grad=True)
    torch.min(*agent.q_values(feat, a)).sum().backward()
    full = a.grad.clone()
    a.grad = None
    fixed = torch.cat([feat, ahead(feat[:, 1:] / 50, torch.zeros(8, 3)) * 50], -1)
    torch.min(*agent.critic(fixed, a)).sum().backward()
    assert not torch.allclose(full, a.grad)
