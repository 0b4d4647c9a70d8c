"""``sacgmm eval --agent sac-gmm --checkpoint``: loads a SAC-GMM checkpoint and evaluates it."""
import json

import numpy as np

from sacgmm.cli.main import main
from sacgmm.rl.train_task import TaskRun, TrainConfig
from sacgmm.skill.model import GMMSkill, _joint_from_linear


def _skill(path):
    """A SEDS-stable 3-D skill (x_dot = -g_k x), saved to ``path``."""
    mu = np.array([[0.0, 0.0, 0.02], [0.03, 0.0, 0.1], [-0.03, 0.02, 0.18]])
    means, covs = _joint_from_linear(mu, np.stack([np.eye(3) * 0.002] * 3),
                                     np.stack([-3.0 * k * np.eye(3) for k in (1, 2, 3)]),
                                     np.stack([np.eye(3) * 1e-4] * 3))
    GMMSkill(np.ones(3) / 3, means, covs).save(path)
    return str(path)


def test_eval_sac_gmm_checkpoint_matches_the_trainers_evaluation(tmp_path, capsys):
    skill = _skill(tmp_path / "skill.yaml")
    cfg = TrainConfig.named("sac-gmm", task="peg", seed=3, episodes=2, eval_every=2,
                      eval_episodes=1, final_episodes=0, learning_starts=3, updates_per_step=1.0,
                      batch_size=8, buffer_size=200, skill=skill,
                      sac={"hidden": [32, 32], "latent_dim": 8, "encoder_channels": 8})
    run = TaskRun(cfg, tmp_path / "run")
    run.train(progress=False)
    expected = run.evaluate(3, 77)
    ckpt = tmp_path / "run" / "checkpoint.pt"
    assert main(["eval", "--agent", "sac-gmm", "--checkpoint", str(ckpt), "--episodes", "3",
                 "--seed", "77", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["agent"] == "sac-gmm" and res["task"] == "peg" and res["episodes"] == 3
    assert res["successes"] == expected["successes"]
    assert res["mean_length"] == expected["mean_control_steps"]
    lo, hi = res["ci95"]
    assert 0.0 <= lo <= res["success_rate"] + 1e-9 and res["success_rate"] <= hi <= 1.0
    # text output names the Wilson interval
    assert main(["eval", "--agent", "sac-gmm", "--checkpoint", str(ckpt), "--episodes", "1"]) == 0
    assert "Wilson" in capsys.readouterr().out
    # a checkpoint saved with removed options: evaluated at their off values, refused otherwise
    import torch
    payload = torch.load(ckpt, map_location="cpu", weights_only=True)
    payload["extra"]["config"].update(lookahead=False, exploration="step")
    torch.save(payload, ckpt)
    assert main(["eval", "--agent", "sac-gmm", "--checkpoint", str(ckpt), "--episodes", "3",
                 "--seed", "77", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["successes"] == expected["successes"]
    payload["extra"]["config"]["lookahead"] = True
    torch.save(payload, ckpt)
    assert main(["eval", "--agent", "sac-gmm", "--checkpoint", str(ckpt), "--episodes", "1"]) != 0
    assert "lookahead=True: this option was removed" in capsys.readouterr().err


def test_eval_sac_gmm_errors(tmp_path, capsys):
    assert main(["eval", "--agent", "sac-gmm", "--episodes", "1"]) != 0
    assert "--checkpoint" in capsys.readouterr().err
    assert main(["eval", "--agent", "sac-gmm", "--checkpoint", str(tmp_path / "none.pt")]) != 0
    assert "does not exist" in capsys.readouterr().err
