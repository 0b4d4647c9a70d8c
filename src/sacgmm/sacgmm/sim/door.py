"""Door opening: pull a miniature spring-loaded door open by its handle.

Geometry (``sacgmm/tasks/door.yaml``): a panel on a vertical hinge, opening towards the robot;
a closing spring (torque ``-(spring_preload + spring_stiffness * angle) - hinge_damping * rate``,
applied at every physics step) swings it shut against a door stop when released. The handle is a
horizontal bar ``handle_standoff`` in front of the panel, grasped by the force-limited grasp of
:class:`sacgmm.sim.base.Grasp` (it slips if pulled off the handle's arc).

An ArUco marker (``marker.dictionary``, ``marker.id``) is textured on the *back* of the door. A
static camera placed at bearing ``direction_deg`` from the door can only see the back face once
the door is open past roughly 30 degrees. **Success is decided by detecting the marker with
``cv2.aruco`` in that camera's rendered image** (every ``check_every`` control steps), never by
reading the hinge angle. The check runs at ``control_hz / check_every`` (6 Hz with the
frozen settings, like a slower camera), so a success is seen up to ``check_every - 1`` control
steps after the marker becomes visible; detection is on the full-resolution image with a
reduced set of adaptive-threshold windows (``aruco_camera.detector``), which gives the same
detections as OpenCV's defaults at this image size (checked over 0-90 degrees).

The fingers do not collide with the door (see ``_build_scene``), so nothing in the physics stops
the hand from reaching *through* the panel, where it could pull the door open by its top edge
with the palm, which no real gripper can do. A TCP that reaches the panel's front face within
the panel's extent ends the episode as a failure (end reason ``"through_door"``).

Target frame: origin at the handle's grasp point with the door open at ``goal_angle``; axes
parallel to the world's. The sampled reference point of the randomisation is the hinge foot.

Sensor: ``obs["rgb"]``, ``(64, 64, 3)`` uint8 from a camera mounted on the gripper.

Failure analysis (``info["failure"]``): ``through_door``, else ``never_reached`` (never
grasped), ``released_early`` (the handle slipped out and was not held at the end) or
``stalled`` (held at the end).

Dense reward (``dense=True``): ``-|TCP - handle|`` (m) plus ``0.5 * angle`` (rad).
"""
from __future__ import annotations

import math

import numpy as np
from gymnasium import spaces
from scipy.spatial.transform import Rotation

from sacgmm.sim.aruco import MarkerDetector, marker_assets
from sacgmm.sim.base import Grasp, SimTaskEnv
from sacgmm.sim.render import RenderWorld
from sacgmm.sim.sensors import GripperRGBCamera, look_at, render_rgb


def rot_open(angle: float, v) -> np.ndarray:
    """Rotate a world-frame 3-vector ``v`` by the door opening ``angle`` (rad, about -z)."""
    return Rotation.from_rotvec([0.0, 0.0, -float(angle)]).apply(np.asarray(v, dtype=float))


def handle_local(g: dict) -> np.ndarray:
    """The handle bar's centre (m) in the panel's link frame (on the hinge axis; the panel
    spans ``x`` in +-thickness/2, ``y`` in [-width, 0], ``z`` from ``panel_bottom`` up), for
    the task's ``geometry`` section ``g``."""
    return np.array([-(g["panel_thickness"] / 2 + g["handle_standoff"]),
                     -g["handle_from_hinge"], g["handle_height"]])


