"""sacgmm standin-train's parameter file and curve (the run itself is an experiment command)."""
from __future__ import annotations

import yaml

from sacgmm.cli.standin_train import SETTINGS, success_blocks, write_params


def test_parameter_file_of_a_run(tmp_path):
    path = write_params(tmp_path, seed=3, jitter=0.04, mode="train")
    assert path.name == "params_train.yaml"
    doc = yaml.safe_load(path.read_text())
    bridge = doc["iiwa_bridge"]["ros__parameters"]
    assert bridge["episode_duration"] == SETTINGS["iiwa_bridge"]["episode_duration"] == 10.0
    refiner = doc["sac_refiner"]["ros__parameters"]
    assert refiner["seed"] == 3 and refiner["save_path"] == str((tmp_path / "policy.pt").resolve())
    assert refiner["save_replay"] and refiner["save_on_exit"]
    driver = doc["iiwa_sim_driver"]["ros__parameters"]
    assert driver["door_jitter"] == [0.04, 0.04] and driver["seed"] == 3
    # everything else is the package's door graph
    assert doc["aruco_target_detector"]["ros__parameters"]["marker_id"] == 8
    assert refiner["agent_config"] == "door-via-point"
    gmm = yaml.safe_load(write_params(tmp_path, 3, 0.04, "eval", gmm_only=True).read_text())
    assert gmm["sac_refiner"]["ros__parameters"]["agent_config"] == "attractor-shift"
    assert gmm["gmm_controller"]["ros__parameters"]["window_steps"] == 32
    # evaluations never overwrite the trained policy
    ev = yaml.safe_load(write_params(tmp_path, 3, 0.04, "eval").read_text())
    for d in (gmm, ev):
        r = d["sac_refiner"]["ros__parameters"]
        assert not r["save_on_exit"] and r["save_every_episodes"] == 0 and r["save_path"] == ""


def test_success_blocks():
    recs = [{"success": s} for s in (True, False, True, True, False)]
    assert success_blocks(recs, 2) == [
        {"episodes": "0-1", "n": 2, "successes": 1}, {"episodes": "2-3", "n": 2, "successes": 2},
        {"episodes": "4-4", "n": 1, "successes": 0}]
    assert success_blocks([], 10) == []
