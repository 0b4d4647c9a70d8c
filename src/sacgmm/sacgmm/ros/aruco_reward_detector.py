"""``aruco_reward_detector``: the sparse reward from an ArUco marker seen by a camera.

The door-opening task's reward (paper, section V): a marker on the back of the door becomes
visible to the camera when the door is open. Detection uses OpenCV >= 4.7
(``cv2.aruco.ArucoDetector`` via :class:`sacgmm.sim.aruco.MarkerDetector`, the simulator's
detector); marker poses come from ``cv2.solvePnP`` (``SOLVEPNP_IPPE_SQUARE``) with the
intrinsics of the latest CameraInfo.

Subscribes ``image_topic`` (sensor_msgs/Image, sensor-data QoS; mono8/rgb8/bgr8/rgba8/bgra8)
and ``camera_info_topic`` (sensor_msgs/CameraInfo, sensor-data QoS). Reports its health on
``/diagnostics`` (:mod:`sacgmm.ros.health`): a fault when no image came for ``image_timeout`` s.
Publishes, for every image:
  ``/sacgmm/reward`` (std_msgs/Float32): ``reward`` when successful, else 0;
  ``/sacgmm/success`` (std_msgs/Bool): the marker ``marker_id`` (any marker if -1) was detected
  in at least ``success_frames`` consecutive images;
  ``aruco_poses`` (geometry_msgs/PoseArray, camera optical frame, m): pose of each detected
  marker (as ros2_aruco), once CameraInfo has arrived.
"""
from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Point, Pose, PoseArray, Quaternion
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Bool, Float32

from sacgmm.ros.convert import camera_matrix, msg_to_grey, quaternion_from_matrix
from sacgmm.ros.params import Param, StartupError, declare, run_node

PARAMS = (
    Param("marker_size", 0.14, "side length of the printed marker (m)", range=(1e-4, 10.0)),
    Param("aruco_dictionary_id", "DICT_4X4_50", "OpenCV predefined dictionary name"),
    Param("marker_id", 7, "id of the reward marker; -1: any marker", range=(-1, 100000)),
    Param("image_topic", "/sacgmm/aruco_camera/image_raw", "camera image topic"),
    Param("camera_info_topic", "/sacgmm/aruco_camera/camera_info", "CameraInfo topic"),
    Param("success_frames", 1, "consecutive detections needed for success", range=(1, 1000)),
    Param("reward", 1.0, "reward published on success", range=(-1e6, 1e6)),
    Param("image_timeout", 1.0, "no image for this long is a fault on /diagnostics (s): "
          "iiwa_bridge pauses the arm, since no success could be seen", range=(0.01, 600.0)),
)

class ArucoRewardDetector(Node):
    """See the module docstring."""

    def __init__(self, **kwargs):
        super().__init__("aruco_reward_detector", **kwargs)
        p = declare(self, PARAMS)
        self.p = p
        import cv2
        from sacgmm.sim.aruco import MarkerDetector
        self.cv2 = cv2
        try:
            self.detector = MarkerDetector(p["aruco_dictionary_id"])
        except ValueError as exc:
            raise StartupError(f"parameter 'aruco_dictionary_id': {exc}") from None
        h = p["marker_size"] / 2.0
        self.object_points = np.array([[-h, h, 0.0], [h, h, 0.0], [h, -h, 0.0], [-h, -h, 0.0]])
        self.k = None
        self.dist = None
        self.streak = 0
        self.n_images = 0
        self.reward_pub = self.create_publisher(Float32, "/sacgmm/reward", 10)
        self.success_pub = self.create_publisher(Bool, "/sacgmm/success", 10)
        self.poses_pub = self.create_publisher(PoseArray, "aruco_poses", 10)
        self.create_subscription(Image, p["image_topic"], self._on_image, qos_profile_sensor_data)
        self.create_subscription(CameraInfo, p["camera_info_topic"], self._on_info,
                                 qos_profile_sensor_data)
        from sacgmm.ros.health import HealthReporter, ImageWatch
        self.watch = ImageWatch(p["image_topic"], p["image_timeout"])
        HealthReporter(self, p["image_topic"], self.watch.fault)
        self.get_logger().info(f"watching {p['image_topic']} for {p['aruco_dictionary_id']} "
                               f"marker {p['marker_id']} ({p['marker_size']} m)")

    def _on_info(self, msg: CameraInfo) -> None:
        k = camera_matrix(msg)
        if k is None:
            return
        self.k = k
        self.dist = np.asarray(msg.d, dtype=np.float64) if len(msg.d) else np.zeros(5)

    def detect(self, grey: np.ndarray):
        """``(ids, corners)`` of the markers in a grey uint8 image (corners: (n, 4, 2) px)."""
        corners, ids, _ = self.detector.detector.detectMarkers(grey)
        if ids is None:
            return [], np.zeros((0, 4, 2))
        return [int(i) for i in ids.ravel()], np.asarray(corners, dtype=np.float64).reshape(-1, 4, 2)

    def _on_image(self, msg: Image) -> None:
        self.watch.seen()
        try:
            grey = msg_to_grey(msg)
        except ValueError as exc:
            self.get_logger().error(f"bad image: {exc}", throttle_duration_sec=5.0)
            return
        ids, corners = self.detect(grey)
        self.n_images += 1
        want = self.p["marker_id"]
        seen = bool(ids) if want < 0 else want in ids
        self.streak = self.streak + 1 if seen else 0
        success = self.streak >= self.p["success_frames"]
        self.reward_pub.publish(Float32(data=float(self.p["reward"]) if success else 0.0))
        self.success_pub.publish(Bool(data=success))
        if self.k is None:
            if ids:
                self.get_logger().warning("marker seen but no CameraInfo yet: no pose",
                                          throttle_duration_sec=5.0)
            return
        out = PoseArray()
        out.header = msg.header
        for c in corners:
            ok, rvec, tvec = self.cv2.solvePnP(self.object_points, c, self.k, self.dist,
                                               flags=self.cv2.SOLVEPNP_IPPE_SQUARE)
            if not ok:
                continue
            rot, _ = self.cv2.Rodrigues(rvec)
            q = quaternion_from_matrix(rot)
            t = np.asarray(tvec, dtype=float).ravel()
            out.poses.append(Pose(position=Point(x=float(t[0]), y=float(t[1]), z=float(t[2])),
                                  orientation=Quaternion(x=float(q[0]), y=float(q[1]),
                                                         z=float(q[2]), w=float(q[3]))))
        self.poses_pub.publish(out)


def main(args: list[str] | None = None) -> int:
    return run_node(ArucoRewardDetector, args)


if __name__ == "__main__":
    raise SystemExit(main())
