"""The privileged look-ahead oracle (sacgmm.experiments.oracle, ``sacgmm oracle``)."""
import json

import numpy as np
import pytest

from sacgmm.experiments.oracle import (approach_aim, candidate_actions, lookahead_action,
                                       pull_aim)
from sacgmm.skill.delta_theta import DeltaTheta, DeltaThetaConfig
from skill_helpers import make_skill


def test_candidates_start_with_zero_and_cover_the_attractor_grid():
    skill = make_skill()
    c = candidate_actions(DeltaTheta.for_skill(skill), levels=3)
    assert c.shape == (27, 3) and c.dtype == np.float32
    assert not c[0].any() and np.all(np.any(c[1:] != 0, axis=1))
    assert {tuple(v) for v in c} == {(a, b, d) for a in (-1, 0, 1) for b in (-1, 0, 1)
                                     for d in (-1, 0, 1)}


def test_candidates_for_other_layouts_are_seeded_samples_in_the_action_box():
    delta = DeltaTheta.for_skill(make_skill(), DeltaThetaConfig(adapt_priors=True,
                                                                adapt_attractor=False))
    a = candidate_actions(delta, samples=40, seed=1)
    assert a.shape == (41, 3) and not a[0].any() and np.all(np.abs(a) <= 1)
    np.testing.assert_array_equal(a, candidate_actions(delta, samples=40, seed=1))
    with pytest.raises(ValueError, match="levels"):
        candidate_actions(delta, levels=1)


def test_lookahead_shifts_the_flow_towards_the_goal():
    skill = make_skill()                   # converges to the origin
    delta = DeltaTheta.for_skill(skill)    # 5 cm attractor shift per unit action
    cands = candidate_actions(delta, levels=3)
    x = np.array([0.0, 0.0, 0.02])
    adapted = [delta.apply(skill, c) for c in cands]
    a = lookahead_action(adapted, cands, x, np.array([0.06, -0.06, 0.0]), 60, 1 / 30, 0.15)
    np.testing.assert_array_equal(a, [1, -1, 0])   # attractor at (5, -5, 0) cm
    # a goal the unshifted flow passes through keeps the zero action (ties go to it)
    a0 = lookahead_action(adapted, cands, x, x, 60, 1 / 30, 0.15)
    assert not a0.any()


def test_approach_aims_above_the_handle_until_over_it():
    handle = np.array([0.17, -0.13, 0.0])
    np.testing.assert_allclose(approach_aim(np.array([0.10, -0.13, 0.05]), handle, 0.03, 0.02),
                               [0.17, -0.13, 0.03])
    np.testing.assert_allclose(approach_aim(np.array([0.16, -0.12, 0.05]), handle, 0.03, 0.02),
                               handle)


def test_pull_aims_beyond_the_goal_along_the_line_to_it():
    # the goal is the target frame's origin; from 10 cm out along -y, 5 cm beyond is +y 5 cm
    np.testing.assert_allclose(pull_aim(np.array([0.0, -0.10, 0.0]), 0.05), [0.0, 0.05, 0.0])
    np.testing.assert_allclose(pull_aim(np.array([0.03, 0.0, 0.04]), 0.1), [-0.06, 0.0, -0.08])
    np.testing.assert_allclose(pull_aim(np.zeros(3), 0.05), np.zeros(3))


def test_oracle_rejects_a_bad_pull_lead_or_held_action_by_name():
    from sacgmm.experiments.oracle import run_oracle
    for bad in (-0.01, float("nan")):
        with pytest.raises(ValueError, match="pull_lead"):
            run_oracle("lever", 32, 1, 0, skill=make_skill(), pull_lead=bad)
    with pytest.raises(ValueError, match="held_action"):
        run_oracle("lever", 32, 1, 0, skill=make_skill(), held_action=[0.0, 2.0, 0.0])
    with pytest.raises(ValueError, match="held_action"):
        run_oracle("lever", 32, 1, 0, skill=make_skill(), held_action=[0.0, 0.0])
    with pytest.raises(ValueError, match="not both"):
        run_oracle("lever", 32, 1, 0, skill=make_skill(), held_action=[0.0, 0.0, 0.1],
                   pull_lead=0.05)


@pytest.mark.parametrize("task", ["peg"])
def test_oracle_refuses_a_task_without_a_handle(task):
    from sacgmm.experiments.oracle import run_oracle
    with pytest.raises(ValueError, match="handle"):
        run_oracle(task, 32, 1, 0, skill=make_skill())
    with pytest.raises(ValueError, match="aim"):
        run_oracle("lever", 32, 1, 0, skill=make_skill(), aim="camera")


