"""Conversions between numpy / sacgmm objects and standard ROS 2 messages.

- images: ``numpy (H, W[, C]) <-> sensor_msgs/Image`` for mono8, rgb8, bgr8, 8UC<n>, mono16,
  16UC1, 32FC<n> (no cv_bridge needed); a pinhole ``sensor_msgs/CameraInfo`` from a field of view;
- GMM -> ``visualization_msgs/MarkerArray``: one SPHERE per component at ``mu_x,k`` (+ the target
  origin), scaled ``2 n_sigma sqrt(eigenvalues of Sigma_xx,k)`` (m) and oriented by the
  eigenvectors (a proper rotation, det +1); its colour alpha grows with the prior ``pi_k``;
- rollout ``(T, 3)`` (m, world) -> ``nav_msgs/Path``;
- segmented vectors of :mod:`sacgmm.ros.layouts` <-> ``std_msgs/Float64MultiArray``.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.spatial.transform import Rotation
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Pose, PoseStamped, Quaternion, Vector3
from nav_msgs.msg import Path
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import ColorRGBA, Float32MultiArray, Float64MultiArray, Header, MultiArrayDimension
from visualization_msgs.msg import Marker, MarkerArray

from sacgmm.robot.recording import quaternion_matrix
from sacgmm.ros.layouts import Segmented

# encoding -> (numpy dtype, channels)
_ENCODINGS = {
    "mono8": (np.uint8, 1), "rgb8": (np.uint8, 3), "bgr8": (np.uint8, 3),
    "rgba8": (np.uint8, 4), "bgra8": (np.uint8, 4),
    "mono16": (np.uint16, 1), "16UC1": (np.uint16, 1),
    "32FC1": (np.float32, 1), "32FC2": (np.float32, 2), "32FC3": (np.float32, 3),
}
for _n in range(1, 5):
    _ENCODINGS[f"8UC{_n}"] = (np.uint8, _n)


# -- headers / poses --------------------------------------------------------------------
def header(frame_id: str, stamp: Time | None = None) -> Header:
    return Header(frame_id=frame_id, stamp=stamp if stamp is not None else Time())


def stamp_seconds(stamp: Time) -> float:
    return float(stamp.sec) + 1e-9 * float(stamp.nanosec)


def pose_stamped(position, frame_id: str, stamp: Time | None = None,
                 quaternion=(0.0, 0.0, 0.0, 1.0)) -> PoseStamped:
    """A PoseStamped at ``position`` (3,) metres with orientation ``quaternion`` (x, y, z, w)."""
    p = np.asarray(position, dtype=float)
    x, y, z, w = (float(v) for v in quaternion)
    return PoseStamped(header=header(frame_id, stamp),
                       pose=Pose(position=Point(x=float(p[0]), y=float(p[1]), z=float(p[2])),
                                 orientation=Quaternion(x=x, y=y, z=z, w=w)))


def pose_position(pose: Pose) -> np.ndarray:
    """(3,) position of a geometry_msgs/Pose (m)."""
    return np.array([pose.position.x, pose.position.y, pose.position.z], dtype=np.float64)


def pose_rotation(pose: Pose) -> np.ndarray:
    """3x3 rotation matrix of a Pose's quaternion (normalised; identity for a zero quaternion)."""
    o = pose.orientation
    return quaternion_matrix((o.x, o.y, o.z, o.w))


def quaternion_from_matrix(r: np.ndarray) -> np.ndarray:
    """(x, y, z, w) unit quaternion (w >= 0) of a proper rotation matrix."""
    return Rotation.from_matrix(np.asarray(r, dtype=np.float64)).as_quat(canonical=True)


# -- images -----------------------------------------------------------------------------
def default_encoding(arr: np.ndarray) -> str:
    """The encoding :func:`image_to_msg` uses for ``arr`` when none is given."""
    ch = 1 if arr.ndim == 2 else arr.shape[2]
    if arr.dtype == np.uint8:
        return {1: "mono8", 3: "rgb8", 4: "rgba8"}.get(ch, f"8UC{ch}")
    if arr.dtype == np.uint16 and ch == 1:
        return "16UC1"
    if arr.dtype == np.float32:
        return f"32FC{ch}"
    raise ValueError(f"no image encoding for dtype {arr.dtype} with {ch} channel(s)")


