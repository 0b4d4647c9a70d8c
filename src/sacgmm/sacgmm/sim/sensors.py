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

    def images(self) -> np.ndarray:
        """``(2, size, size)`` uint8 indentation images (finger 0: +axis side, 1: -axis side)."""
        tcp, rot = self.robot.tcp_pose()
        r0 = np.array(self.p.getMatrixFromQuaternion(self.robot.orientation)).reshape(3, 3)
        rel = rot @ r0.T
        axis = rel @ self.axis
        up = rel @ np.array([0.0, 0.0, 1.0])
        out = np.empty((2, self.size, self.size), dtype=np.uint8)
        for i, sgn in enumerate((1.0, -1.0)):
            n = sgn * axis
            eye = tcp + n * (self.pad_offset + self.cam_dist)
            view = look_at(self.p, eye, tcp, up)
            depth = render_depth(self.p, self.size, self.size, view, self.proj, self.near,
                                 self.far)
            indent = np.clip((self.cam_dist - depth) / self.gel, 0.0, 1.0)
            out[i] = np.round(indent * 255).astype(np.uint8)
        return out
