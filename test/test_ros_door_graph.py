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
from pathlib import Path

import numpy as np
from proc_helpers import alive as _alive
from proc_helpers import call_trigger, domain_id, started_pids
from proc_helpers import wait_for as _wait_for

from sacgmm.ros.bringup import build_commands

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
    # the target from the door's front marker: off unless asked, then on the door camera
    assert "aruco_target_detector" not in cmds
    cmds = dict(build_commands("door_opening", {"use_sim": "false", "target_marker": "true",
                                                "door_image_topic": "/cam/door"}))
    assert _params(cmds["aruco_target_detector"])["image_topic"] == "/cam/door"
    # in simulation both read the simulator's camera (the parameter file's topic)
    cmds = dict(build_commands("door_opening", {"use_sim": "true"}))
    assert "image_topic" not in _params(cmds["sac_refiner"])
    assert "image_topic" not in _params(cmds["camera_encoder"])


def _real_graph_params(tmp_path: Path, **bridge) -> Path:
    """door_opening.yaml with a fresh plain SAC-GMM refiner (its zero-initialised actor adapts
    nothing in eval mode: the skill runs as demonstrated; windows of 32 steps) and ``bridge``
    overrides for iiwa_bridge."""
    import yaml
    doc = yaml.safe_load((ROOT / "src" / "sacgmm" / "config" / "door_opening.yaml").read_text())
    doc["sac_refiner"]["ros__parameters"]["agent_config"] = "sac-gmm"
    doc["gmm_controller"]["ros__parameters"]["window_steps"] = 32
    doc["iiwa_bridge"]["ros__parameters"].update(bridge)
    path = tmp_path / "door_real.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_real_door_graph_opens_the_stand_in_door(tmp_path):
    """``sacgmm bringup door_opening use_sim:=false sim_driver:=true target_marker:=true``: the
    target from the door's front marker, the gripper closed on the handle by iiwa_bridge, the
    door pulled open, the ArUco reward from the door camera, the episode ended as a success,
    the hand opened, the door shut by its spring and the arm homed; joint velocity commands
    finite and within max_joint_speed; SIGINT stops every process."""
    import rclpy
    from geometry_msgs.msg import PoseStamped
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float32, Float64MultiArray, Int64, String
    sys.path.insert(0, str(Path(__file__).parent))
    from skill_helpers import door_skill

    from sacgmm.ros.convert import from_multiarray
    from sacgmm.ros.layouts import decode_episode_end

    skill = tmp_path / "skill.yaml"
    door_skill().save(skill)
    params = _real_graph_params(tmp_path, settle_time=1.0, episode_duration=25.0)
    did = domain_id("door_graph_real")
    env = dict(os.environ, ROS_DOMAIN_ID=str(did), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               ROS_LOG_DIR=str(tmp_path / "ros_log"), PYTHONUNBUFFERED="1")
    p = subprocess.Popen(
        [sys.executable, "-m", "sacgmm.cli", "bringup", "door_opening", "use_sim:=false",
         "sim_driver:=true", "target_marker:=true", "control_mode:=timer", f"skill:={skill}",
         f"params_file:={params}", f"episode_log:={tmp_path / 'episodes.jsonl'}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        text=True, cwd=tmp_path)
    lines: list[str] = []
    t = threading.Thread(target=lambda: [lines.append(l) for l in p.stdout], daemon=True)
    t.start()
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=did)
    node = rclpy.create_node("door_graph_probe", context=ctx)
    ex = rclpy.executors.SingleThreadedExecutor(context=ctx)
    ex.add_node(node)

    def spin(pred, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end and not pred():
            ex.spin_once(timeout_sec=0.02)
        return pred()

    def call(name):
        assert call_trigger(node, spin, name).success, "".join(lines)

    tips, qdots, episodes, ends, rewards, status = [], [], [], [], [], []
    state = {"door": 0.0, "held": False, "grip": None, "max_door": 0.0, "closed_on_bar": False}

    def on_door(m):
        state["door"], state["held"] = m.position[0], m.effort[0] > 0.5
        state["max_door"] = max(state["max_door"], m.position[0])

    def on_joints(m):
        named = dict(zip(m.name, m.position))
        if "gripper_opening" in named:
            state["grip"] = named["gripper_opening"]
            state["closed_on_bar"] |= state["held"] and abs(named["gripper_opening"] - 0.012) < 1e-3

    node.create_subscription(PoseStamped, "/iiwa_sim_driver/tip_pose", lambda m: tips.append(
        np.array([m.pose.position.x, m.pose.position.y, m.pose.position.z])), 50)
    node.create_subscription(Float64MultiArray, "/velocity_controller/commands",
                             lambda m: qdots.append(np.array(m.data)), 200)
    node.create_subscription(Int64, "/sacgmm/episode", lambda m: episodes.append(m.data), 10)
    node.create_subscription(Float64MultiArray, "/sacgmm/episode_end", lambda m: ends.append(
        decode_episode_end(from_multiarray(m))), 10)
    node.create_subscription(Float32, "/sacgmm/reward", lambda m: rewards.append(m.data), 50)
    node.create_subscription(JointState, "/iiwa_sim_driver/door_state", on_door, 50)
    node.create_subscription(JointState, "/joint_states", on_joints, 50)
    node.create_subscription(String, "/iiwa_bridge/status", lambda m: status.append(m.data), 50)
    pids = {}
    names = {"iiwa_bridge", "iiwa_sim_driver", "gmm_controller", "camera_encoder",
             "aruco_reward_detector", "aruco_target_detector", "sac_refiner"}
    try:
        assert _wait_for(lines, r"started sac_refiner", 30.0), "".join(lines)
        pids = started_pids(lines)
        assert set(pids) == names, pids
        assert spin(lambda: len(tips) > 5, 40.0), "no pose from iiwa_sim_driver\n" + "".join(lines)
        home = tips[-1].copy()
        assert _wait_for(lines, r"\[aruco_target_detector\s*\].*target at", 30.0), "".join(lines)
        call("/sacgmm/arm")
        call("/sacgmm/reset_episode")
        assert spin(lambda: episodes, 20.0), "no episode started\n" + "".join(lines)
        assert spin(lambda: state["closed_on_bar"], 15.0), (state, "".join(lines))
        assert spin(lambda: ends, 30.0), (state, "".join(lines))
        end = ends[0]
        assert end.terminated == 1, (end, state, "".join(lines))       # success, not time
        assert 1.0 in rewards and math.degrees(state["max_door"]) > 35.0, state
        # after the episode: hand open, door shut by its spring, arm back home
        assert spin(lambda: "homing" in status, 10.0), status
        assert spin(lambda: state["grip"] is not None and state["grip"] > 0.1 and
                    state["door"] < 0.01 and np.linalg.norm(tips[-1] - home) < 0.01, 30.0), \
            (state, tips[-1], home)
        q = np.array(qdots)
        assert q.shape[1] == 7 and np.isfinite(q).all()
        assert np.abs(q).max() <= 0.6 + 1e-9, np.abs(q).max()     # max_joint_speed (rad/s)
        assert p.poll() is None, "the graph stopped\n" + "".join(lines)
        assert not [l for l in lines if re.search(r"exited|Traceback", l)], "".join(lines)
        p.send_signal(signal.SIGINT)
        assert p.wait(30) == 0, "".join(lines)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        ex.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
    t.join(5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids.values()):
        time.sleep(0.1)
    left = [n for n, pid in pids.items() if _alive(pid)]
    for n in left:
        os.kill(pids[n], signal.SIGKILL)
    assert not left, "".join(lines)
    out = "".join(lines)
    assert "SIGINT: shutting the graph down" in out
    assert out.count("exited with status 0") == len(names), out
    print(out)                        # shown by pytest only on failure (or -s)


def test_dockerfile_follows_the_readme_ros_path():
    """Docker cannot run here: the image's build/run steps are checked against the README's
    ROS path (pip without the ros-* wheels, colcon build in the root, source install/setup.bash,
    ros2 launch of door_opening)."""
    docker = (ROOT / "docker" / "Dockerfile").read_text()
    entry = (ROOT / "docker" / "entrypoint.sh").read_text()
    readme = (ROOT / "README.md").read_text()
    for step in ("colcon build", "source install/setup.bash", "ros2 launch sacgmm door_opening.launch.py",
                 "grep -v '^ros-' requirements.txt"):
        assert step in readme, step
    assert re.search(r"^FROM ros:kilted-", docker, re.M)
    assert re.search(r"^WORKDIR /ws$", docker, re.M) and "COPY . /ws" in docker
    assert re.search(r"^RUN source /opt/ros/kilted/setup\.bash && colcon build$", docker, re.M)
    assert "grep -v '^ros-' requirements.txt" in docker
    assert "source /ws/install/setup.bash" in entry and 'exec "$@"' in entry
    assert '"ros2", "launch", "sacgmm", "door_opening.launch.py", "use_sim:=false"' in docker
    ignored = (ROOT / "docker" / "Dockerfile.dockerignore").read_text().split()
    for must in ("build", "install", "log", ".venv", "**/*.egg-info"):
        assert must in ignored, must
    for kept in ("src", "colcon.meta", "requirements.txt"):
        assert kept not in ignored, kept
