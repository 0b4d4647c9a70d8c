"""ROS 2 node tests with real processes talking over DDS (each test on its own ROS_DOMAIN_ID).

rclpy and the message packages are ROS 2 PyPI wheels of requirements.txt: a broken install
fails these tests.
"""
from __future__ import annotations

import dataclasses
import math
import os
import sys
import time

import numpy as np
import pytest
from geometry_msgs.msg import PoseArray, PoseStamped, TwistStamped
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Bool, Float32, Float64MultiArray

sys.path.insert(0, os.path.dirname(__file__))
from proc_helpers import ros_session  # noqa: E402
from skill_helpers import make_skill  # noqa: E402,F401  (used by other ROS tests too)

from sacgmm.ros import convert  # noqa: E402
from sacgmm.ros.layouts import (DeltaThetaMessage, EpisodeEnd, WindowEnd,  # noqa: E402
                                decode_delta, decode_episode_end, decode_window, encode_delta,
                                encode_episode_end, encode_window)


# -- helpers ------------------------------------------------------------------------------
@pytest.fixture
def ros(request, tmp_path):
    """(node in this test's private domain, env for child processes, start(module, *args),
    spin_until(pred, timeout))."""
    with ros_session(request.node.name, tmp_path) as (node, env, start, spin_until, _procs):
        yield node, env, start, spin_until


def twist_vec(msg: TwistStamped) -> np.ndarray:
    return np.array([msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z])


# -- pure conversions (no process) --------------------------------------------------------
def test_image_roundtrip_and_camera_info():
    rng = np.random.default_rng(0)
    for arr in (rng.integers(0, 255, (4, 6), dtype=np.uint8),
                rng.integers(0, 255, (4, 6, 3), dtype=np.uint8),
                rng.integers(0, 255, (4, 6, 2), dtype=np.uint8),
                rng.random((4, 6)).astype(np.float32)):
        msg = convert.image_to_msg(arr)
        back = convert.msg_to_image(msg)
        assert back.dtype == arr.dtype and np.array_equal(back, arr)
    info = convert.camera_info(64, 64, 90.0)
    assert info.k[0] == pytest.approx(32.0) and info.k[2] == pytest.approx(31.5)
    with pytest.raises(ValueError):
        convert.image_to_msg(np.zeros((4, 4, 3), np.uint8), "mono8")


def test_images_to_grey_for_marker_detection():
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[..., 0] = 255                                        # pure red
    grey = convert.msg_to_grey(convert.image_to_msg(rgb, "rgb8"))
    bgr = convert.msg_to_grey(convert.image_to_msg(rgb, "bgr8"))   # the same bytes as blue
    assert grey.shape == (2, 3) and grey.dtype == np.uint8 and grey.flags.c_contiguous
    assert int(grey[0, 0]) == 76 and int(bgr[0, 0]) == 29           # ITU-R 601 weights
    mono = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert np.array_equal(convert.msg_to_grey(convert.image_to_msg(mono)), mono)
    with pytest.raises(ValueError, match="unsupported image encoding"):
        convert.msg_to_grey(convert.image_to_msg(np.zeros((2, 3), np.float32)))


def test_ellipsoid_markers_scale_and_rotation():
    skill = make_skill()
    cov = np.array([[0.04, 0.01, 0.0], [0.01, 0.02, 0.0], [0.0, 0.0, 0.01]])
    centre, scale, q = convert.ellipsoid_pose(np.zeros(3), cov, 2.0)
    evals, _ = np.linalg.eigh(cov)
    assert np.allclose(scale, 4.0 * np.sqrt(evals))
    pose = PoseStamped().pose
    pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = q
    r = convert.pose_rotation(pose)
    assert np.linalg.det(r) == pytest.approx(1.0)
    assert np.allclose(r @ np.diag(evals) @ r.T, cov)          # axes along the eigenvectors
    markers = convert.gmm_markers(skill, [0.5, 0.0, 0.1], "world", n_sigma=1.0)
    assert len(markers.markers) == 3
    m0 = markers.markers[0]
    assert m0.pose.position.x == pytest.approx(0.5) and m0.pose.position.z == pytest.approx(0.12)
    assert m0.scale.x == pytest.approx(2 * math.sqrt(0.002))
    path = convert.path_msg(np.zeros((5, 3)), "world")
    assert len(path.poses) == 5


