"""Serial-chain kinematics read from a URDF: forward kinematics, the geometric Jacobian, and
damped-least-squares (DLS) Cartesian -> joint velocities with joint position/velocity limits.

numpy and scipy (plus ``xml.etree``): no ROS, no PyBullet.

Model
-----
The chain runs from ``base_link`` to ``tip_link`` of a URDF (``<joint>`` origins ``xyz``/``rpy``,
``axis``, ``<limit lower upper velocity>``); fixed joints are folded into the transforms,
revolute / continuous / prismatic joints are actuated, in chain order. A *tool* transform
(translation ``tool_xyz`` m and ``tool_rpy`` rad, in the tip link's frame) gives the TCP; a
*base* transform (``base_xyz``, ``base_rpy``) places the base link in the world frame. All
poses are world frame, metres; joint values rad (m for prismatic joints).

Default robot: ``pybullet_data/kuka_iiwa/model.urdf`` (``lbr_iiwa_joint_1..7``). Its joint
offsets are those of the **LBR iiwa 14 R820** (0.36 m base-to-A2, 0.42 m A2-to-A4,
0.40 m A4-to-A6, 0.081 m A6-to-link-7 origin; the iiwa 7 R800 has 0.34 / 0.40 / 0.40), i.e.
the same kinematics as ICube-Robotics' ``iiwa_description`` iiwa14 model, whose ``tool0``
(flange) lies 0.045 m further along link 7's z axis. Any URDF can be dropped in (e.g.
``xacro iiwa_description/config/iiwa.config.xacro > iiwa14.urdf``) with ``base_link`` /
``tip_link`` naming the chain.

Jacobian rows are ``[v (3, m/s); omega (3, rad/s)]`` of the TCP in the world frame.
"""
from __future__ import annotations

import functools
import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

ACTUATED = ("revolute", "continuous", "prismatic")


def default_urdf() -> str:
    """Path of ``kuka_iiwa/model.urdf`` shipped with ``pybullet_data`` (needs pybullet)."""
    import pybullet_data
    return os.path.join(pybullet_data.getDataPath(), "kuka_iiwa", "model.urdf")


# -- small rotation helpers -------------------------------------------------------------
def rpy_matrix(rpy) -> np.ndarray:
    """URDF roll-pitch-yaw (fixed axes x, y, z; rad) -> 3x3 rotation ``Rz(y) Ry(p) Rx(r)``."""
    return Rotation.from_euler("xyz", np.asarray(rpy, dtype=float)).as_matrix()


def transform(xyz=(0.0, 0.0, 0.0), rpy=(0.0, 0.0, 0.0)) -> np.ndarray:
    t = np.eye(4)
    t[:3, :3] = rpy_matrix(rpy)
    t[:3, 3] = np.asarray(xyz, dtype=float)
    return t


