"""Simulated tasks: gymnasium API, determinism, bad input, expert, sensors, ArUco."""
import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from sacgmm.sim import ENV_IDS, env_id, make_env
from sacgmm.sim.door import handle_local
from sacgmm.sim.expert import run_expert_episode

TASKS = ["peg", "lever", "door"]


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("sensor", [False, True])
def test_check_env(task, sensor):
    env = gym.make(ENV_IDS[task], sensor=sensor, disable_env_checker=True)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("task", TASKS)
def test_reset_is_deterministic_per_seed(task):
    env = make_env(task, noise=True)
    runs = []
    for _ in range(2):
        obs, info = env.reset(seed=123)
        traj = [obs["position"].copy()]
        for k in range(15):
            obs, *_ = env.step(np.array([0.05, -0.03, -0.04]))
            traj.append(obs["position"].copy())
        runs.append((np.array(traj), info["target"].copy(), info["perceived_target"].copy()))
    obs3, info3 = env.reset(seed=124)
    env.close()
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    np.testing.assert_array_equal(runs[0][2], runs[1][2])
    assert not np.allclose(info3["target"], runs[0][1])


@pytest.mark.parametrize("bad", [np.array([np.nan, 0, 0]), np.array([0, np.inf, 0]),
                                 np.zeros(2), np.zeros((1, 3)), "fast"])
def test_bad_actions_raise(bad):
    env = make_env("peg")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(bad)
    env.close()


def test_unknown_task_lists_valid_names():
    with pytest.raises(ValueError, match="peg, lever, door"):
        env_id("drawer")


@pytest.mark.parametrize("task,seeds", [("peg", range(3)), ("lever", range(3)), ("door", range(2))])
def test_expert_succeeds(task, seeds):
    env = make_env(task)
    results = [run_expert_episode(env, s)[1]["success"] for s in seeds]
    env.close()
    assert sum(results) >= len(results) - 1


def test_action_is_clipped_and_safety_box_ends_episode():
    env = make_env("lever")
    env.reset(seed=0)
    reason = None
    for _ in range(300):
        _, _, term, trunc, info = env.step(np.array([0.0, 0.0, 5.0]))  # clipped to max_speed
        if term or trunc:
            reason = info["end_reason"]
            break
    env.close()
    assert reason == "safety_box"


def test_door_aruco_fires_when_open_not_when_shut():
    env = make_env("door")
    e = env.unwrapped
    env.reset(seed=0)
    e.force_open(0.0)
    assert not e.marker_visible()
    e.force_open(math.radians(15))
    assert not e.marker_visible()
    e.force_open(math.radians(50))
    assert e.marker_visible()
    env.close()


def test_door_opening_rotation_turns_about_minus_z():
    from sacgmm.sim.door import rot_open
    assert np.allclose(rot_open(np.pi / 2, [1.0, 0.0, 0.3]), [0.0, -1.0, 0.3])
    assert np.allclose(rot_open(-0.4, rot_open(0.4, [0.2, -0.5, 0.1])), [0.2, -0.5, 0.1])


def test_door_spring_closes_the_door():
    env = make_env("door")
    e = env.unwrapped
    env.reset(seed=0, options={"start": [0.2, -0.1, 0.15]})   # above the panel
    e.force_open(0.6)
    for _ in range(60):
        env.step(np.zeros(3))
    assert e.door_angle() < 0.05
    env.close()


def test_door_reaching_through_the_panel_fails_even_when_the_marker_shows():
    env = make_env("door")
    e = env.unwrapped
    env.reset(seed=0)
    bar = e._hinge + handle_local(e.g) - e.target       # shut door's bar, target frame (m)
    # on the bar, and just in front of the panel: allowed
    for start in (bar, bar + np.array([0.03, 0.0, 0.0])):
        env.reset(seed=0, options={"start": start.tolist()})
        _, _, term, _, info = env.step(np.zeros(3))
        assert info["end_reason"] is None and not term
    # 8 cm further in +x: the TCP is behind the panel's front face (the fingers pass through)
    env.reset(seed=0, options={"start": (bar + np.array([0.08, 0.0, -0.05])).tolist()})
    e.force_open(math.radians(60))                      # the marker is visible ...
    e._detected = True
    _, reward, term, trunc, info = env.step(np.zeros(3))
    env.close()
    assert info["end_reason"] == "through_door" and term and not trunc   # ... yet no success
    assert reward == 0.0 and not info["success"]


