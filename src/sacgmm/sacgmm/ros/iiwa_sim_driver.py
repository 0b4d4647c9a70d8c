"""``iiwa_sim_driver``: a simulated stand-in for ICube-Robotics' ``iiwa_ros2`` driver with its
``velocity_controller``, speaking exactly its topics, so the real-robot graph
(``door_opening use_sim:=false``) runs in CI without a robot.

The arm is the PyBullet iiwa of ``urdf_path`` (empty: pybullet_data ``kuka_iiwa/model.urdf``)
with a fixed base at ``base_xyz`` (world, m). Every ``1 / rate_hz`` s the joint positions are
integrated kinematically with the commanded velocities (an ideal velocity-controlled joint, as
the KUKA's internal controller approximates), clamped at the URDF position limits, and written
into PyBullet.

Subscribes ``command_topic`` (std_msgs/Float64MultiArray, default
``/velocity_controller/commands``): 7 joint velocities (rad/s) in ``joint_names`` order. Like
ros2_control's forward command controller, the last command is held until a new one arrives,
but only for ``command_timeout`` s (default 0.1): then the arm stops (logged), as a real cell
must stop when its command source dies, e.g. ``iiwa_bridge`` killed while the arm moves (the
README says how to get the same on a real iiwa). ``command_timeout:=0.0`` holds the last
command forever, as the bare forward command controller does. A message of the wrong size or
with NaN/inf is rejected and the arm stops. Velocities beyond the URDF limits are clamped.
A gripper stand-in when ``gripper_joints`` is not empty: ``gripper_command_topic``
(std_msgs/Float64MultiArray, one position per gripper joint, like a forward command controller
of position interfaces) moves each joint towards its command at ``gripper_speed`` (units/s);
the joints start at ``gripper_initial`` and are published with the arm's.
Publishes ``joint_states_topic`` (sensor_msgs/JointState, default ``/joint_states``; names in
alphabetical order like joint_state_broadcaster; position rad, velocity rad/s) and
``~/tip_pose`` (geometry_msgs/PoseStamped, world frame): PyBullet's own pose of the tip link
with the ``tool_xyz`` offset, the ground truth against which the bridge's FK is tested.

``scene:=door`` makes the stand-in the door cell (:mod:`sacgmm.sim.door_cell`: the door task's
door with its hinge foot at ``door_hinge``, world m, a closing spring, the reward marker on its
back and the target marker ``door_front_marker_id`` on its front; grasp and hinge rules there),
so the real-robot graph runs whole episodes unchanged. The gripper stand-in must be on; its
first joint is the fingers' opening (m), which stops at the handle bar's width while the bar
is held. Two cameras publish ``sensor_msgs/Image`` (rgb8) and ``CameraInfo`` (pinhole, no
distortion) on the topics a camera driver would use, ``<prefix>/image_raw`` and
``<prefix>/camera_info`` with sensor-data QoS: the door camera (``door_camera_prefix``, fixed in
the world at optical frame ``door_camera_xyz``/``door_camera_rpy``) and the wrist camera
(``wrist_camera_prefix``, mounted on the hand like the simulated door task's gripper camera).
With ``door_jitter`` the door is put elsewhere after every episode, so a fixed ``target:=`` no
longer fits and the target has to come from the front marker.
Faults of a real cell at run time (``ros2 param set``): ``door_camera_on``,
``wrist_camera_on`` (false: the camera stops publishing) and ``front_marker_covered``.
Ground truth for tests: ``~/door_state`` (sensor_msgs/JointState, joint ``door_hinge``:
opening angle in rad, 0 = shut; effort 1 while the handle is held, else 0).
"""
from __future__ import annotations

import time

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray

from sacgmm.robot.kinematics import default_urdf
from sacgmm.ros.convert import camera_info, image_to_msg, pose_stamped
from sacgmm.ros.iiwa_bridge import HOME, IIWA_JOINTS
from sacgmm.ros.params import Param, StartupError, declare, run_node