def image_to_msg(arr: np.ndarray, encoding: str | None = None, frame_id: str = "",
                 stamp: Time | None = None) -> Image:
    """``(H, W)`` or ``(H, W, C)`` array -> sensor_msgs/Image (row-major, little-endian)."""
    arr = np.asarray(arr)
    if arr.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {arr.shape}")
    enc = encoding or default_encoding(arr)
    if enc not in _ENCODINGS:
        raise ValueError(f"unsupported image encoding {enc!r}")
    dtype, ch = _ENCODINGS[enc]
    if (1 if arr.ndim == 2 else arr.shape[2]) != ch:
        raise ValueError(f"encoding {enc} needs {ch} channel(s), image has shape {arr.shape}")
    data = np.ascontiguousarray(arr.astype(dtype, copy=False)).astype(np.dtype(dtype).newbyteorder("<"))
    h, w = arr.shape[:2]
    msg = Image(header=header(frame_id, stamp), height=h, width=w, encoding=enc,
                is_bigendian=0, step=w * ch * np.dtype(dtype).itemsize)
    msg.data = data.tobytes()
    return msg


def msg_to_image(msg: Image) -> np.ndarray:
    """sensor_msgs/Image -> ``(H, W)`` (one channel) or ``(H, W, C)`` array (a copy).

    Raises ``ValueError`` for an unsupported encoding or a buffer too small for its size.
    """
    if msg.encoding not in _ENCODINGS:
        raise ValueError(f"unsupported image encoding {msg.encoding!r}")
    dtype, ch = _ENCODINGS[msg.encoding]
    dt = np.dtype(dtype).newbyteorder(">" if msg.is_bigendian else "<")
    row = msg.width * ch * dt.itemsize
    if msg.step < row or len(msg.data) < msg.step * msg.height:
        raise ValueError(f"image buffer of {len(msg.data)} bytes is too small for "
                         f"{msg.height}x{msg.width} {msg.encoding} (step {msg.step})")
    buf = np.frombuffer(bytes(msg.data), dtype=np.uint8, count=msg.step * msg.height)
    rows = buf.reshape(msg.height, msg.step)[:, :row]
    img = np.ascontiguousarray(rows).view(dt).reshape(msg.height, msg.width, ch).astype(dtype)
    return img[:, :, 0] if ch == 1 else img


#: 8-bit encodings a marker detector reads, with the OpenCV conversion to grey (None: already)
GREY_CONVERSIONS = {"mono8": None, "rgb8": "RGB2GRAY", "bgr8": "BGR2GRAY",
                    "rgba8": "RGBA2GRAY", "bgra8": "BGRA2GRAY"}


def msg_to_grey(msg: Image) -> np.ndarray:
    """sensor_msgs/Image of an encoding in :data:`GREY_CONVERSIONS` -> ``(H, W)`` uint8 grey
    image (C-contiguous). ``ValueError`` for any other encoding or a bad buffer."""
    if msg.encoding not in GREY_CONVERSIONS:
        raise ValueError(f"unsupported image encoding {msg.encoding!r} (use one of "
                         f"{', '.join(GREY_CONVERSIONS)})")
    img = msg_to_image(msg)
    code = GREY_CONVERSIONS[msg.encoding]
    if code is not None:
        import cv2
        img = cv2.cvtColor(img, getattr(cv2, "COLOR_" + code))
    return np.ascontiguousarray(img)


def camera_info(width: int, height: int, fov_deg: float, frame_id: str = "",
                stamp: Time | None = None, principal: tuple[float, float] | None = None
                ) -> CameraInfo:
    """Pinhole CameraInfo (no distortion) for a vertical field of view ``fov_deg`` (degrees);
    the principal point ``principal`` (pixels; default the image centre, OpenCV's
    ``((width - 1) / 2, (height - 1) / 2)``)."""
    f = 0.5 * height / math.tan(math.radians(fov_deg) / 2.0)
    cx, cy = principal if principal is not None else ((width - 1) / 2.0, (height - 1) / 2.0)
    return CameraInfo(header=header(frame_id, stamp), width=int(width), height=int(height),
                      distortion_model="plumb_bob", d=[0.0] * 5,
                      k=[f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0],
                      r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                      p=[f, 0.0, cx, 0.0, 0.0, f, cy, 0.0, 0.0, 0.0, 1.0, 0.0])


def camera_matrix(msg: CameraInfo) -> np.ndarray | None:
    """The intrinsics ``K`` (3x3, pixels) of a CameraInfo; None unless both focal lengths are
    positive and every entry is finite (an uncalibrated camera sends zeros)."""
    k = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
    return k if k[0, 0] > 0 and k[1, 1] > 0 and np.isfinite(k).all() else None


# -- segmented multi-arrays -------------------------------------------------------------
def to_multiarray(seg: Segmented, cls=Float64MultiArray):
    """A :class:`~sacgmm.ros.layouts.Segmented` vector as Float64MultiArray (or ``cls``)."""
    msg = cls()
    msg.layout.dim = [MultiArrayDimension(label=l, size=int(s), stride=int(st))
                      for l, s, st in zip(seg.labels, seg.sizes, seg.strides)]
    msg.layout.data_offset = 0
    msg.data = [float(v) for v in seg.data]
    return msg


