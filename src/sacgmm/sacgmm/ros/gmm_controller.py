"""``gmm_controller``: the high-rate loop evaluating the GMM skill (a thin shell around
:class:`sacgmm.ros.controller_core.ControllerCore`).

Subscribes
  ``/sacgmm/ee_pose`` (geometry_msgs/PoseStamped, world frame, m): end-effector pose.
  ``/sacgmm/target_pose`` (geometry_msgs/PoseStamped, world frame, m): perceived target.
  ``/sacgmm/delta_theta`` (std_msgs/Float64MultiArray, :mod:`sacgmm.ros.layouts`): skill change;
  a NaN/inf or wrongly sized message is rejected with a logged error, the skill unchanged.
  ``/sacgmm/episode`` (std_msgs/Int64): start of an episode (window counter and skill reset).
  ``gripper_topic`` (sensor_msgs/JointState, optional): the gripper's opening (m) is the sum
  of the positions of ``gripper_joints`` (the sim_bridge publishes one joint,
  ``sacgmm_gripper_opening``; for a gripper whose fingers each report their travel in m, list
  both finger joints); it goes into every window message with the grasp position (the step at
  which the opening first fell below ``held_below``), for the refiner's via-point steering.
Publishes
  ``/sacgmm/cmd_vel`` (geometry_msgs/TwistStamped, m/s, world axes): each component within
  ``+-max_speed`` (:mod:`sacgmm.skill.speed`, as in training),
  never NaN, zero when the pose is stale, before any pose/target, or without a skill. When the
  pose source stops (a dead bridge), zero is published within ``pose_timeout`` (timer mode) or
  ``lockstep_timeout`` (lock-step: a watchdog timer; the simulator sends a pose at least every
  ``resend_period`` = 0.5 s while it lives, also while it waits) and the reason is logged again
  every ``STOP_LOG_PERIOD`` s while the stop lasts.
  ``/sacgmm/window`` (std_msgs/Float64MultiArray): state at the end of every ``window_steps``
  active control steps (layout in :mod:`sacgmm.ros.layouts`).
  ``/sacgmm/markers`` (visualization_msgs/MarkerArray): Gaussian ellipsoids + target sphere.
  ``/sacgmm/rollout`` (nav_msgs/Path): predicted trajectory from the current position.
  ``/sacgmm/episode_ack`` (std_msgs/Int64): echoes ``/sacgmm/episode`` once the window
  counter and skill are reset; the lock-step sim_bridge holds the episode's first state until
  it arrives (the two topics are not ordered with respect to each other).
Modes (``control_mode``)
  ``lockstep``: one control step per received ee pose (reproducible training with the
  sim_bridge); delta-theta is applied in its callback, before the next step.
  With ``sync_windows`` (lock-step training through ROS, as the in-process trainer does it),
  the window is announced at the boundary, before the first step of the next window (and at
  the episode's start, window_index -1), and while a node publishes ``/sacgmm/delta_theta``
  (and at the first boundary in any case) the step is held until the delta-theta answering
  that window arrives, the announcement repeated every 0.5 s (at most ``delta_wait`` s; after
  a timeout the controller goes on with its current skill and does not wait again until a
  delta-theta arrives, so a dead refiner never stops the robot).
  ``timer``: a wall-clock timer at ``rate_hz`` (up to 1000 Hz, the FRI rate); the costly work
  (adapting the skill, ~1.5 ms with the SEDS projection; markers and rollout) runs on a worker
  thread and the new skill is swapped in atomically, so the loop only evaluates the skill.
  With ``rt_priority`` > 0 the loop thread runs SCHED_FIFO at that priority and the node's
  other Python threads (the executor, which is the calling thread, and the worker) at one
  priority below: every Python thread shares the GIL with the loop, and a normal-priority
  thread preempted by a busy process (e.g. the training refiner) while it holds the GIL would
  stall the loop for a scheduler slice (priority inversion: with the refiner training in the
  same graph, p99 period jitter at 1 kHz was 0.73 ms with only the loop thread at SCHED_FIFO
  and 0.17 ms with every Python thread; results/bench_ros.json).
"""
from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from geometry_msgs.msg import PoseStamped, TwistStamped
from nav_msgs.msg import Path
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, Int64
from visualization_msgs.msg import MarkerArray

