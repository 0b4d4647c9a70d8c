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
import pytest
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
    assert float(_params(cmds["sac_refiner"])["image_wait"]) == 0.0   # the latest, at once
    for node in ("sac_refiner", "camera_encoder"):     # cropped to the trained 70 deg view
        assert _params(cmds[node])["camera_info_topic"] == "/wrist_camera/camera_info"
        assert float(_params(cmds[node])["view_fov"]) == 70.0
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
    """door_opening.yaml with a fresh ``attractor-shift`` SAC-GMM refiner (its zero-initialised
    actor adapts nothing in eval mode: the skill runs as demonstrated; windows of 32 steps) and ``bridge``
    overrides for iiwa_bridge."""
    import yaml
    doc = yaml.safe_load((ROOT / "src" / "sacgmm" / "config" / "door_opening.yaml").read_text())
    doc["sac_refiner"]["ros__parameters"]["agent_config"] = "attractor-shift"
    doc["gmm_controller"]["ros__parameters"]["window_steps"] = 32
    doc["iiwa_bridge"]["ros__parameters"].update(bridge)
    path = tmp_path / "door_real.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


class RealDoorGraph:
    """``sacgmm bringup door_opening use_sim:=false sim_driver:=true target_marker:=true`` with
    the door skill of ``skill_helpers``, and a probe node that records what a test checks."""

    NAMES = {"iiwa_bridge", "iiwa_sim_driver", "gmm_controller", "camera_encoder",
             "aruco_reward_detector", "aruco_target_detector", "sac_refiner"}

    def __init__(self, tmp_path: Path, name: str, **bridge):
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
        params = _real_graph_params(tmp_path, **bridge)
        self.did = domain_id(name)
        env = dict(os.environ, ROS_DOMAIN_ID=str(self.did),
                   ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
                   ROS_LOG_DIR=str(tmp_path / "ros_log"), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sacgmm.cli", "bringup", "door_opening", "use_sim:=false",
             "sim_driver:=true", "target_marker:=true", "control_mode:=timer",
             f"skill:={skill}", f"params_file:={params}",
             f"episode_log:={tmp_path / 'episodes.jsonl'}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            text=True, cwd=tmp_path)
        self.lines: list[str] = []
        self.reader = threading.Thread(
            target=lambda: [self.lines.append(l) for l in self.proc.stdout], daemon=True)
        self.reader.start()
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx, domain_id=self.did)
        self.node = rclpy.create_node("door_graph_probe", context=self.ctx)
        self.ex = rclpy.executors.SingleThreadedExecutor(context=self.ctx)
        self.ex.add_node(self.node)
        self.tips, self.qdots, self.episodes, self.ends = [], [], [], []
        self.rewards, self.status = [], []
        self.state = {"door": 0.0, "held": False, "grip": None, "max_door": 0.0,
                      "closed_on_bar": False}
        self.pids: dict[str, int] = {}
        n = self.node
        n.create_subscription(PoseStamped, "/iiwa_sim_driver/tip_pose", lambda m: self.tips.append(
            np.array([m.pose.position.x, m.pose.position.y, m.pose.position.z])), 50)
        n.create_subscription(Float64MultiArray, "/velocity_controller/commands",
                              lambda m: self.qdots.append(np.array(m.data)), 200)
        n.create_subscription(Int64, "/sacgmm/episode", lambda m: self.episodes.append(m.data), 10)
        n.create_subscription(Float64MultiArray, "/sacgmm/episode_end", lambda m: self.ends.append(
            decode_episode_end(from_multiarray(m))), 10)
        n.create_subscription(Float32, "/sacgmm/reward", lambda m: self.rewards.append(m.data), 50)
        n.create_subscription(JointState, "/iiwa_sim_driver/door_state", self._on_door, 50)
        n.create_subscription(JointState, "/joint_states", self._on_joints, 50)
        n.create_subscription(String, "/iiwa_bridge/status", lambda m: self.status.append(m.data),
                              50)

    def _on_door(self, m) -> None:
        st = self.state
        st["door"], st["held"] = m.position[0], m.effort[0] > 0.5
        st["max_door"] = max(st["max_door"], m.position[0])

    def _on_joints(self, m) -> None:
        named = dict(zip(m.name, m.position))
        if "gripper_opening" in named:
            st = self.state
            st["grip"] = named["gripper_opening"]
            st["closed_on_bar"] |= st["held"] and abs(named["gripper_opening"] - 0.012) < 1e-3

    @property
    def out(self) -> str:
        return "".join(self.lines)

    def spin(self, pred, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and not pred():
            self.ex.spin_once(timeout_sec=0.02)
        return pred()

    def call(self, name: str) -> None:
        assert call_trigger(self.node, self.spin, name).success, self.out

    def set_driver_param(self, name: str, value: bool) -> None:
        """``ros2 param set /iiwa_sim_driver name value``."""
        from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
        from rcl_interfaces.srv import SetParameters
        cli = self.node.create_client(SetParameters, "/iiwa_sim_driver/set_parameters")
        assert self.spin(cli.service_is_ready, 10.0)
        req = SetParameters.Request(parameters=[Parameter(name=name, value=ParameterValue(
            type=ParameterType.PARAMETER_BOOL, bool_value=value))])
        fut = cli.call_async(req)
        assert self.spin(fut.done, 10.0) and fut.result().results[0].successful

    def log_line(self, pattern: str, timeout: float, since: int = 0) -> bool:
        """Whether a line from the ``since``-th on matches ``pattern`` within ``timeout`` s
        (a fault's message may have been logged at start-up too, before the fault)."""
        return self.spin(lambda: any(re.search(pattern, l) for l in self.lines[since:]),
                         timeout)

    def start_first_episode(self) -> np.ndarray:
        """Wait for every node, the arm's pose and the marker's target; arm, reset, wait for
        episode 0; the home TCP (world, m)."""
        assert _wait_for(self.lines, r"started sac_refiner", 30.0), self.out
        self.pids = started_pids(self.lines)
        assert set(self.pids) == self.NAMES, self.pids
        assert self.spin(lambda: len(self.tips) > 5, 40.0), "no pose\n" + self.out
        home = self.tips[-1].copy()
        assert self.log_line(r"\[aruco_target_detector\s*\].*target at", 30.0), self.out
        self.call("/sacgmm/arm")
        self.call("/sacgmm/reset_episode")
        assert self.spin(lambda: self.episodes, 20.0), "no episode started\n" + self.out
        return home

    def still(self, seconds: float) -> float:
        """How far (m) the TCP moved during ``seconds``."""
        self.spin(lambda: False, 0.3)
        a = self.tips[-1].copy()
        self.spin(lambda: False, seconds)
        return float(np.linalg.norm(self.tips[-1] - a))

    def stop(self) -> None:
        """SIGINT: every process exits with status 0 and none is left behind."""
        p = self.proc
        try:
            assert p.poll() is None, "the graph stopped\n" + self.out
            assert not [l for l in self.lines if re.search(r"exited|Traceback", l)], self.out
            q = np.array(self.qdots)
            assert q.shape[1] == 7 and np.isfinite(q).all()
            assert np.abs(q).max() <= 0.6 + 1e-9, np.abs(q).max()    # max_joint_speed (rad/s)
            p.send_signal(signal.SIGINT)
            assert p.wait(30) == 0, self.out
        finally:
            self.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(pid) for pid in self.pids.values()):
            time.sleep(0.1)
        left = [n for n, pid in self.pids.items() if _alive(pid)]
        for n in left:
            os.kill(self.pids[n], signal.SIGKILL)
        assert not left, self.out
        assert "SIGINT: shutting the graph down" in self.out
        assert self.out.count("exited with status 0") == len(self.NAMES), self.out

    def close(self) -> None:
        import rclpy
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.ex.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.ctx)
        self.reader.join(5)


