"""SAC-GMM on a simulated task: delta-theta, one window, the training loop, resume, NaN stop."""
import csv
import math

import numpy as np
import pytest

from sacgmm.rl.task_env import GMMWindowEnv, ResidualGMMEnv, VelocityEnv
from sacgmm.rl.train_task import TaskRun, TrainConfig
from sacgmm.sim import make_env
from sacgmm.skill import fit_skill, load_demos
from sacgmm.skill.delta_theta import PAPER_LAYOUT, DeltaTheta, DeltaThetaConfig


@pytest.fixture(scope="module")
def peg_skill(tmp_path_factory):
    from sacgmm.sim.expert import record_demos
    out = tmp_path_factory.mktemp("pegdemos")
    record_demos("peg", 5, 0, out)
    demos = load_demos(out)
    return fit_skill(demos.positions, demos.dt, 3, seed=0)


FULL = DeltaThetaConfig(adapt_priors=True, adapt_means=True, adapt_covariances=True,
                        adapt_attractor=True)


def test_default_layout_is_the_attractor_shift_and_paper_layout_is_one_setting(peg_skill):
    assert DeltaTheta.for_skill(peg_skill).labels() == ["attractor[0]", "attractor[1]",
                                                        "attractor[2]"]
    paper = DeltaTheta.for_skill(peg_skill, DeltaThetaConfig.from_dict(PAPER_LAYOUT))
    assert list(paper.slices) == ["priors", "means", "covariances"]
    assert paper.size == 3 + 3 * 6 + 3 * 3


