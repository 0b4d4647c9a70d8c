"""Power-lever sliding: grasp a lever 50 mm above its base and slide it to the end of its
travel, which turns a lamp on.

Geometry (``sacgmm/tasks/lever.yaml``): a fixed base block with a prismatic slide along +y;
the carriage carries a rod and a knob whose centre is ``lever_height`` above the base top.
The slide has Coulomb friction ``slide_friction`` (a zero-velocity motor with that force
limit). The grasp is force-limited (:class:`sacgmm.sim.base.Grasp`): pulling the knob across
the slide, upwards or too fast makes it slip out of the gripper.

Target frame: origin at the knob centre with the carriage at the end of its travel (where the
lamp turns on); the knob starts at ``(0, -slide_length, 0)``. Axes parallel to the world's.

Success: the lamp is on, i.e. the carriage is within ``end_tolerance`` of the slide end.
The lamp is a visible sphere that turns from dark to bright green.

Sensor: ``obs["depth"]``, ``(64, 64)`` float32 linear depth (m) from a static camera.

Failure analysis (``info["failure"]``): ``never_reached`` (never grasped), ``released_early``
(the handle slipped out and was not held at the end), ``stalled`` (held at the end).

Dense reward (``dense=True``): ``-|TCP - knob|`` (m) before the grasp, then
``-(remaining travel)`` (m) while grasped, i.e. ``-dist - travel_left`` each step.
"""
from __future__ import annotations

import numpy as np
from gymnasium import spaces

from sacgmm.sim.base import Grasp, SimTaskEnv
from sacgmm.sim.render import RenderWorld
from sacgmm.sim.sensors import StaticDepthCamera

LAMP_OFF = [0.15, 0.25, 0.15, 1.0]
LAMP_ON = [0.2, 1.0, 0.2, 1.0]


