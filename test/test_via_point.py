"""Via-point steering: the action names where the window should go; look-ahead picks the shift."""
import numpy as np
import pytest

from skill_helpers import make_skill

from sacgmm.rl.task_env import GMMWindowEnv
from sacgmm.rl.train_task import TaskRun, TrainConfig
from sacgmm.sim import make_env
from sacgmm.skill.delta_theta import DeltaTheta, DeltaThetaConfig
from sacgmm.skill.via_point import ViaPointConfig, ViaPointSteering

DT, VMAX, WINDOW = 1.0 / 30.0, 0.15, 12


def steering(**kw) -> ViaPointSteering:
    skill = make_skill()
    delta = DeltaTheta.for_skill(skill, DeltaThetaConfig(attractor_scale=0.1))
    return ViaPointSteering(skill, delta, WINDOW, DT, VMAX, ViaPointConfig(enabled=True, **kw))


def window_path(via: ViaPointSteering, x0, shift_action) -> np.ndarray:
    """What GMMWindowEnv commands for one window: the adapted skill, each axis clipped."""
    adapted = via.delta.apply(via.skill, shift_action)
    x, path = np.array(x0, dtype=np.float64), []
    for _ in range(WINDOW):
        x = x + DT * np.clip(adapted.velocity(x), -VMAX, VMAX)
        path.append(x.copy())
    return np.array(path)


def test_batched_paths_are_the_windows_each_shift_commands():
    via = steering(levels=3)
    assert via.candidates.shape == (27, 3) and not via.candidates[0].any()
    x = np.array([0.12, -0.08, 0.2])            # far enough that the speed clip is active
    paths = via.paths(x)
    assert paths.shape == (WINDOW, 27, 3)
    for c in (0, 5, 26):
        np.testing.assert_allclose(paths[:, c], window_path(via, x, via.candidates[c]),
                                   atol=1e-12)
    np.testing.assert_allclose(via.nominal_end(x), window_path(via, x, np.zeros(3))[-1],
                               atol=1e-12)


def test_zero_action_is_the_demonstrated_skill_and_a_reachable_point_picks_its_shift():
    via = steering()
    rng = np.random.default_rng(0)
    checked = 0
    for x in rng.uniform(-0.15, 0.15, (8, 3)):
        assert not via.shift_action(x, np.zeros(3)).any()
        # aim at the end of some candidate's window: that candidate passes through it
        c = 1 + int(rng.integers(len(via.candidates) - 1))
        end = via.paths(x)[-1, c]
        a = (end - via.nominal_end(x)) / via.scale
        if np.all(np.abs(a) <= 1.0):
            chosen = via.shift_action(x, a)
            reached = np.min(np.linalg.norm(window_path(via, x, chosen) - end, axis=1))
            assert reached < 1e-9
            checked += 1
    assert checked >= 3


def test_labels_name_the_goal_and_are_clipped_to_the_action_range():
    via = steering(label_height=0.01)
    x = np.array([0.05, 0.02, 0.1])
    a = np.array([0.3, -0.5, 0.9])
    np.testing.assert_allclose(via.label(x, via.via_point(x, a)), a, atol=1e-6)
    far = via.label(x, via.nominal_end(x) + np.array([1.0, -1.0, 0.0]))
    assert far.dtype == np.float32 and far.tolist() == [1.0, -1.0, 0.0]
    grasp = via.nominal_end(x) + np.array([0.0, 0.03, -0.01])
    np.testing.assert_allclose(via.hindsight_label(x, grasp), [0.0, 0.2, 0.0], atol=1e-6)


@pytest.mark.parametrize("data, match", [
    ({"held": True}, "via_point.held=True: this option was removed"),
    ({"enabeld": True}, "unknown via_point"),
    ({"scale": 0.0}, "via_point.scale"),
    ({"held_below": -1}, "via_point.held_below"),
    ({"levels": 1}, "via_point.levels"),
    ({"label_height": float("nan")}, "via_point.label_height"),
    ({"enabled": "yes"}, "via_point.enabled"),
])
def test_bad_settings_name_the_field(data, match):
    with pytest.raises(ValueError, match=match):
        ViaPointConfig.from_dict(data)


def test_removed_settings_are_accepted_at_their_off_values():
    # as runs saved them before held-phase steering was removed
    assert ViaPointConfig.from_dict({"enabled": True, "held": False, "held_scale": 0.05}) \
        == ViaPointConfig(enabled=True)


def test_steering_needs_the_attractor_shift_layout():
    skill = make_skill()
    paper = DeltaTheta.for_skill(skill, DeltaThetaConfig(adapt_priors=True))
    with pytest.raises(ValueError, match="attractor only"):
        ViaPointSteering(skill, paper, WINDOW, DT, VMAX)
    with pytest.raises(ValueError, match="3 finite numbers"):
        steering().shift_action(np.zeros(3), [np.nan, 0.0, 0.0])


# ------------------------------------------------------------ in the window env and training
def door_envs(via_on: bool):
    from sacgmm.sim.default_skill import default_skill
    skill = default_skill("door")
    delta = DeltaTheta.for_skill(skill, DeltaThetaConfig(attractor_scale=0.1))
    task = make_env("door")
    via = (ViaPointSteering(skill, delta, 8, float(task.unwrapped.dt),
                            float(task.unwrapped.max_speed)) if via_on else None)
    return GMMWindowEnv(task, skill, delta, 8, via_point=via)


