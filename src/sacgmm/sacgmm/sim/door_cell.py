"""The door task's cell around a kinematically driven arm: the real-robot stand-in's door.

``iiwa_sim_driver scene:=door`` stands in for a real cell: an iiwa whose joints follow the
commanded velocities exactly (no dynamics, as a position-controlled KUKA approximates), the door
of ``sacgmm/tasks/door.yaml`` (same panel, handle bar, hinge spring, reward marker on the back,
and a second marker on the front from which ``aruco_target_detector`` finds the handle), a
gripper that is commanded like a real one, and two cameras. Since the arm is kinematic, the
door is too; its rules are the simulated task's, stated here without physics:

* **Grasp.** The fingers (one joint: the opening between them, m) close through the bar's
  width (``2 * 0.006`` m) while the TCP is within ``grasp.capture_radius`` of the bar's segment:
  the bar is held at the point nearest the TCP and the fingers stop at the bar's width. Closing
  elsewhere grips nothing (the fingers close fully). Opening the fingers beyond the bar's width
  lets go.
* **Held.** The door's angle follows the TCP: the held point turns about the hinge axis to the
  TCP's bearing, within the hinge's range (0 to 1.7 rad). When the TCP is more than
  ``grasp.slip_distance`` from the held point (pulled off the handle's arc, or the door at a
  limit) the bar slips out of the fingers, which then close through.
* **Released.** The door swings shut under its spring, ``I * angle'' = -(spring_preload +
  spring_stiffness * angle) - hinge_damping * angle'``, against the door stop at 0 (it stops
  there), with ``I`` the panel's inertia about the hinge (``panel_mass * panel_width^2 / 3``).

Not modelled: the panel does not block the arm or the fingers (a hand pushed through it
passes), and the grasp never slips from force (the spring's pull at the handle, about 6 N, is
far below the task's ``grasp.max_force``).

Frames: world, m; the hinge foot at ``hinge`` (world); angles in rad, 0 = shut. Cameras are
given as the pose of their *optical* frame in the world (x right, y down, z forward, ROS's
``camera_xyz``/``camera_rpy`` convention of :mod:`sacgmm.robot.marker_pose`) and a vertical
field of view; :func:`camera_view` turns that into PyBullet view and projection matrices and
the pinhole intrinsics a CameraInfo carries.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sacgmm.robot.gripper import closest_on_segment
from sacgmm.robot.marker_pose import transform
from sacgmm.sim.door import build_door, handle_local, rot_open
from sacgmm.sim.sensors import principal_point

BAR_HALF_THICKNESS = 0.006     # m: the handle bar's half-extent across (sacgmm.sim.door)
MAX_ANGLE = 1.7                # rad: the hinge's upper limit (sacgmm.sim.door)
SUBSTEPS = 4                   # spring integration steps per update


@dataclass(frozen=True)
class CameraView:
    """A pinhole camera for PyBullet: ``view``/``proj`` for ``getCameraImage`` and the
    intrinsics ``k`` (3x3, pixels) of a ``width`` x ``height`` image without distortion, of
    vertical field of view ``fov_deg``."""

    view: list
    proj: list
    k: np.ndarray
    width: int
    height: int
    fov_deg: float


def camera_view(p, xyz, rpy, width: int, height: int, fov_deg: float, near: float = 0.02,
                far: float = 3.0) -> CameraView:
    """The camera whose optical frame is at ``xyz``/``rpy`` (world, m / rad), with vertical
    field of view ``fov_deg``; ``ValueError`` for a bad size or field of view."""
    if int(width) < 8 or int(height) < 8:
        raise ValueError(f"camera size must be at least 8x8 pixels, got {width}x{height}")
    if not 1.0 <= float(fov_deg) <= 170.0:
        raise ValueError(f"camera field of view must be 1-170 degrees, got {fov_deg}")
    t = transform(xyz, rpy)
    eye, forward, down = t[:3, 3], t[:3, 2], t[:3, 1]
    view = p.computeViewMatrix(eye.tolist(), (eye + forward).tolist(), (-down).tolist())
    proj = p.computeProjectionMatrixFOV(float(fov_deg), width / height, near, far)
    f = (height / 2.0) / math.tan(math.radians(fov_deg) / 2.0)
    cx, cy = principal_point(width, height)
    k = np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])
    return CameraView(view, proj, k, int(width), int(height), float(fov_deg))


def optical_pose_looking_at(eye, target, up=(0.0, 0.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """``(xyz, rpy)`` of an optical frame at ``eye`` looking at ``target`` with image-up
    towards ``up`` (world, m): how a camera's extrinsics are chosen for a cell."""
    from scipy.spatial.transform import Rotation
    eye, target, up = (np.asarray(v, dtype=float) for v in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-9:
        raise ValueError("the viewing direction is parallel to 'up'")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return eye, Rotation.from_matrix(np.column_stack([x, y, z])).as_euler("xyz")


class DoorCell:
    """The door in PyBullet client ``p`` (the arm's world), from the door task's configuration
    ``cfg`` (``sacgmm.sim.config.load_task_config("door")``), its hinge foot at ``hinge``
    (world, m). ``front_marker``: the target marker on the panel's front (see
    :func:`sacgmm.sim.door.build_door`); None for none."""

    def __init__(self, p, cfg: dict, hinge, front_marker: dict | None = None):
        self.p = p
        self.g = g = cfg["geometry"]
        self.front_marker = front_marker
        self.body = build_door(p, g, front_marker=front_marker)
        grasp = g["grasp"]
        self.capture_radius = float(grasp["capture_radius"])
        self.slip_distance = float(grasp["slip_distance"])
        self.bar_half = np.array([0.0, float(grasp["bar_half_length"]), 0.0])
        self.bar_width = 2 * BAR_HALF_THICKNESS
        self.handle = handle_local(g)
        self.inertia = float(g["panel_mass"]) * float(g["panel_width"]) ** 2 / 3.0
        self.angle = 0.0
        self.rate = 0.0
        self.held_point: np.ndarray | None = None       # panel frame (m) while held
        self.grasps = 0
        self.slips = 0
        self.place(hinge)

    # ------------------------------------------------------------------ geometry
    def place(self, hinge) -> None:
        """Put the shut door with its hinge foot at ``hinge`` (world, m); lets go."""
        self.hinge = np.asarray(hinge, dtype=float).copy()
        if self.hinge.shape != (3,) or not np.isfinite(self.hinge).all():
            raise ValueError(f"door hinge position must be 3 finite numbers (m), got {hinge!r}")
        self.p.resetBasePositionAndOrientation(self.body, self.hinge.tolist(), [0, 0, 0, 1])
        self.held_point = None
        self._set(0.0, 0.0)

    def to_world(self, local, angle: float | None = None) -> np.ndarray:
        """A point of the panel's frame (m) in the world at ``angle`` (default: the current)."""
        return self.hinge + rot_open(self.angle if angle is None else angle, local)

    def to_panel(self, point) -> np.ndarray:
        """A world point (m) in the panel's frame at the current angle."""
        return rot_open(-self.angle, np.asarray(point, dtype=float) - self.hinge)

    def target(self) -> np.ndarray:
        """The task's target (world, m): the handle's centre with the door at the goal angle."""
        return self.to_world(self.handle, float(self.g["goal_angle"]))

    def bar_centre(self) -> np.ndarray:
        """The handle bar's centre now (world, m)."""
        return self.to_world(self.handle)

    def front_marker_in_world(self) -> np.ndarray:
        """4x4 pose of the front marker's frame (x right and y up as printed, z out of the
        face; ArUco's) in the world, with the door shut; ``ValueError`` without one."""
        if self.front_marker is None:
            raise ValueError("this door has no front marker")
        m, t = self.front_marker, float(self.g["panel_thickness"])
        out = np.eye(4)
        # the face looks along -x; seen from the front, right is -y and up is +z
        out[:3, :3] = np.column_stack([[0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]])
        out[:3, 3] = self.hinge + np.array([-(t / 2 + 0.001), -float(m["from_hinge"]),
                                            float(m["height"])])
        return out

    def front_marker_black_side(self) -> float:
        """Side (m) of the front marker's black square (the plate has a white quiet zone of
        40 px on each side of the 200 px marker, :func:`sacgmm.sim.aruco.marker_assets`)."""
        return float(self.front_marker["side"]) * 200.0 / 280.0

    def cover_front_marker(self, covered: bool) -> None:
        """Cover the front marker with a plain sheet (``covered``) or uncover it."""
        from sacgmm.sim.aruco import marker_assets
        m = self.front_marker
        if m is None:
            raise ValueError("this door has no front marker")
        if covered:
            self.p.changeVisualShape(self.body, 2, textureUniqueId=-1,
                                     rgbaColor=[0.8, 0.75, 0.6, 1])
        else:
            _, tex = marker_assets(m["dictionary"], int(m["id"]), float(m["side"]))
            self.p.changeVisualShape(self.body, 2, textureUniqueId=self.p.loadTexture(str(tex)),
                                     rgbaColor=[1, 1, 1, 1])

    @property
    def held(self) -> bool:
        return self.held_point is not None

    # ------------------------------------------------------------------ update
    def _set(self, angle: float, rate: float) -> None:
        self.angle, self.rate = float(angle), float(rate)
        self.p.resetJointState(self.body, 0, self.angle, self.rate)

    def step(self, dt: float, tcp, opening: float, previous_opening: float) -> float:
        """Advance the door by ``dt`` s with the TCP at ``tcp`` (world, m) and the fingers'
        opening moved from ``previous_opening`` to ``opening`` (m) during the step; returns
        the opening the fingers really have (they stop at the bar's width on the bar)."""
        tcp = np.asarray(tcp, dtype=float)
        if self.held and opening > self.bar_width + 1e-4:
            self.held_point = None                       # the hand opened
        if not self.held and previous_opening > self.bar_width >= opening:
            local = closest_on_segment(self.to_panel(tcp), self.handle, self.bar_half)
            if float(np.linalg.norm(self.to_world(local) - tcp)) <= self.capture_radius:
                self.held_point = local
                self.grasps += 1
        if self.held:
            self._follow(dt, tcp)
        else:
            self._swing(dt)
        return max(opening, self.bar_width) if self.held else opening

    def _follow(self, dt: float, tcp: np.ndarray) -> None:
        """The held point turns to the TCP's bearing about the hinge (within the hinge's range);
        the bar slips out when the TCP is then beyond ``slip_distance`` of it."""
        rel = tcp - self.hinge
        local = self.held_point
        # rot_open(a) turns by -a about z: bearing(world) = bearing(local) - a
        a = math.atan2(local[1], local[0]) - math.atan2(rel[1], rel[0])
        a = (a + math.pi) % (2 * math.pi) - math.pi
        a = float(np.clip(a, 0.0, MAX_ANGLE))
        self._set(a, (a - self.angle) / dt)
        if float(np.linalg.norm(self.to_world(local) - tcp)) > self.slip_distance:
            self.held_point = None
            self.slips += 1

    def _swing(self, dt: float) -> None:
        """The released door under its closing spring and damping; it stops at the door stop."""
        g = self.g
        q, qd = self.angle, self.rate
        h = dt / SUBSTEPS
        for _ in range(SUBSTEPS):
            tau = -(g["spring_preload"] + g["spring_stiffness"] * max(q, 0.0)) \
                - g["hinge_damping"] * qd
            qd += tau / self.inertia * h
            q += qd * h
            if q <= 0.0:
                q, qd = 0.0, 0.0
            elif q >= MAX_ANGLE:
                q, qd = MAX_ANGLE, 0.0
        self._set(q, qd)
