"""Real-robot path against the simulated driver: iiwa_sim_driver + iiwa_bridge (+ demo_recorder)
as real processes over DDS, each test on a private ROS_DOMAIN_ID."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped, TwistStamped
from std_msgs.msg import Bool, Float32, Float64MultiArray, Int64

sys.path.insert(0, os.path.dirname(__file__))
from proc_helpers import call_trigger, ros_session  # noqa: E402


@pytest.fixture
def ros(request, tmp_path):
    with ros_session(request.node.name, tmp_path, "sacgmm_iiwa_test") as session:
        node, env, start, spin_until, procs = session

        def spin(pred=lambda: False, timeout=1.0):
            return spin_until(pred, timeout)

        def call(name, timeout=30.0, retry=True):
            return call_trigger(node, spin_until, name, timeout, retry)

        yield node, env, start, spin, call, procs
    print("\n".join(p.output for p in procs))      # shown by pytest only when the test fails


def _pos(m: PoseStamped) -> np.ndarray:
    return np.array([m.pose.position.x, m.pose.position.y, m.pose.position.z])


def test_bridge_moves_sim_iiwa_and_every_safety_stops(ros, tmp_path):
    node, env, start, spin, call, procs = ros
    log = tmp_path / "episodes.jsonl"
    start("sacgmm.ros.iiwa_sim_driver")
    start("sacgmm.ros.iiwa_bridge", "-p", "start_armed:=true", "-p", "max_cart_speed:=0.1",
          "-p", "workspace_max:=[0.8, 0.04, 0.7]", "-p", "cmd_timeout:=0.2",
          "-p", "settle_time:=0.2", "-p", "episode_duration:=20.0", "-p", f"episode_log:={log}",
          "-p", "state_timeout:=0.3", "-p", "target_position:=[0.6, 0.0, 0.3]")
    poses, truth, episodes, ends = [], [], [], []
    node.create_subscription(PoseStamped, "/sacgmm/ee_pose",
                             lambda m: poses.append((time.monotonic(), _pos(m))), 50)
    node.create_subscription(PoseStamped, "/iiwa_sim_driver/tip_pose",
                             lambda m: truth.append(_pos(m)), 50)
    node.create_subscription(Int64, "/sacgmm/episode", lambda m: episodes.append(m.data), 10)
    node.create_subscription(Float64MultiArray, "/sacgmm/episode_end", ends.append, 10)
    cmd = node.create_publisher(TwistStamped, "/sacgmm/cmd_vel", 10)
    success = node.create_publisher(Bool, "/sacgmm/success", 10)
    reward = node.create_publisher(Float32, "/sacgmm/reward", 10)
    assert spin(lambda: len(poses) > 5 and len(truth) > 5, 30.0), "no ee_pose from iiwa_bridge"
    # FK of the bridge = PyBullet's pose of the simulated arm (at rest), to 1 mm
    assert np.abs(poses[-1][1] - truth[-1]).max() < 1e-3

    def drive(v, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            m = TwistStamped()
            m.header.stamp = node.get_clock().now().to_msg()
            m.twist.linear.x, m.twist.linear.y, m.twist.linear.z = (float(a) for a in v)
            cmd.publish(m)
            spin(timeout=0.03)
        return poses[-1][1]

    def still(seconds=0.4):
        # PyBullet's own pose: the bridge's ee_pose may lag on the loaded 2-core machine
        a = truth[-1]
        spin(timeout=seconds)
        return float(np.linalg.norm(truth[-1] - a))

    # 1. direction: -y at 5 cm/s
    p0 = poses[-1][1]
    p1 = drive([0.0, -0.05, 0.0], 1.2)
    d = p1 - p0
    assert d[1] < -0.02 and abs(d[0]) < 0.3 * abs(d[1]) and abs(d[2]) < 0.3 * abs(d[1]), d
    # 2. command timeout: the driver holds the last velocity, the bridge must send zeros
    spin(timeout=1.0)
    assert still() < 1e-3
    # 3. speed limit: 1 m/s requested upwards, 0.1 m/s allowed
    t0, n0 = time.monotonic(), len(poses)
    drive([0.0, 0.0, 1.0], 0.8)
    seg = [p for p in poses[n0:] if p[0] > t0 + 0.2]
    speed = np.linalg.norm(seg[-1][1] - seg[0][1]) / (seg[-1][0] - seg[0][0])
    assert 0.04 < speed < 0.1 * 1.15, speed
    # 4. workspace box: +y at 10 cm/s stops at y = 0.04
    drive([0.0, 0.1, 0.0], 2.0)
    spin(timeout=0.5)
    y = truth[-1][1]
    # exact without scheduling delays (test_robot_kinematics); here the bridge may run late
    assert 0.03 < y < 0.04 + 0.01, y
    # 5. stop service halts while commands keep coming; arm resumes
    assert call("/sacgmm/stop").success
    a = drive([0.0, -0.05, 0.0], 0.3)
    b = drive([0.0, -0.05, 0.0], 0.5)
    assert np.linalg.norm(b - a) < 1e-3
    assert call("/sacgmm/arm").success
    c = drive([0.0, -0.05, 0.0], 0.8)
    assert c[1] < b[1] - 0.01
    # 6. episodes: reset homes the arm and starts episode 0; success ends and logs it
    assert call("/sacgmm/reset_episode").success
    assert spin(lambda: episodes, 15.0), "no episode started after homing"
    assert np.linalg.norm(poses[-1][1] - p0) < 5e-3          # back at the start pose
    drive([0.0, 0.0, 0.0], 0.3)                              # 'controller' steps of episode 0
    reward.publish(Float32(data=0.5))
    spin(timeout=0.2)
    success.publish(Bool(data=True))
    assert spin(lambda: log.exists() and log.read_text().strip(), 5.0)
    rec = json.loads(log.read_text().splitlines()[0])
    assert rec["episode"] == 0 and rec["success"] and rec["end_reason"] == "success"
    # ... and /sacgmm/episode_end (what sac_refiner stores the final transition from)
    assert spin(lambda: ends, 5.0), "no /sacgmm/episode_end from iiwa_bridge"
    from sacgmm.ros.convert import from_multiarray
    from sacgmm.ros.layouts import decode_episode_end
    e = decode_episode_end(from_multiarray(ends[0]))
    assert e.episode == 0 and e.terminated and e.success and e.ret == pytest.approx(0.5)
    assert e.steps >= 3                                      # the cmd_vel messages accepted
    # final TCP in the perceived target frame (world-aligned), m
    assert np.abs(e.position - (np.array(rec["end_position"]) - [0.6, 0.0, 0.3])).max() < 1e-6
    assert np.abs(e.position - (p0 - [0.6, 0.0, 0.3])).max() < 1e-2
    assert abs(e.stamp - node.get_clock().now().nanoseconds * 1e-9) < 5.0
    assert len(ends) == 1


def test_bridge_closes_the_gripper_on_the_handle_and_waits_for_it_to_open(ros):
    """The stand-in's gripper closes when the TCP reaches the handle during an episode, is not
    touched by /sacgmm/stop, opens when no episode runs, and the arm waits for it to open."""
    from sensor_msgs.msg import JointState
    node, env, start, spin, call, procs = ros
    start("sacgmm.ros.iiwa_sim_driver", "-p", "gripper_joints:=['gripper_opening']",
          "-p", "gripper_speed:=0.025")
    # home TCP (0.54, 0, 0.27); target 6 cm below it, handle 3 cm below home
    start("sacgmm.ros.iiwa_bridge", "-p", "start_armed:=true", "-p", "max_cart_speed:=0.05",
          "-p", "settle_time:=0.1", "-p", "episode_duration:=30.0",
          "-p", "target_position:=[0.54, 0.0, 0.21]",
          "-p", "gripper_command_topic:=/gripper_controller/commands",
          "-p", "gripper_open:=[0.1]", "-p", "gripper_closed:=[0.05]",
          "-p", "handle_offset:=[0.0, 0.0, 0.03]", "-p", "capture_radius:=0.01",
          "-p", "gripper_state_timeout:=0.3")
    grip, truth, episodes, cmds = [], [], [], []

    def on_state(m):
        if "gripper_opening" in m.name:
            grip.append(m.position[list(m.name).index("gripper_opening")])
    node.create_subscription(JointState, "/joint_states", on_state, 50)
    node.create_subscription(Float64MultiArray, "/gripper_controller/commands",
                             lambda m: cmds.append(list(m.data)), 50)
    node.create_subscription(PoseStamped, "/iiwa_sim_driver/tip_pose",
                             lambda m: truth.append(_pos(m)), 50)
    node.create_subscription(Int64, "/sacgmm/episode", lambda m: episodes.append(m.data), 10)
    cmd = node.create_publisher(TwistStamped, "/sacgmm/cmd_vel", 10)
    assert spin(lambda: grip and truth, 30.0)
    assert spin(lambda: cmds and cmds[-1] == [0.1], 5.0)            # open before an episode
    assert spin(lambda: grip[-1] == pytest.approx(0.1, abs=1e-3), 5.0)   # (re-sent each 1 s)
    assert call("/sacgmm/reset_episode").success
    assert spin(lambda: episodes, 15.0), "no episode started"
    handle_z = 0.27 - 0.03 + 0.0

    def drive_down_until(pred, timeout=15.0):
        m = TwistStamped()
        m.twist.linear.z = -0.03
        end = time.monotonic() + timeout
        while time.monotonic() < end and not pred():
            m.header.stamp = node.get_clock().now().to_msg()
            cmd.publish(m)
            spin(timeout=0.05)
        return pred()

    assert truth[-1][2] > handle_z + 0.015
    assert drive_down_until(lambda: cmds[-1] == [0.05]), "the gripper never closed"
    assert abs(truth[-1][2] - handle_z) < 0.015                     # at the handle
    # the stand-in's fingers close (on nothing: this scene has no handle, so once they reach
    # gripper_closed the bridge would call it a missed grasp and open them again)
    assert spin(lambda: grip[-1] < 0.075, 5.0)
    n = len(cmds)
    assert call("/sacgmm/stop").success
    spin(timeout=1.5)
    assert all(c == [0.05] for c in cmds[n:]) and grip[-1] < 0.055  # stop opens nothing
    at_end = truth[-1]
    assert call("/sacgmm/arm").success          # the stop ended the episode: the hand opens
    assert call("/sacgmm/return_home").success
    assert spin(lambda: cmds[-1] == [0.1], 5.0), "the gripper did not reopen"
    # ... (5 cm at 2.5 cm/s) before the arm goes home: it would drag the handle along
    assert spin(lambda: grip[-1] > 0.07, 5.0)
    assert grip[-1] < 0.0949 and np.linalg.norm(truth[-1] - at_end) < 2e-3, grip[-1]
    assert spin(lambda: grip[-1] > 0.0951, 5.0)
    assert spin(lambda: np.linalg.norm(truth[-1] - at_end) > 0.01, 10.0), "no homing"


def test_without_gripper_state_the_arm_does_not_move(ros):
    """Neither homing (the hand might still hold the handle) nor an episode's motion."""
    node, env, start, spin, call, procs = ros
    start("sacgmm.ros.iiwa_sim_driver", "-p", "initial_positions:=[0.3, 0.6, 0.0, -1.4, 0.0, "
          "1.1, 0.0]")                                             # away from home
    start("sacgmm.ros.iiwa_bridge", "-p", "start_armed:=true", "-p", "settle_time:=0.1",
          "-p", "target_position:=[0.54, 0.0, 0.21]",
          "-p", "gripper_command_topic:=/gripper_controller/commands",
          "-p", "gripper_state_topic:=/gripper/joint_states")     # nothing publishes it
    truth, episodes = [], []
    node.create_subscription(PoseStamped, "/iiwa_sim_driver/tip_pose",
                             lambda m: truth.append(_pos(m)), 50)
    node.create_subscription(Int64, "/sacgmm/episode", lambda m: episodes.append(m.data), 10)
    assert spin(lambda: truth, 30.0)
    a = truth[-1]
    assert call("/sacgmm/reset_episode").success
    spin(timeout=3.0)
    assert np.linalg.norm(truth[-1] - a) < 1e-3 and not episodes   # homing waits
    assert any("waiting for the gripper to report open" in p.output for p in procs)


