"""``sac_refiner``: the low-rate SAC-GMM agent (a thin shell around the in-process trainer's parts).

Once per window of N control steps it observes ``s = {position, image}``, chooses delta-theta
``a`` in ``[-1, 1]^A`` (:class:`sacgmm.skill.delta_theta.DeltaTheta` layout) and publishes the
physical parameter change it stands for; in ``mode: train`` it also stores the transition
``(s, a, summed window reward, s', done)`` and learns online, exactly as
:class:`sacgmm.rl.train_task.TaskRun` does for ``--agent sac-gmm`` (same defaults, taken from
:class:`~sacgmm.rl.train_task.TrainConfig` / ``AGENT_DEFAULTS``, same seeding, same warm-up,
same update schedule). In ``mode: eval`` it only acts (deterministic policy, never learns).

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
  equals the window's ``stamp`` is used (waiting up to ``image_wait`` s), else the latest.
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

The controller must apply deltas like :meth:`sacgmm.skill.delta_theta.DeltaTheta.apply`: its
``stable_adaptation`` has to equal ``delta_theta.stable`` here (both false by default in
config/*.yaml).

Via-point steering (``via_point``, e.g. ``'{"enabled": true}'``, with the attractor-shift
layout, :mod:`sacgmm.skill.via_point`): the window messages must carry the gripper's opening
(gmm_controller ``gripper_topic``). While it is open the policy's action names a via-point
and the refiner publishes the attractor shift its look-ahead picks; ``gripper_obs`` adds the
opening to the observation; ``hindsight_grasp`` labels the approach decisions with the grasp
position the controller reports (:class:`sacgmm.rl.hindsight.GraspHindsight`, as in-process).
Two differences from the in-process trainer: the grasp position is taken when the gripper
*reports* closed (its opening below ``held_below``, a few control steps after the simulated
grasp closes), and a grasp in an episode's last window is not labelled (``/sacgmm/episode_end``
carries the gripper's final opening but no grasp position).
"""
from __future__ import annotations

import json
import math
import os
import queue
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Float32, Float64MultiArray
from std_srvs.srv import Trigger

from sacgmm.ros.convert import from_multiarray, msg_to_image, stamp_seconds, to_multiarray
from sacgmm.ros.layouts import DeltaThetaMessage
from sacgmm.ros.layouts import decode_episode_end, decode_window, encode_delta
from sacgmm.ros.params import Param, StartupError, declare, run_node
from sacgmm.rl.train_task import TrainConfig, updates_due, warmup_action

# TrainConfig's own defaults (never duplicated here)
_TC_DEFAULTS = {f.name: f.default for f in fields(TrainConfig)}

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
    Param("window_steps", int(_TC_DEFAULTS["window"]), "control steps per window N (recorded; "
          "must equal gmm_controller's window_steps)", range=(1, 100000)),
    Param("batch_size", int(_TC_DEFAULTS["batch_size"]), "SAC batch size", range=(1, 100000)),
    Param("updates_per_step", -1.0, "gradient updates per decision; < 0: the sac-gmm default",
          range=(-1.0, 1000.0)),
    Param("learning_starts", -1, "warm-up decisions; < 0: the sac-gmm default",
          range=(-1, 10**9)),
    Param("buffer_size", -1, "replay capacity (transitions); < 0: the sac-gmm default",
          range=(-1, 10**8)),
    Param("warmup_std", -1.0, "warm-up actions N(0, std); < 0: the sac-gmm default",
          range=(-1.0, 10.0)),
    Param("delta_theta", "{}", "JSON object of DeltaThetaConfig overrides"),
    Param("sac", "{}", "JSON object of SACConfig overrides"),
    Param("n_step", 1, "agent decisions per replay transition (n-step returns; "
          "TrainConfig.n_step)", range=(1, 1000)),
    Param("update_order", "update_then_act", "update_then_act (in-process order, lock-step) "
          "or act_then_update (delta first, real time)",
          choices=("update_then_act", "act_then_update")),
    Param("gripper_obs", False, "observe the gripper's opening (from the window messages; "
          "TrainConfig.gripper_obs)"),
    Param("via_point", "{}", "JSON object of ViaPointConfig overrides (via-point steering; "
          "TrainConfig.via_point)"),
    Param("hindsight_grasp", False, "with via_point: label the approach decisions with the "
          "grasp position (TrainConfig.hindsight_grasp)"),
    Param("image_topic", "/sacgmm/camera/image_raw", "sensor image topic"),
    Param("image_wait", 0.5, "longest wait for the image stamped like the window (s)",
          range=(0.0, 10.0)),
)


