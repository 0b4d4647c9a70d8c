"""The reproduce grids: specs, resumable parallel runs, reports."""
import json

import pytest

from sacgmm.experiments.grid import (RunSpec, budget_with_overrides, is_finished,
                                     learning_curves, run_grid, table_specs, write_report)


def test_table_specs():
    t1 = table_specs("table1", 5)
    assert len(t1) == 5 * 2 * 8
    assert {s.agent for s in t1} == {"gmm", "sac", "res-gmm", "sac-gmm"}
    assert {s.condition for s in t1 if s.agent == "sac-gmm"} == {
        "sac-gmm", "sac-gmm+attractor-shift", "sac-gmm+paper-layout",
        "sac-gmm+paper-layout-stable"}
    assert {s.condition for s in t1 if s.agent == "sac"} == {"sac", "sac+rlpd"}
    t2 = table_specs("table2", 1)
    assert {s.condition for s in t2} == {"gmm", "gmm+noise", "sac-gmm", "sac-gmm-sensor",
                                         "sac-gmm+noise", "sac-gmm+noise-sensor"}
    assert {s.condition for s in table_specs("table3", 1)} == {"sac+dense", "sac-gmm"}
    with pytest.raises(ValueError, match="unknown table"):
        table_specs("table9", 1)
    door = table_specs("door", 3)
    assert {(s.task, s.condition) for s in door} == {
        ("door", "gmm+noise"), ("door", "sac-gmm+noise"), ("door", "sac-gmm+noise+attractor-shift")}
    plain = next(s for s in door if s.condition == "sac-gmm+noise+attractor-shift")
    assert plain.train_args(150)[:4] == ["train", "--task", "door", "--config"]
    assert plain.train_args(150)[4] == "attractor-shift" and "--noise" in plain.train_args(150)
    assert RunSpec("peg", "sac", 0).train_args(5)[3:5] == ["--config", "sac"]
    assert all(s.sensor for s in door) and sorted(s.seed for s in door if s.agent == "gmm") == [0, 1, 2]
    cheap = table_specs("table1", 5, tasks=["peg"], baseline_seeds=2)
    assert {s.task for s in cheap} == {"peg"}
    assert sorted(s.seed for s in cheap if s.condition == "sac") == [0, 1]
    assert sorted(s.seed for s in cheap if s.condition == "sac+rlpd") == [0, 1]
    assert sorted(s.seed for s in cheap if s.condition == "sac-gmm") == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="unknown task"):
        table_specs("table1", 1, tasks=["peg", "door"])
    budget = budget_with_overrides(100, ["lever:sac-gmm=300"])
    assert budget(RunSpec("lever", "sac-gmm", 0)) == 300
    assert budget(RunSpec("lever", "sac", 0)) == budget(RunSpec("peg", "sac-gmm", 0)) == 100
    dense = budget_with_overrides(100, ["peg:sac+dense=200", "peg:sac=150"])
    assert dense(RunSpec("peg", "sac", 0, dense=True)) == 200
    assert dense(RunSpec("peg", "sac", 0)) == 150 and dense(RunSpec("lever", "sac", 0)) == 100
    for bad in ("lever=300", "lever:sac-gmm=x", "lever:sac-gmm=0"):
        with pytest.raises(ValueError, match="override"):
            budget_with_overrides(100, [bad])
    spec = RunSpec("peg", "sac-gmm", 3, noise=True, sensor=False)
    assert spec.run_dir(__import__("pathlib").Path("r")).as_posix() == "r/peg/sac-gmm+noise-sensor/seed3"
    assert spec.train_args(50) == ["train", "--task", "peg", "--config", "sac-gmm", "--seed", "3",
                                   "--episodes", "50", "--noise", "--no-sensor"]


def _fake_run(root, spec, success, episodes=10, failures=None):
    d = spec.run_dir(root)
    d.mkdir(parents=True)
    final = {"episodes": 10, "failures": failures or {}} if failures is not None else {}
    (d / "summary.json").write_text(json.dumps({
        "final_success_rate": success, "config": {"episodes": episodes}, "final": final,
        "training": {"episodes": episodes, "agent_decisions": 90, "control_steps": 2800,
                     "gradient_updates": 700, "wall_time_s": 60.0}}))
    (d / "evals.csv").write_text("episode,success_rate\n0,0.1\n10,%s\n" % success)


