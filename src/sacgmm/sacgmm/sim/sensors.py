"""Simulated cameras: RGB, depth and vision-based tactile (DIGIT-like) images.

All images are rendered with PyBullet's CPU ``ER_TINY_RENDERER`` (no OpenGL context needed).
Depth images are *linear* distances along the optical axis in metres.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np


def _camera_image(p: Any, width: int, height: int, view, proj, flags: int):
    w, h, rgba, depth, _ = p.getCameraImage(
        width, height, viewMatrix=view, projectionMatrix=proj,
        renderer=p.ER_TINY_RENDERER, flags=flags)
    return np.asarray(rgba, dtype=np.uint8).reshape(h, w, 4), np.asarray(depth).reshape(h, w)


def render_rgb(p: Any, width: int, height: int, view, proj) -> np.ndarray:
    """An ``(height, width, 3)`` uint8 RGB image."""
    rgba, _ = _camera_image(p, width, height, view, proj, p.ER_NO_SEGMENTATION_MASK)
    return np.ascontiguousarray(rgba[:, :, :3])


def render_depth(p: Any, width: int, height: int, view, proj, near: float, far: float
                 ) -> np.ndarray:
    """An ``(height, width)`` float32 image of linear depth (m) in ``[near, far]``."""
    _, zbuf = _camera_image(p, width, height, view, proj, p.ER_NO_SEGMENTATION_MASK)
    depth = far * near / (far - (far - near) * zbuf)
    return depth.astype(np.float32)


def principal_point(width: int, height: int) -> tuple[float, float]:
    """Where PyBullet's TinyRenderer puts the optical axis in a ``width`` x ``height`` image
    (pixels, OpenCV's convention: the first pixel's centre is 0): half a pixel right of and half
    a pixel above the geometric centre ``((width - 1) / 2, (height - 1) / 2)``, as a marker
    on the optical axis is detected, for even and odd sizes. A CameraInfo of a rendered image
    needs it for pose estimates to the millimetre."""
    return width / 2.0, height / 2.0 - 1.0


def look_at(p: Any, eye, target, up) -> list[float]:
    return p.computeViewMatrix(list(map(float, eye)), list(map(float, target)),
                               list(map(float, up)))


def link_frame(p: Any, body: int, link: int) -> tuple[np.ndarray, np.ndarray]:
    """World position (m) and 3x3 rotation of a link's frame."""
    s = p.getLinkState(body, link, computeForwardKinematics=True)
    return np.asarray(s[4]), np.array(p.getMatrixFromQuaternion(s[5])).reshape(3, 3)


class StaticDepthCamera:
    """A fixed depth camera (lever task). ``cfg``: eye, target (relative to the target frame
    origin, m), up, fov (deg), near, far (m), size (px)."""

    def __init__(self, p: Any, cfg: dict):
        self.p = p
        self.cfg = cfg
        self.size = int(cfg["size"])
        self.near, self.far = float(cfg["near"]), float(cfg["far"])
        self.proj = p.computeProjectionMatrixFOV(float(cfg["fov"]), 1.0, self.near, self.far)
        self.view = None

    def place(self, origin: np.ndarray) -> None:
        c = self.cfg
        self.view = look_at(self.p, origin + np.asarray(c["eye"]),
                            origin + np.asarray(c["target"]), c["up"])

    def image(self) -> np.ndarray:
        """``(size, size)`` float32 depth in metres."""
        return render_depth(self.p, self.size, self.size, self.view, self.proj, self.near,
                            self.far)


