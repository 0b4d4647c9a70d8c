"""A camera's image in the layout the agent was trained on (64x64), whatever its resolution.

:func:`fit_image` centre-crops an image to the aspect ratio of the target size and resizes it
with OpenCV: area averaging for intensity images (RGB, mono, tactile), nearest neighbour for
float images (depth in metres), whose invalid pixels (NaN/inf, as depth cameras report them)
become 0. The crop keeps the optical centre in the middle, as the simulated wrist camera's
square image has it. Given the camera's intrinsics (CameraInfo) and the field of view the
agent was trained with, it crops what that view sees instead, so a wider real camera gives the
agent the image scale it learned on. Pure numpy/OpenCV; imports no ROS.
"""
from __future__ import annotations

import numpy as np


def view_window(k, shape: tuple[int, int], fov_deg: float, height: int, width: int
                ) -> tuple[int, int, int, int, bool]:
    """The pixel window ``(top, left, rows, cols)`` of an image of ``shape`` (H, W) taken with
    intrinsics ``k`` (3x3, pixels) that sees what a camera of vertical field of view
    ``fov_deg`` with a ``height:width`` image sees: centred on the principal point, ``2 fy
    tan(fov / 2)`` rows and ``2 fx tan(hfov / 2)`` columns. Clipped to the image (shrunk about
    the principal point); the last value says whether it had to be by more than 5 % (the
    camera sees less than the trained view). ``ValueError`` for bad intrinsics or field of view."""
    k = np.asarray(k, dtype=float).reshape(3, 3)
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    if not (np.isfinite([fx, fy, cx, cy]).all() and fx > 0 and fy > 0):
        raise ValueError(f"camera intrinsics need positive finite focal lengths, got {k.tolist()}")
    if not 0 < fov_deg < 180:
        raise ValueError(f"field of view must be in (0, 180) degrees, got {fov_deg}")
    t = np.tan(np.radians(fov_deg) / 2.0)
    half_rows, half_cols = fy * t, fx * t * width / height
    rows_img, cols_img = shape
    # the largest window about the principal point that stays inside the image
    room = min(cy + 0.5, rows_img - 0.5 - cy) / half_rows, \
        min(cx + 0.5, cols_img - 0.5 - cx) / half_cols
    scale = min(1.0, *room)
    clipped = scale < 0.95            # a pixel or two at the border is not worth a word
    rows = max(1, int(round(2 * half_rows * scale)))
    cols = max(1, int(round(2 * half_cols * scale)))
    top = int(np.clip(round(cy + 0.5 - rows / 2), 0, rows_img - rows))
    left = int(np.clip(round(cx + 0.5 - cols / 2), 0, cols_img - cols))
    return top, left, rows, cols, clipped


def fit_image(img: np.ndarray, height: int, width: int, view=None) -> np.ndarray:
    """``img`` (``(H, W)`` or ``(H, W, C)``) centre-cropped to ``height:width`` and resized to
    ``(height, width)``; the dtype and channels are kept. ``view`` = ``(k, fov_deg)``: crop
    instead the window that sees the trained camera's field of view (:func:`view_window`).
    ``ValueError`` for an empty image or a size below 1."""
    import cv2

    img = np.asarray(img)
    if img.ndim not in (2, 3) or img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {img.shape}")
    if height < 1 or width < 1:
        raise ValueError(f"target size must be at least 1x1, got {height}x{width}")
    if view is not None:
        top, left, rows, cols, _ = view_window(view[0], img.shape[:2], view[1], height, width)
        img = img[top:top + rows, left:left + cols]
    h, w = img.shape[:2]
    if h * width > w * height:                      # too tall: crop rows
        keep = max(1, round(w * height / width))
        top = (h - keep) // 2
        img = img[top:top + keep]
    elif h * width < w * height:                    # too wide: crop columns
        keep = max(1, round(h * width / height))
        left = (w - keep) // 2
        img = img[:, left:left + keep]
    if img.shape[:2] == (height, width):
        return np.ascontiguousarray(img)
    floating = np.issubdtype(img.dtype, np.floating)
    if floating:
        img = np.where(np.isfinite(img), img, 0).astype(np.float32)
    channels = img.shape[2] if img.ndim == 3 else 0
    interp = cv2.INTER_NEAREST if floating else cv2.INTER_AREA
    if channels > 4:      # OpenCV resizes at most 4 channels at once
        out = np.stack([cv2.resize(np.ascontiguousarray(img[..., c]), (width, height),
                                   interpolation=interp) for c in range(channels)], axis=-1)
    else:
        out = cv2.resize(np.ascontiguousarray(img), (width, height), interpolation=interp)
        if channels == 1:
            out = out[..., None]
    return out.astype(np.float32 if floating else img.dtype, copy=False)