def test_tactile_differs_between_contact_and_free():
    env = make_env("peg", sensor=True)
    e = env.unwrapped
    # start away from the hole, peg tip about 2 cm above the board surface
    obs, info = env.reset(seed=0, options={"start": [0.08, 0.08, 0.05]})
    free = obs["tactile"].astype(float)
    for _ in range(20):  # press down onto the board next to the hole
        obs, _, term, trunc, info = env.step(np.array([0.0, 0.0, -0.1]))
        assert not (term or trunc), info["end_reason"]
    pressed = obs["tactile"].astype(float)
    env.close()
    assert info["peg_depth"] < 0.003  # still on the surface (< 3 mm solver penetration)
    assert obs["tactile"].shape == (2, 64, 64)
    assert np.abs(pressed - free).mean() > 1.0


@pytest.mark.parametrize("start", [[0.08, 0.08, 0.05], [0.0, 0.07, 0.05], [-0.08, 0.0, 0.05]])
def test_peg_pressed_away_from_hole_stays_on_board(start):
    """Regression: boxes beyond PyBullet's 16-shape compound limit were silently dropped and
    the peg went through the board away from the hole."""
    env = make_env("peg")
    obs, info = env.reset(seed=0, options={"start": start})
    for _ in range(45):  # push down well past the board surface (TCP 4 cm below the origin)
        obs, _, term, trunc, info = env.step(np.array([0.0, 0.0, -0.1]))
        assert not (term or trunc), info["end_reason"]
    env.close()
    assert info["true_position"][2] < -0.02  # the arm did try to go down
    # peg tip on the surface (a little tilt or solver penetration: < 3 mm)
    assert info["peg_depth"] < 0.003
    assert np.hypot(*(info["peg_tip"][:2] - info["target"][:2])) > 0.05


def _peg_episode(env, start, velocity, until_z=None):
    """Run a peg episode from ``start`` at a constant ``velocity`` (m/s), holding still once
    the TCP is below ``until_z`` (target frame, m); return the last info."""
    env.reset(seed=0, options={"start": start})
    while True:
        v = np.asarray(velocity, dtype=float)
        if until_z is not None and env.unwrapped._cmd[2] - env.unwrapped.target[2] <= until_z:
            v = np.zeros(3)
        _, _, term, trunc, info = env.step(v)
        if term or trunc:
            return info


def test_peg_failed_episodes_say_how_they_failed():
    env = make_env("peg")
    far = _peg_episode(env, [0.1, 0.1, 0.1], [0.0, 0.0, 0.0])
    # down beside the hole until the tip is 1 mm above the surface (TCP 3 cm above origin)
    touch = _peg_episode(env, [0.04, 0.0, 0.05], [0.0, 0.0, -0.05], until_z=0.031)
    press = _peg_episode(env, [0.04, 0.0, 0.05], [0.0, 0.0, -0.005])   # slow, long press
    inserted = _peg_episode(env, [0.0, 0.0, 0.05], [0.0, 0.0, -0.05])
    env.close()
    assert far["failure"] == "never_reached" and far["end_reason"] == "time_limit"
    assert touch["failure"] == "searching" and touch["peg_slip"] < 0.01
    assert press["failure"] == "slipped" and press["peg_slip"] >= 0.01
    assert inserted["success"] and inserted["failure"] is None


