"""The real-robot stand-in's door cell (sacgmm.sim.door_cell): grasp, hinge and spring rules,
and the cell's camera calibration as the real-robot parameter file states it."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from skill_helpers import door_skill

from sacgmm.robot.gripper import GripperConfig, GripperCore
from sacgmm.robot.marker_pose import marker_poses, transform
from sacgmm.sim.config import load_task_config
from sacgmm.sim.door_cell import DoorCell, camera_view, optical_pose_looking_at
from sacgmm.sim.robot import connect_direct
from sacgmm.sim.sensors import render_rgb

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "src" / "sacgmm" / "config" / "door_opening.yaml"
HOME_TCP = np.array([0.5353, 0.0, 0.2728])      # m, iiwa_bridge HOME with the 0.2 m tool


@pytest.fixture()
def cell():
    p = connect_direct()
    params = yaml.safe_load(PARAMS.read_text())
    driver = params["iiwa_sim_driver"]["ros__parameters"]
    hinge = driver.get("door_hinge", [0.585, 0.25, -0.075])
    front = dict(dictionary="DICT_4X4_50", id=8, side=0.1, from_hinge=0.12, height=0.12)
    yield DoorCell(p, load_task_config("door"), hinge, front)
    p.disconnect()


def _run(cell, skill, seconds, grip=0.108, closing_speed=1.0, dt=0.01, x0=HOME_TCP):
    """The bridge's gripper rule and the controller's skill around the cell (no ROS)."""
    target = cell.target()
    core = GripperCore(GripperConfig(np.array([0.108]), np.array([0.0]),
                                     cell.bar_centre() - target, np.array([0.0, 0.035, 0.0]),
                                     0.02))
    x, command, angles = np.array(x0, dtype=float), grip, []
    for k in range(int(seconds / dt)):
        x = x + np.clip(skill.velocity(x - target), -0.15, 0.15) * dt
        cmd, _ = core.step(k * dt, True, False, x, target)
        if cmd is not None:
            command = float(cmd[0])
        step = closing_speed * dt
        grip = cell.step(dt, x, grip + float(np.clip(command - grip, -step, step)), grip)
        angles.append(cell.angle)
    return x, grip, np.array(angles)


def test_home_is_a_start_of_the_simulated_task(cell):
    cfg = load_task_config("door")["randomisation"]
    rel = HOME_TCP - cell.target()
    assert np.all(rel >= np.asarray(cfg["start_low"])) and np.all(rel <= cfg["start_high"])


def test_the_hand_grasps_the_bar_pulls_the_door_open_and_the_spring_shuts_it(cell):
    x, grip, angles = _run(cell, door_skill(), 15.0)
    assert cell.grasps == 1 and cell.slips == 0 and cell.held
    assert grip == pytest.approx(cell.bar_width)              # the fingers stop on the bar
    assert math.degrees(angles.max()) > 40.0                  # the reward camera's range
    assert np.all(np.diff(angles) >= -1e-9)                   # pulled open monotonically
    # the hand opens: the door is let go and swings shut within a second, and stays shut
    cell.step(0.01, x, 0.108, grip)
    assert not cell.held
    for _ in range(100):
        cell.step(0.01, x, 0.108, 0.108)
    assert cell.angle == 0.0 and cell.rate == 0.0


def test_closing_away_from_the_bar_grips_nothing(cell):
    far = cell.bar_centre() + np.array([-0.05, 0.0, 0.03])
    assert cell.step(0.01, far, 0.05, 0.108) == 0.05
    assert cell.step(0.01, far, 0.0, 0.05) == 0.0             # through the bar's width
    assert not cell.held and cell.grasps == 0
    # already closed when the hand reaches the bar: nothing to close on
    assert cell.step(0.01, cell.bar_centre(), 0.0, 0.0) == 0.0 and not cell.held


def test_pulling_off_the_handles_arc_slips(cell):
    bar = cell.bar_centre()
    assert cell.step(0.01, bar, 0.0, 0.108) == pytest.approx(cell.bar_width) and cell.held
    # straight up: the bearing does not change, the distance does
    for k in range(1, 6):
        cell.step(0.01, bar + np.array([0.0, 0.0, 0.01 * k]), 0.0, 0.0)
    assert not cell.held and cell.slips == 1


def test_the_door_camera_finds_the_target_from_the_front_marker_as_configured(cell):
    """The parameter file's door-camera pose and marker calibration are the stand-in cell's:
    rendered with the driver's camera, the detector's arithmetic gives the target to 1.5 cm,
    and the reward marker shows only once the door is open past 35 degrees."""
    import cv2

    from sacgmm.robot.marker_pose import target_in_world
    from sacgmm.sim.aruco import MarkerDetector

    params = yaml.safe_load(PARAMS.read_text())
    det_p = params["aruco_target_detector"]["ros__parameters"]
    cam = camera_view(cell.p, det_p["camera_xyz"], det_p["camera_rpy"], 320, 240, 40.0)
    detector = MarkerDetector("DICT_4X4_50", {
        "cornerRefinementMethod": cv2.aruco.CORNER_REFINE_SUBPIX})
    grey = cv2.cvtColor(render_rgb(cell.p, 320, 240, cam.view, cam.proj), cv2.COLOR_RGB2GRAY)
    poses = marker_poses(grey, detector.detector, cam.k, None, det_p["marker_size"])
    assert det_p["marker_size"] == pytest.approx(cell.front_marker_black_side(), abs=1e-4)
    rot, pos = poses[8]
    found = target_in_world(rot, pos, transform(det_p["camera_xyz"], det_p["camera_rpy"]),
                            det_p["target_in_marker"])
    assert np.linalg.norm(found - cell.target()) < 0.015
    truth = np.linalg.inv(cell.front_marker_in_world()) @ np.r_[cell.target(), 1.0]
    assert np.allclose(truth[:3], det_p["target_in_marker"], atol=2e-3)
    seen = []
    for deg in (0, 20, 30, 45, 60):
        cell._set(math.radians(deg), 0.0)
        seen.append(7 in detector.detect(render_rgb(cell.p, 320, 240, cam.view, cam.proj)))
    assert seen == [False, False, False, True, True]


def test_camera_view_and_bad_cameras(cell):
    xyz, rpy = optical_pose_looking_at([0.0, 0.0, 1.0], [1.0, 0.0, 1.0])
    t = transform(xyz, rpy)
    assert np.allclose(t[:3, 2], [1, 0, 0]) and np.allclose(t[:3, 1], [0, 0, -1])
    cam = camera_view(cell.p, xyz, rpy, 64, 48, 60.0)
    assert cam.k[0, 0] == pytest.approx(24.0 / math.tan(math.radians(30.0)))
    with pytest.raises(ValueError, match="at least 8x8"):
        camera_view(cell.p, xyz, rpy, 4, 48, 60.0)
    with pytest.raises(ValueError, match="field of view"):
        camera_view(cell.p, xyz, rpy, 64, 48, 0.0)
    with pytest.raises(ValueError, match="hinge"):
        cell.place([0.0, float("nan"), 0.0])


def test_a_covered_front_marker_is_not_seen(cell):
    import cv2

    from sacgmm.sim.aruco import MarkerDetector
    params = yaml.safe_load(PARAMS.read_text())["aruco_target_detector"]["ros__parameters"]
    cam = camera_view(cell.p, params["camera_xyz"], params["camera_rpy"], 320, 240, 40.0)
    detector = MarkerDetector("DICT_4X4_50", {
        "cornerRefinementMethod": cv2.aruco.CORNER_REFINE_SUBPIX})
    seen = []
    for covered in (True, False):
        cell.cover_front_marker(covered)
        seen.append(8 in detector.detect(render_rgb(cell.p, 320, 240, cam.view, cam.proj)))
    assert seen == [False, True]