class LeverSlidingEnv(SimTaskEnv):
    """``sacgmm/LeverSliding-v0``; options and conventions in :mod:`sacgmm.sim.base`."""

    TASK = "lever"

    def _make_objects(self, p) -> tuple[int, int]:
        """Lever (base + sliding carriage) and lamp bodies in client ``p``."""
        g = self.cfg["geometry"]
        bh = g["base_half_size"]
        base_col = p.createCollisionShape(p.GEOM_BOX, halfExtents=bh)
        base_vis = p.createVisualShape(p.GEOM_BOX, halfExtents=bh, rgbaColor=[0.3, 0.3, 0.35, 1])
        ch = g["carriage_half_size"]
        h = g["lever_height"]
        rr, kr = g["rod_radius"], g["knob_radius"]
        # carriage link frame: on the base top, at the carriage centre
        col = p.createCollisionShapeArray(
            shapeTypes=[p.GEOM_BOX, p.GEOM_BOX, p.GEOM_SPHERE],
            halfExtents=[ch, [rr, rr, h / 2], [0, 0, 0]], radii=[0, 0, kr],
            collisionFramePositions=[[0, 0, ch[2]], [0, 0, h / 2], [0, 0, h]],
            collisionFrameOrientations=[[0, 0, 0, 1]] * 3)
        vis = p.createVisualShapeArray(
            shapeTypes=[p.GEOM_BOX, p.GEOM_BOX, p.GEOM_SPHERE],
            halfExtents=[ch, [rr, rr, h / 2], [0, 0, 0]], radii=[0, 0, kr],
            lengths=[0, 0, 0], fileNames=["", "", ""], meshScales=[[1, 1, 1]] * 3,
            planeNormals=[[0, 0, 1]] * 3, flags=[0] * 3,
            visualFramePositions=[[0, 0, ch[2]], [0, 0, h / 2], [0, 0, h]],
            visualFrameOrientations=[[0, 0, 0, 1]] * 3,
            rgbaColors=[[0.6, 0.6, 0.6, 1], [0.7, 0.7, 0.7, 1], [0.9, 0.1, 0.1, 1]])
        L = g["slide_length"]
        # base frame at the base block centre; the carriage starts at y = -L/2 on the top
        lever = p.createMultiBody(
            0, base_col, base_vis, basePosition=[0.55, 0, g["base_top"] - bh[2]],
            linkMasses=[0.3], linkCollisionShapeIndices=[col], linkVisualShapeIndices=[vis],
            linkPositions=[[0, -L / 2, bh[2]]], linkOrientations=[[0, 0, 0, 1]],
            linkInertialFramePositions=[[0, 0, 0.01]],
            linkInertialFrameOrientations=[[0, 0, 0, 1]], linkParentIndices=[0],
            linkJointTypes=[p.JOINT_PRISMATIC], linkJointAxis=[[0, 1, 0]])
        lamp_vis = p.createVisualShape(p.GEOM_SPHERE, radius=0.015, rgbaColor=LAMP_OFF)
        lamp = p.createMultiBody(0, -1, lamp_vis, basePosition=[0.55, 0, 0.2])
        return lever, lamp

    def _build_scene(self) -> None:
        p, g = self.bullet, self.cfg["geometry"]
        self.g = g
        self.lever, self.lamp = self._make_objects(p)
        self.disable_finger_collisions(self.lever, [0])
        self.grasp = Grasp(self, self.lever, 0, [0, 0, g["lever_height"]], g["grasp"])
        self.lamp_on = False
        self.camera = None
        if self.sensor:
            self.render_world = RenderWorld(p, self.robot)
            lever, lamp = self._make_objects(self.render_world.p)
            self.render_world.track(self.lever, lever)
            self.render_world.track(self.lamp, lamp)
            self.camera = StaticDepthCamera(self.render_world.p, self.cfg["sensor"])

    def _place_scene(self, target: np.ndarray) -> np.ndarray:
        g, p = self.g, self.bullet
        target = target.copy()
        target[2] = g["base_top"] + g["lever_height"]
        bh = g["base_half_size"]
        L = g["slide_length"]
        # base centre such that the knob at the end of travel is at the target
        centre = [target[0], target[1] - L / 2, g["base_top"] - bh[2]]
        p.resetBasePositionAndOrientation(self.lever, centre, [0, 0, 0, 1])
        p.resetJointState(self.lever, 0, 0.0, 0.0)
        p.setJointMotorControl2(self.lever, 0, p.VELOCITY_CONTROL, targetVelocity=0.0,
                                force=float(g["slide_friction"]))
        lamp_pos = [target[0], target[1] + bh[1] - L / 2 + 0.0, g["base_top"] + 0.015]
        lamp_pos[1] = centre[1] + bh[1] - 0.015
        p.resetBasePositionAndOrientation(self.lamp, lamp_pos, [0, 0, 0, 1])
        self._set_lamp(False)
        if self.camera is not None:
            self.camera.place(target)
        return target

    def _set_lamp(self, on: bool) -> None:
        self.lamp_on = on
        self.bullet.changeVisualShape(self.lamp, -1, rgbaColor=LAMP_ON if on else LAMP_OFF)
        if self.render_world is not None:
            lamp_proxy = self.render_world._tracked[1][1]
            self.render_world.p.changeVisualShape(lamp_proxy, -1,
                                                  rgbaColor=LAMP_ON if on else LAMP_OFF)

    def _remove_episode_objects(self) -> None:
        self.grasp.reset_episode()

    def _failure(self) -> str:
        return self.grasp.failure()

    def slide_position(self) -> float:
        """Carriage travel from its start (m)."""
        return float(self.bullet.getJointState(self.lever, 0)[0])

    def _after_control_step(self, tcp: np.ndarray) -> None:
        self.grasp.update(tcp)
        on = self.slide_position() >= self.g["slide_length"] - self.g["end_tolerance"]
        if on != self.lamp_on:
            self._set_lamp(on)

    def _is_success(self) -> bool:
        return self.lamp_on

    def _shaping(self, tcp: np.ndarray) -> float:
        left = max(self.g["slide_length"] - self.slide_position(), 0.0)
        return -float(np.linalg.norm(tcp - self.grasp.point_world())) - left

    @staticmethod
    def sensor_spaces(cfg: dict) -> dict:
        s = int(cfg["sensor"]["size"])
        return {"depth": spaces.Box(0.0, float(cfg["sensor"]["far"]), shape=(s, s),
                                    dtype=np.float32)}

    def _sensor_obs(self) -> dict:
        self.render_world.sync()
        return {"depth": self.camera.image()}

    def _task_info(self) -> dict:
        return {"slide": self.slide_position(), "grasped": self.grasp.held,
                "lamp_on": self.lamp_on, "slips": self.grasp.n_slips}