def test_report_and_curves_from_run_directories(tmp_path):
    specs = table_specs("table1", 2)
    for s in specs:
        _fake_run(tmp_path / "runs", s, {"gmm": 0.2, "sac": 0.0, "res-gmm": 0.3, "sac-gmm": 0.8}[s.agent]
                  + 0.1 * s.seed)
    assert all(is_finished(s, tmp_path / "runs", 10) for s in specs)
    assert not is_finished(specs[0], tmp_path / "runs", 20) or specs[0].agent == "gmm"
    md = write_report("table1", specs, tmp_path / "runs", tmp_path, "sacgmm reproduce table1").read_text()
    assert "| sac-gmm | 85 +- 7 % (2 seeds) | 85 +- 7 % (2 seeds) |" in md
    assert "| sac-gmm | peg | 2 |" in md
    # statistics from code: bootstrap interval of the mean, a rank test against sac-gmm
    assert "| sac-gmm | peg | 2 | 85 | 80-90 | 80, 90 | - |" in md
    assert "| gmm | peg | 2 | 25 | 20-30 | 20, 30 | 0.333 |" in md
    assert (tmp_path / "table1.csv").read_text().count("\n") == len(specs) + 1
    curves = learning_curves(tmp_path / "runs", "peg", ["sac-gmm"])
    ep, mean, std = curves["sac-gmm"]
    assert list(ep) == [0, 10] and abs(mean[1] - 0.85) < 1e-9
    unfinished = tmp_path / "runs" / "peg" / "sac-gmm" / "seed7"     # still training
    unfinished.mkdir()
    (unfinished / "evals.csv").write_text("episode,success_rate\n0,0.0\n")
    ep, mean, _ = learning_curves(tmp_path / "runs", "peg", ["sac-gmm"])["sac-gmm"]
    assert list(ep) == [0, 10] and abs(mean[1] - 0.85) < 1e-9


def test_report_counts_how_failed_final_episodes_failed(tmp_path):
    specs = [RunSpec("peg", "sac-gmm", seed, noise=True) for seed in (0, 1)]
    _fake_run(tmp_path / "runs", specs[0], 0.7, failures={"slipped": 2, "searching": 1})
    _fake_run(tmp_path / "runs", specs[1], 0.6, failures={"searching": 4})
    md = write_report("t", specs, tmp_path / "runs", tmp_path, "cmd").read_text()
    assert "| sac-gmm+noise | peg | 7 / 20 | searching 5, slipped 2 |" in md
    assert "slipped=2;searching=1" in (tmp_path / "t.csv").read_text()


def test_door_report_names_the_agent_configurations(tmp_path):
    specs = table_specs("door", 2)
    for s in specs:
        _fake_run(tmp_path / "runs", s, 0.5 if s.agent == "sac-gmm" else 0.1)
    md = write_report("door", specs, tmp_path / "runs", tmp_path, "sacgmm reproduce door").read_text()
    assert "| sac-gmm+noise | 50 +- 0 % (2 seeds) |" in md
    assert "- sac-gmm+noise+attractor-shift: `attractor-shift`" in md
    assert (tmp_path / "runs" / "door" / "sac-gmm+noise+attractor-shift" / "seed1").is_dir()


def test_every_grid_configuration_is_a_packaged_agent_configuration():
    from sacgmm.rl.config import TrainConfig, agent_config_names
    specs = [s for t in ("table1", "table2", "table3", "door") for s in table_specs(t, 1)]
    for spec in specs:
        name = spec.config or spec.agent
        assert name in agent_config_names()
        assert TrainConfig.named(name, task=spec.task).agent == spec.agent


def test_grid_runs_a_real_run_once(tmp_path, monkeypatch):
    from sacgmm.sim.expert import record_demos
    from sacgmm.skill import fit_skill, load_demos
    record_demos("peg", 3, 0, tmp_path / "demos")
    demos = load_demos(tmp_path / "demos")
    fit_skill(demos.positions, demos.dt, 3).save(tmp_path / "skill.yaml")
    spec = RunSpec("peg", "gmm", 0)
    extra = ["--final-episodes", "2", "--skill", str(tmp_path / "skill.yaml")]
    status = run_grid([spec], tmp_path / "runs", 1, 1, log=lambda m: None, extra_args=extra)
    assert status == {"finished": 0, "ran": 1, "failed": 0, "busy": 0}
    summary = json.loads((spec.run_dir(tmp_path / "runs") / "summary.json").read_text())
    assert summary["final"]["episodes"] == 2
    again = run_grid([spec], tmp_path / "runs", 1, 1, log=lambda m: None, extra_args=extra)
    assert again == {"finished": 1, "ran": 0, "failed": 0, "busy": 0}