@pytest.mark.parametrize("timeout", [0.1, 0.0], ids=["driver_timeout", "held_forever"])
def test_bridge_killed_while_the_arm_moves(ros, timeout):
    """SIGKILL of iiwa_bridge mid-motion: with the driver's command timeout the arm stops;
    without it (a bare forward command controller) it keeps going."""
    import signal
    node, env, start, spin, call, procs = ros
    start("sacgmm.ros.iiwa_sim_driver", "-p", f"command_timeout:={timeout}")
    bridge = start("sacgmm.ros.iiwa_bridge", "-p", "start_armed:=true",
                   "-p", "max_cart_speed:=0.05", "-p", "cmd_timeout:=5.0")
    truth = []
    node.create_subscription(PoseStamped, "/iiwa_sim_driver/tip_pose",
                             lambda m: truth.append((time.monotonic(), _pos(m))), 50)
    cmd = node.create_publisher(TwistStamped, "/sacgmm/cmd_vel", 10)
    assert spin(lambda: len(truth) > 5, 30.0), "no tip pose from iiwa_sim_driver"
    m = TwistStamped()
    m.twist.linear.z = -0.04                      # 4 cm/s down, from the home pose (27 cm up)
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline and np.linalg.norm(truth[-1][1] - truth[0][1]) < 0.01:
        m.header.stamp = node.get_clock().now().to_msg()
        cmd.publish(m)
        spin(timeout=0.05)
    assert np.linalg.norm(truth[-1][1] - truth[0][1]) >= 0.01, "the arm did not move"
    bridge.p.send_signal(signal.SIGKILL)           # the command source dies mid-motion
    bridge.p.wait(timeout=10.0)
    spin(timeout=1.0)                             # 10x the driver's timeout
    a = truth[-1][1]
    spin(timeout=1.0)
    moved = float(np.linalg.norm(truth[-1][1] - a))
    if timeout > 0:
        assert moved < 1e-4, moved
        assert any("arm stopped" in p.output for p in procs)
    else:
        assert moved > 0.01, moved                # held forever: the hazard the timeout removes


