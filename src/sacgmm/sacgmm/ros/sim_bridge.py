"""``sim_bridge``: runs a simulated task (:func:`sacgmm.sim.make_env`) as a ROS robot.

Publishes (world frame, m)
  ``/sacgmm/ee_pose`` (geometry_msgs/PoseStamped): TCP position (gripper pointing down).
  ``/sacgmm/target_pose`` (geometry_msgs/PoseStamped): *perceived* target origin (with the
  episode's perception noise if ``noise``), identity orientation (world-aligned target frame).
  ``/sacgmm/camera/image_raw`` + ``/sacgmm/camera/camera_info`` (sensor_msgs, sensor-data QoS):
  the task's 64x64 sensor image when ``sensor`` is true -- peg: two tactile images as one
  ``8UC2`` image (channel i = finger i); lever: depth ``32FC1`` (m); door: gripper ``rgb8``.
  ``/sacgmm/aruco_camera/image_raw`` + ``camera_info`` (door only): the static camera watching
  the door's ArUco marker, every ``aruco_camera.check_every`` steps, for aruco_reward_detector.
  ``/sacgmm/gripper_state`` (sensor_msgs/JointState): one joint, ``sacgmm_gripper_opening``,
  the distance between the fingertips (m; about 0.11 open, 0.05 closed on a handle), with
  every pose (published before it).
  ``/sacgmm/reward`` (std_msgs/Float32, sparse: 1 on success) and ``/sacgmm/success``
  (std_msgs/Bool) after every step; ``/sacgmm/episode`` (std_msgs/Int64) at each reset;
  ``/sacgmm/episode_end`` (std_msgs/Float64MultiArray, :mod:`sacgmm.ros.layouts`) when an
  episode ends (terminated or truncated, final state, return), before the next reset.
Subscribes
  ``/sacgmm/cmd_vel`` (geometry_msgs/TwistStamped, m/s world axes; NaN/inf -> ignored).
  ``/sacgmm/episode_ack`` (std_msgs/Int64): lock-step handshake, see ``episode_handshake``.
Service
  ``/sacgmm/reset_episode`` (std_srvs/Trigger): start the next episode now.
Modes (``mode``)
  ``lockstep``: one control step per command whose stamp equals the stamp of the last
  published pose (a repeated or late command never steps twice); the state is re-published
  every ``resend_period`` s while no command comes (start-up, lost message), and an episode
  no controller has confirmed yet is announced again and its first state held for the
  confirmation (a controller that starts after the simulator still starts at episode 0).
  ``realtime``: a timer at the task's control rate (30 Hz) steps with the latest command, or
  with zero velocity if it is older than ``cmd_timeout``.
Episode ``i`` is reset with seed ``seed + i``: a lock-step run is reproducible.
"""
from __future__ import annotations

import math
import time

import numpy as np
from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Bool, Float32, Float64MultiArray, Header, Int64
from std_srvs.srv import Trigger

from sacgmm.ros.convert import (camera_info, image_to_msg, pose_stamped, stamp_seconds,
                                to_multiarray)
from sacgmm.ros.layouts import GRIPPER_JOINT, EpisodeEnd, encode_episode_end
from sacgmm.ros.params import Param, StartupError, declare, run_node
from sacgmm.sim.sensors import principal_point

