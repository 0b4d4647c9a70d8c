"""``sacgmm probe-encoder``: does a latent code keep the press direction the tactile images show?"""
import json

import numpy as np
import pytest

import torch
torch.set_num_threads(1)

from sacgmm.experiments.encoder_probe import (direction_error,  # noqa: E402
                                              encoder_agent, latents, random_presses)
from sacgmm.rl.checkpoint import save_checkpoint  # noqa: E402
from sacgmm.rl.sac import SACAgent, SACConfig  # noqa: E402

SMALL = SACConfig(hidden=(16, 16), latent_dim=4, encoder_kind="patch")


def test_the_direction_error_is_small_for_features_that_carry_it_and_chance_for_noise():
    rng = np.random.default_rng(0)
    angles = rng.uniform(0, 2 * np.pi, 120)
    carried = np.stack([np.cos(angles), np.sin(angles)], 1) + rng.normal(0, 0.1, (120, 2))
    mixed = carried @ rng.normal(size=(2, 6)) + rng.normal(0, 0.05, (120, 6))  # any linear code
    noise = rng.normal(size=(120, 6))
    for features in (carried, mixed):
        out = direction_error(features, angles)
        assert out["median_angle_error_deg"] < 10 and out["r2"] > 0.9, out
    out = direction_error(noise, angles)
    assert out["median_angle_error_deg"] > 45 and out["r2"] < 0.2, out


def test_presses_in_opposite_directions_leave_different_images():
    images, angles = random_presses(4, seed=3)
    assert images.shape == (4, 2, 64, 64) and images.dtype == np.uint8
    assert np.all((0 <= angles) & (angles < 2 * np.pi))
    with pytest.raises(ValueError, match="at least 2"):
        random_presses(1)
    from sacgmm.sim import make_env
    from sacgmm.sim.probe import press
    env = make_env("peg", sensor=True, noise=False)
    try:
        a = float(angles[0])
        one = press(env, a, 0.015, speed=0.06, max_steps=60).images[-1].astype(np.int16)
        other = press(env, a + np.pi, 0.015, speed=0.06, max_steps=60).images[-1]
        assert np.abs(one - other).mean() > 3.0
    finally:
        env.close()


def test_the_direction_error_names_mismatched_features():
    with pytest.raises(ValueError, match="one row per angle"):
        direction_error(np.zeros((10, 3)), np.zeros(12))
    with pytest.raises(ValueError, match="2 presses per fold"):
        direction_error(np.zeros((10, 3)), np.zeros(10), folds=6)


def test_latents_come_from_the_checkpoints_agent_and_a_blind_agent_is_named(tmp_path):
    torch.manual_seed(0)
    seeing = SACAgent({"position": (3,), "image": (2, 64, 64)}, 3, SMALL)
    blind = SACAgent({"position": (3,)}, 3, SMALL)
    save_checkpoint(tmp_path / "seeing.pt", seeing)
    save_checkpoint(tmp_path / "blind.pt", blind)
    images = np.random.default_rng(0).integers(0, 256, (5, 2, 64, 64), dtype=np.uint8)
    z = latents(encoder_agent(tmp_path / "seeing.pt"), images)
    expected = seeing.encode({"position": np.zeros((5, 3), np.float32), "image": images})
    assert z.shape == (5, 4) and np.allclose(z, expected["image"])
    with pytest.raises(ValueError, match="blind.pt: its agent sees no image"):
        encoder_agent(tmp_path / "blind.pt")
    with pytest.raises(ValueError, match="seeing.pt: its agent sees images of shape"):
        latents(encoder_agent(tmp_path / "seeing.pt"), images[:, :1],
                f"checkpoint {tmp_path / 'seeing.pt'}")


def test_cli_scores_pixels_and_latents_and_names_bad_arguments(tmp_path, capsys):
    from sacgmm.cli.main import main
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "a.pt", SACAgent({"position": (3,), "image": (2, 64, 64)}, 3,
                                                 SMALL))
    out = tmp_path / "probe.json"
    assert main(["probe-encoder", str(tmp_path / "a.pt"), "--presses", "6", "--folds", "2",
                 "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert [r["features"] for r in doc["rows"]] == ["pixels", str(tmp_path / "a.pt")]
    assert [r["dims"] for r in doc["rows"]] == [8192, 4]
    assert doc["command"].startswith("sacgmm probe-encoder ") and "machine" in doc
    assert main(["probe-encoder", str(tmp_path / "missing.pt"), "--out", str(out)]) == 2
    assert "missing.pt does not exist" in capsys.readouterr().err
    assert main(["probe-encoder", "--presses", "3", "--folds", "2", "--out", str(out)]) == 2
    assert "--presses" in capsys.readouterr().err