@dataclass
class _Pending:
    obs: dict
    action: np.ndarray
    episode: int
    window_index: int
    via: bool = False          # the action was read as a via-point
    held: bool = False         # the gripper held at the decision


def _json_param(value: str, name: str) -> dict:
    try:
        out = json.loads(value or "{}")
    except json.JSONDecodeError as exc:
        raise StartupError(f"parameter '{name}': not valid JSON ({exc})") from None
    if not isinstance(out, dict):
        raise StartupError(f"parameter '{name}': expected a JSON object, got {value!r}")
    return out


class RefinerCore:
    """The refiner without ROS: acting, storing transitions, learning, saving.

    ``config`` is a resolved :class:`~sacgmm.rl.train_task.TrainConfig` (agent ``sac-gmm``);
    seeding and construction follow :class:`~sacgmm.rl.train_task.TaskRun`.
    """

    def __init__(self, config, skill, obs_shapes: dict, train: bool, log=print,
                 timing: tuple[float, float] | None = None):
        """``timing``: the task's control period (s) and maximum speed (m/s), needed for
        via-point steering's look-ahead (``config.via_point``)."""
        import torch

        from sacgmm.rl.experience import Experience
        from sacgmm.rl.sac import SACAgent, SACConfig
        from sacgmm.rl.train_task import make_hindsight
        from sacgmm.skill.delta_theta import DeltaTheta, DeltaThetaConfig
        from sacgmm.skill.via_point import ViaPointConfig, ViaPointSteering

        self.cfg, self.skill, self.train, self.log = config, skill, bool(train), log
        self.delta = DeltaTheta.for_skill(skill, DeltaThetaConfig.from_dict(config.delta_theta))
        self.obs_shapes = obs_shapes
        self.act_dim = self.delta.size
        torch.set_num_threads(1)
        torch.manual_seed(config.seed)
        np.random.seed(config.seed)
        self.agent = SACAgent(obs_shapes, self.act_dim, SACConfig.from_dict(config.sac))
        self.experience = (Experience.for_agent(self.agent, config.buffer_size, seed=config.seed,
                                                n_step=config.n_step) if self.train else None)
        self.buffer = self.experience.buffer if self.train else None
        self.action_rng = np.random.default_rng(config.seed + 12345)
        self.decisions = self.updates = self.episode = self.control_steps = 0
        self.actions = 0          # delta-thetas decided (training or not); decisions: stored
        self.update_credit = 0.0
        self.episodes_log: list[dict] = []
        self.last_losses: dict[str, float] = {}
        self.update_time = 0.0
        via = ViaPointConfig.from_dict(config.via_point)
        self.steering = None
        if via.enabled:
            if timing is None:
                raise ValueError("via-point steering needs the task's control period and "
                                 "maximum speed (timing)")
            self.steering = ViaPointSteering(skill, self.delta, config.window, float(timing[0]),
                                             float(timing[1]), via)
        self.hindsight = make_hindsight(config, self.steering) if self.train else None

    def load(self, path: str) -> None:
        """Start from the agent of checkpoint ``path``; ``ValueError`` if it was trained with
        options whose actions or windows the ROS graph does not reproduce."""
        from sacgmm.rl.checkpoint import load_checkpoint
        payload = load_checkpoint(path)
        extra = payload.get("extra") or {}
        try:      # e.g. trained with an option that no longer exists
            trained = TrainConfig.from_dict(extra["config"]) if extra.get("config") else None
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        via = trained is not None and bool(trained.via_point.get("enabled", False))
        if via != (self.steering is not None):
            raise ValueError(f"{path}: trained {'with' if via else 'without'} via-point "
                             f"steering, but this refiner runs {'with' if not via else 'without'}"
                             " it (parameter via_point): its actions would be misread here")
        self.agent.load_state_dict(payload["agent"])
        for key in ("decisions", "updates", "update_credit"):
            if key in extra:
                setattr(self, key, type(getattr(self, key))(extra[key]))

    def act(self, obs: dict) -> np.ndarray:
        """Training: warm-up N(0, warmup_std) for ``learning_starts`` decisions, then the
        stochastic policy; evaluation: the deterministic policy."""
        cfg = self.cfg
        self.actions += 1
        if self.train and self.decisions < cfg.learning_starts:
            return warmup_action(self.action_rng, cfg, self.act_dim)
        return self.agent.act(obs, deterministic=not self.train)

    def deltas(self, action: np.ndarray):
        """``(d_priors, d_means, d_covariances)`` of ``action`` (physical units)."""
        return self.delta.deltas(self.skill, action)

    def holds(self, gripper: float | None) -> bool | None:
        """Whether the gripper's opening ``gripper`` (m) means it holds, by the steering's
        ``held_below``; None when that is unknown (no opening, or no via-point steering)."""
        if gripper is None or self.steering is None:
            return None
        return gripper < self.steering.config.held_below

    def reads_via_point(self, gripper: float | None) -> bool:
        """Whether an action taken with the gripper's opening ``gripper`` (m) names a
        via-point (the steering's rule: while the gripper is open)."""
        if self.steering is None:
            return False
        if gripper is None:
            raise ValueError("via-point steering needs the gripper's opening in the window "
                             "messages (gmm_controller gripper_topic)")
        return not self.holds(gripper)

    def shift(self, action: np.ndarray, position: np.ndarray, gripper: float | None) -> np.ndarray:
        """The delta-theta action to publish for the policy's ``action`` taken at ``position``
        (m, perceived target frame) with the gripper's opening ``gripper`` (m): the action
        itself, or with via-point steering the attractor shift its look-ahead picks."""
        if not self.reads_via_point(gripper):
            return np.asarray(action, dtype=np.float64)
        return self.steering.shift_action(position, action)

    def store(self, obs, action, reward: float, next_obs, terminated: bool,
              truncated: bool = False, info: dict | None = None) -> None:
        """One decision's transition (``truncated``: the episode ended without terminating);
        ``info``: its window's report for the hindsight labels (``via_point``, ``held``,
        ``grasp_position``; :class:`sacgmm.rl.hindsight.GraspHindsight`)."""
        if not self.train:
            return
        self.decisions += 1
        self.experience.add(obs, action, reward, next_obs, terminated, truncated)
        if self.hindsight is not None:
            for sample in self.hindsight.observe(obs, next_obs, reward, terminated, info or {}):
                self.experience.add_imitation(*sample)

    def start_episode(self) -> None:
        if self.hindsight is not None:
            self.hindsight.start_episode()

    def end_episode(self, success: bool) -> None:
        if self.train:
            self.experience.end_episode(success)
            self.start_episode()

    def learn(self) -> None:
        """The in-process schedule: ``updates_per_step`` updates per decision after warm-up."""
        if not self.train:
            return
        n, self.update_credit = updates_due(self.update_credit, self.decisions,
                                            len(self.buffer), self.cfg)
        if n:
            self.last_losses, seconds = self.experience.update(self.agent, n,
                                                               self.cfg.batch_size)
            self.updates += n
            self.update_time += seconds

    def save(self, path: str, replay: bool = False) -> Path:
        from sacgmm.rl.checkpoint import save_checkpoint
        extra = {"episode": self.episode, "decisions": self.decisions,
                 "control_steps": self.control_steps, "updates": self.updates,
                 "update_credit": self.update_credit, "episodes_log": self.episodes_log,
                 "evals_log": [], "action_rng": self.action_rng.bit_generator.state,
                 "config": asdict(self.cfg), "source": "sac_refiner"}
        return save_checkpoint(path, self.agent, self.buffer if replay else None, extra=extra)


