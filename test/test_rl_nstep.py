"""n-step folding of an episode's transitions and the critic's gamma ** k bootstrap."""
import pytest

from sacgmm.rl.nstep import NStepFolder


def run_episode(folder, rewards, terminated=True):
    """Push one episode (observations are the decision indices); all folded transitions."""
    out = []
    for t, r in enumerate(rewards):
        last = t == len(rewards) - 1
        out += folder.push(t, f"a{t}", r, t + 1, terminated and last,
                           (not terminated) and last)
    return out


def test_every_decision_is_emitted_once_with_discounted_returns():
    g = 0.9
    out = run_episode(NStepFolder(3, g), [0.0, 0.0, 0.0, 0.0, 1.0])
    assert [t.obs for t in out] == [0, 1, 2, 3, 4]
    assert [t.action for t in out] == ["a0", "a1", "a2", "a3", "a4"]
    assert [t.steps for t in out] == [3, 3, 3, 2, 1]
    assert [t.next_obs for t in out] == [3, 4, 5, 5, 5]
    # the success at decision 4 reaches decisions 2 and 3 directly, discounted
    assert [t.reward for t in out] == pytest.approx([0.0, 0.0, g ** 2, g, 1.0])
    # only the transitions that end with the episode's termination stop bootstrapping
    assert [t.done for t in out] == [False, False, True, True, True]


def test_truncated_episode_bootstraps_and_the_folder_empties():
    folder = NStepFolder(4, 0.5)
    out = run_episode(folder, [1.0, 1.0], terminated=False)
    assert [t.steps for t in out] == [2, 1]
    assert [t.reward for t in out] == pytest.approx([1.5, 1.0])
    assert not any(t.done for t in out) and len(folder) == 0
    # the next episode starts clean: nothing of the last one leaks into its transitions
    out = run_episode(folder, [0.0, 2.0])
    assert [t.obs for t in out] == [0, 1] and out[0].reward == pytest.approx(1.0)


def test_one_step_passes_transitions_through():
    out = run_episode(NStepFolder(1, 0.99), [0.5, 0.0, 1.0])
    assert [(t.obs, t.reward, t.next_obs, t.steps) for t in out] == \
        [(0, 0.5, 1, 1), (1, 0.0, 2, 1), (2, 1.0, 3, 1)]


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="n_step"):
        NStepFolder(0, 0.99)
    with pytest.raises(ValueError, match="gamma"):
        NStepFolder(3, 1.5)


def test_critic_target_bootstraps_with_gamma_to_the_steps():
    import torch
    from sacgmm.rl.replay import Batch
    from sacgmm.rl.sac import SACAgent, SACConfig

    agent = SACAgent({"x": (2,)}, 1, SACConfig(hidden=(16,), gamma=0.9))
    n = 5
    obs = {"x": torch.randn(n, 2)}
    reward, done = torch.rand(n), torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0])

    def target(steps):
        torch.manual_seed(0)      # the same next-action draws for every call
        return agent.td_target(Batch(obs, torch.zeros(n, 1), reward, obs, done, steps))

    one, three = target(None), target(torch.full((n,), 3.0))
    soft_v = one - reward
    assert torch.allclose(three - reward, 0.9 ** 2 * soft_v, atol=1e-6)
    assert torch.allclose(target(torch.ones(n)), one)
    assert three[-1] == reward[-1]            # terminated: no bootstrap whatever the steps


def test_flush_emits_what_an_unfinished_episode_left_pending():
    folder = NStepFolder(3, 0.5)
    assert folder.push(0, "a0", 1.0, 1, False) == []
    assert folder.push(1, "a1", 1.0, 2, False) == []
    out = folder.flush()
    assert [(t.obs, t.next_obs, t.steps, t.done) for t in out] == [(0, 2, 2, False), (1, 2, 1, False)]
    assert out[0].reward == pytest.approx(1.5) and len(folder) == 0 and folder.flush() == []
