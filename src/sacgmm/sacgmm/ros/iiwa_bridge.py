"""``iiwa_bridge``: the sacgmm node graph on a real KUKA iiwa driven by ICube-Robotics'
``iiwa_ros2`` (``command_interface:=velocity robot_controller:=velocity_controller``), or on
its simulated stand-in :mod:`sacgmm.ros.iiwa_sim_driver`. A thin shell around
:class:`sacgmm.robot.bridge.BridgeCore` (limits, modes and episodes are documented there).

Kinematics: :class:`sacgmm.robot.kinematics.KinematicChain` from ``urdf_path`` (empty:
pybullet_data's ``kuka_iiwa/model.urdf``, iiwa 14 R820 joint offsets) between ``base_link``
and ``tip_link``, TCP at ``tool_xyz``/``tool_rpy`` in the tip link, robot base at
``base_xyz``/``base_rpy`` in the world frame ``frame_id``. ``joint_names`` are the driver's
names of the chain's joints in chain order (``joint_a1 .. joint_a7``); the command is sent in
that order.

Subscribes
  ``joint_states_topic`` (sensor_msgs/JointState, default ``/joint_states``): positions (rad),
  matched by name (any order, extra joints ignored).
  ``/sacgmm/cmd_vel`` (geometry_msgs/TwistStamped, linear m/s in the world frame; angular
  ignored: the orientation is held). NaN/inf -> ignored (logged); a non-zero stamp older
  than ``cmd_timeout`` (late delivery) -> dropped.
  ``/sacgmm/reward`` (std_msgs/Float32) and ``/sacgmm/success`` (std_msgs/Bool): the running
  episode's reward sum and its end on success.
  ``/sacgmm/target_pose`` (geometry_msgs/PoseStamped, ``frame_id``, m): the perceived target
  (from a perception node, or the bridge's own fixed ``target_position``); used only for the
  final position of ``/sacgmm/episode_end``.
Publishes
  ``command_topic`` (std_msgs/Float64MultiArray, default ``/velocity_controller/commands``):
  7 joint velocities (rad/s) at ``rate_hz``; zeros when halted, stale or idle.
  ``/sacgmm/ee_pose`` (geometry_msgs/PoseStamped, ``frame_id``, m): TCP pose from FK, at each
  control tick (stamp: the joint state's stamp, or receipt time if it is zero).
  ``/sacgmm/target_pose`` (PoseStamped) at 10 Hz when ``target_position`` is set (a fixed
  target, e.g. the door handle measured once); leave it empty when a perception node does.
  ``/sacgmm/episode`` (std_msgs/Int64) at the start of every episode.
  ``/sacgmm/episode_end`` (std_msgs/Float64MultiArray, layout in :mod:`sacgmm.ros.layouts`)
  once when an episode ends (success from ``/sacgmm/success``, the ``episode_duration`` time
  limit, ``/sacgmm/stop`` or shutdown), before the next ``/sacgmm/episode``: ``steps`` = the
  ``/sacgmm/cmd_vel`` messages accepted during the episode (the controller's steps),
  ``terminated`` = 1 on success only (time limit, stop, shutdown: truncated), ``gripper`` =
  the sum of the gripper joints' last positions (its opening, when one joint reports it in m;
  with gripper control only), ``return`` =
  the sum of ``/sacgmm/reward``, ``position`` = the final TCP in the perceived target frame
  (m; TCP - target in ``frame_id`` axes, or in the target pose's axes when
  ``use_target_orientation``, as gmm_controller), ``stamp`` = the final joint state's time
  (s). Not published (error logged) while no target pose has been received.
  ``~/status`` (std_msgs/String): the mode (halted, idle, homing, settling, running), on change
  and at 2 Hz.
Gripper (optional, on when ``gripper_command_topic`` is set; the rule is
:mod:`sacgmm.robot.gripper`'s): during an episode the gripper closes once the TCP is within
``capture_radius`` of the handle (``target + handle_offset``, a bar of half-extent
``handle_half``; world frame, m) and reopens when the episode ends; ``/sacgmm/stop`` commands
nothing. Commands: ``gripper_command_topic`` (std_msgs/Float64MultiArray, ``gripper_open`` or
``gripper_closed``, one value per ``gripper_joints`` name, for a ros2_control forward command
controller), and ``gripper_max_effort`` on ``gripper_effort_topic`` with each command when
both are set (the effort first). State: ``gripper_state_topic`` (sensor_msgs/JointState,
matched by name); no state for ``gripper_state_timeout`` s during an episode stops the arm
(zero velocities, logged) as a stale arm state does, and outside an episode the arm moves
(homing, idle commands) only once the hand is confirmed open (within
``gripper_open_tolerance`` of ``gripper_open``), so it never drags a handle it still holds. A
hand that closed on nothing (within ``gripper_empty_tolerance`` of ``gripper_closed``) opens
again and may retry (logged ``gripper missed``).
Perception faults: ``/diagnostics`` (diagnostic_msgs/DiagnosticArray, :mod:`sacgmm.ros.health`):
while any ``sacgmm/`` source (camera_encoder, aruco_reward_detector, aruco_target_detector)
reports ERROR the arm is paused (zero velocities except while homing, the episode's and the
settle time's clocks stand still, no episode starts; logged with the reason) until that source
reports OK.
Services (std_srvs/Trigger)
  ``/sacgmm/stop``: halt now (zero velocities until re-armed; a running episode is logged as
  ``stopped``). ``/sacgmm/arm``: re-arm (commands older than the arm call are discarded).
  ``/sacgmm/return_home``: joint-space move to ``home_joints``, then idle.
  ``/sacgmm/reset_episode``: home, wait ``settle_time``, start the next episode (the service of
  sim_bridge, so refiners drive simulated and real robots alike).
Episode log: ``episode_log`` (JSON lines, fsync per line, :mod:`sacgmm.robot.episodes`).
"""
from __future__ import annotations

