"""``sacgmm eval`` / ``sacgmm calibrate`` command-line error handling (no episodes are run)."""
import pytest

from sacgmm.cli.main import main


def _eval(skill, capsys):
    rc = main(["eval", "--task", "peg", "--agent", "gmm", "--skill", str(skill),
               "--episodes", "1", "--seed", "0"])
    return rc, capsys.readouterr().err


def test_eval_missing_skill_file_names_it(tmp_path, capsys):
    missing = tmp_path / "no_such_skill.yaml"
    rc, err = _eval(missing, capsys)
    assert rc == 2
    assert str(missing) in err and "no such skill file" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("content,problem", [
    ("format: sacgmm-skill\nversion: [1, 2\n", "not a valid skill YAML"),  # truncated YAML
    ("just: a mapping\n", "format"),                                        # not a skill
    ("", ""),                                                               # empty file
])
def test_eval_corrupt_skill_file_names_it(tmp_path, capsys, content, problem):
    bad = tmp_path / "corrupt_skill.yaml"
    bad.write_text(content)
    rc, err = _eval(bad, capsys)
    assert rc == 2
    assert str(bad) in err and problem in err
    assert "Traceback" not in err


def test_eval_unknown_task_lists_valid_ones(tmp_path, capsys):
    rc = main(["eval", "--task", "drawer", "--skill", str(tmp_path / "s.yaml")])
    assert rc == 2
    assert "peg, lever, door" in capsys.readouterr().err


def test_calibrate_unknown_task_lists_valid_ones(tmp_path, capsys):
    rc = main(["calibrate", "--task", "drawer", "--json-out", str(tmp_path / "c.json"),
               "--md-out", str(tmp_path / "c.md")])
    assert rc == 2
    assert "peg, lever, door" in capsys.readouterr().err


def test_failures_are_counted_by_kind_in_a_fixed_order():
    from sacgmm.sim.failures import count_failures
    assert count_failures([None, "stalled", "never_reached", "stalled", None]) == \
        {"stalled": 2, "never_reached": 1}
    assert list(count_failures(["never_reached", "safety_box"])) == ["safety_box",
                                                                     "never_reached"]
    assert count_failures([None, None]) == {}


def test_grasps_are_binned_by_where_on_the_bar_they_held():
    from sacgmm.rl.train_task import grasps_by_offset
    rows = [{"grasp_offset": -0.035, "slipped": True, "success": False},
            {"grasp_offset": -0.03, "slipped": True, "success": True},
            {"grasp_offset": 0.001, "slipped": False, "success": True},
            {"grasp_offset": None, "slipped": False, "success": False}]
    assert grasps_by_offset(rows) == {
        "< -2 cm": {"episodes": 2, "slipped": 2, "successes": 1},
        "-2..2 cm": {"episodes": 1, "slipped": 0, "successes": 1}}
    assert grasps_by_offset(rows[3:]) == {}


def test_eval_reports_how_failed_lever_episodes_went(tmp_path):
    """A skill whose attractor is 15 cm above the target: every failure is 'never_reached'."""
    import os
    import sys

    import numpy as np

    from sacgmm.cli.eval import evaluate_gmm
    sys.path.insert(0, os.path.dirname(__file__))
    from skill_helpers import make_skill
    skill = make_skill()
    shift = np.zeros((skill.n_components, 6))
    shift[:, 2] = 0.15                      # every Gaussian 15 cm up: f'(x) = f(x - 0.15 z)
    path = tmp_path / "above.yaml"
    skill.adapted(d_means=shift).save(path)
    res = evaluate_gmm("lever", str(path), 2, 0, False)
    assert res["successes"] == 0 and sum(res["end_reasons"].values()) == 2
    assert res["failures"] == {"never_reached": 2}
