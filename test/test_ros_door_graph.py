"""door_opening on the real-robot path (``use_sim:=false``): the graph definition, and an end-to-end
run of ``sacgmm bringup door_opening use_sim:=false sim_driver:=true`` (real processes over DDS,
private ROS_DOMAIN_ID) against the simulated iiwa driver."""
from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from sacgmm.cli.bringup import build_commands

ROOT = Path(__file__).resolve().parents[1]


def _params(argv: list[str]) -> dict[str, str]:
    """``-p name:=value`` overrides of one node's argv."""
    return dict(argv[i + 1].split(":=", 1) for i, a in enumerate(argv) if a == "-p")


def test_real_door_graph_refiner_reads_the_wrist_camera():
    cmds = dict(build_commands("door_opening", {"use_sim": "false"}))
    assert {"iiwa_bridge", "gmm_controller", "camera_encoder", "aruco_reward_detector",
            "sac_refiner"} <= set(cmds) and "sim_bridge" not in cmds
    assert "iiwa_sim_driver" not in cmds                      # sim_driver defaults to false
    assert _params(cmds["sac_refiner"])["image_topic"] == "/wrist_camera/image_raw"
    assert _params(cmds["camera_encoder"])["image_topic"] == "/wrist_camera/image_raw"
    assert _params(cmds["aruco_reward_detector"])["image_topic"] == "/door_camera/image_raw"
    # wrist_image_topic:= moves encoder and refiner together
    cmds = dict(build_commands("door_opening", {"use_sim": "false", "sim_driver": "true",
                                                "wrist_image_topic": "/cam/wrist"}))
    assert _params(cmds["sac_refiner"])["image_topic"] == "/cam/wrist"
    assert _params(cmds["camera_encoder"])["image_topic"] == "/cam/wrist"
    assert "iiwa_sim_driver" in cmds
    # in simulation both read the simulator's camera (the parameter file's topic)
    cmds = dict(build_commands("door_opening", {"use_sim": "true"}))
    assert "image_topic" not in _params(cmds["sac_refiner"])
    assert "image_topic" not in _params(cmds["camera_encoder"])