import json
import time

import numpy as np
from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float32, Float64MultiArray, Int64, String
from std_srvs.srv import Trigger

from sacgmm.robot.bridge import HALTED, RUNNING, BridgeConfig, BridgeCore
from sacgmm.robot.episodes import EpisodeLog
from sacgmm.robot.kinematics import KinematicChain
from sacgmm.ros.convert import (pose_position, pose_rotation, pose_stamped,
                                quaternion_from_matrix, stamp_seconds, to_multiarray)
from sacgmm.ros.layouts import EpisodeEnd, encode_episode_end
from sacgmm.ros.params import Param, StartupError, declare, run_node

IIWA_JOINTS = [f"joint_a{i}" for i in range(1, 8)]
HOME = [0.0, 0.45, 0.0, -1.6, 0.0, 1.1, 0.0]     # TCP 0.54 m ahead, 0.27 m up, pointing down

PARAMS = (
    Param("urdf_path", "", "robot URDF; empty: pybullet_data kuka_iiwa/model.urdf (iiwa 14 "
          "kinematics)"),
    Param("base_link", "", "first link of the chain (empty: the URDF root)"),
    Param("tip_link", "", "last link of the chain (empty: the URDF's only leaf)"),
    Param("tool_xyz", [0.0, 0.0, 0.2], "TCP offset in the tip link frame (m)"),
    Param("tool_rpy", [0.0, 0.0, 0.0], "TCP orientation in the tip link frame (rad)"),
    Param("base_xyz", [0.0, 0.0, 0.0], "robot base position in frame_id (m)"),
    Param("base_rpy", [0.0, 0.0, 0.0], "robot base orientation in frame_id (rad)"),
    Param("joint_names", IIWA_JOINTS, "driver joint names in chain order"),
    Param("joint_states_topic", "/joint_states", "sensor_msgs/JointState topic of the driver"),
    Param("command_topic", "/velocity_controller/commands", "Float64MultiArray joint velocity "
          "command topic of the driver"),
    Param("rate_hz", 100.0, "control rate (Hz)", range=(1.0, 1000.0)),
    Param("frame_id", "world", "world frame of poses and commands"),
    Param("workspace_min", [0.3, -0.4, 0.1], "workspace box lower corner (m, frame_id)"),
    Param("workspace_max", [0.8, 0.4, 0.7], "workspace box upper corner (m, frame_id)"),
    Param("workspace_horizon", 0.1, "the TCP may not reach a workspace face within this time "
          "at the commanded speed (s): exponential slow-down near the box", range=(0.0, 10.0)),
    Param("max_cart_speed", 0.15, "TCP speed limit (m/s)", range=(0.0, 1.0)),
    Param("max_joint_speed", 0.6, "joint speed limit (rad/s; the URDF's if lower)",
          range=(0.0, 3.0)),
    Param("joint_margin", 0.05, "distance kept from the URDF position limits (rad)",
          range=(0.0, 0.5)),
    Param("damping", 0.02, "DLS damping (m)", range=(1e-6, 1.0)),
    Param("hold_orientation", True, "hold the TCP orientation of the last arm/home"),
    Param("orientation_gain", 1.0, "orientation hold gain (1/s)", range=(0.0, 20.0)),
    Param("max_ang_speed", 0.3, "orientation correction limit (rad/s)", range=(0.0, 3.0)),
    Param("cmd_timeout", 0.2, "older cmd_vel counts as zero (s)", range=(0.001, 10.0)),
    Param("state_timeout", 0.1, "older joint states stop the arm (s)", range=(0.001, 10.0)),
    Param("start_armed", False, "start armed (false: call /sacgmm/arm first)"),
    Param("home_joints", HOME, "start pose of every episode (rad, chain order)"),
    Param("home_speed", 0.3, "joint speed limit while homing (rad/s)", range=(0.01, 2.0)),
    Param("home_tolerance", 0.01, "homing is done within this joint error (rad)",
          range=(1e-4, 0.5)),
    Param("settle_time", 1.0, "wait after homing before an episode starts (s)",
          range=(0.0, 600.0)),
    Param("episode_duration", 30.0, "episode time limit (s)", range=(0.1, 3600.0)),
    Param("auto_reset", True, "after an episode ends: home and start the next one"),
    Param("auto_start", False, "home and start the first episode when armed at start-up"),
    Param("episode_log", "", "JSON-lines episode log (append-only, fsync per line); empty: off"),
    Param("target_position", [0.0], "fixed target published on /sacgmm/target_pose (m, "
          "frame_id); [0.0] (one value): do not publish"),
    Param("use_target_orientation", False, "episode_end position in the target pose's axes "
          "(must equal gmm_controller's; false: world-aligned target frame)"),
    Param("gripper_command_topic", "", "Float64MultiArray position command topic of the "
          "gripper's forward command controller; empty: no gripper control"),
    Param("gripper_state_topic", "/joint_states", "sensor_msgs/JointState topic with the "
          "gripper joints"),
    Param("gripper_joints", ["gripper_opening"], "gripper joint names, in command order"),
    Param("gripper_open", [0.108], "open command, one value per gripper joint (driver units)"),
    Param("gripper_closed", [0.0], "closed command, one value per gripper joint (driver units)"),
    Param("gripper_effort_topic", "", "Float64MultiArray effort limit topic sent with each "
          "gripper command; empty: none"),
    Param("gripper_max_effort", [0.0], "effort limit per gripper joint (driver units); [0.0]: "
          "none"),
    Param("gripper_state_timeout", 0.2, "older gripper states stop the arm during an episode "
          "(s)", range=(0.001, 10.0)),
    Param("gripper_empty_tolerance", 0.002, "a closed hand within this distance of "
          "gripper_closed holds nothing (a missed grasp): it opens and may close again, per "
          "joint (driver units)", range=(1e-6, 10.0)),
    Param("gripper_open_tolerance", 0.005, "the hand counts as open within this distance of "
          "gripper_open, per joint (driver units)", range=(1e-6, 10.0)),
    Param("capture_radius", 0.03, "the gripper closes within this distance of the handle (m)",
          range=(0.001, 0.5)),
    Param("handle_offset", [0.0, 0.0, 0.0], "handle centre relative to the perceived target "
          "(m, frame_id axes)"),
    Param("handle_half", [0.0, 0.0, 0.0], "half-extent of a bar handle (m, frame_id axes); "
          "zeros: a point"),
)


