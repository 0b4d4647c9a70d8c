"""The ``train-gym`` and ``bench-rl`` subcommands, end to end on tiny budgets."""
import json

import pytest

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
                 "--no-reference", "--out", str(path)]) == 0
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
    assert "reference" not in data and data["setups"]["measured"]["threads"] == 2


def test_bench_rl_measures_the_reference_setup_in_the_same_run(tmp_path):
    path = tmp_path / "bench.json"
    assert main(["bench-rl", "--seconds", "0.05", "--batch-size", "16", "--train-seconds", "0",
                 "--encoder-kind", "patch", "--autoencoder-batch", "8", "--threads", "1",
                 "--out", str(path)]) == 0
    data = json.loads(path.read_text())
    assert data["setups"]["reference"] == {"encoder_kind": "conv", "autoencoder_batch": None,
                                           "threads": 1}
    measured = {c["case"]: c for c in data["updates"]}
    reference = {c["case"]: c for c in data["reference"]["updates"]}
    assert measured["tactile_2x64x64"]["encoder_kind"] == "patch"
    assert measured["tactile_2x64x64"]["autoencoder_batch"] == 8
    assert reference["tactile_2x64x64"]["encoder_kind"] == "conv"
    ratio = data["speedup_over_reference"]["updates_per_s"]["depth_1x64x64"]
    expected = (measured["depth_1x64x64"]["updates_per_s"]
                / reference["depth_1x64x64"]["updates_per_s"])
    assert abs(ratio - expected) < 0.01
    # an earlier version's output, compared case by case
    after = tmp_path / "after.json"
    assert main(["bench-rl", "--seconds", "0.05", "--batch-size", "16", "--train-seconds", "0",
                 "--no-reference", "--before", str(path), "--out", str(after)]) == 0
    both = json.loads(after.read_text())
    assert both["before"]["updates_per_s"]["no_image"] == measured["no_image"]["updates_per_s"]
    now = {c["case"]: c["updates_per_s"] for c in both["updates"]}
    assert both["speedup_over_before"]["updates_per_s"]["no_image"] == pytest.approx(
        now["no_image"] / measured["no_image"]["updates_per_s"], abs=0.01)
    (tmp_path / "bad.json").write_text("{}")
    assert main(["bench-rl", "--seconds", "0.05", "--batch-size", "16", "--train-seconds", "0",
                 "--before", str(tmp_path / "bad.json"), "--out", str(after)]) == 2


def test_pipeline_refines_the_skill_and_shows_it(tmp_path, capsys):
    """The main job on a tiny budget: demonstrations -> skill -> GMM agent -> SAC-GMM
    refinement -> refined agent on the same episodes, the figure and a GIF of one episode."""
    from PIL import Image
    out = tmp_path / "pipeline"
    assert main(["pipeline", "--task", "peg", "--train-episodes", "2", "--episodes", "1",
                 "--seed", "3", "--out", str(out)]) == 0
    log = capsys.readouterr().out
    peg = out / "peg"
    before = json.loads((peg / "eval_gmm.json").read_text())
    summary = json.loads((peg / "refine" / "summary.json").read_text())
    assert before["episodes"] == summary["final"]["episodes"] == 1
    assert before["seed"] == 900_000                  # the refined agent's final episodes
    assert summary["training"]["episodes"] == 2 and summary["seed"] == 3
    assert f"GMM agent {100 * before['success_rate']:.0f}% -> SAC-GMM " \
           f"{100 * summary['final']['success_rate']:.0f}%" in log
    assert Image.open(peg / "before_after.png").format == "PNG"
    gif = Image.open(peg / "refined_episode.gif")
    assert gif.format == "GIF" and gif.n_frames > 10
    assert oct((peg / "skill.yaml").stat().st_mode & 0o777) != oct(0o600)   # umask, not 0600
    record = json.loads((peg / "pipeline.json").read_text())
    assert record["command"] == "sacgmm pipeline --episodes 1 --seed 3 --task peg " \
                                "--train-episodes 2"
    assert record["gmm_agent"]["successes"] == before["successes"]
    assert record["sac_gmm"]["success_rate"] == summary["final"]["success_rate"]
    assert record["training"]["episodes"] == 2 and record["machine"]["cpu_count"] >= 1
    assert record["final_policy"] == summary["final_policy"]
    assert f"best periodic evaluation: episode {summary['final_policy']['episode']}" in log