class GripperRGBCamera:
    """An RGB camera rigidly mounted on the gripper (door task). ``cfg``: eye, look (camera
    position and viewing direction in the TCP-aligned world frame of the held orientation, m),
    up, fov (deg), near, far (m), size (px)."""

    def __init__(self, p: Any, robot, cfg: dict):
        self.p, self.robot, self.cfg = p, robot, cfg
        self.size = int(cfg["size"])
        self.proj = p.computeProjectionMatrixFOV(float(cfg["fov"]), 1.0, float(cfg["near"]),
                                                 float(cfg["far"]))
        self.eye = np.asarray(cfg["eye"], dtype=float)
        self.look = np.asarray(cfg["look"], dtype=float)
        self.up = np.asarray(cfg["up"], dtype=float)

    def image(self) -> np.ndarray:
        """``(size, size, 3)`` uint8 RGB."""
        tcp, rot = self.robot.tcp_pose()
        r0 = np.array(self.p.getMatrixFromQuaternion(self.robot.orientation)).reshape(3, 3)
        rel = rot @ r0.T  # deviation from the held orientation
        eye = tcp + rel @ self.eye
        view = look_at(self.p, eye, eye + rel @ self.look, rel @ self.up)
        return render_rgb(self.p, self.size, self.size, view, self.proj)