PARAMS = (
    Param("task", "peg", "simulated task", choices=("peg", "lever", "door")),
    Param("mode", "lockstep", "lockstep: one step per command; realtime: 30 Hz timer",
          choices=("lockstep", "realtime")),
    Param("noise", True, "perception noise on the target (paper: N(0, 1 cm) per axis)"),
    Param("sensor", True, "render and publish the task's sensor image"),
    Param("seed", 0, "episode i is reset with seed + i", range=(0, 2**31 - 1)),
    Param("auto_reset", True, "start the next episode when one ends"),
    Param("max_episodes", 0, "stop stepping after this many episodes; 0: no limit",
          range=(0, 10**9)),
    Param("cmd_timeout", 0.2, "realtime mode: older commands count as zero velocity (s)",
          range=(0.001, 10.0)),
    Param("resend_period", 0.5, "lockstep mode: re-publish the state after this long without "
          "a command (s)", range=(0.01, 60.0)),
    Param("episode_handshake", 1.0, "lockstep mode: after announcing an episode, wait up to "
          "this long (s) for the controller's /sacgmm/episode_ack before publishing its first "
          "state, so that no step of the new episode is answered with the old skill; 0: off",
          range=(0.0, 30.0)),
    Param("image_every", 1, "publish the sensor image every n control steps", range=(1, 1000)),
    Param("frame_id", "world", "frame of the poses"),
    Param("camera_frame_id", "sacgmm_camera", "frame of the sensor images"),
)


def _sensor_fov(task: str, cfg: dict) -> float:
    """Vertical field of view (deg) of the task's sensor camera."""
    s = cfg["sensor"]
    if "fov" in s:
        return float(s["fov"])
    return math.degrees(2.0 * math.atan(0.5 * float(s["pad_size"]) / float(s["camera_distance"])))


