"""The simulated KUKA LBR iiwa 7 with its parallel gripper, and the shared PyBullet world.

Frames and units
----------------
* World frame: z up, metres; the robot base stands at ``robot.base_position`` (task YAML).
* TCP (tool centre point): the point between the two fingertip pads. Its offset from the
  gripper base link (link 7) is ``robot.tcp_offset``, given in the world frame for the held
  orientation (gripper pointing straight down) and converted once to the link frame.
* Orientation of the gripper is held at ``robot.gripper_euler`` (rad, world frame).

Control
-------
:meth:`Robot.command` takes a TCP target position (world frame, m); inverse kinematics (PyBullet's
damped-least-squares solver with a null-space pull to the home posture) turns it into joint
targets that are tracked by force-limited joint position motors. The arm is therefore a
dynamic body: it is stopped by contacts (a jammed peg pushes back) instead of being teleported.
"""
from __future__ import annotations

import math
import os
import sys
from typing import Any

import numpy as np

ARM_JOINTS = (0, 1, 2, 3, 4, 5, 6)
GRIPPER_LINK = 7            # gripper base link (end of the arm)
WRIST_JOINT = 7             # gripper_to_arm, held at 0
LEFT_FINGER, RIGHT_FINGER = 8, 11
LEFT_TIP, RIGHT_TIP = 10, 13
FINGER_LINKS = (8, 9, 10, 11, 12, 13)
ROBOT_SDF = "kuka_iiwa/kuka_with_gripper2.sdf"


def connect_direct():
    """A new PyBullet physics server in DIRECT mode (no GUI), wrapped in a ``BulletClient``."""
    import pybullet
    import pybullet_data
    from pybullet_utils import bullet_client

    # the C library prints "argv[0]=" on stdout when connecting, which would corrupt
    # machine-readable output (``sacgmm eval --json``): send it to stderr instead
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        client = bullet_client.BulletClient(connection_mode=pybullet.DIRECT)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    client.setAdditionalSearchPath(pybullet_data.getDataPath())
    return client


