"""``sac_refiner``: the low-rate SAC-GMM agent; it moves messages, the core does the rest.

Once per window of N control steps it observes ``s = {position, image}``, chooses delta-theta
``a`` in ``[-1, 1]^A`` and publishes the physical parameter change it stands for; in
``mode: train`` it also stores the transition ``(s, a, summed window reward, s', done)`` and
learns online. Acting, storing, labelling and updating are :class:`sacgmm.rl.learner.Learner`'s,
and the decision's parameter change is :class:`sacgmm.skill.adaptation.SkillAdaptation`'s: the
objects ``sacgmm train`` runs, built from the same agent configuration
(:meth:`sacgmm.rl.config.TrainConfig.named`: ``agent_config`` names it, ``agent.KEY``
parameters override its settings, e.g. ``agent.sac.lr_alpha``). In ``mode: eval`` it only acts
(deterministic policy, never learns).

Design: the refiner observes the **raw sensor image**, not ``/sacgmm/latent``. The SAC-AE
encoder is trained through the critic's loss (and the reconstruction loss); a refiner fed with
the latents of a separate, frozen camera_encoder could not train it, and stored latents would
go stale as the encoder changes. The image is converted with
:class:`sacgmm.rl.task_env.SensorObservation`, so the agent sees the same uint8 ``(C, 64, 64)``
array as in-process (peg: the sim's ``8UC2`` tactile image -> ``(2, 64, 64)``; lever: ``32FC1``
depth in m -> ``(1, 64, 64)`` 0-255 over the camera's range; door: ``rgb8`` -> ``(3, 64, 64)``).
``camera_encoder`` stays in the graphs for monitoring/other consumers of the latent.

Subscribes
  ``/sacgmm/window`` (std_msgs/Float64MultiArray, :mod:`sacgmm.ros.layouts`): window ends /
  boundaries from gmm_controller; ``position`` (m, perceived target frame) is the observation.
  ``image_topic`` (sensor_msgs/Image, sensor-data QoS): the sensor image; the one whose stamp
  equals the window's ``stamp`` is used (waiting up to ``image_wait`` s), else the latest
  (``image_wait`` 0: always the latest, without waiting; the real-robot graph's setting). A
  camera image of another resolution is centre-cropped and resized to the agent's 64x64
  (:func:`sacgmm.robot.camera.fit_image`); with ``camera_info_topic`` and ``view_fov``, the
  window that sees the task camera's field of view is cut out (:mod:`sacgmm.ros.camera_view`).
  ``/sacgmm/reward`` (std_msgs/Float32): per-step rewards, summed per window.
  ``/sacgmm/episode_end`` (std_msgs/Float64MultiArray): the episode's final state, whether it
  terminated (done = 1) or hit the time limit (done = 0, bootstrapped) and its return (the
  final transition gets the return minus the rewards already given to earlier windows).
Publishes
  ``/sacgmm/delta_theta`` (std_msgs/Float64MultiArray): ``d_priors`` (K), ``d_means``
  (K x 2d: m, m/s), ``d_covariances`` (K x 2d x 2d) and ``window_index``, once per window,
  never NaN/inf (a non-finite action is replaced by zero with a logged error).
Service
  ``/sacgmm/save_policy`` (std_srvs/Trigger): writes the agent to ``save_path`` atomically
  (:func:`sacgmm.rl.checkpoint.save_checkpoint`, with ``extra.config`` = the TrainConfig); the
  file loads with ``sacgmm eval --agent sac-gmm --checkpoint FILE`` and as ``policy_path``.

Timing: everything but the callbacks runs on one worker thread, so the executor never blocks.
``update_order: update_then_act`` stores the transition, runs the window's gradient updates,
then acts (the in-process order; use it with gmm_controller ``sync_windows`` in lock-step,
which holds the robot until the delta arrives). ``act_then_update`` acts and publishes first
(the delta arrives within milliseconds, for real-time control) and learns afterwards; the
policy then lags the in-process order by one window's updates.

The controller must adapt its skill as this configuration does: its ``stable_adaptation`` and
``window_steps`` have to equal ``agent.delta_theta.stable`` and ``agent.window`` here.

Via-point steering (``agent.via_point.enabled``, as in ``agent_config: door-via-point``,
:mod:`sacgmm.skill.via_point`): the window messages must carry the gripper's opening
(gmm_controller ``gripper_topic``). While it is open the policy's action names a via-point
and the refiner publishes the attractor shift its look-ahead picks; ``agent.gripper_obs`` adds
the opening to the observation; ``agent.hindsight_grasp`` labels the approach decisions with
the grasp position the controller reports (:class:`sacgmm.rl.hindsight.GraspHindsight`).
Three differences from the in-process trainer: the grasp position is taken when the gripper
*reports* closed (its opening below ``held_below``, a few control steps after the simulated
grasp closes); a grasp in an episode's last window is not labelled (``/sacgmm/episode_end``
carries the gripper's final opening but no grasp position); and the opening in a window is the
last one the controller received on its own topic, which may be one state older than the pose.
"""
from __future__ import annotations