def test_target_detector_publishes_the_marker_target_and_holds_it_during_episodes(ros):
    from scipy.spatial.transform import Rotation
    from sensor_msgs.msg import CameraInfo, Image
    from test_robot_marker_pose import K, camera_image

    from sacgmm.ros.convert import image_to_msg
    node, env, start, spin, call, procs = ros
    start("sacgmm.ros.aruco_target_detector", "-p", "image_topic:=/cam/image",
          "-p", "camera_info_topic:=/cam/info", "-p", "marker_size:=0.1",
          "-p", "camera_xyz:=[0.5, 0.0, 1.0]", "-p", "camera_rpy:=[3.14159265, 0.0, 0.0]",
          "-p", "target_in_marker:=[0.0, -0.1, 0.05]", "-p", "max_age:=0.5")
    from rclpy.qos import qos_profile_sensor_data
    img_pub = node.create_publisher(Image, "/cam/image", qos_profile_sensor_data)
    info_pub = node.create_publisher(CameraInfo, "/cam/info", qos_profile_sensor_data)
    episode = node.create_publisher(Int64, "/sacgmm/episode", 10)
    end = node.create_publisher(Float64MultiArray, "/sacgmm/episode_end", 10)
    targets = []
    node.create_subscription(PoseStamped, "/sacgmm/target_pose",
                             lambda m: targets.append(_pos(m)), 10)
    # the camera looks straight down from 1 m; the marker lies face up on the table 60 cm below
    rot = Rotation.from_euler("xyz", [np.pi, 0.0, 0.0]).as_matrix()
    pos = np.array([0.02, -0.01, 0.6])
    image = image_to_msg(np.ascontiguousarray(camera_image(8, 0.1, rot, pos)), "mono8")
    info = CameraInfo(width=640, height=480, k=K.ravel().tolist(), d=[0.0] * 5)
    blank = image_to_msg(np.full((480, 640), 255, np.uint8), "mono8")

    def feed(msg, seconds):
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            info_pub.publish(info)
            img_pub.publish(msg)
            spin(timeout=0.1)
    feed(image, 0.5)
    assert spin(lambda: targets, 10.0) or (feed(image, 3.0) or targets), "no target_pose"
    # the target 10 cm along the marker's y and 5 cm out of its face, in the world frame
    camera = np.diag([1.0, -1.0, -1.0])
    want = camera @ (rot @ np.array([0.0, -0.1, 0.05]) + pos) + [0.5, 0.0, 1.0]
    assert np.abs(targets[-1] - want).max() < 0.01, (targets[-1], want)
    episode.publish(Int64(data=0))                  # during an episode: held, marker or not
    feed(blank, 1.2)
    n = len(targets)
    feed(blank, 0.5)
    assert len(targets) > n and np.abs(targets[-1] - want).max() < 0.01
    end.publish(Float64MultiArray(data=[0.0] * 10))  # between episodes: the marker is lost
    feed(blank, 1.5)
    n = len(targets)
    feed(blank, 0.5)
    assert len(targets) == n                        # no target without a recent detection
    assert any("not seen" in p.output for p in procs)