class Robot:
    """iiwa + gripper loaded from ``pybullet_data`` (``kuka_iiwa/kuka_with_gripper2.sdf``).

    Parameters come from the ``robot`` section of a task YAML (see ``sacgmm/tasks/``).
    """

    def __init__(self, bullet: Any, cfg: dict):
        self.p = bullet
        self.cfg = cfg
        self.uid = bullet.loadSDF(ROBOT_SDF)[0]
        bullet.resetBasePositionAndOrientation(self.uid, list(cfg["base_position"]), [0, 0, 0, 1])
        self.n_joints = bullet.getNumJoints(self.uid)
        self.movable = [j for j in range(self.n_joints)
                        if bullet.getJointInfo(self.uid, j)[2] != bullet.JOINT_FIXED]
        info = [bullet.getJointInfo(self.uid, j) for j in self.movable]
        # arm joints keep their limits; the wrist and finger joints (some with invalid limits
        # in the model file) are pinned near 0 so that IK only moves the arm
        self.lower = [i[8] if i[0] in ARM_JOINTS else -1e-3 for i in info]
        self.upper = [i[9] if i[0] in ARM_JOINTS else 1e-3 for i in info]
        self.ranges = [u - l for l, u in zip(self.lower, self.upper)]
        self.home = list(cfg["home_posture"]) + [0.0] * (len(self.movable) - len(ARM_JOINTS))
        self.orientation = bullet.getQuaternionFromEuler(list(cfg["gripper_euler"]))
        rot = np.array(bullet.getMatrixFromQuaternion(self.orientation)).reshape(3, 3)
        self.tcp_world_offset = np.asarray(cfg["tcp_offset"], dtype=float)
        self.tcp_local = rot.T @ self.tcp_world_offset
        self.joint_force = float(cfg["joint_force"])
        self.position_gain = float(cfg["position_gain"])
        self.finger_angle = float(cfg.get("finger_angle", 0.2))
        self.ik_iterations = int(cfg.get("ik_iterations", 20))
        # joint indices in the 12-vector that IK returns
        self._arm_idx = [self.movable.index(j) for j in ARM_JOINTS]

    # ----------------------------------------------------------------- state
    def tcp_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """TCP position (world, m) and the gripper link's 3x3 rotation matrix (world)."""
        s = self.p.getLinkState(self.uid, GRIPPER_LINK, computeForwardKinematics=True)
        rot = np.array(self.p.getMatrixFromQuaternion(s[5])).reshape(3, 3)
        return np.asarray(s[4]) + rot @ self.tcp_local, rot

    def tcp_position(self) -> np.ndarray:
        """TCP position in the world frame (m)."""
        return self.tcp_pose()[0]

    def gripper_opening(self) -> float:
        """Distance between the two fingertip links (m): about 0.11 open, 0.05 closed on a handle.

        What a real gripper reports as its width; an agent can tell from it whether it holds.
        """
        a = self.p.getLinkState(self.uid, LEFT_TIP, computeForwardKinematics=True)[4]
        b = self.p.getLinkState(self.uid, RIGHT_TIP, computeForwardKinematics=True)[4]
        return float(np.linalg.norm(np.subtract(a, b)))

    # --------------------------------------------------------------- control
    def _ik(self, tcp_target: np.ndarray) -> list[float]:
        link_target = np.asarray(tcp_target, dtype=float) - self.tcp_world_offset
        # seeded by the current joint state (continuity); PyBullet's null-space variant
        # misbehaves with this model's wrist/finger joints, so plain DLS IK is used
        return self.p.calculateInverseKinematics(
            self.uid, GRIPPER_LINK, link_target.tolist(), self.orientation,
            maxNumIterations=self.ik_iterations, residualThreshold=1e-5)

    def reset_to(self, tcp_target: np.ndarray, finger_angle: float | None = None) -> None:
        """Place the arm (kinematically, zero velocity) so that the TCP is at ``tcp_target``.

        Only used at the start of an episode; IK is iterated from the home posture.
        """
        for j, q in zip(self.movable, self.home):
            self.p.resetJointState(self.uid, j, q)
        for _ in range(4):
            q = self._ik(tcp_target)
            for j, v in zip(ARM_JOINTS, (q[i] for i in self._arm_idx)):
                self.p.resetJointState(self.uid, j, v)
        self.set_fingers(self.finger_angle if finger_angle is None else finger_angle, reset=True)
        self.p.resetJointState(self.uid, WRIST_JOINT, 0.0)
        self.command(tcp_target)

    def command(self, tcp_target: np.ndarray) -> None:
        """Set joint position targets that bring the TCP to ``tcp_target`` (world, m)."""
        q = self._ik(tcp_target)
        self.p.setJointMotorControlArray(
            self.uid, list(ARM_JOINTS), self.p.POSITION_CONTROL,
            targetPositions=[q[i] for i in self._arm_idx],
            forces=[self.joint_force] * len(ARM_JOINTS),
            positionGains=[self.position_gain] * len(ARM_JOINTS))

    def set_fingers(self, angle: float, reset: bool = False) -> None:
        """Open (larger ``angle``, rad) or close the fingers; the wrist joint is held at 0."""
        targets = {WRIST_JOINT: 0.0, LEFT_FINGER: -angle, RIGHT_FINGER: angle,
                   LEFT_TIP: 0.0, RIGHT_TIP: 0.0}
        if reset:
            for j, v in targets.items():
                self.p.resetJointState(self.uid, j, v)
        self.p.setJointMotorControlArray(
            self.uid, list(targets), self.p.POSITION_CONTROL,
            targetPositions=list(targets.values()), forces=[50.0, 20.0, 20.0, 5.0, 5.0])


def link_point_to_com(bullet: Any, body: int, link: int, point, orn=(0, 0, 0, 1)):
    """Express a point (and orientation) given in a link's URDF frame in the link's inertial
    (centre-of-mass) frame, which is what ``createConstraint`` pivots are relative to."""
    info = bullet.getDynamicsInfo(body, link)
    inv_pos, inv_orn = bullet.invertTransform(info[3], info[4])
    pos, q = bullet.multiplyTransforms(inv_pos, inv_orn, list(point), list(orn))
    return list(pos), list(q)


def quat_from_euler(bullet: Any, euler) -> list[float]:
    return list(bullet.getQuaternionFromEuler(list(euler)))


MAX_SHAPE_ARRAY = 16
"""PyBullet (3.2.x, ``MAX_COMPOUND_COLLISION_SHAPES``) keeps at most 16 shapes per
``createCollisionShapeArray`` call and *silently drops the rest*; ``createVisualShapeArray``
crashes on larger arrays. Compound bodies with more boxes are therefore split in chunks."""