import math
import os
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Float32, Float64MultiArray
from std_srvs.srv import Trigger

from sacgmm.ros.convert import from_multiarray, msg_to_image, stamp_seconds, to_multiarray
from sacgmm.ros.layouts import DeltaThetaMessage
from sacgmm.ros.camera_view import ViewCrop
from sacgmm.ros.layouts import decode_episode_end, decode_window, encode_delta
from sacgmm.ros.params import (Param, StartupError, check_unknown_parameters, declare,
                               run_node)
from sacgmm.rl.config import TrainConfig

PARAMS = (
    Param("mode", "eval", "train: learn online and act stochastically; eval: deterministic "
          "policy, no learning", choices=("train", "eval")),
    Param("task", "peg", "simulated task whose sensor layout the observation follows",
          choices=("peg", "lever", "door")),
    Param("sensor", True, "observe the sensor image (false: position only)"),
    Param("skill_path", "", "skill YAML (the controller's); empty: the refiner stays idle"),
    Param("policy_path", "", "checkpoint to start from (sacgmm train or save_policy); empty: "
          "a fresh agent (zero-initialised actor: zero delta-theta)"),
    Param("save_path", "", "file written by /sacgmm/save_policy (empty: "
          "$ROS_HOME/sacgmm/<task>_policy.pt, ROS_HOME defaulting to ~/.ros)"),
    Param("save_replay", False, "also save the replay buffer (large with images)"),
    Param("save_every_episodes", 0, "train mode: save every n episodes; 0: only on request",
          range=(0, 10**9)),
    Param("save_on_exit", False, "save to save_path at shutdown"),
    Param("seed", 0, "seed of the networks, the warm-up actions and the replay sampling",
          range=(0, 2**31 - 1)),
    Param("noise", False, "the sim's perception noise (recorded in the checkpoint's config "
          "for sacgmm eval)"),
    Param("agent_config", "sac-gmm", "the agent configuration: a name in sacgmm/agents (e.g. "
          "door-via-point) or a YAML file; agent.KEY parameters override its settings"),
    Param("update_order", "update_then_act", "update_then_act (in-process order, lock-step) "
          "or act_then_update (delta first, real time)",
          choices=("update_then_act", "act_then_update")),
    Param("image_topic", "/sacgmm/camera/image_raw", "sensor image topic"),
    Param("image_wait", 0.5, "longest wait for the image stamped like the window (s)",
          range=(0.0, 10.0)),
    Param("camera_info_topic", "", "CameraInfo of image_topic; with view_fov, the image is "
          "cropped to the trained camera's view; empty: a centre crop"),
    Param("view_fov", 0.0, "vertical field of view of the task's camera (deg; the door's "
          "wrist camera: 70); 0: a centre crop", range=(0.0, 179.0)),
)


@dataclass
class _Pending:
    obs: dict
    action: np.ndarray
    episode: int
    window_index: int
    via: bool = False          # the action was read as a via-point
    held: bool = False         # the gripper held at the decision
    deltas: tuple | None = None   # the parameter change published for it