def test_demo_recorder_demo_fits_a_skill(ros, tmp_path):
    node, env, start, spin, call, procs = ros
    out = tmp_path / "demos"
    target = np.array([0.6, 0.0, 0.25])
    start("sacgmm.ros.demo_recorder", "-p", "pose_topic:=/hand_pose",
          "-p", f"target_position:=[{target[0]}, {target[1]}, {target[2]}]",
          "-p", "offset:=[0.0, 0.0, -0.1]", "-p", "dt:=0.05", "-p", f"output_dir:={out}")
    pub = node.create_publisher(PoseStamped, "/hand_pose", 50)
    # hand pitched 180 deg about x: its -z offset points up in the world
    q = (1.0, 0.0, 0.0, 0.0)
    for k, s in enumerate([(0.15, 0.1, 0.15), (0.1, -0.12, 0.2), (-0.05, 0.1, 0.18)]):
        assert call("/demo_recorder/start").success
        t = 0.0
        while t <= 1.5:
            grip = target + np.array(s) * np.exp(-4.0 * t)
            hand = grip - np.array([0.0, 0.0, 0.1])          # gripper 10 cm above the hand
            m = PoseStamped()
            m.header.frame_id = "world"
            m.header.stamp.sec, m.header.stamp.nanosec = 1000 + k * 10 + int(t), int((t % 1) * 1e9)
            m.pose.position.x, m.pose.position.y, m.pose.position.z = (float(v) for v in hand)
            m.pose.orientation.x, m.pose.orientation.y, m.pose.orientation.z, m.pose.orientation.w = q
            pub.publish(m)
            spin(timeout=0.02)
            t += 0.02
        res = call("/demo_recorder/stop", retry=False)    # a second stop would say "not recording"
        assert res.success, res.message
    from sacgmm.skill.demos import load_demos
    demos = load_demos(out)
    assert len(demos.positions) == 3
    for d, s in zip(demos.positions, [(0.15, 0.1, 0.15), (0.1, -0.12, 0.2), (-0.05, 0.1, 0.18)]):
        assert np.allclose(d[0], s, atol=0.01) and np.abs(d[-1]).max() < 0.01
    skill = tmp_path / "skill.yaml"
    r = subprocess.run([sys.executable, "-m", "sacgmm.cli.main", "fit", "--demos", str(out),
                        "--out", str(skill), "--json"], capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert skill.exists()