def _vec(p: dict, name: str, n: int) -> np.ndarray:
    v = np.asarray(p[name], dtype=float)
    if v.size != n or not np.isfinite(v).all():
        raise StartupError(f"parameter '{name}': expected {n} finite numbers, got {p[name]!r}")
    return v


class IiwaBridge(Node):
    """See the module docstring."""

    def __init__(self, **kwargs):
        super().__init__("iiwa_bridge", **kwargs)
        p = declare(self, PARAMS)
        self.p = p
        try:
            chain = KinematicChain.from_urdf(
                p["urdf_path"], p["base_link"], p["tip_link"], _vec(p, "tool_xyz", 3),
                _vec(p, "tool_rpy", 3), _vec(p, "base_xyz", 3), _vec(p, "base_rpy", 3))
        except ValueError as exc:
            raise StartupError(f"parameter 'urdf_path': {exc}") from None
        if len(p["joint_names"]) != chain.n:
            raise StartupError(f"parameter 'joint_names': {len(p['joint_names'])} names for a "
                               f"chain of {chain.n} joints ({chain.names})")
        lo, hi = _vec(p, "workspace_min", 3), _vec(p, "workspace_max", 3)
        if not (lo < hi).all():
            raise StartupError("parameters 'workspace_min'/'workspace_max': empty box")
        cfg = BridgeConfig(
            workspace_min=lo, workspace_max=hi, workspace_horizon=p["workspace_horizon"],
            max_cart_speed=p["max_cart_speed"],
            max_joint_speed=p["max_joint_speed"], joint_margin=p["joint_margin"],
            damping=p["damping"], hold_orientation=p["hold_orientation"],
            orientation_gain=p["orientation_gain"], max_ang_speed=p["max_ang_speed"],
            cmd_timeout=p["cmd_timeout"], state_timeout=p["state_timeout"],
            home_joints=_vec(p, "home_joints", chain.n), home_speed=p["home_speed"],
            home_tolerance=p["home_tolerance"], settle_time=p["settle_time"],
            episode_duration=p["episode_duration"], auto_reset=p["auto_reset"])
        home = cfg.home_joints
        if ((home < chain.lower + cfg.joint_margin) | (home > chain.upper - cfg.joint_margin)).any():
            raise StartupError("parameter 'home_joints': outside the joint limits minus joint_margin")
        self.log_ = EpisodeLog(p["episode_log"] or None)
        self.core = BridgeCore(chain, cfg, self.log_, armed=p["start_armed"])
        self.chain = chain
        self.dt = 1.0 / p["rate_hz"]
        self.names = list(p["joint_names"])
        self.index: list[int] | None = None       # JointState name order -> chain order
        self.index_names: list[str] = []
        self.state_stamp = None
        self.frame_id = p["frame_id"]
        tp = np.asarray(p["target_position"], dtype=float)
        self.target = tp if tp.size == 3 and np.isfinite(tp).all() else None
        if tp.size not in (1, 3):
            raise StartupError("parameter 'target_position': 3 values, or [0.0] for none")

        self.gripper = self._gripper_core(p)
        if self.gripper is not None:
            self.gripper_pub = self.create_publisher(Float64MultiArray,
                                                     p["gripper_command_topic"], 10)
            self.effort_pub = (self.create_publisher(Float64MultiArray,
                                                     p["gripper_effort_topic"], 10)
                               if p["gripper_effort_topic"] and
                               self.gripper.cfg.max_effort is not None else None)
            self.create_subscription(JointState, p["gripper_state_topic"],
                                     self._on_gripper_state, 10)
        self.cmd_pub = self.create_publisher(Float64MultiArray, p["command_topic"], 10)
        self.pose_pub = self.create_publisher(PoseStamped, "/sacgmm/ee_pose", 10)
        self.target_pub = self.create_publisher(PoseStamped, "/sacgmm/target_pose", 10)
        self.episode_pub = self.create_publisher(Int64, "/sacgmm/episode", 10)
        self.episode_end_pub = self.create_publisher(Float64MultiArray, "/sacgmm/episode_end", 10)
        self.status_pub = self.create_publisher(String, "~/status", 10)
        self.create_subscription(JointState, p["joint_states_topic"], self._on_joints, 10)
        self.create_subscription(TwistStamped, "/sacgmm/cmd_vel", self._on_cmd, 10)
        self.create_subscription(Float32, "/sacgmm/reward", lambda m: self.core.on_reward(m.data), 10)
        self.create_subscription(Bool, "/sacgmm/success", lambda m: self.core.on_success(m.data), 10)
        self.create_subscription(PoseStamped, "/sacgmm/target_pose", self._on_target, 10)
        from diagnostic_msgs.msg import DiagnosticArray

        from sacgmm.ros.health import TOPIC
        self.create_subscription(DiagnosticArray, TOPIC, self._on_diagnostics, 50)
        self.create_service(Trigger, "/sacgmm/stop", self._on_stop)
        self.create_service(Trigger, "/sacgmm/arm", self._on_arm)
        self.create_service(Trigger, "/sacgmm/return_home", self._on_home)
        self.create_service(Trigger, "/sacgmm/reset_episode", self._on_reset)
        self.msg = Float64MultiArray()
        self.create_timer(self.dt, self._on_timer)
        self.create_timer(0.5, self._publish_status)
        if self.target is not None:
            self.create_timer(0.1, self._publish_target)
        self._auto_start = p["auto_start"] and p["start_armed"]
        self._nan_logged = 0.0
        self.ep_steps = 0                          # cmd_vel accepted in the running episode
        # perceived target (position m, rotation world <- target) for episode_end
        self.perceived: tuple[np.ndarray, np.ndarray] | None = (
            (self.target.copy(), np.eye(3)) if self.target is not None else None)
        self.get_logger().info(
            f"chain {chain.base_link} -> {chain.tip_link} ({chain.n} joints, driver names "
            f"{self.names}); {p['joint_states_topic']} -> {p['command_topic']} at "
            f"{p['rate_hz']:g} Hz; {'armed' if p['start_armed'] else 'HALTED: call /sacgmm/arm'}; "
            f"episode log {p['episode_log'] or '(off)'}")

    def _gripper_core(self, p: dict):
        from sacgmm.robot.gripper import GripperConfig, GripperCore
        if not p["gripper_command_topic"]:
            return None
        effort = np.asarray(p["gripper_max_effort"], dtype=float)
        try:
            cfg = GripperConfig(
                open_positions=p["gripper_open"], closed_positions=p["gripper_closed"],
                handle_offset=p["handle_offset"], handle_half=p["handle_half"],
                capture_radius=p["capture_radius"], state_timeout=p["gripper_state_timeout"],
                open_tolerance=p["gripper_open_tolerance"],
                empty_tolerance=p["gripper_empty_tolerance"],
                max_effort=None if effort.size == 1 and effort[0] == 0.0 else effort)
        except ValueError as exc:
            raise StartupError(f"gripper parameters: {exc}") from None
        if len(p["gripper_joints"]) != cfg.open_positions.size:
            raise StartupError(f"parameter 'gripper_joints': {len(p['gripper_joints'])} names "
                               f"for {cfg.open_positions.size} values of 'gripper_open'")
        return GripperCore(cfg)

    # -- inputs -----------------------------------------------------------------------
    def _on_diagnostics(self, msg) -> None:
        from sacgmm.ros.health import faults_in
        for source, fault in faults_in(msg):
            if self.core.set_fault(source, fault):
                if fault:
                    self.get_logger().error(f"paused: {source}: {fault}")
                else:
                    self.get_logger().info(f"{source} is healthy again" + (
                        "" if self.core.faults else ": resuming"))

    def _on_gripper_state(self, msg: JointState) -> None:
        names = list(msg.name)
        try:
            q = [msg.position[names.index(n)] for n in self.p["gripper_joints"]]
        except (ValueError, IndexError):
            return                  # a joint state without the gripper (e.g. the arm's alone)
        if not self.gripper.set_state(q, time.monotonic()):
            self.get_logger().error("gripper state with NaN/inf ignored", throttle_duration_sec=5.0)

    def _on_joints(self, msg: JointState) -> None:
        if list(msg.name) != self.index_names:
            try:
                self.index = [list(msg.name).index(n) for n in self.names]
            except ValueError:
                self.get_logger().error(f"joint_states lacks some of {self.names} (has "
                                        f"{list(msg.name)})", throttle_duration_sec=5.0)
                self.index = None
            self.index_names = list(msg.name)
        if self.index is None or len(msg.position) < len(msg.name):
            return
        q = [msg.position[i] for i in self.index]
        if self.core.set_joints(q, time.monotonic()):
            st = msg.header.stamp
            self.state_stamp = st if (st.sec or st.nanosec) else self.get_clock().now().to_msg()
            if self._auto_start:
                self._auto_start = False
                self.core.request_home(time.monotonic(), True)
        else:
            self.get_logger().error("joint state with NaN/inf ignored", throttle_duration_sec=5.0)

    def _on_cmd(self, msg: TwistStamped) -> None:
        st = msg.header.stamp
        if st.sec or st.nanosec:                 # stamped: a late-delivered command is dropped
            age = self.get_clock().now().nanoseconds * 1e-9 - (st.sec + 1e-9 * st.nanosec)
            if age > self.p["cmd_timeout"]:
                self.get_logger().warn(f"cmd_vel {age:.3f} s old dropped", throttle_duration_sec=2.0)
                return
        v = (msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z)
        if not self.core.set_command(v, time.monotonic()):
            self.get_logger().error("cmd_vel with NaN/inf ignored", throttle_duration_sec=2.0)
        elif self.core.ep is not None and not self.core.faults:   # paused: no step taken
            self.ep_steps += 1

    def _on_target(self, msg: PoseStamped) -> None:
        pos, rot = pose_position(msg.pose), pose_rotation(msg.pose)
        if np.isfinite(pos).all() and np.isfinite(rot).all():
            self.perceived = (pos, rot)

    # -- services ---------------------------------------------------------------------
    def _reply(self, response, ok: bool, message: str, events=()):
        self._handle(events)
        response.success, response.message = ok, message
        self.get_logger().info(message)
        self._publish_status()
        return response

    def _on_stop(self, request, response):
        events = self.core.stop(time.monotonic())
        self._send(np.zeros(self.chain.n))            # immediately, not at the next tick
        return self._reply(response, True, "halted: call /sacgmm/arm to resume", events)

    def _on_arm(self, request, response):
        return self._reply(response, True, self.core.arm())

    def _on_home(self, request, response):
        ok, msg, events = self.core.request_home(time.monotonic(), False)
        return self._reply(response, ok, msg, events)

    def _on_reset(self, request, response):
        ok, msg, events = self.core.request_home(time.monotonic(), True)
        return self._reply(response, ok, msg, events)

    # -- loop -------------------------------------------------------------------------
    def _send(self, qdot: np.ndarray) -> None:
        self.msg.data = [float(v) for v in qdot]
        self.cmd_pub.publish(self.msg)

    def _on_timer(self) -> None:
        now = time.monotonic()
        qdot, events = self.core.step(now, self.dt, time.time())
        fresh = self.core.q is not None and self.core.state_fresh(now)
        tcp = self.chain.fk(self.core.q) if fresh else None      # one FK per tick
        if self.gripper is not None:
            qdot = self._gripper_step(now, qdot, None if tcp is None else tcp[:3, 3])
        self._send(qdot)
        if tcp is not None:
            self.pose_pub.publish(pose_stamped(tcp[:3, 3], self.frame_id, self.state_stamp,
                                               quaternion_from_matrix(tcp[:3, :3])))
        self._handle(events)

    def _gripper_step(self, now: float, qdot: np.ndarray, tcp: np.ndarray | None) -> np.ndarray:
        """Send the gripper its command for the TCP position ``tcp`` (m; None: no fresh arm
        state); the arm's velocities, zero while an episode runs on a stale gripper state."""
        core, running = self.core, self.core.mode == RUNNING
        if running and not self.gripper.state_fresh(now):
            self.get_logger().error("gripper state stale: arm stopped", throttle_duration_sec=2.0)
            qdot = np.zeros_like(qdot)
        elif not running and not self.gripper.confirmed_open(now) and np.any(qdot):
            self.get_logger().warning("waiting for the gripper to report open before the arm "
                                      "moves", throttle_duration_sec=2.0)
            qdot = np.zeros_like(qdot)
        target = self.perceived[0] if self.perceived is not None else None
        cmd, change = self.gripper.step(now, running, core.mode == HALTED, tcp, target)
        if cmd is not None:
            if self.effort_pub is not None:          # the limit before the motion it limits
                self.effort_pub.publish(Float64MultiArray(
                    data=[float(v) for v in self.gripper.cfg.max_effort]))
            self.gripper_pub.publish(Float64MultiArray(data=[float(v) for v in cmd]))
        if change is not None:
            self.get_logger().info(f"gripper {change}"
                                   + (f" (episode {core.episode})" if running else ""))
        return qdot

    def _handle(self, events) -> None:
        for kind, value in events:
            if kind == "episode_started":
                self.ep_steps = 0
                self.episode_pub.publish(Int64(data=int(value)))
                self.get_logger().info(f"episode {value} started")
            elif kind == "episode_ended":
                self.get_logger().info(f"episode ended: {json.dumps(value, default=str)}")
                self._publish_episode_end(value)
            elif kind == "mode":
                self._publish_status()

    def _publish_episode_end(self, rec: dict) -> None:
        """``/sacgmm/episode_end`` for an episode record of :class:`BridgeCore`."""
        end = rec.get("end_position")
        if self.perceived is None or end is None:
            self.get_logger().error(f"episode {rec['episode']} ended without a target pose (or "
                                    "joint state): /sacgmm/episode_end not published")
            return
        target, rot = self.perceived
        rel = np.asarray(end, dtype=np.float64) - target
        if self.p["use_target_orientation"]:
            rel = rot.T @ rel
        stamp = stamp_seconds(self.state_stamp) if self.state_stamp is not None else \
            self.get_clock().now().nanoseconds * 1e-9
        # the hand's final opening (m; the refiner's gripper observation), before it reopens
        grip = self.gripper.positions if self.gripper is not None else None
        self.episode_end_pub.publish(to_multiarray(encode_episode_end(EpisodeEnd(
            int(rec["episode"]), int(self.ep_steps), rec["end_reason"] == "success",
            bool(rec["success"]), float(rec["reward"]), rel, float(stamp),
            None if grip is None else float(np.sum(grip))))))

    def _publish_status(self) -> None:
        self.status_pub.publish(String(data=self.core.mode))

    def _publish_target(self) -> None:
        self.target_pub.publish(pose_stamped(self.target, self.frame_id,
                                             self.get_clock().now().to_msg()))

    def close(self) -> None:
        core = getattr(self, "core", None)
        if core is not None:
            core.shutdown(time.monotonic())
            try:
                self._send(np.zeros(self.chain.n))
            except Exception:  # context already shut down
                pass


def main(args: list[str] | None = None) -> int:
    return run_node(IiwaBridge, args)


if __name__ == "__main__":
    raise SystemExit(main())
