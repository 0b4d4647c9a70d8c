"""sacgmm.robot without ROS: URDF kinematics vs PyBullet, Jacobian, DLS limits, the bridge's
safety and episode logic, the crash-safe episode log, demo resampling."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sacgmm.robot.bridge import (HALTED, HOMING, IDLE, RUNNING, SETTLING, BridgeConfig, BridgeCore,
                                 workspace_clamp)
from sacgmm.robot.episodes import EpisodeLog, read_log
from sacgmm.robot.kinematics import (KinematicChain, default_urdf, dls_joint_velocities,
                                     rotation_error, rpy_matrix)
from sacgmm.robot.recording import gripper_position, quaternion_matrix, resample

HOME = np.array([0.0, 0.45, 0.0, -1.6, 0.0, 1.1, 0.0])


@pytest.fixture(scope="module")
def chain():
    return KinematicChain.from_urdf("", tool_xyz=(0.0, 0.0, 0.2))


def test_fk_matches_pybullet_link_pose(chain):
    import pybullet as pb
    c = pb.connect(pb.DIRECT)
    try:
        base = [0.1, -0.2, 0.3]
        uid = pb.loadURDF(default_urdf(), base, useFixedBase=True, physicsClientId=c)
        moved = KinematicChain.from_urdf("", base_xyz=base)
        rng = np.random.default_rng(0)
        for _ in range(50):
            q = rng.uniform(moved.lower, moved.upper)
            for j in range(7):
                pb.resetJointState(uid, j, q[j], physicsClientId=c)
            s = pb.getLinkState(uid, 6, computeForwardKinematics=True, physicsClientId=c)
            t = moved.fk(q)
            assert np.abs(t[:3, 3] - np.array(s[4])).max() < 1e-3           # 1 mm
            r = np.array(pb.getMatrixFromQuaternion(s[5])).reshape(3, 3)
            assert np.abs(t[:3, :3] - r).max() < 1e-6
    finally:
        pb.disconnect(c)
    assert chain.names == [f"lbr_iiwa_joint_{i}" for i in range(1, 8)]
    # iiwa 14 R820 geometry: stretched arm reaches 0.36 + 0.42 + 0.40 + 0.081 (+ tool 0.2)
    assert chain.fk(np.zeros(7))[:3, 3] == pytest.approx([0, 0, 1.261 + 0.2], abs=1e-9)


def test_jacobian_matches_finite_differences(chain):
    rng = np.random.default_rng(1)
    for _ in range(10):
        q = rng.uniform(chain.lower * 0.9, chain.upper * 0.9)
        jac = chain.jacobian(q)
        t0 = chain.fk(q)
        h = 1e-6
        for i in range(7):
            dq = np.zeros(7)
            dq[i] = h
            t1 = chain.fk(q + dq)
            assert np.allclose((t1[:3, 3] - t0[:3, 3]) / h, jac[:3, i], atol=1e-5)
            w = rotation_error(t1[:3, :3], t0[:3, :3]) / h
            assert np.allclose(w, jac[3:, i], atol=1e-5)


def test_dls_tracks_and_respects_limits(chain):
    q = HOME.copy()
    jac = chain.jacobian(q)
    xdot = np.array([0.05, -0.02, 0.03, 0.0, 0.0, 0.0])
    qdot = dls_joint_velocities(jac, xdot, q, chain.lower, chain.upper, np.full(7, 1.0), 0.01)
    assert np.allclose(jac @ qdot, xdot, atol=1e-3)
    # velocity limit: uniform scaling keeps the Cartesian direction
    qdot = dls_joint_velocities(jac, 20 * xdot, q, chain.lower, chain.upper, np.full(7, 0.2), 0.01)
    assert np.abs(qdot).max() <= 0.2 + 1e-12
    v = jac @ qdot
    assert np.dot(v[:3], xdot[:3]) / (np.linalg.norm(v[:3]) * np.linalg.norm(xdot[:3])) > 0.999
    # position limits: random states near the limits never step past them
    rng = np.random.default_rng(2)
    margin, dt = 0.05, 0.01
    for _ in range(200):
        q = rng.uniform(chain.lower, chain.upper)
        x = rng.normal(size=6) * 0.3
        qd = dls_joint_velocities(chain.jacobian(q), x, q, chain.lower, chain.upper,
                                  np.full(7, 1.5), dt, margin=margin)
        assert np.isfinite(qd).all() and np.abs(qd).max() <= 1.5 + 1e-12
        q1 = q + qd * dt
        inside = (q >= chain.lower + margin) & (q <= chain.upper - margin)
        assert np.all(q1[inside] <= chain.upper[inside] - margin + 1e-9)
        assert np.all(q1[inside] >= chain.lower[inside] + margin - 1e-9)
        # outside the margin: may stay or move back, never further out
        hi_out = q > chain.upper - margin
        assert np.all(qd[hi_out] <= 1e-12)
    nan = dls_joint_velocities(jac, np.full(6, np.nan), HOME, chain.lower, chain.upper,
                               np.ones(7), 0.01)
    assert np.array_equal(nan, np.zeros(7))


def test_urdf_errors(tmp_path):
    with pytest.raises(ValueError, match="cannot read URDF"):
        KinematicChain.from_urdf(str(tmp_path / "missing.urdf"))
    with pytest.raises(ValueError, match="no link"):
        KinematicChain.from_urdf("", tip_link="tool0")
    assert np.allclose(rpy_matrix([0, 0, np.pi / 2]) @ [1, 0, 0], [0, 1, 0])


def test_rotation_helpers_round_trip():
    """rpy (fixed axes x, y, z), quaternions (x, y, z, w) and rotation vectors agree."""
    s = np.sqrt(0.5)
    assert np.allclose(quaternion_matrix([0, 0, s, s]), rpy_matrix([0, 0, np.pi / 2]))
    assert np.allclose(quaternion_matrix([s, 0, 0, s]) @ [0, 1, 0], [0, 0, 1])
    assert np.allclose(quaternion_matrix([0, 0, 0, 0]), np.eye(3))          # degenerate input
    assert np.allclose(quaternion_matrix([0, 0, 2 * s, 2 * s]), quaternion_matrix([0, 0, s, s]))
    # Rz(y) Ry(p) Rx(r)
    r, p, y = 0.3, -0.4, 1.2
    rx = np.array([[1, 0, 0], [0, np.cos(r), -np.sin(r)], [0, np.sin(r), np.cos(r)]])
    ry = np.array([[np.cos(p), 0, np.sin(p)], [0, 1, 0], [-np.sin(p), 0, np.cos(p)]])
    rz = np.array([[np.cos(y), -np.sin(y), 0], [np.sin(y), np.cos(y), 0], [0, 0, 1]])
    assert np.allclose(rpy_matrix([r, p, y]), rz @ ry @ rx)
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rpy_matrix(rng.uniform(-3, 3, 3)), rpy_matrix(rng.uniform(-3, 3, 3))
        w = rotation_error(a, b)                      # rotates b onto a
        angle = np.linalg.norm(w)
        axis = w / angle
        k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        rot = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k   # Rodrigues
        assert np.allclose(rot @ b, a)
    assert np.allclose(np.abs(rotation_error(rpy_matrix([0, 0, np.pi]), np.eye(3))),
                       [0, 0, np.pi])                  # half a turn


def _core(chain, **kw):
    cfg = BridgeConfig(home_joints=HOME.copy(), settle_time=0.0, **kw)
    return BridgeCore(chain, cfg, armed=True)


def test_bridge_safety(chain):
    core = _core(chain, max_cart_speed=0.1, cmd_timeout=0.2, state_timeout=0.1)
    core.set_joints(HOME, 0.0)
    dt = 0.01
    assert not core.set_command([np.nan, 0, 0], 0.0)
    core.set_command([1.0, 0.0, 0.0], 0.0)
    qdot, _ = core.step(0.0, dt)
    v = chain.jacobian(HOME)[:3] @ qdot
    assert np.linalg.norm(v) <= 0.1 + 1e-9 and v[0] > 0.09            # speed limit, direction
    assert np.array_equal(core.step(0.5, dt)[0], np.zeros(7))           # stale state (0.5 s)
    core.set_joints(HOME, 0.5)
    assert np.abs(chain.jacobian(HOME)[:3] @ core.step(0.5, dt)[0]).max() < 1e-3   # cmd timeout
    core.set_command([0.0, 0.0, 0.1], 0.6)
    assert np.allclose(core.step(0.8, dt)[0], 0.0)                      # state stale (0.3 s)
    core.set_joints(HOME, 0.8)
    core.stop(0.8)
    assert core.mode == HALTED and np.allclose(core.step(0.8, dt)[0], 0.0)
    assert core.arm() == "armed" and core.mode == IDLE
    assert np.allclose(core.step(0.8, dt)[0], 0.0)                      # pre-stop command dropped
    lo, hi = np.zeros(3), np.ones(3)
    assert np.allclose(workspace_clamp(np.array([1.0, -1.0, 0.5]), np.array([0.995, 0.5, 1.2]),
                                       lo, hi, 0.01), [0.5, -1.0, 0.0])


def test_bridge_episodes_home_and_log(chain, tmp_path):
    log = EpisodeLog(tmp_path / "episodes.jsonl")
    core = BridgeCore(chain, BridgeConfig(home_joints=HOME.copy(), settle_time=0.05,
                                          episode_duration=0.5, home_speed=1.0), log, armed=True)
    q = HOME + np.array([0.2, -0.1, 0.1, 0.1, 0.0, -0.1, 0.3])
    t, dt = 0.0, 0.01
    core.set_joints(q, t)
    ok, _, _ = core.request_home(t, True)
    assert ok and core.mode == HOMING
    started = []
    while t < 3.0 and not started:
        qdot, events = core.step(t, dt)
        q = q + qdot * dt
        t += dt
        core.set_joints(q, t)
        started += [e for e in events if e[0] == "episode_started"]
    assert started == [("episode_started", 0)] and core.mode == RUNNING
    assert np.abs(q - HOME).max() < 0.011
    core.on_reward(1.0)
    core.on_success(True)
    _, events = core.step(t, dt)
    ended = [e[1] for e in events if e[0] == "episode_ended"]
    assert ended and ended[0]["success"] and ended[0]["end_reason"] == "success"
    assert core.mode == HOMING                                          # auto reset
    recs = read_log(tmp_path / "episodes.jsonl")
    assert recs[0]["episode"] == 0 and recs[0]["reward"] == 1.0
    assert len(recs[0]["start_position"]) == 3
    # crash mid-write: a torn line is skipped, numbering continues, next record intact
    with open(tmp_path / "episodes.jsonl", "a") as f:
        f.write('{"episode": 1, "dur')
    log2 = EpisodeLog(tmp_path / "episodes.jsonl")
    assert log2.next_index() == 1
    log2.append({"episode": 1, "reward": float("nan")})
    recs = read_log(tmp_path / "episodes.jsonl")
    assert [r["episode"] for r in recs] == [0, 1] and recs[1]["reward"] is None
    json.loads((tmp_path / "episodes.jsonl").read_text().splitlines()[-1])


def test_a_perception_fault_pauses_the_episode_and_its_clock(chain):
    core = BridgeCore(chain, BridgeConfig(home_joints=HOME.copy(), settle_time=0.2,
                                          episode_duration=1.0, home_speed=1.0), armed=True)
    q, t, dt = HOME + 0.1, 0.0, 0.01

    def run(seconds, cmd=(0.05, 0.0, 0.0)):
        nonlocal q, t
        out = []
        for _ in range(int(round(seconds / dt))):
            core.set_joints(q, t)
            core.set_command(cmd, t)
            qdot, events = core.step(t, dt)
            q, t = q + qdot * dt, t + dt
            out += events
            assert np.isfinite(qdot).all()
        return out

    core.set_joints(q, t)
    assert core.request_home(t, True)[0]
    assert core.set_fault("target_marker", "marker not seen")
    assert not core.set_fault("target_marker", "marker not seen")      # no change
    # homing goes on (it takes the hand away from the object), but no episode starts
    events = run(3.0)
    assert np.abs(q - HOME).max() < 0.011 and core.mode == SETTLING
    assert not [e for e in events if e[0] == "episode_started"]
    assert core.set_fault("target_marker", None) and not core.set_fault("target_marker", None)
    events = []
    while t < 10.0 and ("episode_started", 0) not in events:
        events += run(dt)
    assert core.mode == RUNNING
    core.set_fault("door_camera", "no image for 1 s")
    q1 = q.copy()
    assert run(2.0) == [] and np.array_equal(q, q1) and core.mode == RUNNING  # episode paused
    core.set_fault("door_camera", None)
    events = run(0.5)
    assert core.mode == RUNNING and not events and not np.allclose(q, q1)      # clock stood still
    events = run(0.6)
    ended = [e[1] for e in events if e[0] == "episode_ended"]
    assert ended and ended[0]["end_reason"] == "timeout" and ended[0]["duration"] <= 1.1
    # a success reported before a fault still ends the episode
    events = []
    while t < 30.0 and ("episode_started", 1) not in events:
        events += run(dt)
    core.on_success(True)
    core.set_fault("wrist_camera", "no image for 1 s")
    q2 = q.copy()
    events = run(dt)
    ended = [e[1] for e in events if e[0] == "episode_ended"]
    assert ended and ended[0]["success"] and np.array_equal(q, q2) and core.mode == HOMING


def test_resample_and_offset():
    t = np.array([0.0, 0.1, 0.05, 0.2, 0.2, np.nan])
    x = np.array([[0, 0, 0], [1, 0, 0], [0.5, 0, 0], [2, 0, 0], [3, 0, 0], [9, 9, 9]], float)
    out = resample(t, x, 0.05)
    assert np.allclose(out[:, 0], [0, 0.5, 1.0, 2.0, 3.0])
    with pytest.raises(ValueError):
        resample([0.0], [[0, 0, 0]], 0.1)
    q90z = (0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4))
    assert np.allclose(gripper_position([1, 0, 0], q90z, [0.1, 0, 0], "pose"), [1, 0.1, 0])
    assert np.allclose(gripper_position([1, 0, 0], q90z, [0.1, 0, 0], "world"), [1.1, 0, 0])


def test_camera_images_of_any_resolution_fit_the_agents_64x64():
    """Centre crop to the target's aspect ratio, then resize: RGB keeps its channels and dtype
    (area averaging of a uniform image changes nothing), depth stays float with invalid pixels
    0 (nearest neighbour, no blending across edges); a 64x64 image passes unchanged."""
    from sacgmm.robot.camera import fit_image
    rgb = np.zeros((480, 640, 3), np.uint8)
    rgb[:, 80:560] = (10, 20, 30)                 # the centred 480x480 square
    out = fit_image(rgb, 64, 64)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert (out == (10, 20, 30)).all()            # the crop dropped the black side bands
    depth = np.full((480, 640), 1.5, np.float32)
    depth[:, :320] = 0.5
    depth[200:210, 300:340] = np.nan
    d = fit_image(depth, 64, 64)
    assert d.shape == (64, 64) and d.dtype == np.float32 and np.isfinite(d).all()
    assert set(np.unique(d)) <= {0.0, 0.5, 1.5}   # nearest neighbour: no blended depths
    tall = fit_image(np.arange(200 * 100, dtype=np.uint8).reshape(200, 100), 64, 64)
    assert tall.shape == (64, 64)
    same = np.random.default_rng(0).integers(0, 255, (64, 64, 2), dtype=np.uint8)
    assert np.array_equal(fit_image(same, 64, 64), same)
    with pytest.raises(ValueError, match="image"):
        fit_image(np.zeros((0, 5)), 64, 64)


def test_a_wider_camera_is_cropped_to_the_trained_field_of_view():
    """With the camera's intrinsics, the window that sees the trained view (here 70 deg of a
    90 deg camera, around an off-centre principal point) is cut out: a marked square at the
    trained view's edges fills the 64x64 image; a narrower camera is clipped and says so."""
    from sacgmm.robot.camera import fit_image, view_window
    h, w, fy = 480, 640, 240.0                      # 90 deg vertical field of view
    k = np.array([[fy, 0, 330.0], [0, fy, 230.0], [0, 0, 1]])
    half = fy * np.tan(np.radians(35.0))             # 168 px: the trained 70 deg
    top, left, rows, cols, clipped = view_window(k, (h, w), 70.0, 64, 64)
    assert not clipped and rows == cols == round(2 * half)
    assert abs(top + rows / 2 - 230.5) <= 0.5 and abs(left + cols / 2 - 330.5) <= 0.5
    img = np.zeros((h, w), np.uint8)
    img[top:top + rows, left:left + cols] = 200
    out = fit_image(img, 64, 64, view=(k, 70.0))
    assert (out == 200).all()
    assert not (fit_image(img, 64, 64) == 200).all()     # a plain centre crop sees more
    narrow = np.array([[1000.0, 0, 320], [0, 1000.0, 240], [0, 0, 1]])   # 27 deg
    assert view_window(narrow, (h, w), 70.0, 64, 64)[4]
    with pytest.raises(ValueError, match="focal"):
        view_window(np.zeros((3, 3)), (h, w), 70.0, 64, 64)