def rotation_error(r_ref: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Rotation vector (world frame, rad) that rotates ``r`` onto ``r_ref`` (``log(r_ref r^T)``)."""
    return Rotation.from_matrix(np.asarray(r_ref) @ np.asarray(r).T).as_rotvec()


# -- chain ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Joint:
    """An actuated joint: ``origin`` (4x4, parent link -> joint frame, fixed joints before it
    folded in), unit ``axis`` in the joint frame, limits (rad or m, rad/s or m/s)."""

    name: str
    type: str
    origin: np.ndarray
    axis: np.ndarray
    lower: float
    upper: float
    velocity: float


@dataclass
class KinematicChain:
    """See the module docstring. ``joints`` are the actuated joints in chain order; ``tip``
    is the fixed transform from the last actuated joint to the tip link, ``tool`` the TCP in
    the tip link, ``base`` the base link in the world."""

    joints: list[Joint]
    tip: np.ndarray = field(default_factory=lambda: np.eye(4))
    tool: np.ndarray = field(default_factory=lambda: np.eye(4))
    base: np.ndarray = field(default_factory=lambda: np.eye(4))
    base_link: str = ""
    tip_link: str = ""

    # -- construction ---------------------------------------------------------------
    @classmethod
    def from_urdf(cls, path: str = "", base_link: str = "", tip_link: str = "",
                  tool_xyz=(0.0, 0.0, 0.0), tool_rpy=(0.0, 0.0, 0.0),
                  base_xyz=(0.0, 0.0, 0.0), base_rpy=(0.0, 0.0, 0.0)) -> "KinematicChain":
        """Read the chain ``base_link -> tip_link`` of the URDF at ``path`` (empty: the
        pybullet_data iiwa). Empty link names: the URDF's root link / its only leaf link.
        Raises ``ValueError`` naming the problem."""
        path = path or default_urdf()
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as exc:
            raise ValueError(f"cannot read URDF {path}: {exc}") from None
        links = [l.get("name") for l in root.findall("link")]
        by_child: dict[str, ET.Element] = {}
        parents = set()
        for j in root.findall("joint"):
            parent, child = j.find("parent").get("link"), j.find("child").get("link")
            by_child[child] = j
            parents.add(parent)
        roots = [l for l in links if l not in by_child]
        leaves = [l for l in links if l not in parents]
        if not base_link:
            if len(roots) != 1:
                raise ValueError(f"{path}: {len(roots)} root links {roots}; set base_link")
            base_link = roots[0]
        if not tip_link:
            if len(leaves) != 1:
                raise ValueError(f"{path}: several leaf links {leaves}; set tip_link")
            tip_link = leaves[0]
        for name in (base_link, tip_link):
            if name not in links:
                raise ValueError(f"{path}: no link {name!r} (links: {links})")
        chain: list[ET.Element] = []
        link = tip_link
        while link != base_link:
            if link not in by_child:
                raise ValueError(f"{path}: {tip_link!r} is not below {base_link!r}")
            j = by_child[link]
            chain.append(j)
            link = j.find("parent").get("link")
        chain.reverse()
        joints: list[Joint] = []
        pending = np.eye(4)                 # fixed transforms since the last actuated joint
        for j in chain:
            o = j.find("origin")
            xyz = [float(v) for v in (o.get("xyz", "0 0 0").split() if o is not None else [0, 0, 0])]
            rpy = [float(v) for v in (o.get("rpy", "0 0 0").split() if o is not None else [0, 0, 0])]
            t = pending @ transform(xyz, rpy)
            jtype = j.get("type")
            if jtype not in ACTUATED:
                if jtype != "fixed":
                    raise ValueError(f"{path}: joint {j.get('name')!r} of type {jtype} unsupported")
                pending = t
                continue
            a = j.find("axis")
            axis = np.array([float(v) for v in (a.get("xyz").split() if a is not None else [1, 0, 0])])
            axis = axis / np.linalg.norm(axis)
            lim = j.find("limit")
            lo, hi, vel = -math.inf, math.inf, math.inf
            if lim is not None:
                if jtype != "continuous":
                    lo, hi = float(lim.get("lower", "-inf")), float(lim.get("upper", "inf"))
                vel = float(lim.get("velocity", "inf"))
            joints.append(Joint(j.get("name"), jtype, t, axis, lo, hi, vel))
            pending = np.eye(4)
        if not joints:
            raise ValueError(f"{path}: no actuated joint between {base_link!r} and {tip_link!r}")
        return cls(joints, pending, transform(tool_xyz, tool_rpy), transform(base_xyz, base_rpy),
                   base_link, tip_link)

    # -- properties -----------------------------------------------------------------
    @property
    def n(self) -> int:
        return len(self.joints)

    @property
    def names(self) -> list[str]:
        return [j.name for j in self.joints]

    @property
    def lower(self) -> np.ndarray:
        return np.array([j.lower for j in self.joints])

    @property
    def upper(self) -> np.ndarray:
        return np.array([j.upper for j in self.joints])

    @property
    def velocity_limits(self) -> np.ndarray:
        return np.array([j.velocity for j in self.joints])

    @functools.cached_property
    def _axes(self) -> np.ndarray:
        """(n, 3) unit joint axes, each in its joint frame."""
        return np.array([j.axis for j in self.joints], dtype=float)

    # -- kinematics -----------------------------------------------------------------
    def _check(self, q) -> np.ndarray:
        q = np.asarray(q, dtype=float).ravel()
        if q.size != self.n:
            raise ValueError(f"expected {self.n} joint values, got {q.size}")
        return q

    def _walk(self, q: np.ndarray):
        """World transforms of each actuated joint frame (before its motion) and the TCP."""
        t = self.base.copy()
        frames = []
        # every joint's rotation by q_i (rad) about its unit axis, in one call
        rotations = Rotation.from_rotvec(self._axes * q[:, None]).as_matrix()
        for j, qi, rot in zip(self.joints, q, rotations):
            t = t @ j.origin
            frames.append(t)
            m = np.eye(4)
            if j.type == "prismatic":
                m[:3, 3] = j.axis * qi
            else:
                m[:3, :3] = rot
            t = t @ m
        return frames, t @ self.tip @ self.tool

    def fk(self, q) -> np.ndarray:
        """4x4 world pose of the TCP for joint values ``q``."""
        return self._walk(self._check(q))[1]

    def tip_pose(self, q) -> np.ndarray:
        """4x4 world pose of the tip link (no tool transform)."""
        frames, tcp = self._walk(self._check(q))
        return tcp @ np.linalg.inv(self.tool)

    def jacobian(self, q) -> np.ndarray:
        """(6, n) geometric Jacobian of the TCP, world frame: rows v (m/s), omega (rad/s)."""
        frames, tcp = self._walk(self._check(q))
        p = tcp[:3, 3]
        jac = np.zeros((6, self.n))
        for i, (j, f) in enumerate(zip(self.joints, frames)):
            z = f[:3, :3] @ j.axis
            if j.type == "prismatic":
                jac[:3, i] = z
            else:
                jac[:3, i] = np.cross(z, p - f[:3, 3])
                jac[3:, i] = z
        return jac


# -- damped least squares with limits ---------------------------------------------------
def dls_joint_velocities(jac: np.ndarray, xdot: np.ndarray, q: np.ndarray, lower: np.ndarray,
                         upper: np.ndarray, qdot_max: np.ndarray, dt: float,
                         damping: float = 0.02, margin: float = 0.05) -> np.ndarray:
    """Joint velocities realising the task velocity ``xdot`` (rows of ``jac``) as closely as the
    limits allow.

    ``qdot = J^T (J J^T + damping^2 I)^-1 xdot``. Position limits: within one period ``dt`` no
    joint may move past ``[lower + margin, upper - margin]``; a joint that would is clamped at
    that bound and the task is re-solved with the remaining joints (joints already beyond the
    margin may stay or move back, never further out). Velocity limits ``qdot_max``: the whole
    vector is scaled down uniformly (the Cartesian direction is kept). Non-finite input gives
    zero velocities; the result is always finite and inside both limits.
    """
    n = jac.shape[1]
    q = np.asarray(q, dtype=float)
    qdot_max = np.minimum(np.asarray(qdot_max, dtype=float), 1e6)
    if not (np.isfinite(jac).all() and np.isfinite(xdot).all() and np.isfinite(q).all()
            and dt > 0 and np.all(qdot_max >= 0)):
        return np.zeros(n)
    pos_hi = np.maximum((upper - margin - q) / dt, 0.0)    # may stay, never further out
    pos_lo = np.minimum((lower + margin - q) / dt, 0.0)
    qdot = np.zeros(n)
    free = np.ones(n, dtype=bool)
    lam2 = damping * damping
    for _ in range(n):
        ja = jac[:, free]
        rest = xdot - jac[:, ~free] @ qdot[~free]
        a = ja @ ja.T + lam2 * np.eye(jac.shape[0])
        qdot[free] = ja.T @ np.linalg.solve(a, rest)
        over = free & ((qdot > pos_hi) | (qdot < pos_lo))
        if not over.any():
            break
        qdot[over] = np.clip(qdot[over], pos_lo[over], pos_hi[over])
        free &= ~over
        if not free.any():
            break
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(np.abs(qdot) > 1e-12, qdot_max / np.abs(qdot), np.inf)
    scale = min(1.0, float(np.min(ratio))) if ratio.size else 1.0
    qdot *= scale
    qdot = np.clip(qdot, np.maximum(pos_lo, -qdot_max), np.minimum(pos_hi, qdot_max))
    return np.where(np.isfinite(qdot), qdot, 0.0)