def test_delta_theta_layout_and_validity(peg_skill):
    delta = DeltaTheta.for_skill(peg_skill, FULL)
    assert delta.size == 3 + 3 * 6 + 3 * 3 + 3 == len(delta.labels())
    assert delta.labels()[0] == "priors[0]" and delta.labels()[3] == "means[0][0]"
    same = delta.apply(peg_skill, np.zeros(delta.size))
    np.testing.assert_allclose(same.covariances, peg_skill.covariances, atol=1e-15)
    np.testing.assert_allclose(same.priors, peg_skill.priors, atol=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(100):
        a = rng.uniform(-3, 3, delta.size)                  # out-of-range actions are clipped
        new = delta.apply(peg_skill, a)
        assert abs(new.priors.sum() - 1) < 1e-12 and new.priors.min() > 0
        assert np.linalg.eigvalsh(new.covariances).min() > 0
        assert np.abs(new.means - peg_skill.means)[:, :3].max() <= 0.01 + 0.05 + 1e-12   # metres
    with pytest.raises(ValueError, match="NaN"):
        delta.apply(peg_skill, np.full(delta.size, np.nan))
    with pytest.raises(ValueError, match="shape"):
        delta.apply(peg_skill, np.zeros(delta.size + 1))
    stable = DeltaTheta.for_skill(peg_skill, DeltaThetaConfig(
        adapt_priors=True, adapt_means=True, adapt_covariances=True, stable=True))
    assert stable.apply(peg_skill, rng.uniform(-1, 1, stable.size)).is_stable()
    only_means = DeltaTheta.for_skill(peg_skill, DeltaThetaConfig.from_dict(
        {"adapt_means": True, "adapt_attractor": False}))
    assert only_means.size == 18
    with pytest.raises(ValueError, match="unknown delta_theta"):
        DeltaThetaConfig.from_dict({"adapt_everything": True})


def test_one_window_drives_the_adapted_skill(peg_skill):
    delta = DeltaTheta.for_skill(peg_skill, FULL)
    env = GMMWindowEnv(make_env("peg", sensor=True), peg_skill, delta, window=32)
    ref = make_env("peg", sensor=False)
    try:
        obs, _ = env.reset(seed=7)
        assert obs["image"].shape == (2, 64, 64) and obs["image"].dtype == np.uint8
        action = np.random.default_rng(1).uniform(-1, 1, delta.size)
        obs2, reward, term, trunc, info = env.step(action)
        assert info["control_steps"] == 32 or term or trunc
        assert obs2["image"].shape == (2, 64, 64) and obs2["position"].dtype == np.float32
        adapted = env.current_skill
        assert adapted is not peg_skill
        np.testing.assert_allclose(adapted.means, delta.apply(peg_skill, action).means)
        # the same window, stepped by hand with the adapted skill, ends at the same place
        o, _ = ref.reset(seed=7)
        for _ in range(info["control_steps"]):
            o, *_ = ref.step(np.clip(adapted.velocity(o["position"].astype(float)), -0.15, 0.15))
        np.testing.assert_allclose(o["position"], obs2["position"], atol=1e-6)
        with pytest.raises(ValueError, match="NaN"):
            env.step(np.full(delta.size, np.nan))
    finally:
        env.close()
        ref.close()


def test_per_step_agent_views(peg_skill):
    for env in (ResidualGMMEnv(make_env("peg"), peg_skill), VelocityEnv(make_env("peg"))):
        try:
            obs, _ = env.reset(seed=3)
            assert set(obs) == {"position"}
            _, _, _, _, info = env.step(np.array([0.5, -0.5, 0.0]))
            assert info["control_steps"] == 1
            with pytest.raises(ValueError, match="shape"):
                env.step(np.zeros(4))
        finally:
            env.close()


def _cfg(**kw):
    base = dict(task="peg", agent="sac-gmm", seed=1, episodes=4, eval_every=2, eval_episodes=1,
                final_episodes=0, learning_starts=3, updates_per_step=1.0, batch_size=8,
                buffer_size=500, sac={"hidden": [32, 32], "latent_dim": 8, "encoder_channels": 8})
    base.update(kw)
    return TrainConfig.named("attractor-shift", **base)


@pytest.mark.parametrize("kw", [{}, {"n_step": 3, "sac": {"success_bc_weight": 1.0}},
                                {"decision_memory": True}],
                         ids=["plain", "nstep_success_bc", "memory"])
def test_resume_continues_exactly(peg_skill, tmp_path, kw):
    straight = TaskRun(_cfg(**kw), tmp_path / "a", skill=peg_skill)
    full = straight.train(progress=False)
    # the policy's entropy after each episode's updates is logged, and it moves with them
    entropy = [e["entropy"] for e in straight.episodes_log]
    assert all(math.isfinite(h) for h in entropy) and len(set(entropy)) > 1
    first = TaskRun(_cfg(episodes=2, **kw), tmp_path / "b", skill=peg_skill)
    first_wall = first.train(progress=False)["training"]["wall_time_s"]
    assert (tmp_path / "b" / "checkpoint.pt").exists()
    if "n_step" in kw:   # successful episodes' transitions are kept for imitation, and resumed
        wins = [e for e in first.episodes_log if e["success"]]
        assert len(first.successes) == sum(e["decisions"] for e in wins)
    resumed = TaskRun(_cfg(**kw), tmp_path / "b", skill=peg_skill)
    out = resumed.train(resume=True, progress=False)
    assert out["training"]["episodes"] == full["training"]["episodes"] == 4
    assert out["training"]["wall_time_s"] > first_wall       # time before and after the resume
    assert out["training"]["agent_decisions"] == full["training"]["agent_decisions"]
    if "n_step" in kw:
        assert len(resumed.successes) == len(straight.successes)
    assert [e["return"] for e in resumed.episodes_log] == [e["return"] for e in straight.episodes_log]
    for p, q in zip(straight.agent.actor.parameters(), resumed.agent.actor.parameters()):
        assert np.array_equal(p.detach().numpy(), q.detach().numpy())
    assert (tmp_path / "b" / "summary.json").exists() and (tmp_path / "b" / "evals.csv").exists()


def _fake_evaluations(run, rates):
    """Replace ``run.evaluate``: the periodic evaluations succeed at ``rates`` in turn, every
    later one (the final evaluation) at 0. Returns the actor's parameters at each call."""
    rates, seen = iter(rates), []

    def fake_evaluate(episodes, seed):
        seen.append([q.detach().numpy().copy() for q in run.agent.actor.parameters()])
        rate = next(rates, 0.0)
        return {"episodes": episodes, "successes": round(rate * episodes),
                "success_rate": rate, "ci95": [0.0, 1.0], "mean_control_steps": 1.0,
                "end_reasons": {}}

    run.evaluate = fake_evaluate
    return seen


def test_final_evaluation_uses_the_best_evaluated_policy(peg_skill, tmp_path):
    run = TaskRun(_cfg(final_episodes=1), tmp_path, skill=peg_skill)
    seen = _fake_evaluations(run, [0.0, 1.0, 0.0])    # episode 0 (before training), 2, 4
    out = run.train(progress=False)
    assert out["final_policy"] == {"kind": "best", "episode": 2, "success_rate": 1.0}
    at_2, at_4, final = seen[1], seen[2], seen[3]
    assert all(np.array_equal(a, b) for a, b in zip(final, at_2))
    assert not all(np.array_equal(a, b) for a, b in zip(final, at_4))
    from sacgmm.rl.checkpoint import load_checkpoint
    best = load_checkpoint(tmp_path / "best.pt")          # a policy file sacgmm eval loads
    assert best["extra"]["best"] == {"episode": 2, "success_rate": 1.0}
    last = TaskRun(_cfg(final_episodes=1, final_policy="last"), tmp_path / "last", skill=peg_skill)
    assert last.train(progress=False)["final_policy"]["kind"] == "last"
    with pytest.raises(ValueError, match="final_policy"):
        _cfg(final_policy="median")


def test_a_run_that_only_got_worse_ends_with_its_starting_policy(peg_skill, tmp_path):
    run = TaskRun(_cfg(final_episodes=1), tmp_path, skill=peg_skill)
    seen = _fake_evaluations(run, [0.8, 0.1, 0.0])    # episode 0 (the skill), 2, 4
    out = run.train(progress=False)
    assert out["final_policy"] == {"kind": "best", "episode": 0, "success_rate": 0.8}
    start, final = seen[0], seen[-1]
    assert all(np.array_equal(a, b) for a, b in zip(final, start))
    assert not all(np.array_equal(a, b) for a, b in zip(final, seen[2]))


def test_resume_refuses_a_different_configuration(peg_skill, tmp_path):
    TaskRun(_cfg(episodes=2), tmp_path, skill=peg_skill).train(progress=False)
    with pytest.raises(ValueError, match="different configuration"):
        TaskRun(_cfg(episodes=4, batch_size=16), tmp_path, skill=peg_skill).train(resume=True, progress=False)


def test_resume_accepts_a_checkpoint_older_than_a_new_setting(peg_skill, tmp_path):
    import torch
    TaskRun(_cfg(episodes=2), tmp_path, skill=peg_skill).train(progress=False)
    path = tmp_path / "checkpoint.pt"
    payload = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("gripper_obs", "n_step", "via_point"):   # written before these settings existed
        del payload["extra"]["config"][key]
    torch.save(payload, path)
    with pytest.raises(ValueError, match="different configuration .*n_step"):
        TaskRun(_cfg(episodes=4, n_step=3), tmp_path, skill=peg_skill).train(
            resume=True, progress=False)                      # not the default: a real change
    run = TaskRun(_cfg(episodes=4), tmp_path, skill=peg_skill)
    run.train(resume=True, progress=False)
    assert run.episode == 4


# removed options at the values that left them off, as older runs saved them
OFF = {"exploration": "step", "exploration_correlation": 0.8, "lookahead": False,
       "grasp_reward": 0.0, "success_labels_every": 0, "actor_after_successes": 0,
       "hindsight_grasp_kept": False, "success_needs_kept_grasp": False,
       "hindsight_held": False, "grasp_ends_window": False}


def test_resume_accepts_removed_options_only_at_their_off_values(peg_skill, tmp_path):
    import torch
    TaskRun(_cfg(episodes=2), tmp_path, skill=peg_skill).train(progress=False)
    path = tmp_path / "checkpoint.pt"
    payload = torch.load(path, map_location="cpu", weights_only=True)
    saved = payload["extra"]["config"]
    saved.update(OFF)
    saved["sac"]["critic_on_successes"] = False
    saved["via_point"] = {"held": False, "held_scale": 0.03}
    torch.save(payload, path)
    run = TaskRun(_cfg(episodes=3), tmp_path, skill=peg_skill)
    run.train(resume=True, progress=False)
    assert run.episode == 3
    saved["grasp_reward"] = 0.3
    torch.save(payload, path)
    with pytest.raises(ValueError, match="grasp_reward=0.3: this option was removed"):
        TaskRun(_cfg(episodes=4), tmp_path, skill=peg_skill).train(resume=True, progress=False)


@pytest.mark.parametrize("key, on", [("lookahead", True), ("exploration", "episode"),
                                     ("actor_after_successes", 3), ("grasp_ends_window", True),
                                     ("success_labels_every", 4), ("hindsight_held", True)])
def test_saved_config_with_a_removed_option_on_is_refused(key, on):
    cfg = TrainConfig.from_dict({"task": "door", **OFF})
    assert cfg == TrainConfig(task="door")
    with pytest.raises(ValueError, match=f"{key}={on!r}: this option was removed"):
        TrainConfig.from_dict({"task": "door", **OFF, key: on})


def test_saved_sections_with_a_removed_option_on_are_refused():
    with pytest.raises(ValueError, match="via_point.held=True"):
        TrainConfig.from_dict({"task": "door", "via_point": {"enabled": True, "held": True}})
    with pytest.raises(ValueError, match="sac.image_shift=4"):
        TrainConfig.from_dict({"task": "door", "sac": {"image_shift": 4}})
    with pytest.raises(ValueError, match="unknown training setting"):
        TrainConfig.from_dict({"task": "door", "no_such_setting": 1})


def test_nan_loss_stops_training_without_a_checkpoint(peg_skill, tmp_path):
    run = TaskRun(_cfg(), tmp_path, skill=peg_skill)
    step = run.env.step

    def poisoned(action):
        obs, r, term, trunc, info = step(action)
        return obs, float("nan"), term, trunc, info

    run.env.step = poisoned
    with pytest.raises(FloatingPointError, match="not finite"):
        run.train(progress=False)
    assert not (tmp_path / "checkpoint.pt").exists()


def test_attractor_part_translates_the_skill(peg_skill):
    delta = DeltaTheta.for_skill(peg_skill, DeltaThetaConfig(
        adapt_priors=False, adapt_means=False, adapt_covariances=False, adapt_attractor=True,
        attractor_scale=0.01))
    assert delta.size == 3 and delta.labels() == ["attractor[0]", "attractor[1]", "attractor[2]"]
    moved = delta.apply(peg_skill, np.array([0.5, -1.0, 0.0]))
    shift = np.array([0.005, -0.01, 0.0])
    x = np.random.default_rng(0).normal(0, 0.05, (10, 3))
    np.testing.assert_allclose(moved.velocity(x + shift), peg_skill.velocity(x), atol=1e-12)
    np.testing.assert_allclose(moved.velocity(shift), 0.0, atol=1e-12)   # the new attractor


def test_attractor_scale_per_axis(peg_skill):
    cfg = DeltaThetaConfig.from_dict({"attractor_scale": [0.2, 0.1, 0.05]})
    assert cfg.to_dict()["attractor_scale"] == (0.2, 0.1, 0.05)
    moved = DeltaTheta.for_skill(peg_skill, cfg).apply(peg_skill, np.array([1.0, -1.0, 0.5]))
    np.testing.assert_allclose(moved.velocity(np.array([0.2, -0.1, 0.025])), 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="attractor_scale has 2 values"):
        DeltaTheta.for_skill(peg_skill, DeltaThetaConfig.from_dict({"attractor_scale": [0.1, 0.1]}))
    for bad in ([0.1, -0.1, 0.1], [0.1, float("nan"), 0.1], [], "0.1", True):
        with pytest.raises(ValueError, match="attractor_scale must be a finite number"):
            DeltaThetaConfig.from_dict({"attractor_scale": bad})


def test_refining_agents_start_from_the_unchanged_skill(peg_skill, tmp_path):
    run = TaskRun(_cfg(), tmp_path, skill=peg_skill)
    obs, _ = run.env.reset(seed=5)
    assert np.all(run.agent.act(obs, deterministic=True) == 0.0)     # zero delta-theta


def _actions_per_episode(run):
    """Wrap the training env to record the actions of each training episode."""
    episodes = []
    reset, step = run.env.reset, run.env.step

    def rec_reset(*a, **kw):
        episodes.append([])
        return reset(*a, **kw)

    def rec_step(action):
        episodes[-1].append(np.array(action, copy=True))
        return step(action)
    run.env.reset, run.env.step = rec_reset, rec_step
    return episodes


@pytest.mark.parametrize("warmup", [True, False])
def test_training_draws_fresh_exploration_per_decision(peg_skill, tmp_path, warmup):
    kw = dict(episodes=2, eval_every=100, final_episodes=0, learning_starts=10**6 if warmup else 0,
              updates_per_step=0.0)     # no updates: the policy (zero mean) is all that varies
    run = TaskRun(_cfg(**kw), tmp_path, skill=peg_skill)
    per_episode = _actions_per_episode(run)
    run.train(progress=False)
    train_eps = [a for a in per_episode if len(a) > 1][:2]
    assert len(train_eps) == 2
    for actions in train_eps:        # a new draw for every decision
        assert not all(np.array_equal(a, actions[0]) for a in actions)
    if warmup:     # the warm-up actions: N(0, warmup_std) from the run's action generator
        rng = np.random.default_rng(run.cfg.seed + 12345)
        for a in [a for actions in train_eps for a in actions]:
            np.testing.assert_allclose(
                a, np.clip(run.cfg.warmup_std * rng.standard_normal(run.act_dim), -1, 1),
                rtol=1e-6)


def test_gripper_observation_tells_open_from_holding():
    env = VelocityEnv(make_env("door"), gripper=True)
    try:
        assert env.observation_space["gripper"].shape == (1,)
        obs, info = env.reset(seed=2)
        assert obs["gripper"].dtype == np.float32 and obs["gripper"].shape == (1,)
        opened = float(obs["gripper"][0])
        task = env.task_env.unwrapped
        bar = task.grasp.point_world() - task.target
        obs, _ = env.reset(seed=2, options={"start": bar.tolist()})    # on the handle bar
        for _ in range(5):
            obs, _, _, _, info = env.step(np.zeros(3))
        assert info["grasped"]
        assert 0.09 < opened < 0.13 and float(obs["gripper"][0]) < opened - 0.03   # metres
    finally:
        env.close()
    assert "gripper" not in VelocityEnv(make_env("door")).observation_space.spaces


def test_sac_baseline_seeds_demonstrations_with_the_gripper_opening(tmp_path):
    run = TaskRun(_cfg(agent="sac", gripper_obs=True, sensor=False), tmp_path)
    try:
        assert run.seed_with_demonstrations(1) == 1
        batch = run.buffer.sample(4)
        grip = np.asarray(batch.obs["gripper"])
        assert grip.shape == (4, 1) and np.all((grip > 0.02) & (grip < 0.2))
    finally:
        run.env.close()
        run.eval_env.close()


def test_rlpd_configuration_samples_half_of_each_batch_from_its_run_demonstrations(tmp_path):
    """The RLPD-style baseline keeps the demonstrations of its run's set apart, draws half of
    every batch from them, and a resumed run gets them back from the checkpoint."""
    from sacgmm.rl.config import TrainConfig
    from sacgmm.sim import expert
    cfg = TrainConfig.named("rlpd", task="peg", seed=3, sensor=False, episodes=1,
                            eval_every=100, eval_episodes=1, final_episodes=0)
    assert cfg.demo_fraction == 0.5 and cfg.sac.critic_layer_norm and cfg.updates_per_step == 1
    seeds = []
    original = expert.run_expert_episode

    def recording(env, seed):
        seeds.append(seed)
        return original(env, seed)
    import unittest.mock
    run = TaskRun(cfg, tmp_path)
    try:
        with unittest.mock.patch.object(expert, "run_expert_episode", recording):
            run.train(progress=False)
        assert seeds[0] == 3000                       # demonstration set 3 (demo_seed = seed)
        demo_rows = len(run.experience.demos)
        assert demo_rows > 0 and len(run.buffer) > 0 and run.learner.updates > 0
        assert len(run.experience.sample(256).reward) == 256
    finally:
        run.env.close()
        run.eval_env.close()
    again = TaskRun(cfg, tmp_path)
    try:
        again.resume()
        assert len(again.experience.demos) == demo_rows
    finally:
        again.env.close()
        again.eval_env.close()


def test_n_step_training_stores_every_decision_once_with_its_span(peg_skill, tmp_path):
    run = TaskRun(_cfg(n_step=3, episodes=2, eval_every=100, final_episodes=0,
                       updates_per_step=0.0), tmp_path, skill=peg_skill)
    out = run.train(progress=False)
    n = len(run.buffer)
    assert n == out["training"]["agent_decisions"] > 3      # every decision, none pending
    steps = run.buffer.steps[:n]
    assert set(np.unique(steps)) <= {1.0, 2.0, 3.0} and (steps == 3.0).sum() >= n - 4
    with pytest.raises(ValueError, match="n_step"):
        _cfg(n_step=0).checked()


def test_decision_memory_holds_the_last_window_and_action(peg_skill, tmp_path):
    run = TaskRun(_cfg(decision_memory=True, episodes=1, eval_every=100, final_episodes=0,
                       updates_per_step=0.0, sac={"vector_scale": 50.0}), tmp_path,
                  skill=peg_skill)
    assert run.learner.obs_shapes["memory"] == (3 + run.act_dim,)
    out = run.train(progress=False)
    n = out["training"]["agent_decisions"]
    b = run.buffer
    memory, nxt = b.obs["memory"][:n], b.next_obs["memory"][:n]
    pos, nxt_pos = b.obs["position"][:n], b.next_obs["position"][:n]
    assert np.array_equal(memory[0], np.zeros(3 + run.act_dim))        # episode start
    # the next observation remembers this decision: where the hand went, and the action
    np.testing.assert_allclose(nxt[:, :3], nxt_pos - pos, atol=1e-6)
    np.testing.assert_allclose(nxt[:, 3:] * 50.0, b.action[:n], atol=1e-6)
    assert np.array_equal(memory[1:], nxt[:-1])     # and the next decision acted on that memory
    with pytest.raises(ValueError, match="decision_memory"):
        _cfg(agent="res-gmm", decision_memory=True).checked()


def test_decision_memory_rejects_a_store_without_its_act():
    from sacgmm.rl.learner import Learner
    cfg = _cfg(decision_memory=True).checked()
    learner = Learner(cfg, {"position": (3,)}, 3)
    obs = {"position": np.zeros(3, np.float32)}
    learner.start_episode()
    with pytest.raises(ValueError, match="act"):
        learner.store(obs, np.zeros(3, np.float32), 0.0, obs, False)
    learner.act(obs, explore=True)
    learner.store(obs, np.zeros(3, np.float32), 0.0, {"position": np.ones(3, np.float32)}, False)
    assert learner.decisions == 1


def test_csv_log_keeps_columns_added_after_the_first_row(tmp_path):
    from sacgmm.rl.train_gym import _write_csv
    # a run resumed from an older checkpoint: its first rows lack the newer "entropy" column
    rows = [{"episode": 1, "alpha": 0.05}, {"episode": 2, "alpha": 0.04, "entropy": -1.5}]
    _write_csv(tmp_path / "episodes.csv", rows)
    with open(tmp_path / "episodes.csv", newline="") as f:
        read = list(csv.DictReader(f))
    assert read == [{"episode": "1", "alpha": "0.05", "entropy": ""},
                    {"episode": "2", "alpha": "0.04", "entropy": "-1.5"}]


def test_each_seed_trains_from_its_own_demonstrations(tmp_path, monkeypatch):
    """Without --skill a run's default skill is recorded and fitted with the run's seed (or
    --demo-seed), so the seeds' spread includes the demonstrations'; a configuration saved
    before runs had their own demonstrations reads as seed 0's."""
    import sacgmm.sim.default_skill as ds
    monkeypatch.setenv("SACGMM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(ds.DEMO_COUNTS, "peg", 3)
    zero, one = ds.default_skill("peg", seed=0), ds.default_skill("peg", seed=1)
    assert zero.meta["demo_seed"] == 0 and one.meta["demo_seed"] == 1
    assert not np.allclose(zero.means, one.means)
    assert ds.default_skill_path("peg", seed=1).parent.name == "seed1"
    with pytest.raises(ValueError, match="demonstration seed"):
        ds.default_skill_path("peg", seed=-1)
    run = TaskRun(TrainConfig.named("gmm", task="peg", seed=1, final_episodes=0))
    try:
        assert run.cfg.demo_seed == 1 and np.allclose(run.skill.means, one.means)
    finally:
        run.env.close()
        run.eval_env.close()
    fixed = TaskRun(TrainConfig.named("gmm", task="peg", seed=1, demo_seed=0, final_episodes=0))
    try:
        assert np.allclose(fixed.skill.means, zero.means)
    finally:
        fixed.env.close()
        fixed.eval_env.close()
    assert TrainConfig.from_saved({"task": "peg", "seed": 3}).demo_seed == 0
    assert TrainConfig.from_saved({"task": "peg", "seed": 3, "skill": "s.yaml"}).demo_seed is None
    with pytest.raises(ValueError, match="demo_seed"):
        TrainConfig.named("gmm", task="peg", demo_seed=-2)


def test_following_the_held_peg_drives_a_slipped_peg_to_the_demonstrated_depth():
    """With ``follow_held_object`` the skill sees the TCP raised by the peg's slip in the
    fingers: episodes in which the plain GMM agent's peg slid up and never reached the success
    depth succeed, the slip notwithstanding."""
    from sacgmm.sim.default_skill import default_skill
    skill = default_skill("peg", seed=0)
    outcomes = {}
    for follow in (False, True):
        env = GMMWindowEnv(make_env("peg", sensor=False), skill, DeltaTheta.for_skill(skill), 32,
                           follow_held_object=follow)
        try:
            rows = []
            for seed in (1001, 1002, 1003):
                env.reset(seed=seed)
                while True:
                    _, _, term, trunc, info = env.step(np.zeros(env.action_space.shape))
                    if follow:
                        assert env.skill_position()[2] == pytest.approx(
                            env._position[2] + info["peg_slip"])
                    if term or trunc:
                        break
                rows.append((info["success"], info["failure"], info["peg_slip"]))
            outcomes[follow] = rows
        finally:
            env.close()
    assert sum(f == "slipped" for _, f, _ in outcomes[False]) >= 2
    assert all(ok for ok, _, _ in outcomes[True])
    assert max(slip for _, _, slip in outcomes[True]) >= 0.01      # it slid, and still went in
    with pytest.raises(ValueError, match="follow_held_object"):
        TrainConfig.named("sac", ["follow_held_object=true"], task="peg")