def build_door(p, g: dict, front_marker: dict | None = None, base=(0.7, 0.15, 0.0)) -> int:
    """Build the door (fixed frame with a hinge post and a door stop, the hinged panel with its
    handle bar, the reward marker on the panel's back) in PyBullet client ``p`` from the task's
    ``geometry`` section ``g``; the hinge foot at ``base`` (world, m; move it with
    ``resetBasePositionAndOrientation``). Link 0 is the panel (revolute about -z, 0 = shut),
    link 1 the reward marker plate. ``front_marker`` (``dictionary``, ``id``, ``side`` incl.
    the white quiet zone, ``from_hinge`` and ``height``: the plate's centre along the panel and
    above the ground, m) adds a second marker plate on the panel's front as link 2."""
    w, h, t = g["panel_width"], g["panel_height"], g["panel_thickness"]
    z0 = g["panel_bottom"]
    hl = handle_local(g)
    so = g["handle_standoff"]
    # fixed frame: a hinge post and a door stop behind the free edge
    frame_boxes = [([0.02, 0.02, (z0 + h) / 2], [t / 2 + 0.03, 0.03, (z0 + h) / 2]),
                   ([0.01, 0.02, 0.05], [t / 2 + 0.011, -w + 0.03, z0 + h / 2])]
    fcol = p.createCollisionShapeArray(
        shapeTypes=[p.GEOM_BOX] * 2, halfExtents=[b[0] for b in frame_boxes],
        collisionFramePositions=[b[1] for b in frame_boxes],
        collisionFrameOrientations=[[0, 0, 0, 1]] * 2)
    fvis = p.createVisualShapeArray(
        shapeTypes=[p.GEOM_BOX] * 2, halfExtents=[b[0] for b in frame_boxes],
        radii=[0, 0], lengths=[0, 0], fileNames=["", ""], meshScales=[[1, 1, 1]] * 2,
        planeNormals=[[0, 0, 1]] * 2, flags=[0, 0],
        visualFramePositions=[b[1] for b in frame_boxes],
        visualFrameOrientations=[[0, 0, 0, 1]] * 2,
        rgbaColors=[[0.35, 0.25, 0.2, 1]] * 2)
    # panel link (frame on the hinge axis) with the handle bar and its two standoffs
    parts = [([t / 2, w / 2, h / 2], [0, -w / 2, z0 + h / 2], [0.8, 0.75, 0.6, 1]),
             ([0.006, 0.04, 0.006], hl.tolist(), [0.2, 0.2, 0.2, 1]),
             ([so / 2, 0.005, 0.005], [-(t / 2 + so / 2), hl[1] + 0.035, hl[2]],
              [0.2, 0.2, 0.2, 1]),
             ([so / 2, 0.005, 0.005], [-(t / 2 + so / 2), hl[1] - 0.035, hl[2]],
              [0.2, 0.2, 0.2, 1])]
    n = len(parts)
    pcol = p.createCollisionShapeArray(
        shapeTypes=[p.GEOM_BOX] * n, halfExtents=[q[0] for q in parts],
        collisionFramePositions=[q[1] for q in parts],
        collisionFrameOrientations=[[0, 0, 0, 1]] * n)
    pvis = p.createVisualShapeArray(
        shapeTypes=[p.GEOM_BOX] * n, halfExtents=[q[0] for q in parts], radii=[0] * n,
        lengths=[0] * n, fileNames=[""] * n, meshScales=[[1, 1, 1]] * n,
        planeNormals=[[0, 0, 1]] * n, flags=[0] * n,
        visualFramePositions=[q[1] for q in parts],
        visualFrameOrientations=[[0, 0, 0, 1]] * n, rgbaColors=[q[2] for q in parts])
    # marker plates: the reward marker on the back (+x), the optional one on the front (-x)
    plates = [(g["marker"], [t / 2 + 0.001, -w / 2, z0 + h / 2], [0, 0, 0, 1])]
    if front_marker is not None:
        plates.append((front_marker, [-(t / 2 + 0.001), -float(front_marker["from_hinge"]),
                                      float(front_marker["height"])], [0, 0, 1, 0]))
    textures, visuals = [], []
    for m, _, _ in plates:
        obj, tex = marker_assets(m["dictionary"], int(m["id"]), float(m["side"]))
        visuals.append(p.createVisualShape(p.GEOM_MESH, fileName=str(obj), meshScale=[1, 1, 1]))
        textures.append(tex)
    k = len(plates)
    door = p.createMultiBody(
        0, fcol, fvis, basePosition=[float(v) for v in base],
        linkMasses=[g["panel_mass"]] + [0.0] * k, linkCollisionShapeIndices=[pcol] + [-1] * k,
        linkVisualShapeIndices=[pvis] + visuals,
        linkPositions=[[0, 0, 0]] + [q[1] for q in plates],
        linkOrientations=[[0, 0, 0, 1]] + [q[2] for q in plates],
        linkInertialFramePositions=[[0, -w / 2, z0 + h / 2]] + [[0, 0, 0]] * k,
        linkInertialFrameOrientations=[[0, 0, 0, 1]] * (k + 1),
        linkParentIndices=[0] + [1] * k,
        linkJointTypes=[p.JOINT_REVOLUTE] + [p.JOINT_FIXED] * k,
        linkJointAxis=[[0, 0, -1]] + [[0, 0, 1]] * k)
    # hinge range: shut (0) to fully open; the lower limit is the door stop
    p.changeDynamics(door, 0, jointLowerLimit=0.0, jointUpperLimit=1.7)
    for link, tex in enumerate(textures, start=1):
        p.changeVisualShape(door, link, textureUniqueId=p.loadTexture(str(tex)),
                            rgbaColor=[1, 1, 1, 1])
    return door


