"""``demo_recorder``: demonstrations from any geometry_msgs/PoseStamped stream -- a hand tracker
(OpenPose, MediaPipe, ... publishing the hand pose), a teleoperation device, or the robot's
own ``/sacgmm/ee_pose`` in kinesthetic teaching -- written in the skill-model demo format
(:func:`sacgmm.skill.demos.save_demo`, ``sacgmm-demo`` v1, atomic) for ``sacgmm fit``.

Subscribes
  ``pose_topic`` (PoseStamped, world frame ``frame_id``, m): the tracked frame. The gripper is
  at ``position + R(orientation) @ offset`` (``offset_frame: pose``; ``offset`` in the tracked
  frame's axes, m) or ``position + offset`` (``offset_frame: world``); see
  :mod:`sacgmm.robot.recording`.
  ``target_topic`` (PoseStamped, same frame): the target (door handle, hole) -- the latest
  one at stop time is used; or a fixed ``target_position`` (3 values, m) when ``target_topic``
  is empty. Demos are stored relative to the target, world-aligned axes (the frame of
  ``gmm_controller`` with ``use_target_orientation: false``).
Services (std_srvs/Trigger)
  ``~/start``: start a recording (samples before it are ignored).
  ``~/stop``: stop, resample at ``dt`` s (linear interpolation over the message stamps, or the
  receipt times if stamps are zero) and write ``output_dir/<prefix>_NNN.csv`` (next free
  NNN); the response message names the file. Fails (nothing written) with fewer than
  ``min_samples`` resampled points or without a target.
  ``~/cancel``: drop the current recording.
A recording stops by itself after ``max_duration`` s (and is written).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from std_srvs.srv import Trigger

from sacgmm.robot.recording import gripper_position, resample
from sacgmm.ros.convert import pose_position, stamp_seconds
from sacgmm.ros.params import Param, StartupError, declare, run_node

PARAMS = (
    Param("pose_topic", "/hand_pose", "PoseStamped stream to record (hand, teleop, robot)"),
    Param("target_topic", "", "PoseStamped of the target; empty: use target_position"),
    Param("target_position", [0.0, 0.0, 0.0], "fixed target (m, frame_id) when target_topic "
          "is empty"),
    Param("offset", [0.0, 0.0, 0.0], "hand-to-gripper translation (m)"),
    Param("offset_frame", "pose", "axes of offset: the tracked pose's or the world's",
          choices=("pose", "world")),
    Param("dt", 1.0 / 30.0, "sample period of the written demo (s)", range=(1e-4, 10.0)),
    Param("output_dir", "demos", "directory of the demo files"),
    Param("prefix", "demo", "file name prefix"),
    Param("min_samples", 10, "fewest resampled points accepted", range=(3, 10**7)),
    Param("max_duration", 120.0, "a recording stops and is written after this long (s)",
          range=(0.1, 3600.0)),
    Param("frame_id", "world", "expected frame of the poses (others are rejected)"),
)


class DemoRecorder(Node):
    """See the module docstring."""

    def __init__(self, **kwargs):
        super().__init__("demo_recorder", **kwargs)
        p = declare(self, PARAMS)
        self.p = p
        for name in ("target_position", "offset"):
            v = np.asarray(p[name], dtype=float)
            if v.size != 3 or not np.isfinite(v).all():
                raise StartupError(f"parameter '{name}': expected 3 finite numbers")
        self.offset = np.asarray(p["offset"], dtype=float)
        self.target = None if p["target_topic"] else np.asarray(p["target_position"], dtype=float)
        self.out = Path(p["output_dir"])
        self.lock = threading.Lock()
        self.recording = False
        self.t0 = 0.0
        self.times: list[float] = []
        self.points: list[np.ndarray] = []
        self.create_subscription(PoseStamped, p["pose_topic"], self._on_pose, 50)
        if p["target_topic"]:
            self.create_subscription(PoseStamped, p["target_topic"], self._on_target, 10)
        self.create_service(Trigger, "~/start", self._on_start)
        self.create_service(Trigger, "~/stop", self._on_stop)
        self.create_service(Trigger, "~/cancel", self._on_cancel)
        self.create_timer(0.2, self._on_watchdog)
        self.get_logger().info(f"recording {p['pose_topic']} (offset {self.offset.tolist()} m in "
                               f"{p['offset_frame']} axes) -> {self.out}/{p['prefix']}_NNN.csv")

    def _frame_ok(self, msg: PoseStamped) -> bool:
        if msg.header.frame_id and msg.header.frame_id != self.p["frame_id"]:
            self.get_logger().error(f"pose in frame {msg.header.frame_id!r}, expected "
                                    f"{self.p['frame_id']!r}: ignored", throttle_duration_sec=5.0)
            return False
        return True

    def _on_target(self, msg: PoseStamped) -> None:
        t = pose_position(msg.pose)
        if self._frame_ok(msg) and np.isfinite(t).all():
            self.target = t

    def _on_pose(self, msg: PoseStamped) -> None:
        if not self.recording or not self._frame_ok(msg):
            return
        o = msg.pose.orientation
        g = gripper_position(pose_position(msg.pose), (o.x, o.y, o.z, o.w), self.offset,
                             self.p["offset_frame"])
        if not np.isfinite(g).all():
            return
        st = stamp_seconds(msg.header.stamp)
        with self.lock:
            self.times.append(st if st > 0 else time.monotonic())
            self.points.append(g)

    def _on_start(self, request, response):
        with self.lock:
            self.recording, self.t0 = True, time.monotonic()
            self.times, self.points = [], []
        response.success, response.message = True, "recording"
        self.get_logger().info("recording started")
        return response

    def _on_cancel(self, request, response):
        with self.lock:
            was, self.recording = self.recording, False
            self.times, self.points = [], []
        response.success, response.message = was, "cancelled" if was else "not recording"
        return response

    def _on_stop(self, request, response):
        response.success, response.message = self._finish()
        return response

    def _on_watchdog(self) -> None:
        if self.recording and time.monotonic() - self.t0 > self.p["max_duration"]:
            ok, msg = self._finish()
            self.get_logger().info(f"max_duration reached: {msg}")

    def _finish(self) -> tuple[bool, str]:
        with self.lock:
            if not self.recording:
                return False, "not recording"
            self.recording = False
            times, points = self.times, self.points
            self.times, self.points = [], []
        if self.target is None:
            return False, "no target pose received: nothing written"
        try:
            demo = resample(times, np.array(points).reshape(-1, 3), self.p["dt"]) - self.target
        except ValueError as exc:
            return False, f"not written: {exc}"
        if len(demo) < self.p["min_samples"]:
            return False, (f"not written: {len(demo)} samples at dt={self.p['dt']:g} s "
                           f"(min_samples {self.p['min_samples']})")
        from sacgmm.skill.demos import save_demo
        self.out.mkdir(parents=True, exist_ok=True)
        i = 0
        while (self.out / f"{self.p['prefix']}_{i:03d}.csv").exists():
            i += 1
        path = save_demo(self.out / f"{self.p['prefix']}_{i:03d}.csv", demo, self.p["dt"])
        msg = f"wrote {path} ({len(demo)} samples, {len(times)} poses received)"
        self.get_logger().info(msg)
        return True, msg


def main(args: list[str] | None = None) -> int:
    return run_node(DemoRecorder, args)


if __name__ == "__main__":
    raise SystemExit(main())
