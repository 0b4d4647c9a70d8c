"""Policy statistics read off a checkpoint: the most recent replay states, spread and mode."""
import json
import math

import numpy as np
import pytest

import torch
torch.set_num_threads(1)

from sacgmm.cli.main import main  # noqa: E402
from sacgmm.rl.checkpoint import save_checkpoint  # noqa: E402
from sacgmm.rl.policy_stats import policy_stats, recent_actions, recent_observations  # noqa: E402
from sacgmm.rl.replay import ReplayBuffer  # noqa: E402
from sacgmm.rl.sac import SACAgent, SACConfig  # noqa: E402


def _buffer(capacity: int, n: int) -> ReplayBuffer:
    rb = ReplayBuffer(capacity, {"x": (2,)}, 1)
    for i in range(n):
        rb.add({"x": np.array([i, -i])}, np.zeros(1), 0.0, {"x": np.array([i, -i])}, False)
    return rb


def test_recent_observations_are_the_newest_oldest_first_across_the_wrap():
    recent = recent_observations(_buffer(5, 7).state_dict(), 3)["x"]
    np.testing.assert_array_equal(recent[:, 0], [4, 5, 6])       # 7 added to 5 slots
    np.testing.assert_array_equal(recent_observations(_buffer(10, 4).state_dict(), 50)["x"][:, 0],
                                  [0, 1, 2, 3])                   # fewer than asked: all
    rb = _buffer(5, 7)
    rb.action[:] = np.arange(5, dtype=np.float32)[:, None]     # slot i holds action i
    np.testing.assert_array_equal(recent_actions(rb.state_dict(), 3)[:, 0], [4, 0, 1])
    with pytest.raises(ValueError, match="empty"):
        recent_observations(_buffer(5, 0).state_dict(), 3)


def test_initial_refiner_policy_has_zero_mode_and_its_initial_spread():
    torch.manual_seed(0)
    agent = SACAgent({"x": (2,)}, 2, SACConfig(hidden=(16,), actor_zero_init=True))
    stats = policy_stats(agent, {"x": np.random.default_rng(0).normal(size=(20, 2))
                                 .astype(np.float32)})
    assert stats["states"] == 20 and stats["updates"] == 0
    assert stats["std"] == pytest.approx([math.exp(-1.5)] * 2, rel=1e-3)
    assert stats["abs_mode"] == [0.0, 0.0] and stats["saturated"] == [0.0, 0.0]


def test_cli_reads_a_run_directory_and_names_a_checkpoint_without_replay(tmp_path, capsys):
    torch.manual_seed(0)
    agent = SACAgent({"x": (2,)}, 1, SACConfig(hidden=(16,)))
    (tmp_path / "run").mkdir()
    save_checkpoint(tmp_path / "run" / "checkpoint.pt", agent, _buffer(8, 6))
    assert main(["policy-stats", str(tmp_path / "run"), "--last", "4", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["states"] == 4 and len(row["std"]) == 1 and row["std"][0] > 0
    assert row["abs_action_taken"] == [0.0]          # _buffer stores zero actions
    save_checkpoint(tmp_path / "bare.pt", agent)
    assert main(["policy-stats", str(tmp_path / "bare.pt")]) == 2
    assert "bare.pt" in capsys.readouterr().err


def test_cli_splits_the_states_by_the_grippers_opening(tmp_path, capsys):
    torch.manual_seed(0)
    agent = SACAgent({"x": (2,), "gripper": (1,)}, 1, SACConfig(hidden=(16,)))
    rb = ReplayBuffer(10, {"x": (2,), "gripper": (1,)}, 1)
    for i, opening in enumerate([0.11, 0.11, 0.05, 0.11, 0.054, 0.055]):
        obs = {"x": np.array([i, 0.0]), "gripper": np.array([opening])}
        rb.add(obs, np.array([0.5 if opening < 0.08 else -0.1]), 0.0, obs, False)
    save_checkpoint(tmp_path / "c.pt", agent, rb)
    assert main(["policy-stats", str(tmp_path / "c.pt"), "--held-below", "0.08", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["open"]["states"] == 3 and row["held"]["states"] == 3
    assert row["held"]["action_taken"] == [0.5] and row["open"]["action_taken"] == [-0.1]
    assert len(row["held"]["mode"]) == 1 and -1 < row["held"]["mode"][0] < 1
    save_checkpoint(tmp_path / "nogrip.pt", agent.__class__({"x": (2,)}, 1,
                                                             SACConfig(hidden=(16,))), _buffer(8, 6))
    assert main(["policy-stats", str(tmp_path / "nogrip.pt"), "--held-below", "0.08"]) == 2
    assert "gripper" in capsys.readouterr().err