PARAMS = (
    Param("urdf_path", "", "robot URDF; empty: pybullet_data kuka_iiwa/model.urdf"),
    Param("joint_names", IIWA_JOINTS, "published names of the URDF's movable joints, in order"),
    Param("initial_positions", HOME, "joint positions at start-up (rad)"),
    Param("base_xyz", [0.0, 0.0, 0.0], "robot base position in the world (m)"),
    Param("tool_xyz", [0.0, 0.0, 0.2], "TCP offset in the tip link frame for ~/tip_pose (m)"),
    Param("rate_hz", 100.0, "simulation and joint-state rate (Hz)", range=(1.0, 1000.0)),
    Param("joint_states_topic", "/joint_states", "JointState topic"),
    Param("command_topic", "/velocity_controller/commands", "joint velocity command topic"),
    Param("frame_id", "world", "frame of ~/tip_pose"),
    Param("gripper_joints", [""], "names of the gripper stand-in's joints; [\"\"]: no gripper"),
    Param("gripper_initial", [0.108], "gripper joint positions at start-up"),
    Param("gripper_speed", 0.1, "gripper joint speed (units/s)", range=(1e-4, 10.0)),
    Param("gripper_command_topic", "/gripper_controller/commands", "gripper position command "
          "topic"),
    Param("command_timeout", 0.1, "stop the arm when no command came for this long (s); 0: "
          "hold the last command forever", range=(0.0, 10.0)),
    Param("scene", "empty", "empty (the arm alone) or door (the door cell)",
          choices=("empty", "door")),
    Param("door_hinge", [0.585, 0.25, -0.075], "scene door: hinge foot position (m, world; "
          "the floor is at its height)"),
    Param("door_jitter", [0.0, 0.0], "scene door: after every episode (/sacgmm/episode_end) "
          "the door is put back at door_hinge + U(-jitter, jitter) in x and y (m), as the "
          "simulated task varies it; [0, 0]: it stays"),
    Param("seed", 0, "scene door: seed of the door's placements", range=(0, 2**31 - 1)),
    Param("door_front_marker_id", 8, "scene door: id of the target marker on the door's "
          "front", range=(0, 49)),
    Param("door_front_marker", [0.1, 0.12, 0.12], "scene door: the front marker plate's side "
          "with its white border, its centre's distance from the hinge along the panel and "
          "height above the floor (m)"),
    Param("door_camera_prefix", "/door_camera", "scene door: topic prefix of the door camera"),
    Param("door_camera_xyz", [0.252, -0.366, 0.265], "scene door: door camera optical frame "
          "position (m, world)"),
    Param("door_camera_rpy", [-1.837, 0.0, -0.489], "scene door: door camera optical frame "
          "orientation (rad, roll-pitch-yaw)"),
    Param("door_camera_size", [320, 240], "scene door: door camera image width and height "
          "(px)"),
    Param("door_camera_fov", 40.0, "scene door: door camera vertical field of view (deg)",
          range=(1.0, 170.0)),
    Param("door_camera_hz", 10.0, "scene door: door camera frame rate (Hz)",
          range=(0.1, 60.0)),
    Param("wrist_camera_prefix", "/wrist_camera", "scene door: topic prefix of the wrist "
          "camera"),
    Param("wrist_camera_size", [128, 96], "scene door: wrist camera image width and height "
          "(px)"),
    Param("wrist_camera_hz", 15.0, "scene door: wrist camera frame rate (Hz)",
          range=(0.1, 60.0)),
    # faults of a real cell, to be set at run time (ros2 param set): dry runs of what the graph
    # does when a camera stops or the target marker is covered
    Param("door_camera_on", True, "scene door: the door camera publishes"),
    Param("wrist_camera_on", True, "scene door: the wrist camera publishes"),
    Param("front_marker_covered", False, "scene door: the target marker on the door's front "
          "is covered"),
)


