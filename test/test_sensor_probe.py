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