def test_a_run_another_process_trains_is_skipped_not_trained_twice(tmp_path):
    import fcntl
    spec = RunSpec("peg", "gmm", 0)
    out = spec.run_dir(tmp_path / "runs")
    out.mkdir(parents=True)
    logs = []
    with open(out / ".lock", "a") as held:        # as a second grid's worker would hold it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        status = run_grid([spec], tmp_path / "runs", 1, 1, log=logs.append)
    assert status == {"finished": 0, "ran": 0, "failed": 0, "busy": 1}
    assert "another process is training it" in logs[-1]
    assert not (out / "train.log").exists()           # nothing was started


def test_a_run_finished_meanwhile_by_another_grid_is_not_redone(tmp_path, monkeypatch):
    from sacgmm.experiments import grid
    spec = RunSpec("peg", "gmm", 0)
    out = spec.run_dir(tmp_path / "runs")
    # the grid listed the run as unfinished; by the time its task holds the lock it is done
    monkeypatch.setattr(grid, "is_finished", lambda *a: True)
    monkeypatch.setattr(grid.subprocess, "run", lambda *a, **k: pytest.fail("trained again"))
    assert grid.run_one(spec, tmp_path / "runs", 1) == grid.DONE and out.is_dir()


def test_reproduce_door_plots_the_runs_of_its_own_sac_gmm_condition(tmp_path, monkeypatch):
    import sacgmm.experiments.grid as grid
    from sacgmm.cli.main import main
    for s in table_specs("door", 2):
        _fake_run(tmp_path / "runs", s, 0.4 if s.agent == "sac-gmm" else 0.1)
    _fake_run(tmp_path / "runs", RunSpec("door", "sac-gmm", 0, noise=True,     # older runs
                                         config="door-attractor-shift"), 0.9)
    plotted = {}
    monkeypatch.setattr(grid, "plot_curves",
                        lambda curves, path, title, flat=None: plotted.update(curves) or None)
    assert main(["reproduce", "door", "--door-seeds", "2", "--report-only", "--runs",
                 str(tmp_path / "runs"), "--results", str(tmp_path)]) == 0
    assert set(plotted) == {"sac-gmm+noise", "sac-gmm+noise+attractor-shift"}
    assert ("| sac-gmm+noise+attractor-shift | 40 +- 0 % (2 seeds) |"
            in (tmp_path / "door.md").read_text())


def test_default_budgets_and_the_makespan_of_independent_runs():
    from sacgmm.experiments.grid import BUDGETS, default_budget, makespan
    assert default_budget(RunSpec("peg", "sac-gmm", 0)) == BUDGETS["default"] == 150
    assert default_budget(RunSpec("door", "sac-gmm", 0, noise=True)) == 100
    assert default_budget(RunSpec("lever", "sac", 0, dense=True)) == 200
    budget = budget_with_overrides(None, ["peg:sac-gmm=300"])
    assert budget(RunSpec("peg", "sac-gmm", 0)) == 300 and budget(RunSpec("door", "gmm", 0)) == 100
    assert makespan([3, 3, 2, 2, 2], 2) == 7          # LPT: 3+2+2 | 3+2 (optimum 6 = 3+3 | 2+2+2)
    assert makespan([5, 1, 1], 2) == 5 and makespan([5, 1, 1], 1) == 7
    assert makespan([], 4) == 0
    with pytest.raises(ValueError, match="workers"):
        makespan([1], 0)