from sacgmm.stats import period_jitter
from sacgmm.fileio import atomic_write_text
from sacgmm.ros.controller_core import ControllerCore
from sacgmm.ros.convert import (from_multiarray, gmm_markers, path_msg, pose_position,
                                pose_rotation, stamp_seconds, target_marker, to_multiarray)
from sacgmm.ros.layouts import GRIPPER_JOINT, decode_delta, encode_window
from sacgmm.ros.params import Param, StartupError, declare, run_node
from sacgmm.skill.via_point import HELD_BELOW

PARAMS = (
    Param("skill_path", "", "skill YAML file (sacgmm fit); empty: no skill, zero commands"),
    Param("control_mode", "lockstep", "lockstep: one step per received pose; timer: rate_hz timer",
          choices=("lockstep", "timer")),
    Param("rate_hz", 30.0, "control rate of the timer mode (Hz)", range=(1.0, 1000.0)),
    Param("timer_impl", "thread", "timer mode clock: thread (dedicated loop thread with "
          "absolute deadlines) or rclpy (an rclpy timer in the executor)",
          choices=("thread", "rclpy")),
    Param("rt_priority", 0, "SCHED_FIFO priority of the timer-mode loop thread; the node's "
          "other Python threads run one below it (they share the GIL with the loop). Needs "
          "CAP_SYS_NICE or an rtprio limit; 0: normal scheduling", range=(0, 98)),
    Param("max_speed", 0.15, "limit of each component of the commanded velocity (m/s; the "
          "task's control.max_speed)", range=(0.0, 1.0)),
    Param("pose_timeout", 0.2, "ee pose older than this stops the robot (s)", range=(0.001, 10.0)),
    Param("lockstep_timeout", 1.0, "lockstep mode: no pose for this long means the simulator is "
          "gone, and zero is published (s; longer than the sim_bridge's resend_period, since "
          "a slow simulator step is not a dead one)", range=(0.01, 60.0)),
    Param("target_timeout", 0.0, "target older than this stops the robot (s); 0: never stale",
          range=(0.0, 3600.0)),
    Param("window_steps", 32, "control steps per refinement window N", range=(1, 100000)),
    Param("sync_windows", False, "lockstep mode: announce windows at the boundary and hold "
          "the step until the refiner's delta-theta for it arrives (see the module docstring)"),
    Param("delta_wait", 2.0, "sync_windows: longest wait for a delta-theta (s)",
          range=(0.001, 600.0)),
    Param("stable_adaptation", False, "project adapted skills onto the SEDS-stable set (must equal the refiner's delta_theta.stable; false keeps the attractor shift)"),
    Param("use_target_orientation", False,
          "express positions in the target pose's axes (false: world-aligned target frame)"),
    Param("gripper_topic", "", "sensor_msgs/JointState of the gripper; empty: no gripper "
          "opening in the window messages"),
    Param("gripper_joints", [GRIPPER_JOINT], "joints whose positions (m) sum to "
          "the gripper's opening"),
    Param("held_below", HELD_BELOW, "a gripper opening below this (m) holds something (grasp)",
          range=(0.0, 1.0)),
    Param("frame_id", "world", "frame of the command and the RViz markers"),
    Param("marker_rate_hz", 2.0, "RViz marker/rollout rate (Hz); 0: off", range=(0.0, 30.0)),
    Param("n_sigma", 1.0, "ellipsoid size in standard deviations", range=(0.1, 5.0)),
    Param("rollout_steps", 90, "predicted-rollout length (steps)", range=(0, 2000)),
    Param("rollout_dt", 1.0 / 30.0, "predicted-rollout time step (s)", range=(1e-4, 1.0)),
    Param("timing_log", "", "if set, JSON file of loop periods written at shutdown"),
)


#: s between repeated warnings while the controller stays stopped for the same reason
STOP_LOG_PERIOD = 5.0
WINDOW_RESEND = 0.5     # s: a held window is announced again this often until answered


