"""The ``train-gym`` and ``bench-rl`` subcommands, end to end on tiny budgets."""
import json

from sacgmm.cli.main import main


def test_train_gym_pendulum_tiny_run_writes_summary(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train-gym", "--env", "Pendulum-v1", "--steps", "260", "--seed", "1", "--json",
               "--learning-starts", "200", "--batch-size", "32", "--hidden", "32", "32",
               "--eval-episodes", "1", "--out", str(out)])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["env"] == "Pendulum-v1" and summary["env_steps"] == 260
    assert summary["updates"] == 61 and summary["seed"] == 1
    assert summary["command"].startswith("sacgmm train-gym")
    assert summary["final_eval"]["episodes"] == 1 and len(summary["final_eval"]["returns"]) == 1
    assert summary["updates_per_s"] > 0 and summary["machine"]["torch_threads"] == 1
    assert json.loads((out / "summary.json").read_text())["updates"] == 61
    assert (out / "checkpoint.pt").is_file() and (out / "episodes.csv").is_file()


def test_train_gym_rejects_discrete_actions(capsys):
    assert main(["train-gym", "--env", "CartPole-v1", "--steps", "10"]) == 2
    assert "Box" in capsys.readouterr().err


def test_bench_rl_writes_json(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert main(["bench-rl", "--seconds", "0.05", "--batch-size", "16", "--train-seconds", "0.1",
                 "--out", str(path)]) == 0
    data = json.loads(path.read_text())
    cases = {c["case"]: c for c in data["updates"]}
    assert set(cases) == {"no_image", "depth_1x64x64", "tactile_2x64x64"}
    assert all(c["updates_per_s"] > 0 and c["updates_per_cpu_s"] > 0 and c["batch_size"] == 16
               for c in cases.values())
    train = {r["agent"]: r for r in data["env_steps_per_s"]}
    assert set(train) == {"sac-gmm", "res-gmm", "sac"}
    for r in train.values():     # at least one whole training episode per agent
        assert r["episodes"] >= 1 and r["control_steps"] >= r["agent_decisions"] >= 1
        assert r["control_steps_per_s"] > 0 and 0 < r["share_of_time_in_env"] <= 1
    # SAC-GMM decides once per 32-step window, the per-step agents every step
    assert train["sac-gmm"]["control_steps"] > 10 * train["sac-gmm"]["agent_decisions"]
    assert train["sac"]["control_steps"] == train["sac"]["agent_decisions"]
    assert data["machine"]["cpu_count"] >= 1
