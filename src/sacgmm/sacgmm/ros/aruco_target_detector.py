"""``aruco_target_detector``: the task's target pose from an ArUco marker on the object.

On the real door, a second marker on the door's front (not the reward marker on its back)
gives the handle's position, so nobody has to measure it by hand (the fixed ``target:=`` of
``iiwa_bridge`` stays the fallback). The geometry is :mod:`sacgmm.robot.marker_pose`'s: the
marker's pose in the camera's optical frame by ``cv2.solvePnP`` with the intrinsics of the
latest CameraInfo, the camera's pose in ``frame_id`` from ``camera_xyz``/``camera_rpy``
(measured once), and the target in the marker's frame, ``target_in_marker`` (m).

The target is measured between episodes only: while an episode runs (from ``/sacgmm/episode``
to ``/sacgmm/episode_end``) the door moves with the marker, so the estimate from before the
episode is held, provided it was at most ``max_age`` s old when the episode began (else it is
dropped for the episode, logged). Between episodes each detection replaces the estimate; when
the marker has not been seen for ``max_age`` s the target is no longer published (logged), so
a controller that has no target (``gmm_controller``'s ``target_timeout``) does not start the
next episode's motion on a stale one. Without a target the detector keeps measuring, episode
or not (the controller does not move the arm without one).

Subscribes ``image_topic`` (sensor_msgs/Image, sensor-data QoS; mono8/rgb8/bgr8/rgba8/bgra8),
``camera_info_topic`` (sensor_msgs/CameraInfo, sensor-data QoS), ``/sacgmm/episode``
(std_msgs/Int64) and ``/sacgmm/episode_end`` (std_msgs/Float64MultiArray).
Publishes ``/sacgmm/target_pose`` (geometry_msgs/PoseStamped, ``frame_id``, m; identity
orientation: the world-aligned target frame) at ``rate_hz``, and its health on ``/diagnostics``
(:mod:`sacgmm.ros.health`): a fault while it has no target to give, so ``iiwa_bridge`` pauses.
"""
from __future__ import annotations

import time

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Float64MultiArray, Int64

from sacgmm.ros.convert import camera_matrix, msg_to_grey, pose_stamped
from sacgmm.ros.params import Param, StartupError, declare, run_node

PARAMS = (
    Param("marker_size", 0.1, "side length of the printed target marker (m)", range=(1e-4, 10.0)),
    Param("aruco_dictionary_id", "DICT_4X4_50", "OpenCV predefined dictionary name"),
    Param("marker_id", 8, "id of the target marker", range=(0, 100000)),
    Param("image_topic", "/door_camera/image_raw", "camera image topic"),
    Param("camera_info_topic", "/door_camera/camera_info", "CameraInfo topic"),
    Param("camera_xyz", [0.0, 0.0, 1.0], "camera optical frame position in frame_id (m)"),
    Param("camera_rpy", [0.0, 0.0, 0.0], "camera optical frame orientation in frame_id (rad, "
          "roll-pitch-yaw)"),
    Param("target_in_marker", [0.0, 0.0, 0.0], "the target point in the marker's frame (m; x "
          "right, y up as printed, z out of the face)"),
    Param("frame_id", "world", "frame of /sacgmm/target_pose"),
    Param("max_age", 1.0, "between episodes, stop publishing when the marker was not seen for "
          "this long (s)", range=(0.01, 3600.0)),
    Param("rate_hz", 10.0, "publishing rate of /sacgmm/target_pose (Hz)", range=(0.1, 100.0)),
)