class SACRefiner(Node):
    """See the module docstring."""

    def __init__(self, **kwargs):
        super().__init__("sac_refiner", **kwargs)
        p = declare(self, PARAMS)
        self.p = p
        self.core = None
        self._events: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._worker = None
        if not p["skill_path"]:
            self.get_logger().warning("no skill_path given: the refiner stays idle (no "
                                      "delta_theta is published)")
            return
        from sacgmm.skill import load_skill
        try:
            skill = load_skill(p["skill_path"])
        except (ValueError, FileNotFoundError) as exc:
            raise StartupError(f"parameter 'skill_path': {exc}") from None
        opt = {k: (p[k] if p[k] >= 0 else None)
               for k in ("updates_per_step", "learning_starts", "buffer_size", "warmup_std")}
        try:
            cfg = TrainConfig(task=p["task"], agent="sac-gmm", seed=p["seed"], noise=p["noise"],
                              sensor=p["sensor"], window=p["window_steps"],
                              batch_size=p["batch_size"], n_step=p["n_step"],
                              delta_theta=_json_param(p["delta_theta"], "delta_theta"),
                              sac=_json_param(p["sac"], "sac"), gripper_obs=p["gripper_obs"],
                              via_point=_json_param(p["via_point"], "via_point"),
                              hindsight_grasp=p["hindsight_grasp"],
                              skill=str(Path(p["skill_path"]).resolve()), **opt).resolved()
        except (ValueError, TypeError) as exc:
            raise StartupError(f"refiner configuration: {exc}") from None
        self.obs_conv, timing = self._observation_converter(p["task"], p["sensor"])
        shapes = {k: tuple(int(d) for d in sp.shape) for k, sp in self.obs_conv.space.spaces.items()}
        if cfg.gripper_obs:
            shapes["gripper"] = (1,)
        try:
            self.core = RefinerCore(cfg, skill, shapes, p["mode"] == "train",
                                    log=self.get_logger().info, timing=timing)
        except ValueError as exc:
            raise StartupError(f"parameter 'delta_theta', 'sac' or 'via_point': {exc}") from None
        if p["policy_path"]:
            try:
                self.core.load(p["policy_path"])
            except (ValueError, FileNotFoundError, RuntimeError) as exc:
                raise StartupError(f"parameter 'policy_path': {exc}") from None
        self.images: deque = deque(maxlen=32)          # (stamp s, Image) newest last
        self._img_cv = threading.Condition()
        self._reward_lock = threading.Lock()
        self._reward_acc = 0.0
        self._attributed = 0.0        # rewards given to earlier windows of this episode
        self._pending: _Pending | None = None
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
        c = self.core.cfg
        self.get_logger().info(
            f"{p['mode']} mode, {p['task']} observation {shapes}, action {self.core.act_dim} "
            f"({', '.join(self.core.delta.slices)}), updates/decision {c.updates_per_step:g}, "
            f"learning_starts {c.learning_starts}, warm-up std {c.warmup_std:g}, batch "
            f"{c.batch_size}, buffer {c.buffer_size}, {p['update_order']}"
            + (f", from {p['policy_path']}" if p["policy_path"] else ", fresh agent"))

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
        """The image stamped ``stamp`` (waiting up to ``image_wait``), else the latest."""
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
            task_obs[key] = img
        obs = self.obs_conv(task_obs)
        if "gripper" in self.core.obs_shapes:
            if gripper is None:
                self.get_logger().error("gripper_obs: the window message has no gripper "
                                        "opening (set gmm_controller gripper_topic)",
                                        throttle_duration_sec=5.0)
                return None
            obs["gripper"] = np.array([gripper], dtype=np.float32)
        want = self.core.obs_shapes
        if any(obs[k].shape != want[k] for k in want):
            self.get_logger().error(f"observation shapes {[obs[k].shape for k in want]} do not "
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
                out = self.core.save(path, self.p["save_replay"])
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            response.success, response.message = False, f"cannot save {path}: {exc}"
            self.get_logger().error(response.message)
            return response
        response.success = True
        response.message = (f"saved {out} (episode {self.core.episode}, {self.core.actions} "
                            f"actions, {self.core.decisions} stored, {self.core.updates} "
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
        core, pend = self.core, self._pending
        obs = self.observation(w.position, w.stamp, w.gripper)
        if obs is None:
            self.get_logger().error(f"window {w.window_index}: no observation, no delta_theta")
            return
        try:
            via = core.reads_via_point(w.gripper)
        except ValueError as exc:
            self.get_logger().error(f"window {w.window_index}: {exc}; no delta_theta",
                                    throttle_duration_sec=5.0)
            return
        act_first = self.p["update_order"] == "act_then_update"
        if pend is not None and pend.episode == w.episode \
                and w.window_index == pend.window_index + 1:
            core.store(pend.obs, pend.action, self._take_reward(), obs, False,
                       info=self._window_report(pend, w.grasp_position))
            core.control_steps += core.cfg.window
            if not act_first:
                core.learn()
        elif pend is not None:
            self.get_logger().warning(
                f"window {w.window_index} of episode {w.episode} does not follow window "
                f"{pend.window_index} of episode {pend.episode}: that transition is dropped")
            self._take_reward()
        if w.window_index < 0 or pend is None or pend.episode != w.episode:
            with self._reward_lock:                    # a new episode's first decision
                self._reward_acc = 0.0
            self._attributed = 0.0
            core.start_episode()
        action = core.act(obs)
        self._publish(action, w.window_index, w.position, w.gripper)
        self.latencies.append(time.monotonic() - t_received)
        self._pending = _Pending(obs, np.asarray(action, dtype=np.float32), w.episode,
                                 w.window_index, via, core.holds(w.gripper) is True)
        if act_first:
            core.learn()

    def _episode_end(self, e) -> None:
        core, pend = self.core, self._pending
        self._pending = None
        if pend is not None and pend.episode == e.episode:
            obs = self.observation(e.position, e.stamp, e.gripper)
            if obs is not None:
                with self._reward_lock:
                    self._reward_acc = 0.0
                core.store(pend.obs, pend.action, e.ret - self._attributed, obs, e.terminated,
                           truncated=not e.terminated,
                           info=self._window_report(pend, None))
                core.learn()
        core.end_episode(bool(e.success))
        self._attributed = 0.0
        with self._reward_lock:
            self._reward_acc = 0.0
        core.episode += 1
        core.episodes_log.append({"episode": core.episode, "sim_episode": e.episode,
                                  "success": int(e.success), "return": e.ret,
                                  "control_steps": e.steps, "decisions": core.decisions,
                                  "updates": core.updates, "alpha": round(core.agent.alpha, 6),
                                  # the policy's entropy (nats) on the last update's batch
                                  "entropy": round(float(core.last_losses.get(
                                      "entropy", math.nan)), 4)})
        self.get_logger().info(
            f"episode {e.episode} ended ({'success' if e.success else 'no success'}, "
            f"{e.steps} steps, return {e.ret:g}); {core.actions} actions, {core.decisions} "
            f"stored, {core.updates} updates, alpha {core.agent.alpha:.4g}")
        every = self.p["save_every_episodes"]
        if core.train and every and core.episode % every == 0:
            core.save(self.save_path(), self.p["save_replay"])

    def _window_report(self, pend: _Pending, grasp_position) -> dict:
        """The in-process window report (``GMMWindowEnv``'s info) of ``pend``'s window, with
        ``grasp_position`` (m) if it grasped."""
        return {"via_point": pend.via, "held": pend.held, "grasp_position": grasp_position}

    def _publish(self, action: np.ndarray, window_index: int, position=None,
                 gripper: float | None = None) -> None:
        a = np.asarray(action, dtype=np.float64)
        if not np.isfinite(a).all():
            self.get_logger().error("policy gave a non-finite action: publishing zero delta-theta")
            a = np.zeros(self.core.act_dim)
        elif self.core.steering is not None:
            a = self.core.shift(a, position, gripper)       # via-point -> attractor shift
        d_pi, d_mu, d_sigma = self.core.deltas(a)
        parts = [x for x in (d_pi, d_mu, d_sigma) if x is not None]
        if not all(np.isfinite(x).all() for x in parts):
            self.get_logger().error("non-finite delta-theta not published")
            return
        self.delta_pub.publish(to_multiarray(encode_delta(
            DeltaThetaMessage(d_pi, d_mu, d_sigma, window_index))))

    def close(self) -> None:
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout=30.0)
        if self.core is not None and self.p.get("save_on_exit"):
            try:
                out = self.core.save(self.save_path(), self.p["save_replay"])
                print(f"[sac_refiner] saved {out} at exit", flush=True)
            except Exception as exc:  # noqa: BLE001
                print(f"[sac_refiner] cannot save at exit: {exc}", flush=True)


def main(args: list[str] | None = None) -> int:
    return run_node(SACRefiner, args)


if __name__ == "__main__":
    raise SystemExit(main())