class SACRefiner(Node):
    """See the module docstring."""

    def __init__(self, **kwargs):
        super().__init__("sac_refiner", **kwargs)
        p = declare(self, PARAMS, check_unknown=False)
        self.p = p
        settings = self._declare_agent_settings(p["agent_config"], p["task"])
        check_unknown_parameters(self)
        self.learner = self.adaptation = self.cfg = None
        self._events: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._worker = None
        if not p["skill_path"]:
            self.get_logger().warning("no skill_path given: the refiner stays idle (no "
                                      "delta_theta is published)")
            return
        from sacgmm.rl.learner import Learner
        from sacgmm.skill import load_skill
        from sacgmm.skill.adaptation import SkillAdaptation
        try:
            skill = load_skill(p["skill_path"])
        except (ValueError, FileNotFoundError) as exc:
            raise StartupError(f"parameter 'skill_path': {exc}") from None
        try:
            cfg = TrainConfig.named(p["agent_config"], task=p["task"], seed=p["seed"],
                                    noise=p["noise"], sensor=p["sensor"],
                                    skill=str(Path(p["skill_path"]).resolve()), **settings)
            if cfg.agent != "sac-gmm":
                raise ValueError(f"a {cfg.agent!r} configuration; the refiner runs sac-gmm")
            if cfg.follow_held_object:
                raise ValueError("follow_held_object is simulation only (no in-hand slip "
                                 "estimate on the robot)")
        except (ValueError, TypeError) as exc:
            raise StartupError(f"parameters 'agent_config'/'agent.*': {exc}") from None
        self.cfg = cfg
        self.obs_conv, (dt, max_speed) = self._observation_converter(p["task"], p["sensor"])
        # (H, W) the agent's image has; other camera resolutions are fitted to it
        self._image_size = (tuple(self.obs_conv.space["image"].shape[-2:])
                            if self.obs_conv.image_key is not None else None)
        self.view = ViewCrop(self, p["camera_info_topic"], p["view_fov"])
        shapes = {k: tuple(int(d) for d in sp.shape) for k, sp in self.obs_conv.space.spaces.items()}
        if cfg.gripper_obs:
            shapes["gripper"] = (1,)
        self.adaptation = SkillAdaptation.from_settings(skill, cfg.delta_theta, cfg.via_point,
                                                        cfg.window, dt, max_speed)
        self.learner = Learner(cfg, shapes, self.adaptation.size, train=p["mode"] == "train",
                               steering=self.adaptation.steering)
        self.episode = 0              # episodes seen
        self.control_steps = 0        # control steps of the stored decisions
        self.episodes_log: list[dict] = []
        if p["policy_path"]:
            try:
                extra = self.learner.load(p["policy_path"])
            except (ValueError, FileNotFoundError, RuntimeError) as exc:
                raise StartupError(f"parameter 'policy_path': {exc}") from None
            self.episode = int(extra.get("episode", 0))
        self.images: deque = deque(maxlen=32)          # (stamp s, Image) newest last
        self._img_cv = threading.Condition()
        self._reward_lock = threading.Lock()
        self._reward_acc = 0.0
        self._attributed = 0.0        # rewards given to earlier windows of this episode
        self._pending: _Pending | None = None
        self._ended: int | None = None           # the episode that ended last
        self._agent_lock = threading.Lock()
        self.latencies: list[float] = []
        self.delta_pub = self.create_publisher(Float64MultiArray, "/sacgmm/delta_theta", 10)
        self.create_subscription(Float64MultiArray, "/sacgmm/window", self._on_window, 10)
        self.create_subscription(Float64MultiArray, "/sacgmm/episode_end", self._on_episode_end, 10)
        self.create_subscription(Float32, "/sacgmm/reward", self._on_reward, 10)
        if self.obs_conv.image_key is not None:
            self.create_subscription(Image, p["image_topic"], self._on_image, qos_profile_sensor_data)
        self.create_service(Trigger, "/sacgmm/save_policy", self._on_save)
        self._worker = threading.Thread(target=self._work, name="sac_refiner_worker", daemon=True)
        self._worker.start()
        c, learner = self.cfg, self.learner
        self.get_logger().info(
            f"{p['mode']} mode, {p['task']} observation {shapes}, agent configuration "
            f"{c.config}, action {learner.act_dim} ({', '.join(self.adaptation.delta.slices)}), "
            f"window {c.window}, updates/decision {c.updates_per_step:g}, learning_starts "
            f"{c.learning_starts}, warm-up std {c.warmup_std:g}, batch {c.batch_size}, buffer "
            f"{c.buffer_size}, {p['update_order']}"
            + (f", from {p['policy_path']}" if p["policy_path"] else ", fresh agent"))

    def _declare_agent_settings(self, config: str, task: str) -> dict:
        """Declare an ``agent.KEY`` parameter for every setting of agent configuration
        ``config`` (sections nest: ``agent.sac.lr_alpha``), its value the default; returns the
        settings as given (nested)."""
        from rcl_interfaces.msg import ParameterDescriptor
        from rclpy.exceptions import ParameterException

        from sacgmm.rl.config import flatten, unflatten
        try:
            base = TrainConfig.named(config, task=task)
        except ValueError as exc:
            raise StartupError(f"parameter 'agent_config': {exc}") from None
        flat = {k: v for k, v in flatten(base.agent_settings()).items() if k != "agent"}
        values = {}
        for key, default in flat.items():
            name = f"agent.{key}"
            desc = ParameterDescriptor(
                name=name, dynamic_typing=True,
                description=f"setting {key} of the agent configuration (default: {config}'s; "
                            "docs/options.md)")
            try:
                self.declare_parameter(name, default, desc)
            except (ParameterException, TypeError, ValueError) as exc:
                raise StartupError(f"parameter '{name}': {exc}") from None
            value = self.get_parameter(name).value
            values[key] = list(value) if isinstance(value, (list, tuple)) or \
                type(value).__name__ == "array" else value
        return unflatten(values)

    # -- observation ----------------------------------------------------------------------
    @staticmethod
    def _observation_converter(task: str, sensor: bool):
        """The task's :class:`SensorObservation` (the in-process observation layout) and its
        timing: control period (s) and maximum speed (m/s), from the task's definition (no
        simulator is started, so this holds on the real robot too)."""
        from sacgmm.rl.task_env import SensorObservation
        from sacgmm.sim import task_layout
        layout = task_layout(task, sensor)
        return SensorObservation(layout.observation_space), (layout.dt, layout.max_speed)

    def _image_for(self, stamp: float):
        """The image stamped ``stamp`` (waiting up to ``image_wait``), else the latest; with
        ``image_wait`` 0 the latest (a real camera's stamps never equal the arm's)."""
        if self.p["image_wait"] <= 0:
            with self._img_cv:
                if self.images:
                    return self.images[-1][1]
            self.get_logger().warning("no sensor image received yet", throttle_duration_sec=5.0)
            return None
        end = time.monotonic() + self.p["image_wait"]
        with self._img_cv:
            while True:
                for s, msg in reversed(self.images):
                    if s == stamp:
                        return msg
                left = end - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    break
                self._img_cv.wait(min(left, 0.05))
            latest = self.images[-1][1] if self.images else None
        self.get_logger().warning(f"no image stamped {stamp:.6f}: using the latest"
                                  if latest is not None else "no sensor image received yet",
                                  throttle_duration_sec=5.0)
        return latest

    def observation(self, position: np.ndarray, stamp: float,
                    gripper: float | None = None) -> dict | None:
        task_obs = {"position": np.asarray(position, dtype=np.float64)}
        key = self.obs_conv.image_key
        if key is not None:
            msg = self._image_for(stamp)
            if msg is None:
                return None
            img = msg_to_image(msg)
            if key == "tactile":
                img = np.transpose(img, (2, 0, 1))
            elif img.shape[:2] != self._image_size or self.view.active:
                img = self.view.fit(img, *self._image_size)   # any camera: crop and resize
            task_obs[key] = img
        obs = self.obs_conv(task_obs)
        if "gripper" in self.learner.obs_shapes:
            if gripper is None:
                self.get_logger().error("gripper_obs: the window message has no gripper "
                                        "opening (set gmm_controller gripper_topic)",
                                        throttle_duration_sec=5.0)
                return None
            obs["gripper"] = np.array([gripper], dtype=np.float32)
        from sacgmm.rl.memory import KEY
        # the learner adds its own decision memory (decision_memory); the rest comes from here
        want = {k: v for k, v in self.learner.obs_shapes.items() if k != KEY}
        if any(k not in obs or obs[k].shape != want[k] for k in want):
            self.get_logger().error(f"observation shapes {[obs[k].shape for k in want if k in obs]} do not "
                                    f"match the agent's {list(want.values())}",
                                    throttle_duration_sec=5.0)
            return None
        return obs

    # -- callbacks (executor thread: cheap) -------------------------------------------------
    def _on_image(self, msg: Image) -> None:
        with self._img_cv:
            self.images.append((stamp_seconds(msg.header.stamp), msg))
            self._img_cv.notify_all()

    def _on_reward(self, msg: Float32) -> None:
        if math.isfinite(msg.data):
            with self._reward_lock:
                self._reward_acc += float(msg.data)

    def _on_window(self, msg: Float64MultiArray) -> None:
        try:
            w = decode_window(from_multiarray(msg))
        except ValueError as exc:
            self.get_logger().error(f"window message ignored: {exc}")
            return
        self._events.put(("window", w, time.monotonic()))

    def _on_episode_end(self, msg: Float64MultiArray) -> None:
        try:
            e = decode_episode_end(from_multiarray(msg))
        except ValueError as exc:
            self.get_logger().error(f"episode_end message ignored: {exc}")
            return
        self._events.put(("episode_end", e, time.monotonic()))

    def save_path(self) -> Path:
        """Where the policy is saved: ``save_path``, or the task's file under ``ROS_HOME``."""
        if self.p["save_path"]:
            return Path(self.p["save_path"])
        home = Path(os.environ.get("ROS_HOME") or Path.home() / ".ros")
        return home / "sacgmm" / f"{self.p['task']}_policy.pt"

    def _on_save(self, request, response):
        path = self.save_path()
        try:
            with self._agent_lock:
                out = self.save(path, self.p["save_replay"])
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            response.success, response.message = False, f"cannot save {path}: {exc}"
            self.get_logger().error(response.message)
            return response
        response.success = True
        learner = self.learner
        response.message = (f"saved {out} (episode {self.episode}, {learner.actions} "
                            f"actions, {learner.decisions} stored, {learner.updates} "
                            "updates)")
        self.get_logger().info(response.message)
        return response

    # -- worker thread ----------------------------------------------------------------------
    def _take_reward(self) -> float:
        with self._reward_lock:
            r, self._reward_acc = self._reward_acc, 0.0
        self._attributed += r
        return r

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                kind, ev, t = self._events.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                with self._agent_lock:
                    if kind == "window":
                        self._window(ev, t)
                    else:
                        self._episode_end(ev)
            except Exception as exc:  # noqa: BLE001 - keep serving the next windows
                if self._stop.is_set() or not self.context.ok():
                    break
                self.get_logger().error(f"refiner error on {kind}: {exc!r}")

    def _window(self, w, t_received: float) -> None:
        learner, pend = self.learner, self._pending
        if w.episode == self._ended:
            # a real robot's controller runs on while the bridge homes the arm after the
            # episode's end: those windows belong to no episode, nothing is decided or stored
            return
        if pend is not None and (pend.episode, pend.window_index) == (w.episode, w.window_index):
            # the controller announced this window again (its answer may have been lost):
            # the same decision again, nothing new learned
            if pend.deltas is not None:
                self._send(pend.deltas, w.window_index)
            return
        obs = self.observation(w.position, w.stamp, w.gripper)
        if obs is None:
            self.get_logger().error(f"window {w.window_index}: no observation, no delta_theta")
            return
        if self.adaptation.steering is not None and w.gripper is None:
            self.get_logger().error(f"window {w.window_index}: via-point steering needs the "
                                    "gripper's opening in the window messages (gmm_controller "
                                    "gripper_topic); no delta_theta", throttle_duration_sec=5.0)
            return
        act_first = self.p["update_order"] == "act_then_update"
        if pend is not None and pend.episode == w.episode \
                and w.window_index == pend.window_index + 1:
            learner.store(pend.obs, pend.action, self._take_reward(), obs, False,
                          report=self._window_report(pend, w.grasp_position))
            self.control_steps += self.cfg.window
            if not act_first:
                learner.learn()
        elif pend is not None:
            self.get_logger().warning(
                f"window {w.window_index} of episode {w.episode} does not follow window "
                f"{pend.window_index} of episode {pend.episode}: that transition is dropped")
            self._take_reward()
        if w.window_index < 0 or pend is None or pend.episode != w.episode:
            with self._reward_lock:                    # a new episode's first decision
                self._reward_acc = 0.0
            self._attributed = 0.0
            if pend is not None and pend.episode != w.episode:
                # the pending decision's episode never reported its end: close it as failed,
                # so its transitions neither fold into this one nor count with its outcome
                learner.end_episode(False)
            else:
                learner.start_episode()
        action = learner.act(obs, explore=learner.train)
        decision = self._publish(action, w.window_index, w.position, w.gripper)
        self.latencies.append(time.monotonic() - t_received)
        self._pending = _Pending(obs, np.asarray(action, dtype=np.float32), w.episode,
                                 w.window_index, decision.via if decision else False,
                                 decision.held if decision else False,
                                 decision.deltas if decision else None)
        if act_first:
            learner.learn()

    def _episode_end(self, e) -> None:
        learner, pend = self.learner, self._pending
        self._pending = None
        if pend is None or pend.episode != e.episode:
            self.get_logger().warning(
                f"episode {e.episode} ended without a decision of it pending "
                f"({'none' if pend is None else f'episode {pend.episode}'}): its last "
                "window's transition is not stored")
        if pend is not None and pend.episode == e.episode:
            obs = self.observation(e.position, e.stamp, e.gripper)
            if obs is not None:
                with self._reward_lock:
                    self._reward_acc = 0.0
                learner.store(pend.obs, pend.action, e.ret - self._attributed, obs, e.terminated,
                              truncated=not e.terminated, report=self._window_report(pend, None))
                learner.learn()
        learner.end_episode(bool(e.success))
        self._ended = e.episode
        self._attributed = 0.0
        with self._reward_lock:
            self._reward_acc = 0.0
        self.episode += 1
        self.episodes_log.append({"episode": self.episode, "sim_episode": e.episode,
                                  "success": int(e.success), "return": e.ret,
                                  "control_steps": e.steps, "decisions": learner.decisions,
                                  "updates": learner.updates,
                                  "alpha": round(learner.agent.alpha, 6),
                                  # the policy's entropy (nats) on the last update's batch
                                  "entropy": round(float(learner.last_losses.get(
                                      "entropy", math.nan)), 4)})
        self.get_logger().info(
            f"episode {e.episode} ended ({'success' if e.success else 'no success'}, "
            f"{e.steps} steps, return {e.ret:g}); {learner.actions} actions, "
            f"{learner.decisions} stored, {learner.updates} updates, alpha "
            f"{learner.agent.alpha:.4g}")
        every = self.p["save_every_episodes"]
        if learner.train and every and self.episode % every == 0:
            self.save(self.save_path(), self.p["save_replay"])

    def _window_report(self, pend: _Pending, grasp_position) -> dict:
        """The in-process window report (``GMMWindowEnv``'s info) of ``pend``'s window, with
        ``grasp_position`` (m) if it grasped."""
        return {"via_point": pend.via, "held": pend.held, "grasp_position": grasp_position}

    def _publish(self, action: np.ndarray, window_index: int, position,
                 gripper: float | None):
        """Publish the parameter change of ``action`` taken at ``position`` (m) with the
        gripper's opening ``gripper`` (m); returns the decision (None if nothing was sent)."""
        try:
            decision = self.adaptation.decide(action, position, gripper)
        except ValueError as exc:      # e.g. a non-finite action from a broken policy
            self.get_logger().error(f"policy action rejected ({exc}): publishing zero "
                                    "delta-theta")
            decision = self.adaptation.decide(np.zeros(self.adaptation.size), position, gripper)
        parts = [x for x in decision.deltas if x is not None]
        if not all(np.isfinite(x).all() for x in parts):
            self.get_logger().error("non-finite delta-theta not published")
            return None
        self._send(decision.deltas, window_index)
        return decision

    def _send(self, deltas, window_index: int) -> None:
        d_pi, d_mu, d_sigma = deltas
        self.delta_pub.publish(to_multiarray(encode_delta(
            DeltaThetaMessage(d_pi, d_mu, d_sigma, window_index))))

    def save(self, path, replay: bool = False) -> Path:
        """Write the agent (and the replay buffer if ``replay``) to ``path`` atomically."""
        return self.learner.save(path, {"episode": self.episode,
                                        "control_steps": self.control_steps,
                                        "episodes_log": self.episodes_log, "evals_log": [],
                                        "source": "sac_refiner"}, replay=replay)

    def close(self) -> None:
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout=30.0)
        if self.learner is not None and self.p.get("save_on_exit"):
            try:
                out = self.save(self.save_path(), self.p["save_replay"])
                print(f"[sac_refiner] saved {out} at exit", flush=True)
            except Exception as exc:  # noqa: BLE001
                print(f"[sac_refiner] cannot save at exit: {exc}", flush=True)


def main(args: list[str] | None = None) -> int:
    return run_node(SACRefiner, args)


if __name__ == "__main__":
    raise SystemExit(main())
