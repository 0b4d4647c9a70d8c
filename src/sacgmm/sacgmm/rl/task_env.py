"""The three agents' views of a simulated task, as gymnasium environments with [-1, 1] actions.

- :class:`GMMWindowEnv` (**SAC-GMM**): one step is one *window* of ``N`` control steps (the
  paper's N = 32). The action is delta-theta (:mod:`sacgmm.skill.delta_theta`); the GMM agent,
  adapted by it, drives the robot for the window; the window's rewards are summed. The same
  class runs the plain GMM agent (a zero action, any window length).
- :class:`ResidualGMMEnv` (**Res-GMM**): one control step; velocity = GMM velocity + a residual.
- :class:`VelocityEnv` (**SAC**): one control step; the action is the Cartesian velocity.

All three give the SAC agent the same observation: ``position`` (end effector in the perceived
target frame, m, float32) and, when the task has a sensor, ``image``: the task's 64x64 sensor
image as uint8 channels-first (tactile: 2 channels, one per finger; depth: 1 channel,
0-255 over the camera's depth range; RGB: 3 channels). With ``gripper=True`` they also get
``gripper``: the opening between the fingertips (m, float32, shape ``(1,)``), as a real
gripper reports its width. Nothing here imports torch.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sacgmm.skill.delta_theta import DeltaTheta
from sacgmm.skill.model import GMMSkill
from sacgmm.skill.adaptation import SkillAdaptation, check_action, command
from sacgmm.skill.speed import limit_velocity

IMAGE_KEYS = ("tactile", "depth", "rgb")
ZERO3 = np.zeros(3)


class SensorObservation:
    """Converts a task observation into the SAC agent's ``{"position", "image"}`` dict."""

    def __init__(self, task_space: spaces.Dict):
        self.image_key = next((k for k in IMAGE_KEYS if k in task_space.spaces), None)
        parts: dict[str, spaces.Space] = {
            "position": spaces.Box(-np.inf, np.inf, (3,), np.float32)}
        self._depth_scale = None
        if self.image_key is not None:
            box = task_space[self.image_key]
            if self.image_key == "depth":
                self._depth_scale = 255.0 / float(np.max(box.high))
                shape = (1,) + box.shape
            elif self.image_key == "rgb":
                shape = (box.shape[2], box.shape[0], box.shape[1])
            else:
                shape = box.shape
            parts["image"] = spaces.Box(0, 255, shape, np.uint8)
        self.space = spaces.Dict(parts)

    def __call__(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {"position": np.asarray(obs["position"], dtype=np.float32)}
        if self.image_key is not None:
            img = obs[self.image_key]
            if self.image_key == "depth":
                img = np.clip(img * self._depth_scale, 0, 255)[None]
            elif self.image_key == "rgb":
                img = np.transpose(img, (2, 0, 1))
            out["image"] = np.ascontiguousarray(img, dtype=np.uint8)
        return out


def _control_position(obs: dict, info: dict) -> np.ndarray:
    """The position the skill is evaluated at (m, perceived target frame): in full precision
    from the task's ``info`` (the observation's copy is float32), as a controller reading the
    robot's pose gets it."""
    if "tcp" in info and "perceived_target" in info:
        return np.asarray(info["tcp"], dtype=np.float64) - info["perceived_target"]
    return np.asarray(obs["position"], dtype=np.float64)


class _TaskView(gym.Env):
    """Shared plumbing: wraps a task env, converts observations, exposes its info."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, task_env: gym.Env, gripper: bool = False):
        self.task_env = task_env
        self.sensor_obs = SensorObservation(task_env.observation_space)
        self.gripper = bool(gripper)
        self.observation_space = self.sensor_obs.space
        if self.gripper:
            self.observation_space = spaces.Dict(
                {**self.sensor_obs.space.spaces,
                 "gripper": spaces.Box(0.0, np.inf, (1,), np.float32)})
        self.max_speed = float(task_env.unwrapped.max_speed)
        self._position = np.zeros(3)
        self._slip = 0.0          # m, how far the held peg slid up in the fingers (peg task)
        self.render_mode = getattr(task_env, "render_mode", None)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        obs, info = self.task_env.reset(seed=seed, options=options)
        self._position = _control_position(obs, info)
        self._slip = float(info.get("peg_slip", 0.0))
        return self.agent_observation(obs), info

    def agent_observation(self, obs: dict[str, np.ndarray],
                          gripper_opening: float | None = None) -> dict[str, np.ndarray]:
        """The agent's observation of task observation ``obs``; the gripper's opening (m) is
        read from the robot now unless given (e.g. recorded with ``obs``)."""
        out = self.sensor_obs(obs)
        if self.gripper:
            if gripper_opening is None:
                gripper_opening = self.task_env.unwrapped.robot.gripper_opening()
            out["gripper"] = np.array([gripper_opening], dtype=np.float32)
        return out

    def _control_step(self, velocity: np.ndarray):
        obs, reward, term, trunc, info = self.task_env.step(
            limit_velocity(velocity, self.max_speed))
        self._position = _control_position(obs, info)
        self._slip = float(info.get("peg_slip", 0.0))
        return obs, float(reward), bool(term), bool(trunc), info

    def render(self):
        return self.task_env.render()

    def close(self):
        self.task_env.close()


class GMMWindowEnv(_TaskView):
    """SAC-GMM's environment: ``step(delta_theta)`` runs one window of the adapted GMM agent.

    ``skill`` is the demonstrated skill; each action is applied to it afresh (not accumulated).
    The reward is the sum of the window's rewards; ``info["control_steps"]`` counts the steps.

    ``via_point``: a :class:`~sacgmm.skill.via_point.ViaPointSteering`; while the gripper is
    open (its opening, m, at the window's start at least the steering's ``held_below``) the
    action is then a via-point, turned into the attractor shift applied for the window; while
    it holds, the action is the shift itself. ``info["shift_action"]`` is the attractor-shift
    action applied, ``info["via_point"]`` whether the action was read as a via-point, and
    ``info["held"]`` whether the gripper held at the window's start (its opening below
    ``held_below``).

    Tasks with a grasp: ``info["grasp_position"]`` is the hand's position (m, perceived target
    frame) at the control step in which the handle became held, when that happened in this
    window (``None`` otherwise), and ``info["grasp_offset"]`` where on the handle it held (m,
    the task's ``grasp_offset`` at that step; ``None`` otherwise).

    ``follow_held_object`` (simulation only): the skill is evaluated at the TCP raised by how
    far the held peg slid up in the fingers (``info["peg_slip"]``, what in-hand sensing would
    report), i.e. it drives the peg rather than the hand, so a peg pushed up in the hand is
    still driven to the demonstrated depth. No effect on tasks without a held peg.
    """

    def __init__(self, task_env: gym.Env, skill: GMMSkill, delta: DeltaTheta, window: int = 32,
                 gripper: bool = False, via_point=None, follow_held_object: bool = False):
        super().__init__(task_env, gripper)
        self.follow_held_object = bool(follow_held_object)
        if window < 1:
            raise ValueError(f"window must be >= 1 control step, got {window}")
        if skill.dim != 3:
            raise ValueError(f"the task needs a 3-D position skill, got d={skill.dim}")
        self.skill, self.delta, self.window = skill, delta, int(window)
        self.adaptation = SkillAdaptation(skill, delta, via_point)
        self.action_space = spaces.Box(-1.0, 1.0, (delta.size,), np.float32)
        self.current_skill = skill
        self._held = False

    @property
    def via_point(self):
        """The via-point steering (None without it)."""
        return self.adaptation.steering

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self._held = False
        return super().reset(seed=seed, options=options)

    def step(self, action):
        task = self.task_env.unwrapped
        decision = self.adaptation.decide(action, self._position, task.robot.gripper_opening())
        self.current_skill = self.adaptation.skill_for(decision)
        total, steps = 0.0, 0
        grasp_position = grasp_offset = None
        has_sensor = self.sensor_obs.image_key is not None
        task.sensor = False          # the agent sees the sensor only at the window's end
        try:
            while True:
                v = command(self.current_skill, self.skill_position(), self.max_speed)
                obs, r, term, trunc, info = self._control_step(ZERO3 if v is None else v)
                total += r
                steps += 1
                held = bool(info.get("grasped", False))
                if held and not self._held and grasp_position is None:
                    grasp_position = self._position.copy()
                    grasp_offset = info.get("grasp_offset")
                self._held = held
                if term or trunc or steps >= self.window:
                    break
        finally:
            task.sensor = has_sensor
        info = dict(info, control_steps=steps, shift_action=decision.action.astype(np.float32),
                    via_point=decision.via, held=decision.held, grasp_position=grasp_position,
                    grasp_offset=grasp_offset)
        return self._observe(obs, has_sensor), total, term, trunc, info

    def skill_position(self) -> np.ndarray:
        """Where the skill is evaluated (m, perceived target frame): the TCP, or with
        ``follow_held_object`` the TCP raised by the peg's slip in the fingers (the peg's axis
        is the frame's z)."""
        if self.follow_held_object and self._slip:
            return self._position + np.array([0.0, 0.0, self._slip])
        return self._position

    def _observe(self, obs: dict, has_sensor: bool) -> dict[str, np.ndarray]:
        """The agent's observation of the current state (task observation ``obs``; the sensor
        image, if any, rendered now)."""
        if has_sensor:
            obs = dict(obs, **self.task_env.unwrapped.sensor_observation())
        return self.agent_observation(obs)


class ResidualGMMEnv(_TaskView):
    """Res-GMM's environment: velocity = GMM velocity + ``residual_scale * max_speed * action``."""

    def __init__(self, task_env: gym.Env, skill: GMMSkill, residual_scale: float = 0.1,
                 gripper: bool = False):
        super().__init__(task_env, gripper)
        self.skill, self.residual_scale = skill, float(residual_scale)
        self.action_space = spaces.Box(-1.0, 1.0, (3,), np.float32)

    def step(self, action):
        a = check_action(action, 3)
        v = self.skill.velocity(self._position) + self.residual_scale * self.max_speed * a
        obs, r, term, trunc, info = self._control_step(v)
        return self.agent_observation(obs), r, term, trunc, dict(info, control_steps=1)


class VelocityEnv(_TaskView):
    """The SAC baseline's environment: velocity = ``max_speed * action`` (m/s)."""

    def __init__(self, task_env: gym.Env, gripper: bool = False):
        super().__init__(task_env, gripper)
        self.action_space = spaces.Box(-1.0, 1.0, (3,), np.float32)

    def step(self, action):
        obs, r, term, trunc, info = self._control_step(self.max_speed * check_action(action, 3))
        return self.agent_observation(obs), r, term, trunc, dict(info, control_steps=1)