def test_grasping_tasks_say_whether_the_handle_was_ever_held():
    env = make_env("lever")
    e = env.unwrapped
    env.reset(seed=0, options={"start": [0.1, 0.1, 0.15]})
    _, _, _, _, info = env.step(np.zeros(3))
    assert info["failure"] is None                      # still running
    assert e._failure() == "never_reached"
    knob = e.grasp.point_world() - e.target
    env.reset(seed=0, options={"start": knob.tolist()})   # on the knob: grasped at once
    env.step(np.zeros(3))
    assert e.grasp.held and e._failure() == "stalled"
    e.grasp.release()
    assert e._failure() == "released_early"
    env.reset(seed=0, options={"start": [0.1, 0.1, 0.15]})   # a new episode forgets
    assert e._failure() == "never_reached"
    env.close()


def test_sensor_images_shapes():
    for task, key, shape in [("lever", "depth", (64, 64)), ("door", "rgb", (64, 64, 3))]:
        env = make_env(task, sensor=True)
        obs, _ = env.reset(seed=0)
        assert obs[key].shape == shape
        assert obs[key].std() > 0
        env.close()


def test_door_bar_handle_is_grasped_off_centre_and_pulls_the_door():
    env = make_env("door")
    e = env.unwrapped
    env.reset(seed=3)
    bar_centre = e._hinge + handle_local(e.g) - e.target  # shut door, target frame (m)
    start = bar_centre + np.array([0.0, 0.03, 0.01])      # 3 cm along the bar, 1 cm above
    obs, info = env.reset(seed=3, options={"start": start.tolist()})
    obs, _, _, _, info = env.step(np.zeros(3))
    assert info["grasped"]
    # held 3 cm from the bar's centre, towards the hinge (to within the capture's reach)
    assert 0.015 < info["grasp_offset"] <= 0.035
    for _ in range(30):  # pull towards the robot: the door follows the grasp
        obs, _, term, trunc, info = env.step(np.array([-0.08, 0.0, 0.0]))
        if term or trunc:
            break
    assert info["door_angle"] > 0.1
    env.reset(seed=3)                                     # a far start: nothing is held
    assert e.grasp.offset is None and env.step(np.zeros(3))[4]["grasp_offset"] is None
    env.close()


@pytest.mark.parametrize("task", ["peg", "lever", "door"])
def test_task_layout_comes_from_the_definition_without_a_simulator(task, monkeypatch):
    """The refiner learns the observation layout and timing of a task without PyBullet (on the
    real robot there is none): the same spaces and timing as the running task's."""
    import sacgmm.sim.base as base
    from sacgmm.sim import make_env, task_layout
    envs = {s: make_env(task, sensor=s) for s in (True, False)}
    try:
        def refuse(*_a, **_k):
            raise AssertionError("task_layout started a simulator")
        with monkeypatch.context() as m:
            m.setattr(base, "connect_direct", refuse)
            layouts = {s: task_layout(task, s) for s in (True, False)}
        for s, env in envs.items():
            assert layouts[s].observation_space == env.observation_space
            assert layouts[s].dt == env.unwrapped.dt
            assert layouts[s].max_speed == env.unwrapped.max_speed
        assert len(layouts[True].observation_space.spaces) == 2
    finally:
        for env in envs.values():
            env.close()
    with pytest.raises(ValueError, match="unknown task"):
        task_layout("drawer")


def test_demonstration_sets_of_different_seeds_share_no_episode(monkeypatch, tmp_path):
    from sacgmm.sim import expert
    used: dict[int, list[int]] = {}
    current = []

    def fake_episode(env, seed):
        current.append(seed)
        return np.zeros((3, 3)), {"success": seed % 3 != 0}    # every third attempt fails
    monkeypatch.setattr(expert, "run_expert_episode", fake_episode)
    import sacgmm.skill.demos as demos_mod
    monkeypatch.setattr(demos_mod, "save_demos", lambda *a, **k: [])
    for s in (0, 1, 2):
        current.clear()
        expert.record_demos("peg", 5, s, tmp_path / f"s{s}")
        used[s] = list(current)
    assert used[0][:3] == [0, 1, 2] and used[1][:3] == [1000, 1001, 1002]
    assert not set(used[0]) & set(used[1]) and not set(used[1]) & set(used[2])
    with pytest.raises(ValueError, match="attempt"):
        expert.demo_episode_seed(1, 1000)