def _visual_boxes(bullet: Any, boxes: list[dict], rgba) -> int:
    n = len(boxes)
    # every array must be given: pybullet 3.2.7 crashes on missing ones
    return bullet.createVisualShapeArray(
        shapeTypes=[bullet.GEOM_BOX] * n, halfExtents=[list(b["half"]) for b in boxes],
        radii=[0.0] * n, lengths=[0.0] * n, fileNames=[""] * n, meshScales=[[1, 1, 1]] * n,
        planeNormals=[[0, 0, 1]] * n, flags=[0] * n,
        visualFramePositions=[list(b["pos"]) for b in boxes],
        visualFrameOrientations=[list(bullet.getQuaternionFromEuler([0, 0, b.get("yaw", 0.0)]))
                                 for b in boxes],
        rgbaColors=[list(b.get("rgba", rgba)) for b in boxes])


def _collision_boxes(bullet: Any, boxes: list[dict]) -> int:
    return bullet.createCollisionShapeArray(
        shapeTypes=[bullet.GEOM_BOX] * len(boxes), halfExtents=[list(b["half"]) for b in boxes],
        collisionFramePositions=[list(b["pos"]) for b in boxes],
        collisionFrameOrientations=[list(bullet.getQuaternionFromEuler([0, 0, b.get("yaw", 0.0)]))
                                    for b in boxes])


def create_static_boxes(bullet: Any, boxes: list[dict], position,
                        rgba=(0.6, 0.6, 0.6, 1.0)) -> int:
    """A fixed body made of boxes ``[{half, pos, yaw?, rgba?}]`` (m, rad, body frame).

    Both the collision and the visual shapes are split in chunks of at most
    :data:`MAX_SHAPE_ARRAY` boxes (see there): the first chunk on the base, the others on
    zero-mass child links rigidly fixed to it (link frames coincide with the base frame), so
    every box collides. ``position`` is the base position in the world (m).
    """
    chunks = [boxes[i:i + MAX_SHAPE_ARRAY] for i in range(0, len(boxes), MAX_SHAPE_ARRAY)]
    col = [_collision_boxes(bullet, c) for c in chunks]
    vis = [_visual_boxes(bullet, c, rgba) for c in chunks]
    k = len(vis) - 1
    return bullet.createMultiBody(
        0, col[0], vis[0], basePosition=list(position),
        linkMasses=[0] * k, linkCollisionShapeIndices=col[1:], linkVisualShapeIndices=vis[1:],
        linkPositions=[[0, 0, 0]] * k, linkOrientations=[[0, 0, 0, 1]] * k,
        linkInertialFramePositions=[[0, 0, 0]] * k,
        linkInertialFrameOrientations=[[0, 0, 0, 1]] * k,
        linkParentIndices=[0] * k, linkJointTypes=[bullet.JOINT_FIXED] * k,
        linkJointAxis=[[0, 0, 1]] * k)


def regular_polygon_hole(radius: float, wall: float, depth: float, z_center: float,
                         n_sides: int, outer_half: float, rgba) -> list[dict]:
    """Boxes forming a plate with a polygonal through-hole whose inscribed radius is ``radius``.

    ``n_sides`` wall segments of radial thickness ``wall`` line the hole; four outer boxes fill
    the square plate of half-size ``outer_half``. All sizes in metres, plate centred at the origin
    in x, y and at ``z_center`` in z.
    """
    boxes = []
    seg_half = radius * math.tan(math.pi / n_sides) * 1.08
    for i in range(n_sides):
        a = 2 * math.pi * i / n_sides
        r = radius + wall / 2
        boxes.append({"half": [wall / 2, seg_half + wall * math.tan(math.pi / n_sides), depth / 2],
                      "pos": [r * math.cos(a), r * math.sin(a), z_center], "yaw": a, "rgba": rgba})
    s = radius + 0.8 * wall  # half-side of the square opening, covered by the segments
    w = (outer_half - s) / 2
    boxes += [
        {"half": [w, outer_half, depth / 2], "pos": [s + w, 0, z_center], "rgba": rgba},
        {"half": [w, outer_half, depth / 2], "pos": [-s - w, 0, z_center], "rgba": rgba},
        {"half": [s, w, depth / 2], "pos": [0, s + w, z_center], "rgba": rgba},
        {"half": [s, w, depth / 2], "pos": [0, -s - w, z_center], "rgba": rgba},
    ]
    return boxes
