"""Where a task's target is, from an ArUco marker seen by a calibrated camera; without ROS.

A marker of side ``size`` (m) has its frame at its centre: x to the right and y up as printed,
z out of the printed face (OpenCV's convention for ``SOLVEPNP_IPPE_SQUARE``). The camera's
pose in the robot's world frame (``camera_in_world``, a 4x4 transform of the camera *optical*
frame: x right, y down, z forward) is measured once, like any hand-eye calibration. The target
is a fixed point of the object the marker is on, given in the marker's frame
(``target_in_marker``, m), e.g. the door handle's grasp point when the door is open at the
task's goal angle, measured on the shut door.

:func:`marker_poses` finds markers and their poses in the camera frame (``cv2.solvePnP``);
:func:`target_in_world` maps a marker pose to the target's position in the world frame.
"""
from __future__ import annotations

import numpy as np


def transform(xyz, rpy) -> np.ndarray:
    """4x4 homogeneous transform from a translation (m) and roll-pitch-yaw (rad, extrinsic
    x-y-z, as URDF and ROS use them)."""
    from scipy.spatial.transform import Rotation
    xyz, rpy = np.asarray(xyz, dtype=float).ravel(), np.asarray(rpy, dtype=float).ravel()
    if xyz.size != 3 or rpy.size != 3 or not (np.isfinite(xyz).all() and np.isfinite(rpy).all()):
        raise ValueError(f"a pose needs 3 finite xyz and 3 finite rpy values, got {xyz}, {rpy}")
    t = np.eye(4)
    t[:3, :3] = Rotation.from_euler("xyz", rpy).as_matrix()
    t[:3, 3] = xyz
    return t


def marker_corners(size: float) -> np.ndarray:
    """The marker's corners (4, 3) in its frame (m), in OpenCV's detection order: top-left,
    top-right, bottom-right, bottom-left."""
    if not (np.isfinite(size) and size > 0):
        raise ValueError(f"marker size must be a positive number of metres, got {size!r}")
    h = size / 2.0
    return np.array([[-h, h, 0.0], [h, h, 0.0], [h, -h, 0.0], [-h, -h, 0.0]])


def marker_poses(grey: np.ndarray, detector, camera_matrix: np.ndarray,
                 distortion: np.ndarray | None, size: float) -> dict[int, tuple[np.ndarray,
                                                                                    np.ndarray]]:
    """``{id: (R, t)}``: each marker found in ``grey`` (uint8) by ``detector`` (a
    ``cv2.aruco.ArucoDetector``), its rotation (3x3) and position (m) in the camera's optical
    frame, by ``cv2.solvePnP`` with ``SOLVEPNP_IPPE_SQUARE``."""
    import cv2
    corners, ids, _ = detector.detectMarkers(np.ascontiguousarray(grey))
    if ids is None:
        return {}
    k = np.asarray(camera_matrix, dtype=np.float64).reshape(3, 3)
    dist = np.zeros(5) if distortion is None or len(distortion) == 0 else \
        np.asarray(distortion, dtype=np.float64)
    obj = marker_corners(size)
    out = {}
    for marker_id, c in zip(ids.ravel(), corners):
        ok, rvec, tvec = cv2.solvePnP(obj, np.asarray(c, dtype=np.float64).reshape(4, 2), k, dist,
                                      flags=cv2.SOLVEPNP_IPPE_SQUARE)
        if ok:
            out[int(marker_id)] = (cv2.Rodrigues(rvec)[0], np.asarray(tvec, dtype=float).ravel())
    return out


def target_in_world(rotation: np.ndarray, position: np.ndarray, camera_in_world: np.ndarray,
                    target_in_marker) -> np.ndarray:
    """The target's position (m, world frame) from a marker pose in the camera frame."""
    p_cam = np.asarray(rotation) @ np.asarray(target_in_marker, dtype=float) + position
    return camera_in_world[:3, :3] @ p_cam + camera_in_world[:3, 3]