def test_oracle_reaches_the_lever_knob_only_when_the_layout_can_shift_far_enough(tmp_path,
                                                                                 capsys):
    from sacgmm.cli.main import main
    out = tmp_path / "oracle.json"
    skill = make_skill()
    from sacgmm.experiments.oracle import run_oracle
    far = run_oracle("lever", 4, 2, 0, skill=skill, delta_theta={"attractor_scale": 0.3})
    none = run_oracle("lever", 4, 2, 0, skill=skill, delta_theta={"attractor_scale": 0.0})
    assert far["grasped"] == 2 and far["successes"] == 2
    # an explicit zero action while held is the default behaviour, and is recorded
    zero = run_oracle("lever", 4, 2, 0, skill=skill, delta_theta={"attractor_scale": 0.3},
                      held_action=[0.0, 0.0, 0.0])
    assert (zero["grasped"], zero["successes"]) == (2, 2)
    assert zero["held_action"] == [0.0, 0.0, 0.0] and far["pull_lead"] is None
    # without noise the perceived frame is the true one: the pose-only aim does the same
    seen = run_oracle("lever", 4, 2, 0, skill=skill, delta_theta={"attractor_scale": 0.3},
                      aim="perceived")
    assert (seen["grasped"], seen["successes"], seen["aim"]) == (2, 2, "perceived")
    assert none["grasped"] < 2
    # the command writes one row per window with the command and the machine
    skill.save(tmp_path / "skill.yaml")
    assert main(["oracle", "--task", "lever", "--windows", "4", "8", "--episodes", "1",
                 "--seed", "0", "--skill", str(tmp_path / "skill.yaml"),
                 "--set", "attractor_scale=0.3", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [r["window"] for r in report["windows"]] == [4, 8]
    assert report["windows"][0]["grasped"] == 1
    assert report["delta_theta"] == {"attractor_scale": 0.3}
    assert "--windows 4 8" in report["command"] and report["machine"]
    assert main(["oracle", "--task", "peg", "--windows", "4"]) == 2
    assert "handle" in capsys.readouterr().err


def test_oracle_and_train_reject_a_bad_setting_by_name(capsys):
    from sacgmm.cli.main import main
    assert main(["oracle", "--task", "door", "--set", "attractor_scale=[0.1"]) == 2
    assert "attractor_scale=[0.1" in capsys.readouterr().err
    assert main(["oracle", "--task", "door", "--set", "attractor_scale"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main(["train", "--task", "door", "--set", "n_step=[", "--out", "unused"]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_fit_policy_clones_a_two_region_steering_rule_and_rejects_bad_data():
    from sacgmm.experiments.distil import fit_policy
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.1, 0.1, (400, 4)).astype(np.float32)           # m
    y = np.where(x[:, 2:3] < 0, [0.8, 0.0, 0.5], [-0.5, 0.3, 0.0]).astype(np.float32)
    policy, loss = fit_policy(x, y, hidden=(64, 64), steps=800)
    assert loss < 0.05
    held_out = rng.uniform(-0.1, 0.1, (200, 4)).astype(np.float32)
    held_out = held_out[np.abs(held_out[:, 2]) > 0.02]        # away from the boundary
    want = np.where(held_out[:, 2:3] < 0, [0.8, 0.0, 0.5], [-0.5, 0.3, 0.0])
    assert np.abs(policy(held_out) - want).mean() < 0.1
    assert policy(held_out[0]).shape == (3,)
    with pytest.raises(ValueError, match="shapes"):
        fit_policy(x, y[:10])
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_policy(bad, y)


def test_oracle_records_its_decisions_and_a_policy_distilled_from_them_steers_alike(tmp_path):
    from sacgmm.cli.main import main
    from sacgmm.experiments.distil import distil_oracle
    from sacgmm.experiments.oracle import run_oracle
    skill = make_skill()
    records = []
    row = run_oracle("lever", 4, 2, 0, skill=skill, delta_theta={"attractor_scale": 0.3},
                     record=records)
    assert len(records) == 2 and [r["success"] for r in records] == [True, True]
    assert row["decisions"] == sum(len(r["actions"]) for r in records)
    assert records[0]["features"].shape == (len(records[0]["actions"]), 4)  # position, gripper
    assert np.abs(records[0]["actions"]).max() > 0
    # evaluated on the episodes it was fitted on, the distilled network repeats the oracle
    out = distil_oracle("lever", 4, records, 2, 0, False, skill, {"attractor_scale": 0.3},
                        steps=1500)
    assert out["successes"] == 2 and out["samples"] == row["decisions"]
    with pytest.raises(ValueError, match="no oracle episodes"):
        distil_oracle("lever", 4, [], 2, 0, False, skill)
    skill.save(tmp_path / "skill.yaml")
    path = tmp_path / "o.json"
    assert main(["oracle", "--task", "lever", "--windows", "4", "--episodes", "1", "--seed", "0",
                 "--skill", str(tmp_path / "skill.yaml"), "--set", "attractor_scale=0.3",
                 "--distil-eval", "1", "--eval-seed", "0", "--out", str(path)]) == 0
    report = json.loads(path.read_text())
    assert report["windows"][0]["distilled"]["eval_episodes"] == 1
    assert "--distil-eval 1 --eval-seed 0" in report["command"]