class SimBridge(Node):
    """See the module docstring."""

    def __init__(self, **kwargs):
        super().__init__("sim_bridge", **kwargs)
        p = declare(self, PARAMS)
        self.p = p
        from sacgmm.sim import make_env
        try:
            self.env = make_env(p["task"], noise=p["noise"], sensor=p["sensor"])
        except (ValueError, FileNotFoundError) as exc:
            raise StartupError(f"parameter 'task': cannot create the simulator: {exc}") from None
        self.sim = self.env.unwrapped
        self.frame_id = p["frame_id"]
        self.lockstep = p["mode"] == "lockstep"
        self.pose_pub = self.create_publisher(PoseStamped, "/sacgmm/ee_pose", 10)
        self.gripper_pub = self.create_publisher(JointState, "/sacgmm/gripper_state", 10)
        self.target_pub = self.create_publisher(PoseStamped, "/sacgmm/target_pose", 10)
        self.reward_pub = self.create_publisher(Float32, "/sacgmm/reward", 10)
        self.success_pub = self.create_publisher(Bool, "/sacgmm/success", 10)
        self.episode_pub = self.create_publisher(Int64, "/sacgmm/episode", 10)
        self.episode_end_pub = self.create_publisher(Float64MultiArray, "/sacgmm/episode_end", 10)
        self.image_pub = self.create_publisher(Image, "/sacgmm/camera/image_raw", qos_profile_sensor_data)
        self.info_pub = self.create_publisher(CameraInfo, "/sacgmm/camera/camera_info", qos_profile_sensor_data)
        self.aruco_pub = self.aruco_info_pub = None
        if p["task"] == "door":
            self.aruco_pub = self.create_publisher(Image, "/sacgmm/aruco_camera/image_raw",
                                                   qos_profile_sensor_data)
            self.aruco_info_pub = self.create_publisher(CameraInfo, "/sacgmm/aruco_camera/camera_info",
                                                        qos_profile_sensor_data)
        self.create_subscription(TwistStamped, "/sacgmm/cmd_vel", self._on_cmd, 10)
        self.create_service(Trigger, "/sacgmm/reset_episode", self._on_reset)
        self.create_subscription(Int64, "/sacgmm/episode_ack", self._on_episode_ack, 10)
        self._await_ack: int | None = None   # lockstep: episode announced, first state held
        self._acked: int | None = None       # the episode the controller last confirmed
        self._ack_deadline = 0.0
        self.episode = -1
        self.done = True
        self.obs: dict = {}
        self.last_stamp = None          # builtin_interfaces/Time of the last published pose
        self.last_publish = 0.0
        self.cmd = np.zeros(3)
        self.cmd_time = -math.inf
        self.successes = 0
        self.episode_return = 0.0
        self._reset_episode()
        if self.lockstep:
            self.create_timer(p["resend_period"] / 2.0, self._on_resend_timer)
        else:
            self.create_timer(1.0 / self.sim.control_hz, self._on_realtime_timer)
        self.get_logger().info(f"task {p['task']} ({p['mode']}, noise={p['noise']}, "
                               f"sensor={p['sensor']}, seed={p['seed']})")

    # -- episode handling -----------------------------------------------------------------
    def _reset_episode(self) -> bool:
        if self.p["max_episodes"] and self.episode + 1 >= self.p["max_episodes"]:
            self.done = True
            return False
        self.episode += 1
        self.obs, _ = self.env.reset(seed=self.p["seed"] + self.episode)
        self.done = False
        self.episode_return = 0.0
        self.episode_pub.publish(Int64(data=self.episode))
        if (self.lockstep and self.p["episode_handshake"] > 0
                and self.count_publishers("/sacgmm/episode_ack") > 0):
            # /sacgmm/episode and the pose travel on different topics, so a controller may
            # see the first pose first: hold it until the controller confirms the episode
            self._await_ack = self.episode
            self._ack_deadline = time.monotonic() + self.p["episode_handshake"]
            self.last_stamp = None        # no command for an older state can step this episode
        else:
            self._await_ack = None
            self._publish_state(reward=0.0, success=False)
        return True

    def _on_episode_ack(self, msg: Int64) -> None:
        self._acked = int(msg.data)
        if self._await_ack is not None and int(msg.data) == self._await_ack:
            self._await_ack = None
            self._publish_state(reward=0.0, success=False)

    def _on_reset(self, request, response):
        if not self.done:
            self.get_logger().info(f"reset requested: episode {self.episode} abandoned after "
                                   f"{self.sim._steps} steps")
        ok = self._reset_episode()
        response.success = ok
        response.message = (f"episode {self.episode} started" if ok
                            else f"max_episodes={self.p['max_episodes']} reached")
        return response

    # -- stepping -------------------------------------------------------------------------
    def _on_cmd(self, msg: TwistStamped) -> None:
        v = np.array([msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z])
        if not np.isfinite(v).all():
            self.get_logger().error("cmd_vel with NaN/inf ignored")
            return
        self.cmd, self.cmd_time = v, time.monotonic()
        if self.lockstep and not self.done and self.last_stamp is not None \
                and msg.header.stamp == self.last_stamp:
            self._step(v)

    def _on_realtime_timer(self) -> None:
        if self.done:
            return
        fresh = time.monotonic() - self.cmd_time <= self.p["cmd_timeout"]
        self._step(self.cmd if fresh else np.zeros(3))

    def _on_resend_timer(self) -> None:
        if self._await_ack is not None:
            if time.monotonic() >= self._ack_deadline:
                self.get_logger().warning(
                    f"no /sacgmm/episode_ack for episode {self._await_ack} within "
                    f"episode_handshake={self.p['episode_handshake']:g} s: starting it anyway")
                self._await_ack = None
                self._publish_state(reward=0.0, success=False)
            return
        if not self.done and time.monotonic() - self.last_publish >= self.p["resend_period"]:
            if (self.lockstep and self.p["episode_handshake"] > 0 and self.sim._steps == 0
                    and self._acked != self.episode
                    and self.count_publishers("/sacgmm/episode_ack") > 0):
                # announced before a controller listened (start-up): announce the episode
                # again and hold its first state until the controller confirms it
                self.episode_pub.publish(Int64(data=self.episode))
                self._await_ack = self.episode
                self._ack_deadline = time.monotonic() + self.p["episode_handshake"]
                self.last_stamp = None
                return
            self._publish_state(reward=None, success=None, fresh_stamp=False)

    def _step(self, v: np.ndarray) -> None:
        self.obs, reward, terminated, truncated, info = self.env.step(v)
        self.episode_return += reward
        ended = terminated or truncated
        # lock-step: an ended episode's final pose is not published when the next episode
        # follows at once (it reaches the refiner in /sacgmm/episode_end): arriving after
        # /sacgmm/episode, it would be taken for the new episode's first state
        self._publish_state(reward=reward, success=bool(info["success"]),
                            pose=not (ended and self.lockstep and self.p["auto_reset"]))
        if ended:
            self.done = True
            self.successes += int(info["success"])
            self.episode_end_pub.publish(to_multiarray(encode_episode_end(EpisodeEnd(
                self.episode, int(info["steps"]), bool(terminated), bool(info["success"]),
                float(self.episode_return), np.asarray(self.obs["position"], dtype=np.float64),
                stamp_seconds(self.last_stamp), self.sim.robot.gripper_opening()))))
            self.get_logger().info(
                f"episode {self.episode} ended: {info['end_reason']}"
                + (f" ({info['failure']})" if info.get("failure") else "")
                + f" after {info['steps']} steps "
                f"(return {self.episode_return:g}; successes {self.successes}/{self.episode + 1})")
            if self.p["auto_reset"]:
                self._reset_episode()

    # -- publishing -----------------------------------------------------------------------
    def _publish_state(self, reward: float | None, success: bool | None,
                       fresh_stamp: bool = True, pose: bool = True) -> None:
        sim = self.sim
        if fresh_stamp or self.last_stamp is None:
            self.last_stamp = self.get_clock().now().to_msg()
        stamp = self.last_stamp
        self._publish_images(stamp)
        tcp = sim.robot.tcp_position()
        self.gripper_pub.publish(JointState(header=Header(stamp=stamp, frame_id=self.frame_id),
                                            name=[GRIPPER_JOINT],
                                            position=[sim.robot.gripper_opening()]))
        # gripper pointing down: 180 deg about y
        self.target_pub.publish(pose_stamped(sim.perceived_target, self.frame_id, stamp))
        if pose:
            self.pose_pub.publish(pose_stamped(tcp, self.frame_id, stamp, (0.0, 1.0, 0.0, 0.0)))
        if reward is not None:
            self.reward_pub.publish(Float32(data=float(reward)))
            self.success_pub.publish(Bool(data=bool(success)))
        self.last_publish = time.monotonic()

    def _publish_images(self, stamp) -> None:
        sim, task = self.sim, self.p["task"]
        key = {"peg": "tactile", "lever": "depth", "door": "rgb"}[task]
        img = self.obs.get(key)
        if img is not None and sim._steps % self.p["image_every"] == 0:
            if task == "peg":
                img = np.ascontiguousarray(np.transpose(img, (1, 2, 0)))   # (2,H,W) -> (H,W,2)
            h, w = img.shape[:2]
            frame = self.p["camera_frame_id"]
            self.image_pub.publish(image_to_msg(img, frame_id=frame, stamp=stamp))
            self.info_pub.publish(camera_info(w, h, _sensor_fov(task, sim.cfg), frame, stamp,
                                              principal_point(w, h)))
        if self.aruco_pub is not None and sim._steps % sim.check_every == 0:
            im = sim.aruco_image()
            cam = sim.cfg["aruco_camera"]
            self.aruco_pub.publish(image_to_msg(im, "rgb8", "sacgmm_aruco_camera", stamp))
            h, w = im.shape[:2]
            self.aruco_info_pub.publish(camera_info(w, h, float(cam["fov"]), "sacgmm_aruco_camera",
                                                    stamp, principal_point(w, h)))

    def close(self) -> None:
        env = getattr(self, "env", None)
        if env is not None:
            env.close()
            self.env = None


def main(args: list[str] | None = None) -> int:
    return run_node(SimBridge, args)


if __name__ == "__main__":
    raise SystemExit(main())
