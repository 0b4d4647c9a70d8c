"""Peg insertion: a 50 mm cylindrical peg held in the gripper, a board with a 56 mm hole.

Geometry (``sacgmm/tasks/peg.yaml``): the board top is ``geometry.board_top`` above the
ground; the hole is a blind polygonal hole (``hole_sides`` sides, inscribed diameter
``hole_diameter``, depth ``hole_depth``). The peg is a dynamic rigid body attached to the
gripper by a force-limited fixed constraint (``grasp_max_force``): contacts with the board
push, tilt and shift it in the hand, and it can jam in the hole.

Frictional grasp (stick-slip along the peg axis): the constraint holds the peg elastically up
to ``grasp_max_force``; when a load beyond that (e.g. pressing the peg onto the board) pushes
the peg more than ``grasp_slip_distance`` along its axis away from where it is held, the peg
has *slid in the fingers*: the grasp re-forms at the new position and the peg stays there
(it does not spring back), up to ``grasp_max_slip`` either way (the palm / the fingertips'
ends). A peg pushed up in the hand no longer reaches the success depth at the attractor.
``info["peg_slip"]`` is the accumulated slip (m, + = peg pushed up into the hand).

Target frame: origin on the hole axis at the TCP height reached when the peg tip is
``goal_depth`` below the board surface; axes parallel to the world's.

Success: the peg tip is inside the hole footprint and at least ``success_depth`` below the
board surface (read from the simulated peg pose).

Sensor: ``obs["tactile"]``, ``(2, 64, 64)`` uint8 images of the two fingertip pads: the gel's
indentation and its markers, displaced by the load the grasp carries (:meth:`grasp_load`; see
:class:`sacgmm.sim.sensors.TactileSensor`).

Failure analysis (``info["failure"]``): ``slipped`` (the peg slid 1 cm or more in the hand),
``jammed`` (its tip went 5 mm into the hole's footprint but not to the success depth),
``searching`` (the tip came within 3 mm of the board's surface, never into the hole),
``never_reached`` (the tip stayed above that), checked in this order.

Dense reward (``dense=True``): ``-distance(peg tip, hole goal point)`` in metres per step.
"""
from __future__ import annotations

import numpy as np
from gymnasium import spaces

from sacgmm.sim.base import SimTaskEnv
from sacgmm.sim.robot import (FINGER_LINKS, GRIPPER_LINK, create_static_boxes, link_point_to_com,
                              regular_polygon_hole)
from sacgmm.sim.render import RenderWorld
from sacgmm.sim.sensors import TactileSensor


#: m: thresholds of the failure analysis (module docstring)
SLIPPED = 0.01
ENTER_DEPTH = 0.005
TOUCH_HEIGHT = 0.003