def test_quaternion_matrix_round_trip():
    """Quaternions are (x, y, z, w) as in geometry_msgs/Quaternion; matrix -> quaternion ->
    matrix is the identity map, and the quaternion comes back up to its sign."""
    s = math.sqrt(0.5)
    assert np.allclose(convert.quaternion_from_matrix(
        np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])), [0, 0, s, s])   # +90 deg about z
    rng = np.random.default_rng(1)
    for q in rng.normal(size=(20, 4)):
        q /= np.linalg.norm(q)
        pose = PoseStamped().pose
        pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = q
        r = convert.pose_rotation(pose)
        back = convert.quaternion_from_matrix(r)
        assert np.allclose(back, q) or np.allclose(back, -q)
        assert np.allclose(convert.pose_rotation(convert.pose_stamped(
            np.zeros(3), "world", quaternion=back).pose), r)


def test_layouts_roundtrip_and_rejections():
    d = DeltaThetaMessage(np.array([0.1, -0.05, -0.05]), np.ones((3, 6)) * 0.01, None, 4)
    msg = convert.to_multiarray(encode_delta(d))
    assert [x.label for x in msg.layout.dim] == ["d_priors", "d_means", "window_index"]
    back = decode_delta(convert.from_multiarray(msg), 3, 3)
    assert np.allclose(back.d_means, 0.01) and back.window_index == 4 and back.d_covariances is None
    bad = convert.from_multiarray(msg)
    for data in (np.r_[bad.data[:-2], np.nan, 4.0], bad.data[:-1]):
        with pytest.raises(ValueError):
            decode_delta(type(bad)(bad.labels, bad.sizes, bad.strides, data), 3, 3)
    with pytest.raises(ValueError, match="d_priors"):
        decode_delta(convert.from_multiarray(msg), 4, 3)       # wrong K
    w = WindowEnd(np.ones(3), np.zeros(3), np.ones(3) * 2, 1, 64, 0, 12.5)
    wb = decode_window(convert.from_multiarray(convert.to_multiarray(encode_window(w))))
    assert wb.step == 64 and wb.window_index == 1 and np.allclose(wb.target, 2)
    assert wb.gripper is None and wb.grasp_position is None
    w = dataclasses.replace(w, gripper=0.054, grasp_position=np.array([0.1, 0.2, 0.3]))
    wb = decode_window(convert.from_multiarray(convert.to_multiarray(encode_window(w))))
    assert wb.gripper == pytest.approx(0.054) and np.allclose(wb.grasp_position, [0.1, 0.2, 0.3])
    seg = encode_window(w)
    bad = type(seg)(seg.labels, seg.sizes[:-1] + (2,), seg.strides, np.r_[seg.data[:-3], 0, 0])
    with pytest.raises(ValueError, match="grasp_position"):
        decode_window(bad)
    e = EpisodeEnd(3, 120, True, True, 1.0, np.zeros(3), 4.5, 0.06)
    eb = decode_episode_end(encode_episode_end(e))
    assert eb.gripper == pytest.approx(0.06) and eb.success and eb.steps == 120
    assert decode_episode_end(encode_episode_end(dataclasses.replace(e, gripper=None))).gripper \
        is None


