"""Shared gymnasium environment for the simulated skills (peg, lever, door).

Conventions shared by every task
--------------------------------
* Physics at ``control.physics_hz`` (240 Hz), control at ``control.control_hz`` (30 Hz): one
  :meth:`step` runs ``physics_hz // control_hz`` (8) physics steps.
* Action: TCP Cartesian velocity, shape ``(3,)``, m/s, world-aligned axes (the target frame has
  the world's orientation; only its origin is randomised). Each component is clipped to
  ``[-control.max_speed, control.max_speed]``. The velocity is integrated into a commanded TCP
  position (``x_cmd += v * dt``) that is kept within ``control.max_lead`` metres of the actual
  TCP, so a blocked arm does not wind up an unbounded force. Orientation is held (gripper down).
  Actions with the wrong shape or NaN/inf raise ``ValueError``.
* Target frame: origin at the task's attractor (the TCP position where the skill ends: the
  inserted peg, the lever at the end of its slide, the opened door handle), axes parallel to
  the world's. ``obs["position"]`` is the TCP in the *perceived* target frame (m): with
  ``noise=True`` the perceived origin is off by N(0, ``noise.target_std``) per axis, drawn once
  per episode.
* Episode end: success (``terminated``), leaving the safety box given in the *true* target
  frame (``terminated``), a task-specific violation (``terminated``, no reward, even if the
  success check also holds: e.g. the door's ``"through_door"``, a TCP that passed through the
  panel, which a real gripper cannot), or ``control.horizon`` control steps (``truncated``).
  ``info["end_reason"]`` is ``"success"``, ``"safety_box"``, the violation's name,
  ``"time_limit"`` or ``None``.
* Failure analysis: at a failed episode end ``info["failure"]`` says how it failed, one of
  :data:`FAILURES` (the violation's or ``"safety_box"`` when the episode was stopped, else the
  task's own account from what it tracked during the episode); ``None`` otherwise.
* Reward: sparse (1 on the success step, else 0); ``dense=True`` adds a task-specific shaping
  term (for the SAC baseline of Table III), never given to the GMM agent.
* ``reset(seed=s)`` is deterministic: the world is restored from a saved PyBullet state
  before every episode and all randomness comes from ``self.np_random``.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sacgmm.robot.gripper import closest_on_segment
from sacgmm.sim.config import load_task_config
from sacgmm.sim.failures import FAILURES
from sacgmm.sim.robot import (FINGER_LINKS, GRIPPER_LINK, Robot, connect_direct,
                              link_point_to_com)

END_REASONS = ("success", "safety_box", "time_limit")


def check_action(action: Any, dim: int = 3) -> np.ndarray:
    """``action`` as a float64 vector of shape ``(dim,)``; ``ValueError`` if malformed."""
    try:
        a = np.asarray(action, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"action must be a numeric array of shape ({dim},) "
                         f"(TCP velocity in m/s), got {action!r}") from None
    if a.shape != (dim,):
        raise ValueError(f"action must have shape ({dim},) (TCP velocity in m/s), "
                         f"got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"action contains NaN or inf: {a.tolist()}")
    return a


class Grasp:
    """A force-limited grasp of a handle, used by the lever and door tasks.

    The fingers close when the TCP comes within ``capture_radius`` (m) of the handle's grasp
    point (or, for a bar handle given by ``segment_half``, of the nearest point of the bar);
    the grasp is then a point-to-point constraint between the TCP and the grasp point
    whose force is limited to ``max_force`` (N). When the load exceeds what the grasp can hold
    the handle lags behind the TCP; once they are more than ``slip_distance`` (m) apart the
    handle has slipped out of the grasp and the fingers reopen. Re-grasping needs the TCP to
    come back within ``capture_radius``.
    """

    def __init__(self, env: "SimTaskEnv", body: int, link: int, local_point, cfg: dict,
                 segment_half=None):
        self.env = env
        self.body, self.link = body, link
        self.local_point = [float(v) for v in local_point]
        # a bar handle (door): graspable anywhere on the segment local_point +- segment_half
        # (link frame, m); the grasp holds the point where it closed
        self.segment_half = (None if segment_half is None
                             else np.asarray(segment_half, dtype=float))
        self.held_point = list(self.local_point)
        self.capture_radius = float(cfg["capture_radius"])
        self.slip_distance = float(cfg["slip_distance"])
        self.max_force = float(cfg["max_force"])
        self.closed_angle = float(cfg["closed_finger_angle"])
        self.cid: int | None = None
        self.n_slips = 0
        self.ever_held = False     # held at any control step of the episode

    @property
    def held(self) -> bool:
        return self.cid is not None

    def _link_pose(self):
        p = self.env.bullet
        if self.link < 0:
            return p.getBasePositionAndOrientation(self.body)
        s = p.getLinkState(self.body, self.link, computeForwardKinematics=True)
        return s[4], s[5]

    def point_world(self) -> np.ndarray:
        """World position (m) of the held point (when held) or of the handle's centre."""
        pos, orn = self._link_pose()
        local = self.held_point if self.held else self.local_point
        return np.asarray(self.env.bullet.multiplyTransforms(pos, orn, local, [0, 0, 0, 1])[0])

    def to_link_frame(self, point: np.ndarray) -> np.ndarray:
        """``point`` (world, m) in the handle link's frame (m)."""
        p = self.env.bullet
        inv_pos, inv_orn = p.invertTransform(*self._link_pose())
        return np.asarray(p.multiplyTransforms(inv_pos, inv_orn, np.asarray(point).tolist(),
                                               [0, 0, 0, 1])[0])

    def closest_local(self, tcp: np.ndarray) -> list[float]:
        """The graspable point (link frame, m) closest to ``tcp`` (world, m)."""
        if self.segment_half is None:
            return list(self.local_point)
        return closest_on_segment(self.to_link_frame(tcp), np.asarray(self.local_point),
                                  self.segment_half).tolist()

    @property
    def offset(self) -> float | None:
        """Where the held point is on a bar handle: its signed distance (m) from the bar's
        centre along ``segment_half`` (0 for a point handle); None while nothing is held."""
        if not self.held:
            return None
        if self.segment_half is None:
            return 0.0
        h = self.segment_half
        d = np.asarray(self.held_point) - np.asarray(self.local_point)
        return float(d @ h / np.linalg.norm(h))

    def reset_episode(self) -> None:
        """Let go and forget the episode's grasp history (slips, ever held)."""
        self.release()
        self.n_slips = 0
        self.ever_held = False

    def release(self) -> None:
        if self.cid is not None:
            self.env.bullet.removeConstraint(self.cid)
            self.cid = None
            self.env.robot.set_fingers(self.env.robot.finger_angle)

    def update(self, tcp: np.ndarray) -> None:
        if self.cid is None:
            local = self.closest_local(tcp)
            pos, orn = self._link_pose()
            point = np.asarray(self.env.bullet.multiplyTransforms(pos, orn, local,
                                                                  [0, 0, 0, 1])[0])
            if float(np.linalg.norm(tcp - point)) <= self.capture_radius:
                self.held_point = local
                p = self.env.bullet
                parent, _ = link_point_to_com(p, self.env.robot.uid, GRIPPER_LINK,
                                              self.env.robot.tcp_local.tolist())
                child, _ = link_point_to_com(p, self.body, self.link, local)
                self.cid = p.createConstraint(
                    self.env.robot.uid, GRIPPER_LINK, self.body, self.link, p.JOINT_POINT2POINT,
                    [0, 0, 0], parent, child)
                p.changeConstraint(self.cid, maxForce=self.max_force)
                self.env.robot.set_fingers(self.closed_angle)
        elif float(np.linalg.norm(tcp - self.point_world())) > self.slip_distance:
            self.release()
            self.n_slips += 1
        self.ever_held |= self.held

    def failure(self) -> str:
        """How an episode of a grasping task failed: ``never_reached`` (never grasped),
        ``released_early`` (slipped out and not held at the end) or ``stalled`` (held at the
        end without finishing)."""
        if not self.ever_held:
            return "never_reached"
        return "stalled" if self.held else "released_early"