def test_real_door_graph_opens_the_stand_in_door(tmp_path):
    """The target from the door's front marker, the gripper closed on the handle by
    iiwa_bridge, the door pulled open, the ArUco reward from the door camera, the episode ended
    as a success, the hand opened, the door shut by its spring and the arm homed; joint
    velocity commands finite and within max_joint_speed; SIGINT stops every process."""
    g = RealDoorGraph(tmp_path, "door_graph_real", settle_time=1.0, episode_duration=25.0)
    try:
        home = g.start_first_episode()
        st = g.state
        assert g.spin(lambda: st["closed_on_bar"], 15.0), (st, g.out)
        assert g.spin(lambda: g.ends, 30.0), (st, g.out)
        assert g.ends[0].terminated == 1, (g.ends[0], st, g.out)    # success, not time
        assert g.ends[0].gripper == pytest.approx(0.012, abs=1e-3)   # holding the bar
        assert g.spin(lambda: 1.0 in g.rewards, 5.0) and math.degrees(st["max_door"]) > 30.0, st
        # after the episode: hand open, door shut by its spring, arm back home
        assert g.spin(lambda: "homing" in g.status, 10.0), g.status
        assert g.spin(lambda: st["grip"] is not None and st["grip"] > 0.1 and st["door"] < 0.01
                      and np.linalg.norm(g.tips[-1] - home) < 0.01, 30.0), (st, g.tips[-1], home)
        g.stop()
    finally:
        if g.proc.poll() is None:
            g.close()
    print(g.out)                        # shown by pytest only on failure (or -s)