def test_controller_core_reports_the_gripper_and_where_it_closed():
    from sacgmm.ros.controller_core import ControllerCore
    core = ControllerCore(make_skill(), window_steps=4, clock=lambda: 0.0)
    core.set_target(np.zeros(3), 0.0)
    core.new_episode(0)
    windows = []
    for k in range(8):
        core.set_pose([0.1 - 0.01 * k, 0.0, 0.05], 0.0)
        core.set_gripper(0.108 if k < 2 else 0.06)         # closes before the third step
        w = core.step(0.0).window
        if w is not None:
            windows.append(w)
    assert [w.window_index for w in windows] == [0, 1]
    assert windows[0].gripper == pytest.approx(0.06)
    np.testing.assert_allclose(windows[0].grasp_position, [0.08, 0.0, 0.05])
    assert windows[1].grasp_position is None                # still closed: no new grasp
    core.set_gripper(float("nan"))                          # ignored
    assert core.gripper == pytest.approx(0.06)


# -- processes ----------------------------------------------------------------------------
def test_controller_clamps_and_stops_on_stale_pose(ros, tmp_path):
    node, env, start, spin_until = ros
    skill_path = tmp_path / "skill.yaml"
    make_skill(gain=5.0).save(skill_path)
    proc = start("sacgmm.ros.gmm_controller", "-p", f"skill_path:={skill_path}",
                 "-p", "control_mode:=timer", "-p", "rate_hz:=100.0", "-p", "max_speed:=0.05",
                 "-p", "pose_timeout:=0.3", "-p", "marker_rate_hz:=5.0")
    cmds: list[tuple[float, np.ndarray]] = []
    markers = []
    node.create_subscription(TwistStamped, "/sacgmm/cmd_vel",
                             lambda m: cmds.append((time.monotonic(), twist_vec(m))), 100)
    from visualization_msgs.msg import MarkerArray
    node.create_subscription(MarkerArray, "/sacgmm/markers", markers.append, 10)
    pose_pub = node.create_publisher(PoseStamped, "/sacgmm/ee_pose", 10)
    target_pub = node.create_publisher(PoseStamped, "/sacgmm/target_pose", 10)
    target = convert.pose_stamped([0.5, 0.0, 0.1], "world")
    ee = convert.pose_stamped([0.5, 0.2, 0.4], "world")        # far away: |f| >> max_speed
    assert spin_until(lambda: len(cmds) > 5, 30.0), proc.output
    end = time.monotonic() + 1.5
    while time.monotonic() < end:                               # stream poses at ~50 Hz
        target_pub.publish(target)
        pose_pub.publish(ee)
        spin_until(lambda: False, 0.02)
    t_stop = time.monotonic()
    spin_until(lambda: False, 1.0)
    active = [v for t, v in cmds if t < t_stop and np.linalg.norm(v) > 0]
    assert len(active) > 20, proc.output
    largest = np.abs(active).max(axis=1)                      # per axis, as the task clips
    assert np.all(largest <= 0.05 + 1e-9) and largest.max() > 0.049
    assert np.all(np.isfinite(np.array([v for _, v in cmds])))
    # timeout 0.3 s + 0.2 s slack for DDS delivery and scheduling on a loaded 2-core machine
    after = [v for t, v in cmds if t > t_stop + 0.3 + 0.2]
    assert after and all(np.all(v == 0.0) for v in after)
    first_zero = min(t for t, v in cmds if t > t_stop and np.all(v == 0.0))
    assert first_zero - t_stop < 0.3 + 0.2
    assert markers and len(markers[-1].markers) == 4            # 3 ellipsoids + target
    assert "stale_pose" in proc.output


def _thread_scheduling(pid: int) -> dict[int, tuple[int, int]]:
    """{tid: (policy, rt_priority)} of every thread of ``pid`` (from /proc/PID/task/*/stat)."""
    out = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            fields = open(f"/proc/{pid}/task/{task}/stat").read().rsplit(")", 1)[1].split()
        except OSError:       # the thread ended meanwhile
            continue
        # fields after the comm: state is field 3, rt_priority 40 and policy 41 (man 5 proc)
        out[int(task)] = (int(fields[41 - 3]), int(fields[40 - 3]))
    return out