class SimTaskEnv(gym.Env):
    """Base class of the three task environments; see the module docstring for conventions.

    Keyword options: ``noise`` (perceived-target noise), ``sensor`` (add the task's 64x64
    image to the observation), ``dense`` (shaped reward), ``render_mode`` (``"rgb_array"`` for
    a viewing-camera image from :meth:`render`), ``config`` (path of an alternative task YAML).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}
    TASK = ""

    def __init__(self, noise: bool = False, sensor: bool = False, dense: bool = False,
                 render_mode: str | None = None, config: str | None = None):
        super().__init__()
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.cfg = load_task_config(config or self.TASK)
        self.noise, self.sensor, self.dense = bool(noise), bool(sensor), bool(dense)
        self.render_mode = render_mode
        ctrl = self.cfg["control"]
        self.physics_hz = int(ctrl["physics_hz"])
        self.control_hz = int(ctrl["control_hz"])
        if self.physics_hz % self.control_hz:
            raise ValueError(f"{self.cfg['_path']}: physics_hz must be a multiple of control_hz")
        self.substeps = self.physics_hz // self.control_hz
        self.dt = 1.0 / self.control_hz
        self.max_speed = float(ctrl["max_speed"])
        self.max_lead = float(ctrl["max_lead"])
        self.horizon = int(ctrl["horizon"])
        rnd = self.cfg["randomisation"]
        self._target_center = np.asarray(rnd["target_center"], dtype=float)
        self._target_range = np.asarray(rnd["target_range"], dtype=float)
        self._start_low = np.asarray(rnd["start_low"], dtype=float)
        self._start_high = np.asarray(rnd["start_high"], dtype=float)
        self._noise_std = float(self.cfg["noise"]["target_std"])
        box = self.cfg["safety_box"]
        self._box_low = np.asarray(box["low"], dtype=float)
        self._box_high = np.asarray(box["high"], dtype=float)

        self.render_world = None  # low-poly mirror for sensor images (sacgmm.sim.render)
        self.bullet = connect_direct()
        p = self.bullet
        p.setTimeStep(1.0 / self.physics_hz)
        p.setGravity(0, 0, -9.81)
        p.setPhysicsEngineParameter(numSolverIterations=int(ctrl.get("solver_iterations", 50)),
                                    deterministicOverlappingPairs=1)
        self.plane = p.loadURDF("plane.urdf")
        self.robot = Robot(p, self.cfg["robot"])
        self._build_scene()
        self._base_state = p.saveState()

        self.action_space = spaces.Box(-self.max_speed, self.max_speed, shape=(3,),
                                       dtype=np.float32)
        self.observation_space = self.observation_space_of(self.cfg, self.sensor)

        self._target = self._target_center.copy()
        self._perceived = self._target.copy()
        self._cmd = np.zeros(3)
        self._steps = 0
        self._done = True
        self._view_camera = None

    @classmethod
    def observation_space_of(cls, cfg: dict, sensor: bool) -> spaces.Dict:
        """The observation space of the task defined by ``cfg``, from the definition alone
        (no simulator is started): the position, and the sensor image with ``sensor``."""
        parts = {"position": spaces.Box(-2.0, 2.0, shape=(3,), dtype=np.float32)}
        if sensor:
            parts.update(cls.sensor_spaces(cfg))
        return spaces.Dict(parts)

    # ------------------------------------------------------------ task hooks
    @staticmethod
    def sensor_spaces(cfg: dict) -> dict:
        """The sensor image's space(s) of a task defined by ``cfg``."""
        raise NotImplementedError

    def _build_scene(self) -> None:
        raise NotImplementedError

    def _place_scene(self, target: np.ndarray) -> np.ndarray:
        """Move the task objects for a sampled target ``target`` (world, m); return the final
        target-frame origin (a task may fix a coordinate, e.g. the board height)."""
        raise NotImplementedError

    def _after_reset(self) -> None:
        """Per-episode setup after the robot is placed (e.g. the peg in the hand)."""

    def _before_physics_step(self) -> None:
        """Called before every physics step (e.g. the door spring torque)."""

    def _after_control_step(self, tcp: np.ndarray) -> None:
        """Called after every control step (e.g. grasp / slip logic)."""

    def _is_success(self) -> bool:
        raise NotImplementedError

    def _violation(self, tcp: np.ndarray) -> str | None:
        """The name of a physically impossible state the simplified model let the robot reach
        (ends the episode as a failure), or ``None``."""
        return None

    def _shaping(self, tcp: np.ndarray) -> float:
        """Dense shaping term (only used with ``dense=True``)."""
        raise NotImplementedError

    def _sensor_spaces(self) -> dict:
        raise NotImplementedError

    def _sensor_obs(self) -> dict:
        raise NotImplementedError

    def _task_info(self) -> dict:
        return {}

    def _failure(self) -> str:
        """How the episode failed, from what the task tracked during it (one of
        :data:`FAILURES`); called at a failed end that no violation or safety box explains."""
        return "never_reached"

    def _viewing_camera(self) -> dict:
        """Pose of the camera used by :meth:`render` (video)."""
        return self.cfg.get("viewing_camera", {"distance": 0.9, "yaw": 50, "pitch": -30})

    # ------------------------------------------------------------- helpers
    @property
    def target(self) -> np.ndarray:
        """True target-frame origin in the world frame (m)."""
        return self._target.copy()

    @property
    def perceived_target(self) -> np.ndarray:
        """Perceived target-frame origin (world, m): the true one plus the episode's noise."""
        return self._perceived.copy()

    def sensor_observation(self) -> dict:
        """The task's sensor image(s) for the current state, rendered now (e.g. ``{"tactile": ...}``).

        Agents that look at the sensor only every few control steps (SAC-GMM: once per window)
        set ``sensor = False`` for the steps in between and call this at the window's end,
        which skips rendering the images nobody reads.
        """
        return self._sensor_obs()

    def _obs(self, tcp: np.ndarray) -> dict:
        obs = {"position": (tcp - self._perceived).astype(np.float32)}
        if self.sensor:
            obs.update(self._sensor_obs())
        return obs

    def _info(self, tcp: np.ndarray, success: bool, reason: str | None) -> dict:
        info = {
            "target": self._target.copy(),
            "perceived_target": self._perceived.copy(),
            "tcp": tcp.copy(),
            "true_position": tcp - self._target,
            "success": bool(success),
            "end_reason": reason,
            "failure": None,
            "steps": self._steps,
        }
        if reason is not None and not success:
            info["failure"] = reason if reason in FAILURES else self._failure()
        info.update(self._task_info())
        return info

    # ------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        rng = self.np_random
        p = self.bullet
        self._remove_episode_objects()
        p.restoreState(self._base_state)
        target = self._target_center + rng.uniform(-1, 1, 3) * self._target_range
        offset = rng.uniform(self._start_low, self._start_high)
        noise = rng.normal(0.0, self._noise_std, 3) if self.noise else np.zeros(3)
        if options and "start" in options:  # explicit start (target frame, m), for tests
            offset = check_action(options["start"])
        self._target = np.asarray(self._place_scene(target), dtype=float)
        self._perceived = self._target + noise
        start = self._target + offset
        self.robot.reset_to(start)
        self._after_reset()
        self._cmd = self.robot.tcp_position()
        self.robot.command(self._cmd)
        self._steps = 0
        self._done = False
        tcp = self.robot.tcp_position()
        return self._obs(tcp), self._info(tcp, False, None)

    def _remove_episode_objects(self) -> None:
        """Remove constraints created during the previous episode (grasps, peg in hand)."""

    def step(self, action):
        a = check_action(action)
        if self._done:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        p = self.bullet
        v = np.clip(a, -self.max_speed, self.max_speed)
        tcp = self.robot.tcp_position()
        cmd = self._cmd + v * self.dt
        lead = cmd - tcp
        n = float(np.linalg.norm(lead))
        if n > self.max_lead:
            cmd = tcp + lead * (self.max_lead / n)
        self._cmd = cmd
        self.robot.command(cmd)
        for _ in range(self.substeps):
            self._before_physics_step()
            p.stepSimulation()
        self._steps += 1
        tcp = self.robot.tcp_position()
        self._after_control_step(tcp)
        violation = self._violation(tcp)
        success = violation is None and self._is_success()
        rel = tcp - self._target
        outside = bool(np.any(rel < self._box_low) or np.any(rel > self._box_high))
        reason = None
        if violation is not None:
            reason = violation
        elif success:
            reason = "success"
        elif outside:
            reason = "safety_box"
        elif self._steps >= self.horizon:
            reason = "time_limit"
        terminated = reason not in (None, "time_limit")
        truncated = reason == "time_limit"
        reward = 1.0 if success else 0.0
        if self.dense:
            reward += self._shaping(tcp)
        self._done = reason is not None
        return self._obs(tcp), float(reward), terminated, truncated, self._info(tcp, success, reason)

    def render(self):
        """A 320x240 RGB image (uint8) from the viewing camera, for videos."""
        if self.render_mode != "rgb_array":
            return None
        from sacgmm.sim.sensors import render_rgb
        cam = self._viewing_camera()
        p = self.bullet
        view = p.computeViewMatrixFromYawPitchRoll(
            (self._target + np.asarray(cam.get("look_offset", [0, 0, 0.05]))).tolist(),
            cam["distance"], cam["yaw"], cam["pitch"], 0, 2)
        proj = p.computeProjectionMatrixFOV(50, 320 / 240, 0.05, 5.0)
        return render_rgb(p, 320, 240, view, proj)

    def close(self):
        if getattr(self, "render_world", None) is not None:
            self.render_world.close()
            self.render_world = None
        if getattr(self, "bullet", None) is not None:
            try:
                self.bullet.disconnect()
            except Exception:  # already disconnected
                pass
            self.bullet = None

    def disable_finger_collisions(self, body: int, links) -> None:
        """No collisions between the fingers and ``links`` of ``body`` (see task docs)."""
        for fl in FINGER_LINKS:
            for l in links:
                self.bullet.setCollisionFilterPair(self.robot.uid, body, fl, l, 0)
