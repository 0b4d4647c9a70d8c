"""A camera's image in the layout the agent was trained on (64x64), whatever its resolution.

:func:`fit_image` centre-crops an image to the aspect ratio of the target size and resizes it
with OpenCV: area averaging for intensity images (RGB, mono, tactile), nearest neighbour for
float images (depth in metres), whose invalid pixels (NaN/inf, as depth cameras report them)
become 0. The crop keeps the optical centre in the middle, as the simulated wrist camera's
square image has it. Pure numpy/OpenCV; imports no ROS.
"""
from __future__ import annotations

import numpy as np


def fit_image(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """``img`` (``(H, W)`` or ``(H, W, C)``) centre-cropped to ``height:width`` and resized to
    ``(height, width)``; the dtype and channels are kept. ``ValueError`` for an empty image or
    a size below 1."""
    import cv2

    img = np.asarray(img)
    if img.ndim not in (2, 3) or img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {img.shape}")
    if height < 1 or width < 1:
        raise ValueError(f"target size must be at least 1x1, got {height}x{width}")
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