class IiwaSimDriver(Node):
    """See the module docstring."""

    def __init__(self, **kwargs):
        super().__init__("iiwa_sim_driver", **kwargs)
        p = declare(self, PARAMS)
        self.p = p
        from sacgmm.sim.robot import connect_direct
        self.bullet = connect_direct()
        path = p["urdf_path"] or default_urdf()
        try:
            self.uid = self.bullet.loadURDF(path, list(p["base_xyz"]), useFixedBase=True)
        except Exception as exc:  # pybullet.error
            raise StartupError(f"parameter 'urdf_path': cannot load {path}: {exc}") from None
        b = self.bullet
        self.joints = [j for j in range(b.getNumJoints(self.uid))
                       if b.getJointInfo(self.uid, j)[2] != b.JOINT_FIXED]
        n = len(self.joints)
        if len(p["joint_names"]) != n or len(p["initial_positions"]) != n:
            raise StartupError(f"parameters 'joint_names'/'initial_positions': the URDF has {n} "
                               f"movable joints")
        info = [b.getJointInfo(self.uid, j) for j in self.joints]
        self.lower = np.array([i[8] for i in info])
        self.upper = np.array([i[9] for i in info])
        self.vmax = np.array([i[11] if i[11] > 0 else np.inf for i in info])
        self.tip = self.joints[-1]
        self.tool = np.asarray(p["tool_xyz"], dtype=float)
        self.q = np.clip(np.asarray(p["initial_positions"], dtype=float), self.lower, self.upper)
        self.qdot = np.zeros(n)
        self.last_command = None       # monotonic time (s) of the last accepted command
        for j, v in zip(self.joints, self.q):
            b.resetJointState(self.uid, j, float(v))
        self.dt = 1.0 / p["rate_hz"]
        names = list(p["joint_names"])
        self.grip_names = [g for g in p["gripper_joints"] if g]
        self.grip = np.asarray(p["gripper_initial"], dtype=float)
        if self.grip_names and self.grip.size != len(self.grip_names):
            raise StartupError("parameters 'gripper_joints'/'gripper_initial': one position per "
                               "gripper joint")
        self.grip_target = self.grip.copy()
        all_names = names + self.grip_names
        # alphabetical, like ros2_control's joint_state_broadcaster
        self.order = sorted(range(len(all_names)), key=lambda i: all_names[i])
        self.state = JointState(name=[all_names[i] for i in self.order])
        self.names = names
        self.state_pub = self.create_publisher(JointState, p["joint_states_topic"], 10)
        self.tip_pub = self.create_publisher(PoseStamped, "~/tip_pose", 10)
        self.create_subscription(Float64MultiArray, p["command_topic"], self._on_cmd, 10)
        if self.grip_names:
            self.create_subscription(Float64MultiArray, p["gripper_command_topic"],
                                     self._on_gripper_cmd, 10)
        self.cell = None
        if p["scene"] == "door":
            self._build_door_cell()
        self.create_timer(self.dt, self._on_timer)
        self.get_logger().info(f"simulated iiwa ({path}, {n} joints) at {p['rate_hz']:g} Hz, "
                               f"scene {p['scene']}")

    # ------------------------------------------------------------------ door cell
    def _build_door_cell(self) -> None:
        from sacgmm.sim.config import load_task_config
        from sacgmm.sim.door_cell import DoorCell, camera_view
        p, b = self.p, self.bullet
        if not self.grip_names:
            raise StartupError("parameter 'gripper_joints': scene door needs the gripper "
                               "stand-in (its first joint is the fingers' opening, m)")
        side, from_hinge, height = (list(p["door_front_marker"]) + [0.0] * 3)[:3]
        if len(p["door_front_marker"]) != 3 or min(side, height) <= 0:
            raise StartupError("parameter 'door_front_marker': expected [side, from_hinge, "
                               "height] (m, positive side and height)")
        for name in ("door_camera_size", "wrist_camera_size"):
            size = list(p[name])
            if len(size) != 2 or min(size) < 8:
                raise StartupError(f"parameter '{name}': expected [width, height] in pixels "
                                   f"(at least 8 each), got {size}")
        cfg = load_task_config("door")
        front = dict(dictionary=cfg["geometry"]["marker"]["dictionary"],
                     id=int(p["door_front_marker_id"]), side=side, from_hinge=from_hinge,
                     height=height)
        try:
            self.cell = DoorCell(b, cfg, p["door_hinge"], front)
            size = [int(v) for v in p["door_camera_size"]]
            self.door_cam = camera_view(b, p["door_camera_xyz"], p["door_camera_rpy"], *size,
                                        p["door_camera_fov"])
            w, h = [int(v) for v in p["wrist_camera_size"]]
            sensor = cfg["sensor"]
            self.wrist_cam = camera_view(b, [0, 0, 0], [0, 0, 0], w, h, float(sensor["fov"]),
                                         float(sensor["near"]), float(sensor["far"]))
        except (ValueError, TypeError) as exc:
            raise StartupError(f"scene door parameters: {exc}") from None
        self.wrist_mount = (np.asarray(sensor["eye"], float), np.asarray(sensor["look"], float),
                            np.asarray(sensor["up"], float))
        self.home_rotation = self._tool_pose()[1]
        floor = b.createVisualShape(b.GEOM_BOX, halfExtents=[2, 2, 0.005],
                                    rgbaColor=[0.85, 0.85, 0.8, 1])
        b.createMultiBody(0, -1, floor, basePosition=[0, 0, float(p["door_hinge"][2]) - 0.005])
        self.cameras = {}
        for name, prefix, hz in (("door", p["door_camera_prefix"], p["door_camera_hz"]),
                                 ("wrist", p["wrist_camera_prefix"], p["wrist_camera_hz"])):
            pubs = (self.create_publisher(Image, f"{prefix}/image_raw", qos_profile_sensor_data),
                    self.create_publisher(CameraInfo, f"{prefix}/camera_info",
                                          qos_profile_sensor_data))
            self.cameras[name] = pubs
            self.create_timer(1.0 / hz, lambda name=name: self._publish_camera(name))
        self.door_pub = self.create_publisher(JointState, "~/door_state", 10)
        self.jitter = np.asarray(p["door_jitter"], dtype=float)
        if self.jitter.shape != (2,) or not np.isfinite(self.jitter).all() or \
                (self.jitter < 0).any():
            raise StartupError("parameter 'door_jitter': expected two non-negative numbers (m)")
        if self.jitter.any():
            self.rng = np.random.default_rng(p["seed"])
            self.create_subscription(Float64MultiArray, "/sacgmm/episode_end",
                                     self._move_door, 10)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.get_logger().info(f"door cell: hinge at {list(p['door_hinge'])} m, target (handle "
                               f"at the goal angle) at {np.round(self.cell.target(), 4).tolist()} m")

    def _tool_pose(self) -> tuple[np.ndarray, np.ndarray, list]:
        """The TCP (world, m), the tip link's rotation (3x3) and its quaternion, now."""
        s = self.bullet.getLinkState(self.uid, self.tip, computeForwardKinematics=True)
        rot = np.array(self.bullet.getMatrixFromQuaternion(s[5])).reshape(3, 3)
        return np.asarray(s[4]) + rot @ self.tool, rot, s[5]

    def _move_door(self, _msg) -> None:
        """Between episodes the door is put somewhere else near ``door_hinge`` (shut)."""
        hinge = np.asarray(self.p["door_hinge"], dtype=float).copy()
        hinge[:2] += self.rng.uniform(-self.jitter, self.jitter)
        self.cell.place(hinge)
        self.get_logger().info(f"door moved: hinge at {np.round(hinge, 4).tolist()} m, target "
                               f"{np.round(self.cell.target(), 4).tolist()} m")

    def _on_set_parameters(self, params):
        from rcl_interfaces.msg import SetParametersResult
        for prm in params:
            if prm.name == "front_marker_covered" and self.cell is not None:
                self.cell.cover_front_marker(bool(prm.value))
            if prm.name in ("door_camera_on", "wrist_camera_on", "front_marker_covered"):
                self.get_logger().warning(f"{prm.name} := {prm.value}")
        return SetParametersResult(successful=True)

    def _publish_camera(self, name: str) -> None:
        from sacgmm.sim.sensors import look_at, render_rgb
        if not self.get_parameter(f"{name}_camera_on").value:
            return
        b = self.bullet
        if name == "door":
            cam, frame = self.door_cam, "door_camera_optical_frame"
            view = cam.view
        else:   # rigid on the hand: the task's mount, turned with the hand from its home pose
            cam, frame = self.wrist_cam, "wrist_camera_optical_frame"
            eye_off, look, up = self.wrist_mount
            tcp, rot, _ = self._tool_pose()
            rel = rot @ self.home_rotation.T
            eye = tcp + rel @ eye_off
            view = look_at(b, eye, eye + rel @ look, rel @ up)
        img = render_rgb(b, cam.width, cam.height, view, cam.proj)
        stamp = self.get_clock().now().to_msg()
        image_pub, info_pub = self.cameras[name]
        image_pub.publish(image_to_msg(img, "rgb8", frame, stamp))
        info_pub.publish(camera_info(cam.width, cam.height, cam.fov_deg, frame, stamp,
                                     (cam.k[0, 2], cam.k[1, 2])))

    def _on_cmd(self, msg: Float64MultiArray) -> None:
        v = np.asarray(msg.data, dtype=float)
        if v.size != len(self.joints) or not np.isfinite(v).all():
            self.get_logger().error(f"command rejected (size {v.size}, or NaN/inf): arm stopped",
                                    throttle_duration_sec=2.0)
            self.qdot = np.zeros(len(self.joints))
            return
        self.qdot = np.clip(v, -self.vmax, self.vmax)
        self.last_command = time.monotonic()

    def _on_gripper_cmd(self, msg: Float64MultiArray) -> None:
        v = np.asarray(msg.data, dtype=float)
        if v.size != len(self.grip_names) or not np.isfinite(v).all():
            self.get_logger().error(f"gripper command rejected (size {v.size}, or NaN/inf)",
                                    throttle_duration_sec=2.0)
            return
        self.grip_target = v

    def _on_timer(self) -> None:
        timeout = self.p["command_timeout"]
        if timeout > 0 and self.last_command is not None \
                and time.monotonic() - self.last_command > timeout:
            self.get_logger().warning(f"no command for {timeout:g} s: arm stopped")
            self.qdot = np.zeros(len(self.joints))
            self.last_command = None
        q_new = np.clip(self.q + self.qdot * self.dt, self.lower, self.upper)
        vel = (q_new - self.q) / self.dt
        self.q = q_new
        b = self.bullet
        for j, v, w in zip(self.joints, self.q, vel):
            b.resetJointState(self.uid, j, float(v), float(w))
        tcp, _, quat = self._tool_pose()           # of the joints just set
        step = self.p["gripper_speed"] * self.dt
        grip_new = self.grip + np.clip(self.grip_target - self.grip, -step, step)
        if self.cell is not None:    # the fingers stop on a held bar; the door follows the hand
            cell, counts = self.cell, (self.cell.grasps, self.cell.slips)
            grip_new[0] = cell.step(self.dt, tcp, float(grip_new[0]), float(self.grip[0]))
            if (cell.grasps, cell.slips) != counts:
                self.get_logger().info("door cell: the fingers closed on the handle" if
                                       cell.grasps != counts[0] else
                                       "door cell: the handle slipped out of the fingers")
        grip_vel = (grip_new - self.grip) / self.dt
        self.grip = grip_new
        stamp = self.get_clock().now().to_msg()
        self.state.header.stamp = stamp
        q_all, v_all = np.concatenate([self.q, self.grip if self.grip_names else []]), \
            np.concatenate([vel, grip_vel if self.grip_names else []])
        self.state.position = [float(q_all[i]) for i in self.order]
        self.state.velocity = [float(v_all[i]) for i in self.order]
        self.state_pub.publish(self.state)
        self.tip_pub.publish(pose_stamped(tcp, self.p["frame_id"], stamp, quat))
        if self.cell is not None:
            self.door_pub.publish(JointState(
                header=self.state.header, name=["door_hinge"], position=[self.cell.angle],
                velocity=[self.cell.rate], effort=[1.0 if self.cell.held else 0.0]))

    def close(self) -> None:
        if getattr(self, "bullet", None) is not None:
            self.bullet.disconnect()
            self.bullet = None


def main(args: list[str] | None = None) -> int:
    return run_node(IiwaSimDriver, args)


if __name__ == "__main__":
    raise SystemExit(main())
