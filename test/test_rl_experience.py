"""Experience: n-step folding into the replay buffer and the buffer of successful episodes."""
import numpy as np
import pytest

from sacgmm.rl.experience import Experience


def o(i):
    return {"x": np.array([float(i)], np.float32)}


def episode(exp, start, n, success, cut=False):
    for t in range(start, start + n):
        last = t == start + n - 1 and not cut
        exp.add(o(t), [0.0], float(success and last), o(t + 1), success and last,
                (not success) and last)
    exp.end_episode(success)


def test_only_successful_episodes_are_kept_for_imitation():
    exp = Experience(100, {"x": (1,)}, 1, seed=0, n_step=2, gamma=0.9, keep_successes=True)
    episode(exp, 0, 4, success=False)
    assert len(exp) == 4 and len(exp.successes) == 0
    episode(exp, 10, 3, success=True)
    assert len(exp) == 7 and len(exp.successes) == 3
    kept = sorted(float(v) for v in exp.successes.obs["x"][:3, 0])
    assert kept == [10.0, 11.0, 12.0]
    # n-step: the success reward reaches the decision before the last one, discounted
    i = int(np.flatnonzero(exp.successes.obs["x"][:3, 0] == 11.0)[0])
    assert exp.successes.reward[i] == pytest.approx(0.9) and exp.successes.steps[i] == 2


def test_an_episode_cut_short_is_flushed_not_folded_into_the_next():
    exp = Experience(100, {"x": (1,)}, 1, seed=0, n_step=3, gamma=0.9)
    episode(exp, 0, 2, success=False, cut=True)       # no terminated/truncated flag
    assert len(exp) == 2 and exp.successes is None
    episode(exp, 10, 2, success=False)
    assert sorted(exp.buffer.next_obs["x"][:4, 0].tolist()) == [2.0, 2.0, 12.0, 12.0]


def test_update_samples_successes_only_when_there_are_any():
    seen = []

    class Agent:
        def update(self, batch, successes=None, imitation_episodes=0):
            seen.append(None if successes is None else len(successes.reward))
            return {"loss": 0.0}

    exp = Experience(100, {"x": (1,)}, 1, seed=0, keep_successes=True)
    episode(exp, 0, 3, success=False)
    exp.update(Agent(), 2, batch_size=8)
    episode(exp, 10, 3, success=True)
    exp.update(Agent(), 1, batch_size=8)
    assert seen == [None, None, 4]
    state = exp.successes_state()
    again = Experience(100, {"x": (1,)}, 1, seed=0, keep_successes=True)
    again.load_successes_state(state)
    assert len(again.successes) == 3


def test_successes_are_kept_for_the_success_imitation_only():
    from sacgmm.rl.sac import SACAgent, SACConfig

    def kept(**cfg):
        agent = SACAgent({"x": (1,)}, 1, SACConfig(hidden=(8,), **cfg))
        return Experience.for_agent(agent, 10, seed=0).successes is not None

    assert kept(success_bc_weight=1.0) and not kept()


def test_demonstrations_are_kept_apart_and_make_their_share_of_every_batch():
    exp = Experience(100, {"x": (1,)}, 1, seed=0, demo_fraction=0.25)
    for t in range(5):                      # a demonstrated episode, values 100..104
        exp.add(o(100 + t), [0.0], float(t == 4), o(101 + t), t == 4, demonstration=True)
    exp.end_episode(True)
    assert len(exp.demos) == 5 and len(exp.buffer) == 0 and len(exp) == 5
    only_demos = exp.sample(8).obs["x"][:, 0]
    assert bool((only_demos >= 100).all())          # no online data yet: all demonstrated
    episode(exp, 0, 6, success=False)
    assert len(exp.buffer) == 6 and len(exp.demos) == 5
    mixed = exp.sample(8).obs["x"][:, 0]
    assert int((mixed >= 100).sum()) == 2 and int((mixed < 100).sum()) == 6
    with pytest.raises(ValueError, match="all demonstrated or none"):
        exp.add(o(0), [0.0], 0.0, o(1), False)
        exp.add(o(1), [0.0], 0.0, o(2), False, demonstration=True)
    exp.end_episode(False)
    again = Experience(100, {"x": (1,)}, 1, seed=0, demo_fraction=0.25)
    again.load_demos_state(exp.demos_state())
    assert len(again.demos) == 5
    with pytest.raises(ValueError, match="demo_fraction"):
        Experience(100, {"x": (1,)}, 1, seed=0, demo_fraction=1.0)
    # without demo_fraction a demonstrated episode joins the main buffer
    plain = Experience(100, {"x": (1,)}, 1, seed=0)
    plain.add(o(100), [0.0], 1.0, o(101), True, demonstration=True)
    plain.end_episode(True)
    assert plain.demos is None and len(plain.buffer) == 1


def test_the_episodes_behind_the_imitation_term_are_counted_and_kept():
    """Successful episodes and episodes with labels are the evidence the skill prior weighs
    against; a failed episode without labels is not."""
    counts = []

    class Agent:
        def update(self, batch, successes=None, imitation_episodes=0):
            counts.append(imitation_episodes)
            return {}

    exp = Experience(100, {"x": (1,)}, 1, seed=0, keep_successes=True)
    episode(exp, 0, 3, success=False)
    assert exp.imitation_episodes == 0
    episode(exp, 10, 3, success=True)
    exp.add(o(20), [0.0], 0.0, o(21), False)
    exp.add_imitation(o(20), [0.5], 0.0, o(21), False)      # a failed episode with a label
    exp.add(o(21), [0.0], 0.0, o(22), False, True)
    exp.end_episode(False)
    assert exp.imitation_episodes == 2
    exp.update(Agent(), 1, batch_size=4)
    assert counts == [2]
    again = Experience(100, {"x": (1,)}, 1, seed=0, keep_successes=True)
    again.load_successes_state(exp.successes_state())
    assert again.imitation_episodes == 2 and len(again.successes) == 4
    older = Experience(100, {"x": (1,)}, 1, seed=0, keep_successes=True)
    older.load_successes_state(exp.successes.state_dict())   # the buffer alone
    assert older.imitation_episodes == 0 and len(older.successes) == 4