def from_multiarray(msg) -> Segmented:
    """Inverse of :func:`to_multiarray` (no validation: see :mod:`sacgmm.ros.layouts`)."""
    data = np.asarray(msg.data, dtype=np.float64)[int(msg.layout.data_offset):]
    dims = list(msg.layout.dim)
    return Segmented(tuple(d.label for d in dims), tuple(int(d.size) for d in dims),
                     tuple(int(d.stride) for d in dims), data)


def latent_msg(z: np.ndarray, label: str = "latent") -> Float32MultiArray:
    """A latent vector as Float32MultiArray with one dimension labelled ``label``."""
    z = np.asarray(z, dtype=np.float32).ravel()
    msg = Float32MultiArray()
    msg.layout.dim = [MultiArrayDimension(label=label, size=int(z.size), stride=int(z.size))]
    msg.data = z.tolist()
    return msg


# -- RViz -------------------------------------------------------------------------------
def _color(r: float, g: float, b: float, a: float) -> ColorRGBA:
    return ColorRGBA(r=float(r), g=float(g), b=float(b), a=float(a))


_PALETTE = [(0.12, 0.47, 0.71), (1.0, 0.5, 0.05), (0.17, 0.63, 0.17), (0.84, 0.15, 0.16),
            (0.58, 0.4, 0.74), (0.55, 0.34, 0.29), (0.89, 0.47, 0.76), (0.5, 0.5, 0.5)]


def ellipsoid_pose(mean: np.ndarray, cov: np.ndarray, n_sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centre (3,), scale (3,) = 2 n_sigma sqrt(eigenvalues), quaternion (x, y, z, w)) of a 3x3
    covariance; eigenvectors form a proper rotation (a column is flipped if det is -1)."""
    cov = 0.5 * (np.asarray(cov, dtype=float) + np.asarray(cov, dtype=float).T)
    evals, evecs = np.linalg.eigh(cov)
    if np.linalg.det(evecs) < 0:
        evecs[:, 2] = -evecs[:, 2]
    scale = 2.0 * n_sigma * np.sqrt(np.maximum(evals, 0.0))
    return np.asarray(mean, dtype=float), scale, quaternion_from_matrix(evecs)


def gmm_markers(skill, origin, frame_id: str, stamp: Time | None = None, n_sigma: float = 1.0,
                ns: str = "sacgmm_gmm") -> MarkerArray:
    """The position block of each component of ``skill`` (d = 3) as SPHERE markers.

    ``origin`` (3,) is the target-frame origin in ``frame_id`` (m); the target frame has the
    axes of ``frame_id``. Marker ids are the component indices; alpha is 0.25 + 0.6 pi_k.
    """
    if skill.dim != 3:
        raise ValueError(f"ellipsoid markers need a 3-D skill, got d={skill.dim}")
    origin = np.asarray(origin, dtype=float)
    out = MarkerArray()
    for k in range(skill.n_components):
        centre, scale, q = ellipsoid_pose(skill.means[k, :3], skill.covariances[k, :3, :3], n_sigma)
        centre = centre + origin
        m = Marker(header=header(frame_id, stamp), ns=ns, id=k, type=Marker.SPHERE,
                   action=Marker.ADD)
        m.pose = Pose(position=Point(x=float(centre[0]), y=float(centre[1]), z=float(centre[2])),
                      orientation=Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])))
        m.scale = Vector3(x=float(max(scale[0], 1e-4)), y=float(max(scale[1], 1e-4)),
                          z=float(max(scale[2], 1e-4)))
        m.color = _color(*_PALETTE[k % len(_PALETTE)], 0.25 + 0.6 * float(skill.priors[k]))
        out.markers.append(m)
    return out


def target_marker(origin, frame_id: str, stamp: Time | None = None, size: float = 0.02,
                  ns: str = "sacgmm_target", marker_id: int = 0) -> Marker:
    """A small red sphere at the perceived target origin ``origin`` (m)."""
    o = np.asarray(origin, dtype=float)
    m = Marker(header=header(frame_id, stamp), ns=ns, id=marker_id, type=Marker.SPHERE,
               action=Marker.ADD)
    m.pose.position = Point(x=float(o[0]), y=float(o[1]), z=float(o[2]))
    m.pose.orientation.w = 1.0
    m.scale = Vector3(x=float(size), y=float(size), z=float(size))
    m.color = _color(0.9, 0.1, 0.1, 0.9)
    return m


def path_msg(points: np.ndarray, frame_id: str, stamp: Time | None = None) -> Path:
    """Positions ``(T, 3)`` (m, in ``frame_id``) as a nav_msgs/Path (identity orientations)."""
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"path points must have shape (T, 3), got {pts.shape}")
    h = header(frame_id, stamp)
    path = Path(header=h)
    path.poses = [pose_stamped(p, frame_id, stamp) for p in pts]
    return path