class TactileSensor:
    """Vision-based tactile sensors on both fingertips (DIGIT-like), one 64x64 image each.

    Each fingertip carries a square gel pad of side ``pad_size`` (m) and thickness
    ``gel_thickness`` (m) whose outer surface lies ``pad_offset`` (m) from the gripper axis
    along the finger-opening direction. A camera behind the pad looks through the gel towards
    the gripper axis; the image is the *indentation* of the gel, i.e. how far an object reaches
    past the gel surface, as uint8 ``255 * clip(indent / gel_thickness, 0, 1)``. It changes when
    the held object is pressed, tilted or shifted in the grasp (for example when the peg hits the
    board), because the grasp is compliant.

    The pads are modelled at the nominal contact points of the grasp (they are virtual
    surfaces, not the WSG-50 finger meshes of the robot model).

    Markers (``cfg["markers"]``, optional): like a GelSight or DIGIT gel with printed dots, each
    pad shows a grid of bright dots that moves with the gel's surface under the load the
    grasp carries. :meth:`images` takes that load, the force (N) and torque (N m) the grasp
    applies to the held object about the grasp point, in the held-orientation frame; it is
    shared by the two pads: half the force tangential to the pads each, the torque about axes
    in the pads' plane as opposite forces on the two pads (a couple over the distance between
    them), the torque about the pads' normal as half a twist each. Each pad's dots shift by
    its tangential force over ``shear_stiffness`` (N/m, at most ``max_shear`` m) and turn by
    its twist over ``twist_stiffness`` (N m/rad, at most ``max_twist`` rad). So a peg pressed
    onto the board shows the press in both pads' dots, and on which side of the peg the board
    bears in how the two pads' dots differ (the tilting torque), as on a real gel, where the
    indentation alone (a held peg moves little in the grasp) would not show it.
    """

    def __init__(self, p: Any, robot, cfg: dict):
        self.p, self.robot = p, robot
        self.size = int(cfg["size"])
        self.pad_offset = float(cfg["pad_offset"])
        self.gel = float(cfg["gel_thickness"])
        self.cam_dist = float(cfg["camera_distance"])
        half = float(cfg["pad_size"]) / 2
        fov = math.degrees(2 * math.atan(half / self.cam_dist))
        self.near = self.cam_dist - 1.5 * self.gel
        self.far = self.cam_dist + 0.02
        self.proj = p.computeProjectionMatrixFOV(fov, 1.0, self.near, self.far)
        self.axis = np.asarray(cfg["opening_axis"], dtype=float)  # in the held-orientation frame
        self.px_per_m = self.size / float(cfg["pad_size"])
        self.markers = dict(cfg["markers"]) if cfg.get("markers") else None
        if self.markers is not None:
            m = self.markers
            for key in ("spacing_px", "radius_px", "contrast", "shear_stiffness",
                        "twist_stiffness", "max_shear", "max_twist"):
                if not float(m.get(key, 0.0)) > 0:
                    raise ValueError(f"sensor.markers.{key} must be a positive number, got "
                                     f"{m.get(key)!r}")
            self._dots = marker_grid(self.size, float(m["spacing_px"]), float(m["radius_px"]))

    def pad_shear(self, force, torque) -> list[tuple[np.ndarray, float]]:
        """Per pad (finger 0: +axis side, 1: -axis side): the gel surface's displacement in the
        pad's plane (m, held-orientation frame) and its twist about the pad's normal (rad) under
        the grasp's load (class docstring)."""
        m = self.markers
        f = np.asarray(force, dtype=float)
        t = np.asarray(torque, dtype=float)
        n = self.axis / np.linalg.norm(self.axis)
        f_plane = f - (f @ n) * n
        t_plane = t - (t @ n) * n
        out = []
        for sgn in (1.0, -1.0):
            r = sgn * self.pad_offset * n                      # pad's contact point
            couple = np.cross(t_plane, r) / (2 * self.pad_offset ** 2)
            u = (0.5 * f_plane + couple) / float(m["shear_stiffness"])
            norm = float(np.linalg.norm(u))
            if norm > float(m["max_shear"]):
                u *= float(m["max_shear"]) / norm
            twist = float(np.clip(0.5 * (t @ n) / float(m["twist_stiffness"]),
                                  -float(m["max_twist"]), float(m["max_twist"])))
            out.append((u, twist))
        return out

    def images(self, force=None, torque=None) -> np.ndarray:
        """``(2, size, size)`` uint8 images (finger 0: +axis side, 1: -axis side): the gel's
        indentation, plus its markers displaced by the grasp's load (``force`` in N and
        ``torque`` in N m about the grasp point, held-orientation frame; none: unloaded)."""
        tcp, rot = self.robot.tcp_pose()
        r0 = np.array(self.p.getMatrixFromQuaternion(self.robot.orientation)).reshape(3, 3)
        rel = rot @ r0.T
        axis = rel @ self.axis
        up = rel @ np.array([0.0, 0.0, 1.0])
        shear = None
        if self.markers is not None:
            shear = self.pad_shear(np.zeros(3) if force is None else force,
                                   np.zeros(3) if torque is None else torque)
        out = np.empty((2, self.size, self.size), dtype=np.uint8)
        for i, sgn in enumerate((1.0, -1.0)):
            n = sgn * axis
            eye = tcp + n * (self.pad_offset + self.cam_dist)
            view = look_at(self.p, eye, tcp, up)
            depth = render_depth(self.p, self.size, self.size, view, self.proj, self.near,
                                 self.far)
            image = 255.0 * np.clip((self.cam_dist - depth) / self.gel, 0.0, 1.0)
            if shear is not None:
                u, twist = shear[i]
                # the pad camera looks along -n with ``up`` up: image columns run along
                # right = (-n) x up, rows down along -up
                right = np.cross(-(sgn * self.axis), np.array([0.0, 0.0, 1.0]))
                shift = (float(u @ right) * self.px_per_m, -float(u[2]) * self.px_per_m)
                image += float(self.markers["contrast"]) * moved(self._dots, shift, sgn * twist)
            out[i] = np.round(np.clip(image, 0.0, 255.0)).astype(np.uint8)
        return out


def marker_grid(size: int, spacing: float, radius: float) -> np.ndarray:
    """``(size, size)`` float32 in [0, 1]: round dots of ``radius`` px every ``spacing`` px,
    the grid centred on the image."""
    c = (size - 1) / 2.0
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    dx = (x - c + spacing / 2) % spacing - spacing / 2
    dy = (y - c + spacing / 2) % spacing - spacing / 2
    d = np.hypot(dx, dy)
    return np.clip(radius + 0.5 - d, 0.0, 1.0).astype(np.float32)


def moved(image: np.ndarray, shift: tuple[float, float], angle: float) -> np.ndarray:
    """``image`` turned by ``angle`` (rad, counter-clockwise as displayed) about its centre and
    shifted by ``shift`` = (columns, rows) px, bilinear, zero outside."""
    import cv2
    h, w = image.shape
    m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), math.degrees(angle), 1.0)
    m[:, 2] += shift
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