class GMMController(Node):
    """ROS shell of :class:`ControllerCore`; see the module docstring."""

    def __init__(self, **kwargs):
        super().__init__("gmm_controller", **kwargs)
        p = declare(self, PARAMS)
        self.p = p
        if p["lockstep_timeout"] < p["pose_timeout"]:
            raise StartupError(f"parameter 'lockstep_timeout': {p['lockstep_timeout']:g} s is "
                               f"below pose_timeout ({p['pose_timeout']:g} s)")
        skill = None
        if p["skill_path"]:
            from sacgmm.skill import load_skill
            try:
                skill = load_skill(p["skill_path"])
            except (ValueError, FileNotFoundError) as exc:
                raise StartupError(f"parameter 'skill_path': {exc}") from None
            if skill.dim != 3:
                raise StartupError(f"parameter 'skill_path': a 3-D position skill is needed, "
                                   f"{p['skill_path']} has d={skill.dim}")
            self.get_logger().info(f"loaded {skill!r} from {p['skill_path']}")
        else:
            self.get_logger().warning("no skill_path given: publishing zero velocity")
        self.core = ControllerCore(skill, max_speed=p["max_speed"], pose_timeout=p["pose_timeout"],
                                   target_timeout=p["target_timeout"],
                                   window_steps=p["window_steps"],
                                   stable_adaptation=p["stable_adaptation"],
                                   use_target_orientation=p["use_target_orientation"],
                                   sync_windows=p["sync_windows"] and p["control_mode"] == "lockstep",
                                   held_below=p["held_below"])
        self._held = None             # sync_windows: [stamp, time, window_index, episode]
        self._refiner_ok = True       # False after a delta_wait timeout until a delta arrives
        self._first_hold = True       # no boundary held yet
        self.frame_id = p["frame_id"]
        self.lockstep = p["control_mode"] == "lockstep"
        self.cmd_pub = self.create_publisher(TwistStamped, "/sacgmm/cmd_vel", 10)
        self.window_pub = self.create_publisher(Float64MultiArray, "/sacgmm/window", 10)
        self.episode_ack_pub = self.create_publisher(Int64, "/sacgmm/episode_ack", 10)
        self._pose_stamp = None           # lockstep: stamps of the latest pose and target
        self._target_stamp = None
        self._paired = False              # lockstep: pose and target carry the same stamps
        self.marker_pub = self.create_publisher(MarkerArray, "/sacgmm/markers", 1)
        self.path_pub = self.create_publisher(Path, "/sacgmm/rollout", 1)
        self.create_subscription(PoseStamped, "/sacgmm/ee_pose", self._on_pose, 10)
        self.create_subscription(PoseStamped, "/sacgmm/target_pose", self._on_target, 10)
        self.create_subscription(Float64MultiArray, "/sacgmm/delta_theta", self._on_delta, 10)
        self.create_subscription(Int64, "/sacgmm/episode", self._on_episode, 10)
        self.gripper_joints = list(p["gripper_joints"])
        if p["gripper_topic"]:
            self.create_subscription(JointState, p["gripper_topic"], self._on_gripper, 10)
        self._periods: list[float] = []
        self._cmd_msg = TwistStamped()
        self._cmd_msg.header.frame_id = self.frame_id
        # ROS time is the system clock unless use_sim_time: stamp from time.time_ns() (cheaper)
        self._system_time = not self.get_parameter("use_sim_time").value
        # timer mode: skill adaptation and RViz output off the control loop
        self._worker = None
        if not self.lockstep:
            helper_prio = max(1, p["rt_priority"] - 1) if p["rt_priority"] > 0 else 0
            # this (the executor's) thread first: threads started later inherit its policy
            self._set_fifo(helper_prio, "executor thread")
            self._worker = ThreadPoolExecutor(1, "sacgmm_ctrl_worker")
            # the worker must hand the GIL back quickly (default: every 5 ms = 5 periods at 1 kHz)
            sys.setswitchinterval(min(sys.getswitchinterval(), 0.1 / p["rate_hz"]))
        self._markers_busy = threading.Event()
        self._last_tick = None
        self._last_reason = None
        self._reason_logged = -math.inf   # monotonic time of the last stop warning
        self._stop = threading.Event()
        self._loop_thread = None
        if not self.lockstep:
            if p["timer_impl"] == "rclpy":
                self.create_timer(1.0 / p["rate_hz"], self._on_timer)
            else:
                self._loop_thread = threading.Thread(target=self._loop, name="sacgmm_ctrl_loop",
                                                     daemon=True)
                self._loop_thread.start()
        else:
            # lock-step steps on poses: without one, nothing would be published at all
            self.create_timer(min(p["delta_wait"], p["lockstep_timeout"]) / 4.0,
                              self._watchdog)
        if p["marker_rate_hz"] > 0:
            self.create_timer(1.0 / p["marker_rate_hz"], self._publish_markers)
        self.get_logger().info(
            f"{p['control_mode']} mode" + ("" if self.lockstep else f" at {p['rate_hz']:g} Hz")
            + f", max_speed {p['max_speed']:g} m/s, window {p['window_steps']} steps")

    # -- callbacks ------------------------------------------------------------------------
    def _on_gripper(self, msg: JointState) -> None:
        pos = dict(zip(msg.name, msg.position))
        if all(j in pos for j in self.gripper_joints):
            self.core.set_gripper(sum(float(pos[j]) for j in self.gripper_joints))

    def _on_pose(self, msg: PoseStamped) -> None:
        now = time.monotonic()
        self.core.set_pose(pose_position(msg.pose), now, stamp_seconds(msg.header.stamp))
        if self.lockstep:
            # one sim state = a pose and a target with the same stamp, on two topics that are
            # not ordered: step when both have arrived (else the target of the previous
            # episode could be used for the first step of the next one)
            # episode could be used for the first step of the next one). Sources that never
            # share stamps (a separate target publisher) are stepped per pose as they come.
            self._pose_stamp = msg.header.stamp
            if self._target_stamp == msg.header.stamp:
                self._paired = True
            elif self._paired:
                return
            self._lockstep_state(msg.header.stamp, now)

    def _lockstep_state(self, stamp, now: float) -> None:
        if self.core.sync_windows and self._sync_hold(stamp, now):
            return
        # the command carries the stamp of the pose it answers: the sim_bridge steps only
        # for the state it last published (no double step on a repeated pose)
        self._control_step(stamp)

    def _sync_hold(self, stamp, now: float) -> bool:
        """``sync_windows``: announce a boundary; True while this pose's step is held."""
        w = self.core.boundary(now)
        if w is not None:
            msg = to_multiarray(encode_window(w))
            self.window_pub.publish(msg)
            # the first boundary is held even before a refiner is discovered (at start-up
            # discovery may lag behind the first state); later ones only while one is there
            if self._refiner_ok and (self._first_hold
                                     or self.count_publishers("/sacgmm/delta_theta") > 0):
                self._first_hold = False
                self._held = [stamp, now, w.window_index, w.episode, msg, now]
                return True
            return False
        if self._held is None:
            return False
        if now - self._held[1] < self.p["delta_wait"]:
            self._held[0] = stamp            # a re-sent state: answer the latest stamp
            return True
        self._stop_waiting()
        return False

    def _stop_waiting(self) -> None:
        """``delta_wait`` passed without the held window's delta-theta: go on with the
        current skill and do not hold again until a delta-theta arrives."""
        self.get_logger().warning(
            f"no delta_theta for window {self._held[2]} within delta_wait="
            f"{self.p['delta_wait']:g} s: continuing with the current skill (not waiting "
            "again until a delta_theta arrives)")
        self._held, self._refiner_ok = None, False

    def _on_target(self, msg: PoseStamped) -> None:
        self.core.set_target(pose_position(msg.pose), time.monotonic(),
                             pose_rotation(msg.pose) if self.core.use_target_orientation else None)
        if self.lockstep:
            waiting = self._paired and self._pose_stamp != self._target_stamp
            self._target_stamp = msg.header.stamp
            if waiting and msg.header.stamp == self._pose_stamp:
                self._lockstep_state(msg.header.stamp, time.monotonic())

    def _on_episode(self, msg: Int64) -> None:
        self.core.new_episode(int(msg.data))
        self._held = None
        # the sim_bridge (lock-step) holds the episode's first state until this arrives
        self.episode_ack_pub.publish(Int64(data=int(msg.data)))
        self.get_logger().info(f"episode {msg.data}: window counter reset, loaded skill restored")

    def _on_delta(self, msg: Float64MultiArray) -> None:
        core = self.core
        if core.base_skill is None:
            self.get_logger().error("delta_theta rejected: no skill loaded")
            return
        try:
            delta = decode_delta(from_multiarray(msg), core.base_skill.n_components,
                                 core.base_skill.dim)
        except ValueError as exc:
            self.get_logger().error(f"delta_theta rejected, skill unchanged: {exc}")
            return
        self._refiner_ok = True
        if self._worker is None:
            self._apply(delta, core.episode)
            held = self._held
            if held is not None and delta.window_index == held[2] and core.episode == held[3]:
                # the step this delta answers: the sim waits for it (lock-step), so the pose
                # received at held[1] is still the robot's state
                self._held = None
                self._control_step(held[0], now=held[1])
        else:
            self._worker.submit(self._apply, delta, core.episode)

    def _apply(self, delta, episode: int) -> None:
        try:
            self.core.apply_delta(delta, episode)
        except ValueError as exc:
            self.get_logger().error(f"delta_theta rejected, skill unchanged: {exc}")

    def _loop(self) -> None:
        """Timer mode, ``timer_impl: thread``: absolute deadlines every 1/rate_hz s on a
        dedicated thread (the executor thread waits in rcl_wait without the GIL). A step that
        is more than one period late resynchronises instead of bursting to catch up."""
        period = 1.0 / self.p["rate_hz"]
        self._set_fifo(self.p["rt_priority"], "control loop thread")
        deadline = time.perf_counter() + period
        while not self._stop.is_set():
            delay = deadline - time.perf_counter()
            # never a busy loop (under SCHED_FIFO it would starve the core): a late step
            # still sleeps a tenth of a period
            time.sleep(max(delay, 0.1 * period))
            if self._stop.is_set() or not self.context.ok():   # shutting down (Ctrl-C)
                break
            try:
                self._on_timer()
            except Exception as exc:  # noqa: BLE001 - never let the loop die silently
                if not self.context.ok():
                    break
                self.get_logger().error(f"control loop error: {exc!r}; skill dropped, "
                                        "publishing zero")
                self.core.skill = None
            deadline += period
            now = time.perf_counter()
            if now - deadline > period:
                deadline = now + period

    def _set_fifo(self, prio: int, what: str) -> bool:
        """SCHED_FIFO at ``prio`` for the calling thread only (Linux: pid 0 = this thread);
        0 leaves it alone. A refusal (no CAP_SYS_NICE/rtprio limit) is logged, not fatal."""
        if prio <= 0:
            return False
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(prio))
        except (AttributeError, OSError) as exc:
            self.get_logger().warning(f"{what}: SCHED_FIFO priority {prio} not granted ({exc}); "
                                      "running with normal scheduling")
            return False
        self.get_logger().info(f"{what}: SCHED_FIFO priority {prio}")
        return True

    def _on_timer(self) -> None:
        t = time.perf_counter()
        # periods are recorded while the loop does its full work (fresh pose, skill loaded)
        if self._last_tick is not None and self._last_reason == "ok" \
                and len(self._periods) < 2_000_000:
            self._periods.append(t - self._last_tick)
        self._last_tick = t
        self._control_step()

    def _watchdog(self) -> None:
        """Lock-step: a step held for the refiner's delta-theta is released after
        ``delta_wait`` (answering the simulator's latest state, which it waits for), and once
        the last pose is older than ``lockstep_timeout`` outside such a hold (the simulator is
        gone) a zero command is published. Each pose is a simulator state to answer, and a slow
        simulator step is not a dead simulator, hence not ``pose_timeout`` here."""
        now = time.monotonic()
        held = self._held
        if held is not None:
            if now - held[1] >= self.p["delta_wait"]:
                self._stop_waiting()
                self._control_step(held[0], now=self.core.ee_time)
            elif now - held[5] >= WINDOW_RESEND:
                # a window message lost (e.g. sent before the refiner was discovered) would
                # cost a whole delta_wait: announce it again; the refiner answers a repeated
                # window with the delta-theta it already decided
                held[5] = now
                self.window_pub.publish(held[4])
            return
        if self.core.ee is not None and now - self.core.ee_time > self.p["lockstep_timeout"]:
            self._control_step(now=now)

    def _control_step(self, stamp=None, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        res = self.core.step(now)
        if res.reason != self._last_reason or (
                not res.active and now - self._reason_logged >= STOP_LOG_PERIOD):
            if res.active:
                self.get_logger().info("control active")
            else:
                self.get_logger().warning(f"control stopped (zero velocity): {res.reason}")
                self._reason_logged = now
            self._last_reason = res.reason
        # one preallocated message (publish serialises it at once): no per-step allocations
        msg = self._cmd_msg
        if stamp is not None and res.active:
            # lockstep: answers the pose of that stamp (the sim_bridge steps). A safety zero
            # (e.g. no target yet) gets a fresh stamp: the sim waits rather than stepping, so
            # the start-up order of the topics cannot change a lock-step run.
            msg.header.stamp.sec, msg.header.stamp.nanosec = stamp.sec, stamp.nanosec
        elif self._system_time:
            ns = time.time_ns()
            msg.header.stamp.sec, msg.header.stamp.nanosec = ns // 1_000_000_000, ns % 1_000_000_000
        else:
            msg.header.stamp = self.get_clock().now().to_msg()
        lin = msg.twist.linear
        v = res.velocity
        lin.x, lin.y, lin.z = float(v[0]), float(v[1]), float(v[2])
        self.cmd_pub.publish(msg)
        if res.window is not None:
            self.window_pub.publish(to_multiarray(encode_window(res.window)))

    def _publish_markers(self) -> None:
        if self._worker is None:
            self._markers()
        elif not self._markers_busy.is_set():
            self._markers_busy.set()
            self._worker.submit(self._markers)

    def _markers(self) -> None:
        try:
            self._markers_unsafe()
        finally:
            self._markers_busy.clear()

    def _markers_unsafe(self) -> None:
        core = self.core
        if core.skill is None or core.target is None:
            return
        stamp = self.get_clock().now().to_msg()
        markers = gmm_markers(core.skill, core.target, self.frame_id, stamp, self.p["n_sigma"])
        markers.markers.append(target_marker(core.target, self.frame_id, stamp))
        self.marker_pub.publish(markers)
        x = core.position_in_target()
        if x is not None and self.p["rollout_steps"] > 0:
            pts = core.skill.rollout(x, self.p["rollout_dt"], self.p["rollout_steps"],
                                     max_speed=core.max_speed)
            self.path_pub.publish(path_msg(pts + core.target, self.frame_id, stamp))

    def close(self) -> None:
        """Write the timing log (if asked): achieved rate and period jitter of the timer mode."""
        if getattr(self, "_loop_thread", None) is not None:
            self._stop.set()
            self._loop_thread.join(timeout=2.0)
        if getattr(self, "_worker", None) is not None:
            self._worker.shutdown(wait=True, cancel_futures=True)
        path = self.p.get("timing_log") if hasattr(self, "p") else ""
        if not path:
            return
        per = np.asarray(self._periods[100:] if len(self._periods) > 1000 else self._periods)
        nominal = 1.0 / self.p["rate_hz"]
        out = {"rate_hz_nominal": self.p["rate_hz"], "n_periods": int(per.size)}
        if per.size:
            out.update({"period_mean_ms": float(1e3 * per.mean()),
                        **period_jitter(per, nominal)})
        lat = np.asarray(self.core.apply_latencies)
        out["deltas_applied"] = self.core.deltas_applied
        out["deltas_for_an_older_window"] = self.core.stale_deltas
        if lat.size:
            out["delta_latency_ms_mean"] = float(1e3 * lat.mean())
            out["delta_latency_ms_max"] = float(1e3 * lat.max())
        atomic_write_text(path, json.dumps(out, indent=2) + "\n")


def main(args: list[str] | None = None) -> int:
    return run_node(GMMController, args)


if __name__ == "__main__":
    raise SystemExit(main())
