"""``sacgmm probe-sensor``: scripted presses of the held peg beside the hole."""
import json

import numpy as np
import pytest

from sacgmm.sim.probe import press, side_contrast


def test_a_press_on_the_hole_goes_in_and_one_on_the_board_slides_the_peg_into_the_hand():
    rows = side_contrast([0.002, 0.03])
    assert [(r["axis"], r["offset_m"]) for r in rows] == [("x", 0.002), ("y", 0.002),
                                                         ("x", 0.03), ("y", 0.03)]
    for r in rows[:2]:                       # 2 mm off the axis: inside the 3 mm clearance
        assert r["plus"]["success"] and r["minus"]["success"]
        assert abs(r["plus"]["peg_slip"]) < 1e-3
    for r in rows[2:]:                       # 30 mm off: the peg bears on the board
        assert not r["plus"]["success"] and r["plus"]["peg_slip"] > 0.01
        assert r["press_change"] > 1.0       # the press shows in the images
        assert 0 <= r["difference_at_end"] <= r["largest_difference"] <= 255


def test_press_checks_its_arguments():
    from sacgmm.sim import make_env
    env = make_env("peg", sensor=True, noise=False)
    try:
        with pytest.raises(ValueError, match="axis"):
            press(env, "z", 0.01)
        with pytest.raises(ValueError, match="speed"):
            press(env, "x", 0.01, speed=1.0)
        out = press(env, "y", -0.02, max_steps=3)
        assert out.images.shape == (3, 2, 64, 64) and out.images.dtype == np.uint8
        # a direction in radians aims where the axis does
        along_y = press(env, "y", 0.02, max_steps=20)
        at_90 = press(env, np.pi / 2, 0.02, max_steps=20)
        assert np.array_equal(along_y.images, at_90.images)
        with pytest.raises(ValueError, match="finite angle"):
            press(env, float("nan"), 0.01)
    finally:
        env.close()


def test_cli_writes_the_presses_and_names_bad_offsets(tmp_path, capsys):
    from sacgmm.cli.main import main
    out = tmp_path / "probe.json"
    assert main(["probe-sensor", "--offsets", "0.03", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["command"].startswith("sacgmm probe-sensor --offsets 0.03")
    assert len(doc["presses"]) == 2 and "machine" in doc
    assert main(["probe-sensor", "--offsets", "0.01,x", "--out", str(out)]) == 2
    assert main(["probe-sensor", "--offsets", "-0.01", "--out", str(out)]) == 2
    assert "--offsets" in capsys.readouterr().err


def test_the_tactile_markers_tell_on_which_side_the_board_bears_off_the_holes_edge():
    """At 10 and 30 mm from the hole the indentation is the same on both sides (a held peg
    moves little in the grasp); the gel's markers, moved by the grasp's load, differ."""
    rows = side_contrast([0.01, 0.03])
    for r in rows:
        assert r["difference_at_end"] > 3.0, r


def _sensor(markers):
    from sacgmm.sim import make_env
    env = make_env("peg", sensor=True, noise=False)
    env.reset(seed=0)
    return env, env.unwrapped.tactile


def test_pad_shear_splits_the_grasps_load_between_the_pads():
    env, tactile = _sensor(True)
    try:
        k = tactile.markers["shear_stiffness"]
        (u0, t0), (u1, t1) = tactile.pad_shear(np.zeros(3), np.zeros(3))
        assert not u0.any() and not u1.any() and t0 == t1 == 0.0
        # a press along the peg's axis: both pads' dots move alike, by half the force each
        (u0, _), (u1, _) = tactile.pad_shear([0.0, 0.0, 10.0], np.zeros(3))
        np.testing.assert_allclose(u0, [0, 0, 5.0 / k])
        np.testing.assert_allclose(u1, u0)
        # a tilting torque (about y, in the pads' plane; pads normal to x): opposite moves
        (u0, _), (u1, _) = tactile.pad_shear(np.zeros(3), [0.0, 0.1, 0.0])
        assert u0[2] * u1[2] < 0 and abs(u0[2] + u1[2]) < 1e-12
        # a torque about the pads' normal: a twist, the same on both
        (_, t0), (_, t1) = tactile.pad_shear(np.zeros(3), [0.05, 0.0, 0.0])
        assert t0 == t1 == pytest.approx(0.025 / tactile.markers["twist_stiffness"])
        # the gel stops the dots
        (u0, _), _ = tactile.pad_shear([0.0, 1e4, 0.0], np.zeros(3))
        assert np.linalg.norm(u0) == pytest.approx(tactile.markers["max_shear"])
        free = tactile.images()
        loaded = tactile.images([0.0, 0.0, 20.0], [0.0, 0.2, 0.0])
        assert free.shape == loaded.shape == (2, 64, 64)
        assert np.abs(free.astype(int) - loaded.astype(int)).mean() > 3
        flipped = tactile.images([0.0, 0.0, 20.0], [0.0, -0.2, 0.0])
        assert np.abs(flipped.astype(int) - loaded.astype(int)).mean() > 3
    finally:
        env.close()


def test_bad_marker_settings_name_the_key():
    from sacgmm.sim.sensors import TactileSensor
    env, tactile = _sensor(True)
    try:
        cfg = dict(env.unwrapped.cfg["sensor"], markers=dict(tactile.markers, contrast=-1))
        with pytest.raises(ValueError, match="sensor.markers.contrast"):
            TactileSensor(tactile.p, tactile.robot, cfg)
    finally:
        env.close()