class ArucoTargetDetector(Node):
    """See the module docstring."""

    def __init__(self, **kwargs):
        super().__init__("aruco_target_detector", **kwargs)
        p = declare(self, PARAMS)
        self.p = p
        from sacgmm.robot.marker_pose import transform
        from sacgmm.sim.aruco import MarkerDetector
        import cv2
        try:   # sub-pixel corners: a pose to the millimetre, not to the pixel
            self.detector = MarkerDetector(p["aruco_dictionary_id"], {
                "cornerRefinementMethod": cv2.aruco.CORNER_REFINE_SUBPIX}).detector
        except ValueError as exc:
            raise StartupError(f"parameter 'aruco_dictionary_id': {exc}") from None
        try:
            self.camera = transform(p["camera_xyz"], p["camera_rpy"])
        except ValueError as exc:
            raise StartupError(f"parameters 'camera_xyz'/'camera_rpy': {exc}") from None
        self.target_in_marker = np.asarray(p["target_in_marker"], dtype=float)
        if self.target_in_marker.size != 3 or not np.isfinite(self.target_in_marker).all():
            raise StartupError("parameter 'target_in_marker': expected 3 finite numbers")
        self.k = None
        self.dist = None
        self.target: np.ndarray | None = None
        self.seen_at = -np.inf             # monotonic time of the last detection
        self.running = False
        self.ended_at = -np.inf            # monotonic time of the last episode end
        self._lost_logged = False
        self.pub = self.create_publisher(PoseStamped, "/sacgmm/target_pose", 10)
        self.create_subscription(Image, p["image_topic"], self._on_image, qos_profile_sensor_data)
        self.create_subscription(CameraInfo, p["camera_info_topic"], self._on_info,
                                 qos_profile_sensor_data)
        self.create_subscription(Int64, "/sacgmm/episode", self._on_episode, 10)
        self.create_subscription(Float64MultiArray, "/sacgmm/episode_end", self._on_end, 10)
        self.create_timer(1.0 / p["rate_hz"], self._publish)
        from sacgmm.ros.health import HealthReporter
        self.started = time.monotonic()
        HealthReporter(self, p["image_topic"], self.fault)
        self.get_logger().info(f"target from {p['aruco_dictionary_id']} marker {p['marker_id']} "
                               f"({p['marker_size']} m) on {p['image_topic']}")

    def fault(self) -> str | None:
        """Why no target can be given now (health on /diagnostics), or None: no target while
        the marker has been out of sight for ``max_age`` s between episodes, counted from the
        last episode's end at the earliest (during one the held estimate serves)."""
        now = time.monotonic()
        # after an episode the door needs a moment to shut and show the marker again
        since = max(self.seen_at, self.ended_at)
        if self.target is not None and (self.running or now - since <= self.p["max_age"]):
            return None
        if self.target is None and now - self.started <= self.p["max_age"]:
            return None                                   # starting up
        return f"marker {self.p['marker_id']} not seen for {self.p['max_age']:g} s: no target"

    def _on_info(self, msg: CameraInfo) -> None:
        k = camera_matrix(msg)
        if k is not None:
            self.k = k
            self.dist = np.asarray(msg.d, dtype=np.float64) if len(msg.d) else None

    def _on_episode(self, msg: Int64) -> None:
        self.running = True
        if self.target is not None and time.monotonic() - self.seen_at > self.p["max_age"]:
            self.get_logger().warning(f"episode {msg.data} began without a recent detection of "
                                      f"marker {self.p['marker_id']}: no target until it is seen")
            self.target = None

    def _on_end(self, msg: Float64MultiArray) -> None:
        self.running = False
        self.ended_at = time.monotonic()

    def _on_image(self, msg: Image) -> None:
        from sacgmm.robot.marker_pose import marker_poses, target_in_world
        if self.k is None or (self.running and self.target is not None):
            return
        try:
            grey = msg_to_grey(msg)
        except ValueError as exc:
            self.get_logger().error(f"bad image: {exc}", throttle_duration_sec=5.0)
            return
        poses = marker_poses(grey, self.detector, self.k, self.dist, self.p["marker_size"])
        if self.p["marker_id"] in poses:
            rot, pos = poses[self.p["marker_id"]]
            target = target_in_world(rot, pos, self.camera, self.target_in_marker)
            if np.isfinite(target).all():
                if self.target is None or self._lost_logged:
                    self.get_logger().info(f"target at {np.round(target, 4).tolist()} m")
                self.target, self.seen_at, self._lost_logged = target, time.monotonic(), False

    def _publish(self) -> None:
        if self.target is None:
            return
        if not self.running and time.monotonic() - self.seen_at > self.p["max_age"]:
            if not self._lost_logged:
                self.get_logger().warning(f"marker {self.p['marker_id']} not seen for "
                                          f"{self.p['max_age']:g} s: target not published")
                self._lost_logged = True
            return
        self.pub.publish(pose_stamped(self.target, self.p["frame_id"],
                                      self.get_clock().now().to_msg()))


def main(args: list[str] | None = None) -> int:
    return run_node(ArucoTargetDetector, args)


if __name__ == "__main__":
    raise SystemExit(main())