def test_real_door_graph_pauses_on_camera_and_marker_faults(tmp_path):
    """A wrist camera that stops, a door camera that stops and a covered target marker each
    pause the arm (logged by iiwa_bridge with the reason; the TCP stands still, the episode
    is not ended) and it resumes when the fault clears."""
    g = RealDoorGraph(tmp_path, "door_graph_faults", settle_time=1.0, episode_duration=25.0)
    try:
        g.start_first_episode()
        g.spin(lambda: False, 1.0)                         # moving towards the handle
        for camera, source in (("wrist_camera_on", "camera_encoder"),
                               ("door_camera_on", "aruco_reward_detector")):
            mark = len(g.lines)
            g.set_driver_param(camera, False)
            assert g.log_line(rf"\[iiwa_bridge\s*\].*paused: sacgmm/{source}: no image on", 10.0,
                              since=mark), g.out
            assert g.still(1.0) < 1e-4, g.out
            assert not g.ends
            mark = len(g.lines)
            g.set_driver_param(camera, True)
            assert g.log_line(rf"\[iiwa_bridge\s*\].*sacgmm/{source} is healthy again", 10.0,
                              since=mark), g.out
        assert g.still(0.5) > 1e-3 or g.ends, g.out        # moving again (or already done)
        assert g.spin(lambda: g.ends, 40.0), g.out
        # between episodes the marker is covered: no target, so once home no next episode
        # starts and nothing moves (homing itself goes on: it needs no perception)
        mark = len(g.lines)
        g.set_driver_param("front_marker_covered", True)
        assert g.log_line(r"\[iiwa_bridge\s*\].*paused: sacgmm/aruco_target_detector: marker 8 "
                          r"not seen", 15.0, since=mark), g.out
        assert g.spin(lambda: g.status and g.status[-1] == "settling", 20.0), g.status
        n_episodes = len(g.episodes)
        assert g.still(2.0) < 1e-4 and len(g.episodes) == n_episodes, g.out
        g.set_driver_param("front_marker_covered", False)
        assert g.spin(lambda: len(g.episodes) > n_episodes, 30.0), g.out
        g.stop()
    finally:
        if g.proc.poll() is None:
            g.close()


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
