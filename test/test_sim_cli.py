"""``sacgmm eval`` / ``sacgmm calibrate`` command-line error handling (no episodes are run)."""
import pytest

pytest.importorskip("pybullet")

from sacgmm.cli.main import main  # noqa: E402


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
