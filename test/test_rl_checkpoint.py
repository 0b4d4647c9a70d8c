"""Checkpoints: round trip, bit-exact resume, and clear errors for broken files."""
import numpy as np
import pytest

import torch
torch.set_num_threads(1)   # 2-core machine: more threads only contend with other workers

from sacgmm.rl.checkpoint import (CheckpointError, load_checkpoint,  # noqa: E402
                                  restore_checkpoint, save_checkpoint)
from sacgmm.rl.replay import ReplayBuffer  # noqa: E402
from sacgmm.rl.sac import SACAgent, SACConfig  # noqa: E402
from sacgmm.rl.toy import Reach1D  # noqa: E402
from sacgmm.rl.train_gym import train_sac  # noqa: E402

SMALL = SACConfig(hidden=(32, 32), latent_dim=8, encoder_channels=16)
SHAPES = {"pos": (3,), "cam": (2, 64, 64)}


def filled(seed: int = 0):
    torch.manual_seed(seed)
    agent = SACAgent(SHAPES, 2, SMALL)
    rb = ReplayBuffer(100, SHAPES, 2, seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(60):
        o = {"pos": rng.normal(size=3), "cam": rng.integers(0, 256, (2, 64, 64), dtype=np.uint8)}
        rb.add(o, rng.uniform(-1, 1, 2), rng.normal(), o, rng.random() < 0.1)
    return agent, rb


def updates(agent, rb, n):
    return [agent.update(rb.sample(16)) for _ in range(n)]


def test_resume_gives_identical_subsequent_updates(tmp_path):
    agent, rb = filled()
    updates(agent, rb, 3)
    path = save_checkpoint(tmp_path / "ck.pt", agent, rb, extra={"step": 3})
    cont = updates(agent, rb, 4)
    cont_act = agent.act({"pos": np.ones(3), "cam": np.zeros((2, 64, 64), np.uint8)})

    torch.manual_seed(123)   # a different process state; the checkpoint must override it
    agent2 = SACAgent(SHAPES, 2, SMALL)
    rb2 = ReplayBuffer(100, SHAPES, 2, seed=7)
    assert restore_checkpoint(path, agent2, rb2) == {"step": 3}
    resumed = updates(agent2, rb2, 4)
    assert resumed == cont   # bit-exact losses
    assert np.array_equal(cont_act, agent2.act({"pos": np.ones(3),
                                                "cam": np.zeros((2, 64, 64), np.uint8)}))
    for (k, a), b in zip(agent.state_dict()["critic"].items(), agent2.state_dict()["critic"].values()):
        assert torch.equal(a, b), k


def test_agent_from_state_dict_restores_config_and_layout(tmp_path):
    agent, rb = filled()
    updates(agent, rb, 1)
    save_checkpoint(tmp_path / "ck.pt", agent)
    payload = load_checkpoint(tmp_path / "ck.pt")
    assert payload["replay"] is None
    clone = SACAgent.from_state_dict(payload["agent"])
    assert clone.config == agent.config and clone.num_updates == 1
    o = {"pos": np.zeros(3), "cam": np.zeros((2, 64, 64), np.uint8)}
    assert np.array_equal(clone.act(o, True), agent.act(o, True))
    with pytest.raises(ValueError, match="layout"):
        SACAgent({"pos": (4,)}, 2, SMALL).load_state_dict(payload["agent"])
    with pytest.raises(ValueError, match="do not fit"):
        SACAgent(SHAPES, 2, SACConfig(hidden=(16,), latent_dim=8,
                                      encoder_channels=16)).load_state_dict(payload["agent"])


def test_corrupt_truncated_or_missing_checkpoint_names_the_file(tmp_path):
    agent, rb = filled()
    path = save_checkpoint(tmp_path / "ck.pt", agent, rb)
    data = path.read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated.pt"):
        restore_checkpoint(bad, agent, rb)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt.*corrupt"):
        load_checkpoint(junk)
    with pytest.raises(CheckpointError, match="missing.pt.*does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    other = tmp_path / "other.pt"
    torch.save({"hello": 1}, other)
    with pytest.raises(CheckpointError, match="not a sacgmm"):
        load_checkpoint(other)
    # an atomic write leaves no temporary files behind
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["ck.pt", "truncated.pt", "junk.pt", "other.pt"])


def test_interrupted_training_resumes_to_the_same_final_state(tmp_path):
    kw = dict(seed=0, config=SMALL, learning_starts=60, batch_size=32, buffer_size=1000,
              eval_every=0, eval_episodes=2)
    # Reach1D episodes last 15 steps: step 150 is an episode end
    full = train_sac(Reach1D, 300, out_dir=tmp_path / "full", **kw)
    train_sac(Reach1D, 150, out_dir=tmp_path / "split", **kw)
    split = train_sac(Reach1D, 300, out_dir=tmp_path / "split", resume=True, **kw)
    assert split["updates"] == full["updates"] == 241
    assert split["final_eval"]["returns"] == full["final_eval"]["returns"]
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    for name in ["actor", "critic", "critic_target"]:
        for (k, x), y in zip(a["agent"][name].items(), b["agent"][name].values()):
            assert torch.equal(x, y), (name, k)
    assert a["extra"]["episodes_log"] == b["extra"]["episodes_log"]
