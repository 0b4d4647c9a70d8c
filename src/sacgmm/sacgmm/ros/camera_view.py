"""The trained camera's view in any camera's image: a node's image crop from its CameraInfo.

:class:`ViewCrop` subscribes to a camera's ``sensor_msgs/CameraInfo`` (sensor-data QoS) and fits
images to the agent's input with :func:`sacgmm.robot.camera.fit_image`: with a CameraInfo and
the field of view the agent was trained with (``view_fov``, deg), the window that sees that
view, about the principal point; without them (or before the first CameraInfo), a centre crop.
It logs once when the camera sees less than the trained view (the window is clipped).
"""
from __future__ import annotations

import numpy as np
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo

from sacgmm.robot.camera import fit_image, view_window
from sacgmm.ros.convert import camera_matrix


class ViewCrop:
    """Image fitting for ``node``; ``info_topic`` empty or ``fov`` 0: a centre crop."""

    def __init__(self, node, info_topic: str, fov: float):
        self.node, self.fov = node, float(fov)
        self.k: np.ndarray | None = None
        self._told: set[str] = set()
        self.active = bool(info_topic) and self.fov > 0
        if self.active:
            node.create_subscription(CameraInfo, info_topic, self._on_info,
                                     qos_profile_sensor_data)

    def _on_info(self, msg: CameraInfo) -> None:
        k = camera_matrix(msg)
        if k is not None:
            self.k = k

    def _once(self, key: str, text: str) -> None:
        if key not in self._told:
            self._told.add(key)
            self.node.get_logger().warning(text)

    def fit(self, img: np.ndarray, height: int, width: int) -> np.ndarray:
        """``img`` cropped and resized to ``(height, width)``."""
        if not self.active:
            return fit_image(img, height, width)
        if self.k is None:
            self._once("info", "no CameraInfo yet: centre crop until it comes")
            return fit_image(img, height, width)
        if view_window(self.k, img.shape[:2], self.fov, height, width)[4]:
            self._once("clip", f"the camera sees less than the trained {self.fov:g} deg view: "
                               "its whole extent is used (the image is magnified)")
        return fit_image(img, height, width, view=(self.k, self.fov))