class PegInsertionEnv(SimTaskEnv):
    """``sacgmm/PegInsertion-v0``; options and conventions in :mod:`sacgmm.sim.base`."""

    TASK = "peg"

    def _make_objects(self, p) -> tuple[int, int]:
        """Board and peg bodies in PyBullet client ``p`` (physics or render mirror)."""
        g = self.cfg["geometry"]
        r_hole = g["hole_diameter"] / 2
        depth = g["hole_depth"]
        half = g["board_half_size"]
        top = g["board_top"]
        colour = [0.55, 0.45, 0.35, 1.0]
        boxes = regular_polygon_hole(r_hole, 0.02, depth, -depth / 2, int(g["hole_sides"]),
                                     half, colour)
        # the solid block under the hole (its floor is the bottom of the blind hole)
        below = top - depth
        boxes.append({"half": [half, half, below / 2], "pos": [0, 0, -depth - below / 2],
                      "rgba": [0.45, 0.36, 0.28, 1.0]})
        board = create_static_boxes(p, boxes, [0.55, 0, top])
        r = g["peg_diameter"] / 2
        L = g["peg_length"]
        pc = p.createCollisionShape(p.GEOM_CYLINDER, radius=r, height=L)
        pv = p.createVisualShape(p.GEOM_CYLINDER, radius=r, length=L, rgbaColor=[0.2, 0.4, 0.8, 1])
        peg = p.createMultiBody(g["peg_mass"], pc, pv, basePosition=[0.55, 0, 0.5])
        return board, peg

    def _build_scene(self) -> None:
        p, g = self.bullet, self.cfg["geometry"]
        self.g = g
        self.board, self.peg = self._make_objects(p)
        for link in range(-1, p.getNumJoints(self.board)):
            p.changeDynamics(self.board, link, lateralFriction=g["lateral_friction"])
        p.changeDynamics(self.peg, -1, lateralFriction=g["lateral_friction"])
        for fl in FINGER_LINKS + (GRIPPER_LINK,):
            p.setCollisionFilterPair(self.robot.uid, self.peg, fl, -1, 0)
        L = g["peg_length"]
        self._peg_center_below_tcp = L / 2 - g["peg_top_above_tcp"]
        self._tip_below_tcp = L - g["peg_top_above_tcp"]
        self._grasp_cid = None
        self._parent_pivot = np.zeros(3)
        self.peg_slip = 0.0
        self._max_slip, self._touched, self._entered = 0.0, False, False
        self.tactile = None
        if self.sensor:
            self.render_world = RenderWorld(p, self.robot)
            board, peg = self._make_objects(self.render_world.p)
            self.render_world.track(self.board, board)
            self.render_world.track(self.peg, peg)
            self.tactile = TactileSensor(self.render_world.p, self.robot, self.cfg["sensor"])

    def _place_scene(self, target: np.ndarray) -> np.ndarray:
        g = self.g
        target = target.copy()
        # z of the origin: TCP height with the peg tip goal_depth below the board top
        target[2] = g["board_top"] - g["goal_depth"] + self._tip_below_tcp
        self.bullet.resetBasePositionAndOrientation(
            self.board, [target[0], target[1], g["board_top"]], [0, 0, 0, 1])
        return target

    def _after_reset(self) -> None:
        p = self.bullet
        tcp = self.robot.tcp_position()
        centre = tcp - np.array([0, 0, self._peg_center_below_tcp])
        p.resetBasePositionAndOrientation(self.peg, centre.tolist(), [0, 0, 0, 1])
        p.resetBaseVelocity(self.peg, [0, 0, 0], [0, 0, 0])
        r0 = np.array(p.getMatrixFromQuaternion(self.robot.orientation)).reshape(3, 3)
        child_in_link = r0.T @ np.array([0, 0, -self._peg_center_below_tcp])
        link_pos = (np.asarray(self.robot.tcp_local) + child_in_link).tolist()
        # orientation of the peg relative to the gripper link: world identity
        inv = p.invertTransform([0, 0, 0], self.robot.orientation)[1]
        parent_pos, parent_orn = link_point_to_com(p, self.robot.uid, GRIPPER_LINK, link_pos, inv)
        self._grasp_cid = p.createConstraint(
            self.robot.uid, GRIPPER_LINK, self.peg, -1, p.JOINT_FIXED, [0, 0, 0],
            parent_pos, [0, 0, 0], parentFrameOrientation=parent_orn)
        p.changeConstraint(self._grasp_cid, maxForce=float(self.g["grasp_max_force"]))
        self._parent_pivot = np.asarray(parent_pos, dtype=float)
        self.peg_slip = 0.0
        self._max_slip = 0.0          # m, largest |peg_slip| of the episode
        self._touched = False         # the tip came within TOUCH_HEIGHT of the board surface
        self._entered = False         # the tip went ENTER_DEPTH into the hole's footprint

    def _after_control_step(self, tcp: np.ndarray) -> None:
        """Stick-slip of the peg along its axis in the grasp (see the module docstring), and
        what the failure analysis tracks."""
        if self._grasp_cid is None:
            return
        self._slide_in_hand()
        tip = self.peg_tip()
        depth = self.g["board_top"] - float(tip[2])
        self._touched |= depth > -TOUCH_HEIGHT
        inside = float(np.hypot(*(tip[:2] - self._target[:2]))) < self.g["hole_diameter"] / 2
        self._entered |= inside and depth > ENTER_DEPTH
        self._max_slip = max(self._max_slip, abs(self.peg_slip))

    def _failure(self) -> str:
        if self._max_slip >= SLIPPED:
            return "slipped"
        if self._entered:
            return "jammed"
        return "searching" if self._touched else "never_reached"

    def _slide_in_hand(self) -> None:
        p = self.bullet
        s = p.getLinkState(self.robot.uid, GRIPPER_LINK, computeForwardKinematics=True)
        r_com = np.array(p.getMatrixFromQuaternion(s[1])).reshape(3, 3)
        held = np.asarray(s[0]) + r_com @ self._parent_pivot  # where the grasp holds the peg
        pos, orn = p.getBasePositionAndOrientation(self.peg)
        r_peg = np.array(p.getMatrixFromQuaternion(orn)).reshape(3, 3)
        axis = r_peg[:, 2]
        child = np.array([0.0, 0.0, -self.peg_slip])  # held point in the peg frame
        err = float((held - (np.asarray(pos) + r_peg @ child)) @ axis)  # < 0: peg pushed up
        if abs(err) > float(self.g["grasp_slip_distance"]):
            cap = float(self.g["grasp_max_slip"])
            new = float(np.clip(self.peg_slip - err, -cap, cap))
            if new != self.peg_slip:
                self.peg_slip = new
                p.changeConstraint(self._grasp_cid, jointChildPivot=[0.0, 0.0, -new],
                                   maxForce=float(self.g["grasp_max_force"]))

    def _remove_episode_objects(self) -> None:
        if self._grasp_cid is not None:
            self.bullet.removeConstraint(self._grasp_cid)
            self._grasp_cid = None

    def peg_tip(self) -> np.ndarray:
        """World position (m) of the centre of the peg's bottom face."""
        p = self.bullet
        pos, orn = p.getBasePositionAndOrientation(self.peg)
        rot = np.array(p.getMatrixFromQuaternion(orn)).reshape(3, 3)
        return np.asarray(pos) - rot[:, 2] * self.g["peg_length"] / 2

    def _is_success(self) -> bool:
        tip = self.peg_tip()
        lateral = float(np.hypot(*(tip[:2] - self._target[:2])))
        depth = self.g["board_top"] - tip[2]
        return lateral < self.g["hole_diameter"] / 2 and depth >= self.g["success_depth"]

    def _goal_tip(self) -> np.ndarray:
        return np.array([self._target[0], self._target[1],
                         self.g["board_top"] - self.g["goal_depth"]])

    def _shaping(self, tcp: np.ndarray) -> float:
        return -float(np.linalg.norm(self.peg_tip() - self._goal_tip()))

    @staticmethod
    def sensor_spaces(cfg: dict) -> dict:
        s = int(cfg["sensor"]["size"])
        return {"tactile": spaces.Box(0, 255, shape=(2, s, s), dtype=np.uint8)}

    def _sensor_obs(self) -> dict:
        self.render_world.sync()
        return {"tactile": self.tactile.images(*self.grasp_load())}

    def grasp_load(self) -> tuple[np.ndarray, np.ndarray]:
        """Force (N) and torque (N m) the grasp carries: the grasp constraint's reaction as
        PyBullet reports it (``getConstraintState``; its axes are fixed to the held gripper,
        whose orientation is held, so they are the held-orientation frame up to signs); zeros
        without a grasp. The peg's weight is in it (about 2 N along z)."""
        if self._grasp_cid is None:
            return np.zeros(3), np.zeros(3)
        state = np.asarray(self.bullet.getConstraintState(self._grasp_cid), dtype=float)
        return state[:3], state[3:6]

    def _task_info(self) -> dict:
        tip = self.peg_tip()
        return {"peg_tip": tip, "peg_depth": float(self.g["board_top"] - tip[2]),
                "peg_slip": self.peg_slip}