def test_controller_rt_priority_covers_every_python_thread(ros, tmp_path):
    """The loop thread runs SCHED_FIFO at rt_priority and the executor (main) thread one below:
    a normal-priority thread holding the GIL must not be preempted by busy processes while the
    loop waits for the GIL (priority inversion)."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    except OSError:
        pytest.skip("this machine grants no SCHED_FIFO (no CAP_SYS_NICE / rtprio limit)")
    node, env, start, spin_until = ros
    skill_path = tmp_path / "skill.yaml"
    make_skill().save(skill_path)
    proc = start("sacgmm.ros.gmm_controller", "-p", f"skill_path:={skill_path}",
                 "-p", "control_mode:=timer", "-p", "rate_hz:=200.0", "-p", "rt_priority:=10")
    assert spin_until(lambda: "control loop thread: SCHED_FIFO priority 10" in proc.output
                      and "executor thread: SCHED_FIFO priority 9" in proc.output, 30.0), \
        proc.output
    sched = _thread_scheduling(proc.p.pid)
    assert sched[proc.p.pid] == (os.SCHED_FIFO, 9), sched        # the executor's thread
    assert sorted(v for v in sched.values() if v == (os.SCHED_FIFO, 10)) == \
        [(os.SCHED_FIFO, 10)], sched                              # one loop thread
    assert proc.stop() == 0, proc.output


def test_controller_windows_and_delta_theta(ros, tmp_path):
    node, env, start, spin_until = ros
    skill_path = tmp_path / "skill.yaml"
    make_skill().save(skill_path)
    proc = start("sacgmm.ros.gmm_controller", "-p", f"skill_path:={skill_path}",
                 "-p", "control_mode:=lockstep", "-p", "max_speed:=1.0",
                 "-p", "marker_rate_hz:=0.0")
    cmds: dict[tuple[int, int], np.ndarray] = {}
    windows = []
    node.create_subscription(TwistStamped, "/sacgmm/cmd_vel",
                             lambda m: cmds.__setitem__((m.header.stamp.sec, m.header.stamp.nanosec),
                                                        twist_vec(m)), 100)
    node.create_subscription(Float64MultiArray, "/sacgmm/window", windows.append, 10)
    pose_pub = node.create_publisher(PoseStamped, "/sacgmm/ee_pose", 10)
    target_pub = node.create_publisher(PoseStamped, "/sacgmm/target_pose", 10)
    delta_pub = node.create_publisher(Float64MultiArray, "/sacgmm/delta_theta", 10)
    counter = [0]

    def step(pos=(0.52, 0.01, 0.2), tries: int = 3, timeout: float = 5.0) -> np.ndarray | None:
        """Publish one pose (unique stamp) and return the command answering it (a command
        carrying the pose's stamp); ``None`` after ``tries`` (only when tries == 1)."""
        counter[0] += 1
        msg = convert.pose_stamped(pos, "world")
        msg.header.stamp.sec, msg.header.stamp.nanosec = 1000, counter[0]
        key = (1000, counter[0])
        for _ in range(tries):
            pose_pub.publish(msg)
            if spin_until(lambda: key in cmds, timeout):
                return cmds[key]
        if tries == 1:
            return None
        raise AssertionError("no command for pose\n" + proc.output)

    # wait for discovery (slow on a loaded machine), then until the controller answers with motion
    assert spin_until(lambda: node.count_subscribers("/sacgmm/ee_pose") >= 1
                      and node.count_publishers("/sacgmm/cmd_vel") >= 1, 60.0), proc.output
    end = time.monotonic() + 30.0
    while time.monotonic() < end:
        target_pub.publish(convert.pose_stamped([0.5, 0.0, 0.1], "world"))
        v = step(tries=1, timeout=1.0)       # unanswered while the target is unknown
        if v is not None and np.linalg.norm(v) > 0:
            break
    assert spin_until(lambda: node.count_publishers("/sacgmm/window") >= 1, 10.0)
    assert spin_until(lambda: node.count_subscribers("/sacgmm/delta_theta") >= 1, 10.0)
    v_ref = step()
    for _ in range(64):                      # run to the end of some window
        step()
        if spin_until(lambda: bool(windows), 0.05):
            break
    assert windows, proc.output
    w0 = decode_window(convert.from_multiarray(windows[-1]))
    windows.clear()
    for _ in range(32):                      # exactly one more window
        step()
    assert spin_until(lambda: len(windows) >= 1, 2.0), proc.output
    spin_until(lambda: False, 0.2)
    assert len(windows) == 1
    w1 = decode_window(convert.from_multiarray(windows[0]))
    assert w0.step % 32 == 0 and w1.step == w0.step + 32
    assert w1.window_index == w0.window_index + 1
    assert np.allclose(w1.position, [0.02, 0.01, 0.1]) and np.allclose(w1.target, [0.5, 0, 0.1])

    # bad deltas: NaN, wrong size -> logged error, skill unchanged
    nan = np.full((3, 6), 0.01)
    nan[1, 2] = np.nan
    delta_pub.publish(convert.to_multiarray(encode_delta(DeltaThetaMessage(d_means=nan))))
    delta_pub.publish(convert.to_multiarray(
        encode_delta(DeltaThetaMessage(d_means=np.zeros((2, 6))))))
    assert spin_until(lambda: proc.output.count("delta_theta rejected") >= 2, 5.0), proc.output
    assert np.allclose(step(), v_ref)
    assert "NaN" in proc.output and "expected 18" in proc.output
    # a valid delta changes the command
    delta_pub.publish(convert.to_multiarray(
        encode_delta(DeltaThetaMessage(d_priors=np.array([0.5, -0.25, -0.25])))))
    assert spin_until(lambda: not np.allclose(step(), v_ref), 5.0), proc.output


def test_aruco_detector_fires_on_marker_image(ros):
    node, env, start, spin_until = ros
    from sacgmm.sim.aruco import marker_image
    proc = start("sacgmm.ros.aruco_reward_detector", "-p", "marker_id:=7",
                 "-p", "marker_size:=0.1", "-p", "image_topic:=/cam/image_raw",
                 "-p", "camera_info_topic:=/cam/camera_info")
    from rclpy.qos import qos_profile_sensor_data
    img_pub = node.create_publisher(Image, "/cam/image_raw", qos_profile_sensor_data)
    info_pub = node.create_publisher(CameraInfo, "/cam/camera_info", qos_profile_sensor_data)
    success, rewards, poses = [], [], []
    node.create_subscription(Bool, "/sacgmm/success", lambda m: success.append(m.data), 10)
    node.create_subscription(Float32, "/sacgmm/reward", lambda m: rewards.append(m.data), 10)
    node.create_subscription(PoseArray, "/aruco_poses", poses.append, 10)
    canvas = np.full((240, 320), 255, np.uint8)
    canvas[40:40 + 160, 80:80 + 160] = marker_image("DICT_4X4_50", 7, 120, 20)
    rgb = np.dstack([canvas] * 3)
    blank = np.full((240, 320, 3), 255, np.uint8)
    info = convert.camera_info(320, 240, 60.0, "cam")
    end = time.monotonic() + 30.0
    while time.monotonic() < end and not (True in success and poses and poses[-1].poses):
        info_pub.publish(info)
        img_pub.publish(convert.image_to_msg(rgb, "rgb8", "cam"))
        spin_until(lambda: False, 0.1)
    assert True in success and 1.0 in rewards, proc.output
    p = poses[-1].poses[0].position
    f = info.k[0]
    # marker 120 px wide for 0.1 m at focal f px -> distance 0.1 f / 120
    assert p.z == pytest.approx(0.1 * f / 120, rel=0.05)
    success.clear()
    for _ in range(5):
        img_pub.publish(convert.image_to_msg(blank, "rgb8", "cam"))
        spin_until(lambda: False, 0.1)
    assert spin_until(lambda: bool(success), 3.0) and success[-1] is False
    # the simulated door's static camera (what sim_bridge publishes on /sacgmm/aruco_camera):
    # closed door -> no reward; opened by the scripted expert -> reward
    from sacgmm.sim import make_env
    from sacgmm.sim.expert import run_expert_episode
    env = make_env("door", noise=False, sensor=False)
    try:
        env.reset(seed=0)
        closed = env.unwrapped.aruco_image()
        _, info = run_expert_episode(env, 0)
        assert info["success"]
        opened = env.unwrapped.aruco_image()
    finally:
        env.close()
    for img, expect in ((closed, False), (opened, True)):
        success.clear()
        for _ in range(3):
            img_pub.publish(convert.image_to_msg(img, "rgb8", "cam"))
            spin_until(lambda: False, 0.1)
        assert spin_until(lambda: bool(success), 3.0) and success[-1] is expect, proc.output


@pytest.mark.parametrize("bad, name", [("max_speed: -1.0", "max_speed"),
                                       ("max_sped: 0.1", "max_sped"),
                                       ("control_mode: fast", "control_mode"),
                                       ("window_steps: 3.5", "window_steps")])
def test_bad_parameter_file_fails_naming_parameter(ros, tmp_path, bad, name):
    _node, env, start, _spin = ros
    f = tmp_path / "bad.yaml"
    f.write_text(f"gmm_controller:\n  ros__parameters:\n    {bad}\n")
    proc = start("sacgmm.ros.gmm_controller", "--params-file", str(f))
    assert proc.p.wait(30) == 2
    proc.t.join(2.0)
    assert f"'{name}'" in proc.output, proc.output


def test_camera_encoder_publishes_latent_of_checkpoint(ros, tmp_path):
    node, env, start, spin_until = ros
    import torch
    from std_msgs.msg import Float32MultiArray

    from sacgmm.rl.checkpoint import save_checkpoint
    from sacgmm.rl.sac import SACAgent, SACConfig
    torch.manual_seed(0)
    agent = SACAgent({"position": (3,), "tactile": (2, 64, 64)}, 3, SACConfig(latent_dim=8))
    ckpt = tmp_path / "policy.pt"
    save_checkpoint(ckpt, agent)
    img = np.random.default_rng(0).integers(0, 255, (64, 64, 2), dtype=np.uint8)   # (H, W, C)
    expected = agent.encode({"position": np.zeros(3, np.float32),
                             "tactile": np.transpose(img, (2, 0, 1))})["tactile"]
    # without a checkpoint: says so, publishes nothing
    idle = start("sacgmm.ros.camera_encoder")
    proc = start("sacgmm.ros.camera_encoder", "-r", "__node:=camera_encoder_ckpt",
                 "-p", f"policy_path:={ckpt}", "-p", "trigger:=image")
    latents = []
    node.create_subscription(Float32MultiArray, "/sacgmm/latent", latents.append, 10)
    from rclpy.qos import qos_profile_sensor_data
    pub = node.create_publisher(Image, "/sacgmm/camera/image_raw", qos_profile_sensor_data)
    end = time.monotonic() + 40.0
    while time.monotonic() < end and not latents:
        pub.publish(convert.image_to_msg(img, "8UC2"))
        spin_until(lambda: bool(latents), 0.2)
    assert latents, proc.output
    z = np.asarray(latents[-1].data)
    assert latents[-1].layout.dim[0].label == "latent/tactile" and z.shape == (8,)
    assert np.allclose(z, expected, atol=1e-5)
    assert "no latent is published" in idle.output
    assert node.count_publishers("/sacgmm/latent") == 1          # only the node with weights
    # a camera of another resolution: centre-cropped and resized to the policy's 64x64
    from sacgmm.robot.camera import fit_image
    big = np.random.default_rng(1).integers(0, 255, (120, 160, 2), dtype=np.uint8)
    want = agent.encode({"position": np.zeros(3, np.float32),
                         "tactile": np.transpose(fit_image(big, 64, 64), (2, 0, 1))})["tactile"]
    latents.clear()

    def resized_seen():    # a latent of the first image may still be on its way
        return any(np.allclose(np.asarray(m.data), want, atol=1e-5) for m in latents)
    end = time.monotonic() + 20.0
    while time.monotonic() < end and not resized_seen():
        pub.publish(convert.image_to_msg(big, "8UC2"))
        spin_until(resized_seen, 0.2)
    assert resized_seen(), proc.output
    # with the camera's CameraInfo: the window that sees the trained 70 deg view
    from sacgmm.robot.camera import fit_image as fit
    viewer = start("sacgmm.ros.camera_encoder", "-r", "__node:=camera_encoder_view",
                   "-p", f"policy_path:={ckpt}", "-p", "trigger:=image",
                   "-p", "camera_info_topic:=/sacgmm/camera/camera_info", "-p", "view_fov:=70.0")
    info = convert.camera_info(160, 120, 90.0, principal=(90.0, 55.0))
    k = np.asarray(info.k).reshape(3, 3)
    want_view = agent.encode({"position": np.zeros(3, np.float32), "tactile": np.transpose(
        fit(big, 64, 64, view=(k, 70.0)), (2, 0, 1))})["tactile"]
    info_pub = node.create_publisher(CameraInfo, "/sacgmm/camera/camera_info",
                                     qos_profile_sensor_data)
    latents.clear()

    def view_seen():
        return any(np.allclose(np.asarray(m.data), want_view, atol=1e-5) for m in latents)
    end = time.monotonic() + 20.0
    while time.monotonic() < end and not view_seen():
        info_pub.publish(info)
        pub.publish(convert.image_to_msg(big, "8UC2"))
        spin_until(view_seen, 0.2)
    assert view_seen(), viewer.output


def test_lockstep_sim_graph_is_reproducible(ros, tmp_path):
    """sim_bridge + gmm_controller in lock-step: the same seed gives the same trajectory."""
    node, env, start, spin_until = ros
    skill_path = tmp_path / "skill.yaml"
    make_skill().save(skill_path)
    poses: dict[tuple[int, int], np.ndarray] = {}
    node.create_subscription(
        PoseStamped, "/sacgmm/ee_pose",
        lambda m: poses.__setitem__((m.header.stamp.sec, m.header.stamp.nanosec),
                                    convert.pose_position(m.pose)), 100)
    runs = []
    for _ in range(2):
        spin_until(lambda: False, 0.3)                           # drain the previous run
        poses.clear()
        t0 = time.time_ns()
        bridge = start("sacgmm.ros.sim_bridge", "-p", "task:=peg", "-p", "sensor:=false",
                       "-p", "seed:=3", "-p", "max_episodes:=1")
        assert spin_until(lambda: node.count_publishers("/sacgmm/ee_pose") >= 1, 30.0)
        ctrl = start("sacgmm.ros.gmm_controller", "-p", f"skill_path:={skill_path}",
                     "-p", "marker_rate_hz:=0.0")
        assert spin_until(lambda: len(poses) >= 64, 40.0), bridge.output + ctrl.output
        ctrl.stop()
        bridge.stop()
        keys = sorted(k for k in poses if k[0] * 1_000_000_000 + k[1] >= t0)
        # the bridge re-sends a state no command has answered (resend_period): on a loaded
        # machine the first state may arrive twice, with a new stamp but the same position
        seq = [poses[k] for k in keys]
        seq = [x for i, x in enumerate(seq) if i == 0 or not np.array_equal(x, seq[i - 1])]
        runs.append(np.array(seq[:61]))
    assert np.abs(runs[0][-1] - runs[0][0]).max() > 0.01          # the arm moved
    np.testing.assert_allclose(runs[0], runs[1], rtol=0, atol=1e-9)