def test_reproduce_all_reports_every_table_and_the_grid_compute(tmp_path, monkeypatch):
    import sacgmm.experiments.grid as grid
    from sacgmm.cli.main import main
    from sacgmm.experiments.grid import all_specs, unique_runs
    groups = all_specs(1, door_seeds=2)
    assert set(groups) == {"table1", "table2", "table3", "door"}
    runs = unique_runs(s for g in groups.values() for s in g)
    # SAC-GMM without noise is one run of Tables I, II and III
    shared = RunSpec("peg", "sac-gmm", 0)
    assert all(shared in g for k, g in groups.items() if k != "door")
    assert runs.count(shared) == 1
    assert len([s for s in runs if s.task == "door" and s.agent == "gmm"]) == 2
    for spec in runs:
        _fake_run(tmp_path / "runs", spec, 0.5)
    monkeypatch.setattr(grid, "plot_curves", lambda *a, **k: None)
    assert main(["reproduce", "all", "--seeds", "1", "--door-seeds", "2", "--report-only",
                 "--runs", str(tmp_path / "runs"), "--results", str(tmp_path)]) == 0
    for table in ("table1", "table2", "table3", "door"):
        assert (tmp_path / f"{table}.md").is_file()
    data = json.loads((tmp_path / "reproduce_all.json").read_text())
    assert data["runs"] == data["finished_runs"] == len(runs)
    assert data["run_wall_time_s"]["total"] == 60.0 * len(runs)
    assert data["makespan_s"]["2"] == 60.0 * ((len(runs) + 1) // 2)
    assert "| 2 |" in (tmp_path / "reproduce_all.md").read_text()


def test_committed_run_root_keeps_what_reports_and_resumes_need():
    """results/runs/.gitignore: a clone has each finished run's summary.json (so the grid does
    not redo it) and evals.csv (its learning curve), not checkpoints or logs."""
    import shutil
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    if shutil.which("git") is None or not (repo / ".git").exists():
        pytest.skip("needs the git checkout")
    run = "results/runs/peg/sac-gmm+noise/seed3/"
    names = ["summary.json", "evals.csv", "checkpoint.pt", "train.log", "tb/events.out",
             "episodes.csv", ".lock"]
    out = subprocess.run(["git", "check-ignore", "--no-index", *(run + n for n in names)],
                         cwd=repo, capture_output=True, text=True)
    ignored = {line.removeprefix(run) for line in out.stdout.split()}
    assert ignored == {"checkpoint.pt", "train.log", "tb/events.out", "episodes.csv", ".lock"}


def test_reproduce_table2_plots_both_tasks_with_and_without_the_sensor(tmp_path, monkeypatch):
    import sacgmm.experiments.grid as grid
    from sacgmm.cli.main import main
    for s in table_specs("table2", 2):
        _fake_run(tmp_path / "runs", s, {"gmm": 0.1, "sac-gmm": 0.6}[s.agent])
    plotted = {}
    monkeypatch.setattr(grid, "plot_curves", lambda curves, path, title, flat=None:
                        plotted.update({path.name: (set(curves), flat)}) or None)
    assert main(["reproduce", "table2", "--seeds", "2", "--report-only", "--runs",
                 str(tmp_path / "runs"), "--results", str(tmp_path)]) == 0
    assert set(plotted) == {"fig5b.png", "fig5b_lever.png"}
    curves, flat = plotted["fig5b_lever.png"]
    assert curves == {"SAC-GMM, noise, with depth", "SAC-GMM, noise, without depth",
                      "SAC-GMM, no noise, with depth", "SAC-GMM, no noise, without depth"}
    assert flat == {"gmm": pytest.approx(0.1), "gmm+noise": pytest.approx(0.1)}
    assert "SAC-GMM, noise, with tactile" in plotted["fig5b.png"][0]


def test_the_image_encoders_settings_do_not_make_a_run_without_the_sensor_stale():
    from sacgmm.experiments.grid import changed_settings
    from sacgmm.rl.config import TrainConfig
    for sensor in (False, True):
        spec = RunSpec("peg", "sac-gmm", 1, sensor=sensor)
        cfg = TrainConfig.named("sac-gmm", task="peg", seed=1, sensor=sensor,
                                episodes=10).to_dict()
        cfg["demo_seed"] = 1
        cfg["sac"]["latent_dim"] = cfg["sac"]["latent_dim"] + 4
        cfg["sac"]["lr_autoencoder"] = 1e-3
        assert changed_settings(spec, {"config": cfg}, 10) == ([] if not sensor else ["sac"])
        cfg["sac"]["lr_actor"] = 1e-3            # a setting every run uses
        assert changed_settings(spec, {"config": cfg}, 10) == ["sac"]


def test_a_run_made_with_other_settings_is_neither_counted_nor_overwritten(tmp_path):
    """After a change to an agent configuration file a finished run no longer counts, and the
    grid refuses to start, naming the run and the settings, instead of mixing it in."""
    from sacgmm.experiments.grid import run_grid
    from sacgmm.rl.config import TrainConfig
    spec = RunSpec("lever", "sac-gmm", 2)
    cfg = TrainConfig.named("sac-gmm", task="lever", seed=2, episodes=10).to_dict()
    cfg["demo_seed"] = 2                      # as a run saves it: its own demonstrations
    _fake_run(tmp_path / "runs", spec, 0.5)
    path = spec.run_dir(tmp_path / "runs") / "summary.json"
    summary = json.loads(path.read_text())
    path.write_text(json.dumps(dict(summary, config=cfg)))
    assert is_finished(spec, tmp_path / "runs", 10)
    cfg["warmup_std"] = cfg["warmup_std"] * 2
    cfg["sac"]["actor_max_std"] = 0.3
    path.write_text(json.dumps(dict(summary, config=cfg)))
    assert not is_finished(spec, tmp_path / "runs", 10)
    with pytest.raises(ValueError, match=r"lever/sac-gmm/seed2 \(sac, warmup_std\)"):
        run_grid([spec], tmp_path / "runs", 10, 1, log=lambda m: None)
    assert json.loads(path.read_text())["config"]["warmup_std"] == cfg["warmup_std"]