class DoorOpeningEnv(SimTaskEnv):
    """``sacgmm/DoorOpening-v0``; options and conventions in :mod:`sacgmm.sim.base`."""

    TASK = "door"

    def _build_scene(self) -> None:
        p, g = self.bullet, self.cfg["geometry"]
        self.g = g
        self.door = build_door(p, g)
        # the fingers straddle the bar and pass through the door (panel and frame) instead of
        # jamming against the door stop behind the panel; palm and arm still collide
        self.disable_finger_collisions(self.door, [-1, 0])
        self.grasp = Grasp(self, self.door, 0, handle_local(self.g), g["grasp"],
                           segment_half=[0.0, float(g["grasp"]["bar_half_length"]), 0.0])
        self.render_world = RenderWorld(p, self.robot)  # always: the ArUco camera needs it
        proxy = build_door(self.render_world.p, g)
        self.render_world.track(self.door, proxy)
        cam = self.cfg["aruco_camera"]
        self.aruco_size = int(cam["size"])
        self.aruco_proj = self.render_world.p.computeProjectionMatrixFOV(
            float(cam["fov"]), 1.0, float(cam["near"]), float(cam["far"]))
        self.check_every = int(cam["check_every"])
        self.detector = MarkerDetector(g["marker"]["dictionary"], cam.get("detector"))
        self.marker_id = int(g["marker"]["id"])
        self.gripper_camera = (GripperRGBCamera(self.render_world.p, self.robot, self.cfg["sensor"])
                               if self.sensor else None)
        self._detected = False

    def _place_scene(self, hinge: np.ndarray) -> np.ndarray:
        g, p = self.g, self.bullet
        hinge = hinge.copy()
        hinge[2] = 0.0
        p.resetBasePositionAndOrientation(self.door, hinge.tolist(), [0, 0, 0, 1])
        p.resetJointState(self.door, 0, 0.0, 0.0)
        p.setJointMotorControl2(self.door, 0, p.VELOCITY_CONTROL, force=0.0)
        self._hinge = hinge
        origin = hinge + rot_open(float(g["goal_angle"]), handle_local(self.g))
        cam = self.cfg["aruco_camera"]
        # camera aimed at the centre of the door's back face when opened to ~45 deg
        centre = hinge + rot_open(math.radians(45), [0, -g["panel_width"] / 2, 0])
        centre[2] = g["panel_bottom"] + g["panel_height"] / 2
        b = math.radians(float(cam["direction_deg"]))
        eye = centre + float(cam["distance"]) * np.array([math.cos(b), -math.sin(b), 0.0])
        eye[2] = g["handle_height"] + float(cam["height"])
        self.aruco_view = look_at(self.render_world.p, eye, centre, [0, 0, 1])
        self._detected = False
        return origin

    def _remove_episode_objects(self) -> None:
        self.grasp.reset_episode()

    def _failure(self) -> str:
        return self.grasp.failure()

    def door_angle(self) -> float:
        """Opening angle of the door (rad, 0 = shut)."""
        return float(self.bullet.getJointState(self.door, 0)[0])

    def _before_physics_step(self) -> None:
        q, qd = self.bullet.getJointState(self.door, 0)[:2]
        g = self.g
        tau = -(g["spring_preload"] + g["spring_stiffness"] * max(q, 0.0)) - g["hinge_damping"] * qd
        self.bullet.setJointMotorControl2(self.door, 0, self.bullet.TORQUE_CONTROL, force=tau)

    def aruco_image(self) -> np.ndarray:
        """The static camera's RGB image (``size x size x 3`` uint8) of the current state."""
        self.render_world.sync()
        return render_rgb(self.render_world.p, self.aruco_size, self.aruco_size,
                          self.aruco_view, self.aruco_proj)

    def marker_visible(self) -> bool:
        """Render the static camera and run ``cv2.aruco`` detection for the door's marker."""
        return self.marker_id in self.detector.detect(self.aruco_image())

    def _after_control_step(self, tcp: np.ndarray) -> None:
        self.grasp.update(tcp)
        if self._steps % self.check_every == 0:
            self._detected = self.marker_visible()

    def _is_success(self) -> bool:
        return self._detected

    def tcp_in_door_frame(self, tcp: np.ndarray) -> np.ndarray:
        """``tcp`` (world, m) in the panel's link frame (on the hinge axis; the panel spans
        ``x`` in +-thickness/2, ``y`` in [-width, 0], ``z`` from ``panel_bottom`` up)."""
        return self.grasp.to_link_frame(tcp)       # the handle is on the panel link

    def _violation(self, tcp: np.ndarray) -> str | None:
        g = self.g
        x, y, z = self.tcp_in_door_frame(tcp)
        inside = (-g["panel_width"] <= y <= 0.0
                  and g["panel_bottom"] <= z <= g["panel_bottom"] + g["panel_height"])
        return "through_door" if inside and x > -g["panel_thickness"] / 2 else None

    def _shaping(self, tcp: np.ndarray) -> float:
        return -float(np.linalg.norm(tcp - self.grasp.point_world())) + 0.5 * self.door_angle()

    @staticmethod
    def sensor_spaces(cfg: dict) -> dict:
        s = int(cfg["sensor"]["size"])
        return {"rgb": spaces.Box(0, 255, shape=(s, s, 3), dtype=np.uint8)}

    def _sensor_obs(self) -> dict:
        self.render_world.sync()
        return {"rgb": self.gripper_camera.image()}

    def _task_info(self) -> dict:
        return {"door_angle": self.door_angle(), "grasped": self.grasp.held,
                "marker_detected": self._detected, "slips": self.grasp.n_slips,
                # m along the bar from its centre, > 0 towards the hinge; None: not held
                "grasp_offset": self.grasp.offset}

    def force_open(self, angle: float) -> None:
        """Set the door to ``angle`` (rad) at rest (for tests and calibration of the camera)."""
        self.bullet.resetJointState(self.door, 0, float(angle), 0.0)