def test_window_env_reads_via_points_while_open_and_shifts_while_holding():
    plain, steered = door_envs(False), door_envs(True)
    try:
        # the zero via-point is the demonstrated skill: the same window, step for step
        for env in (plain, steered):
            env.reset(seed=3)
        for _ in range(2):
            a = plain.step(np.zeros(3))
            b = steered.step(np.zeros(3))
            np.testing.assert_array_equal(a[0]["position"], b[0]["position"])
            assert b[4]["via_point"] and not a[4]["via_point"]
            assert not b[4]["shift_action"].any()
        # a via-point beside the skill's path is reached by a shift, not by the action itself
        x = steered._position.copy()
        aim = np.array([0.0, 0.6, 0.0])
        info = steered.step(aim)[4]
        assert info["via_point"] and info["shift_action"].tolist() != aim.tolist()
        np.testing.assert_array_equal(info["shift_action"],
                                      steered.via_point.shift_action(x, aim))
        # started on the handle bar the hand grasps in the first window, and reports where;
        # once it holds, the action is the attractor shift itself
        task = steered.task_env.unwrapped
        bar = task.grasp.point_world() - task.target
        steered.reset(seed=3, options={"start": bar.tolist()})
        info = steered.step(np.zeros(3))[4]
        assert info["grasped"] and np.linalg.norm(info["grasp_position"] - bar) < 0.03
        info = steered.step(np.array([0.0, 0.0, 0.4]))[4]
        assert not info["via_point"] and info["grasp_position"] is None
        assert info["shift_action"].tolist() == pytest.approx([0.0, 0.0, 0.4])
    finally:
        plain.close()
        steered.close()


class _ScriptedApproach:
    """A stand-in for GMMWindowEnv: via-point decisions 1-2, a grasp in decision 2 at
    ``GRASP``, then held (plain shifts) until the episode fails at decision 4."""

    GRASP = np.array([0.05, -0.02, 0.04])

    def reset(self, seed=None):
        self.i = 0
        return {"position": np.full(3, 0.1, np.float32)}, {}

    def step(self, action):
        self.i += 1
        done = self.i == 4
        info = {"grasped": self.i >= 2, "control_steps": 8, "success": False,
                "end_reason": "time_limit" if done else "", "via_point": self.i <= 2,
                "grasp_position": self.GRASP.copy() if self.i == 2 else None}
        return {"position": np.full(3, 0.1 - 0.02 * self.i, np.float32)}, 0.0, False, done, info


def test_a_grasp_labels_the_decisions_before_it_even_when_the_episode_fails(tmp_path):
    from skill_helpers import make_skill
    cfg = TrainConfig.named("attractor-shift", task="peg", seed=1, sensor=False, updates_per_step=0.0,
                            learning_starts=0, buffer_size=100, via_point={"enabled": True},
                            hindsight_grasp=True, sac={"hidden": [16], "success_bc_weight": 1.0})
    run = TaskRun(cfg, tmp_path, skill=make_skill())
    try:
        out = run.run_episode(_ScriptedApproach(), seed=0, deterministic=False, train=True)
        assert not out["success"] and len(run.buffer) == 4
        assert len(run.successes) == 2              # the two via-point decisions, relabelled
        starts = [np.full(3, 0.1), np.full(3, 0.08)]
        want = [run.env.via_point.hindsight_label(x, _ScriptedApproach.GRASP) for x in starts]
        np.testing.assert_allclose(run.successes.action[:2], want, atol=1e-6)
        # the critics' buffer keeps the actions that were taken
        assert not np.allclose(run.buffer.action[:2], want)
    finally:
        run.env.close()
        run.eval_env.close()


@pytest.mark.parametrize("kw, match", [
    ({"hindsight_grasp": True, "sac": {"success_bc_weight": 1.0}}, "via_point.enabled"),
    ({"hindsight_grasp": True, "via_point": {"enabled": True}}, "success_bc_weight"),
    ({"agent": "res-gmm", "via_point": {"enabled": True}}, "sac-gmm agent only"),
    ({"via_point": {"scale": -1}}, "via_point.scale"),
])
def test_training_settings_that_cannot_work_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig.named("attractor-shift", task="door", **kw)


def test_overrides_set_via_point_settings():
    cfg = TrainConfig.named("attractor-shift", ["via_point.enabled=true", "via_point.scale=0.1",
                                        "hindsight_grasp=true", "sac.success_bc_weight=1"],
                            task="door")
    assert cfg.via_point.enabled and cfg.via_point.scale == 0.1 and cfg.hindsight_grasp
    assert cfg.sac.init_alpha == 0.05                     # the rest of attractor-shift.yaml's section
    with pytest.raises(ValueError, match="grasp.x=1"):
        TrainConfig.named("attractor-shift", ["grasp.x=1"], task="door")


def test_imitation_labels_need_the_buffer_of_successes():
    from sacgmm.rl.experience import Experience
    exp = Experience(10, {"position": (3,)}, 3, seed=0)
    obs = {"position": np.zeros(3, np.float32)}
    with pytest.raises(ValueError, match="success_bc_weight"):
        exp.add_imitation(obs, np.zeros(3), 0.0, obs, False)
    exp = Experience(10, {"position": (3,)}, 3, seed=0, keep_successes=True)
    exp.add_imitation(obs, np.full(3, 0.5), 0.0, obs, False)
    assert len(exp.successes) == 1 and len(exp) == 0
