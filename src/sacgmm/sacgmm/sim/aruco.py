"""ArUco markers: texture generation for the simulated door and detection with ``cv2.aruco``.

Uses the OpenCV >= 4.7 API (``getPredefinedDictionary``, ``generateImageMarker``,
``ArucoDetector.detectMarkers``): the same detector code runs on a real camera image.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from sacgmm.fileio import atomic_write_bytes, atomic_write_text


def _aruco():
    import cv2
    if not hasattr(cv2, "aruco") or not hasattr(cv2.aruco, "ArucoDetector"):
        raise RuntimeError("cv2.aruco with ArucoDetector (OpenCV >= 4.7) is required")
    return cv2, cv2.aruco


def dictionary(name: str):
    """The OpenCV predefined dictionary called ``name`` (e.g. ``"DICT_4X4_50"``)."""
    cv2, aruco = _aruco()
    if not hasattr(aruco, name):
        raise ValueError(f"unknown ArUco dictionary {name!r}")
    return aruco.getPredefinedDictionary(getattr(aruco, name))


def marker_image(dict_name: str, marker_id: int, pixels: int, border: int) -> np.ndarray:
    """Grey uint8 image: the marker (``pixels`` wide) inside a white quiet zone of ``border`` px."""
    cv2, aruco = _aruco()
    img = aruco.generateImageMarker(dictionary(dict_name), int(marker_id), int(pixels))
    return np.pad(img, border, constant_values=255)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sacgmm" / "assets"


def marker_assets(dict_name: str, marker_id: int, side: float) -> tuple[Path, Path]:
    """A textured square mesh (Wavefront OBJ, ``side`` metres, in the y-z plane facing +x) and
    its PNG marker texture, written once into the user cache directory."""
    cv2, _ = _aruco()
    img = marker_image(dict_name, marker_id, 200, 40)
    ok, png = cv2.imencode(".png", np.dstack([img] * 3))
    if not ok:
        raise RuntimeError("could not encode the marker texture")
    key = hashlib.sha1(png.tobytes() + f"{side:.6f}".encode()).hexdigest()[:12]
    d = cache_dir()
    tex = d / f"aruco_{dict_name}_{marker_id}_{key}.png"
    obj = d / f"aruco_plate_v2_{key}.obj"
    if not tex.exists():
        atomic_write_bytes(tex, png.tobytes())
    if not obj.exists():
        h = side / 2
        text = "\n".join([
            "# square plate for an ArUco texture, normal +x",
            # seen from +x with z up, +y is to the right: u along +y, v along +z
            f"v 0 {-h} {-h}", f"v 0 {h} {-h}", f"v 0 {h} {h}", f"v 0 {-h} {h}",
            "vt 0 0", "vt 1 0", "vt 1 1", "vt 0 1",
            "vn 1 0 0",
            "f 1/1/1 2/2/1 3/3/1", "f 1/1/1 3/3/1 4/4/1", ""])
        atomic_write_text(obj, text)
    return obj, tex


class MarkerDetector:
    """Detects ArUco markers of one dictionary in RGB or grey images.

    ``params`` optionally sets attributes of ``cv2.aruco.DetectorParameters`` by name (e.g.
    ``adaptiveThreshWinSizeMin``/``Max``/``Step`` to try fewer adaptive-threshold windows,
    which is most of the detector's cost); unknown names raise ``ValueError``.
    """

    def __init__(self, dict_name: str, params: dict | None = None):
        cv2, aruco = _aruco()
        self._cv2 = cv2
        dp = aruco.DetectorParameters()
        for name, value in (params or {}).items():
            if not hasattr(dp, name):
                raise ValueError(f"unknown cv2.aruco.DetectorParameters field {name!r}")
            setattr(dp, name, type(getattr(dp, name))(value))
        self.detector = aruco.ArucoDetector(dictionary(dict_name), dp)

    def detect(self, image: np.ndarray) -> list[int]:
        """Ids of the markers found in ``image`` (``(H, W, 3)`` RGB or ``(H, W)`` grey uint8)."""
        img = np.asarray(image)
        if img.ndim == 3:
            img = self._cv2.cvtColor(np.ascontiguousarray(img[:, :, :3]), self._cv2.COLOR_RGB2GRAY)
        _, ids, _ = self.detector.detectMarkers(img)
        return [] if ids is None else [int(i) for i in ids.ravel()]
