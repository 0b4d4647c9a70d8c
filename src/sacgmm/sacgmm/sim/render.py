"""A light rendering mirror of the physics world, for fast sensor images.

PyBullet's CPU renderer spends most of its time on the iiwa's detailed meshes (about 7 ms per
64x64 image) and on the textured ground plane. Sensor images are therefore rendered in a second
PyBullet client that holds low-polygon stand-ins: each arm link is a cylinder from its joint to
the next, the gripper a box, the fingers thin boxes, the ground a flat box; the task objects
are built a second time from the same primitives (and textures) as in the physics world. Before
each image the poses of the arm links and the base poses and joint positions of the tracked
task bodies are copied over, so the images show the current physical state. Videos
(``env.render()``) use the full-detail physics world instead.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from sacgmm.sim.robot import GRIPPER_LINK, LEFT_TIP, RIGHT_TIP, connect_direct


class RenderWorld:
    def __init__(self, physics: Any, robot):
        self.phys = physics
        self.robot = robot
        self.p = connect_direct()
        p = self.p
        floor = p.createVisualShape(p.GEOM_BOX, halfExtents=[2, 2, 0.005],
                                    rgbaColor=[0.85, 0.85, 0.8, 1])
        p.createMultiBody(0, -1, floor, basePosition=[0, 0, -0.005])
        self._links: list[tuple[int, int, np.ndarray | None]] = []  # (proxy, link, offset)
        grey, orange = [0.9, 0.55, 0.1, 1], [0.3, 0.3, 0.3, 1]
        uid = robot.uid
        states = physics.getLinkStates(uid, list(range(GRIPPER_LINK + 1)),
                                       computeForwardKinematics=True)
        # arm: a cylinder per link from its frame origin to the next link's origin
        for i in range(GRIPPER_LINK):
            a = np.asarray(states[i][4])
            b = np.asarray(states[i + 1][4])
            rot = np.array(physics.getMatrixFromQuaternion(states[i][5])).reshape(3, 3)
            local_b = rot.T @ (b - a)
            length = max(float(np.linalg.norm(local_b)), 1e-3)
            z = local_b / length
            # quaternion rotating the cylinder's z axis onto the link's segment direction
            axis = np.cross([0, 0, 1], z)
            s = np.linalg.norm(axis)
            if s < 1e-9:
                q = [0, 0, 0, 1] if z[2] > 0 else [1, 0, 0, 0]
            else:
                ang = np.arctan2(s, z[2])
                q = list(axis / s * np.sin(ang / 2)) + [np.cos(ang / 2)]
            vis = p.createVisualShape(p.GEOM_CYLINDER, radius=0.06, length=length,
                                      rgbaColor=orange if i % 2 else grey,
                                      visualFramePosition=(local_b / 2).tolist(),
                                      visualFrameOrientation=q)
            self._links.append((p.createMultiBody(0, -1, vis), i))
        box = p.createVisualShape(p.GEOM_BOX, halfExtents=[0.04, 0.04, 0.05],
                                  rgbaColor=[0.3, 0.3, 0.3, 1])
        self._links.append((p.createMultiBody(0, -1, box), GRIPPER_LINK))
        for tip in (LEFT_TIP, RIGHT_TIP):
            fv = p.createVisualShape(p.GEOM_BOX, halfExtents=[0.006, 0.012, 0.04],
                                     rgbaColor=[0.2, 0.2, 0.2, 1],
                                     visualFramePosition=[0, 0, -0.02])
            self._links.append((p.createMultiBody(0, -1, fv), tip))
        self._tracked: list[tuple[int, int, int]] = []  # (physics body, proxy, n_joints)

    def track(self, phys_body: int, proxy_body: int) -> None:
        """Mirror ``phys_body`` (physics world) onto ``proxy_body`` (this world) at each sync."""
        self._tracked.append((phys_body, proxy_body, self.phys.getNumJoints(phys_body)))

    def sync(self) -> None:
        """Copy the current poses from the physics world."""
        phys, p = self.phys, self.p
        idx = sorted({l for _, l in self._links})
        states = dict(zip(idx, phys.getLinkStates(self.robot.uid, idx,
                                                  computeForwardKinematics=True)))
        for proxy, link in self._links:
            s = states[link]
            p.resetBasePositionAndOrientation(proxy, s[4], s[5])
        for body, proxy, nj in self._tracked:
            pos, orn = phys.getBasePositionAndOrientation(body)
            p.resetBasePositionAndOrientation(proxy, pos, orn)
            for j in range(nj):
                p.resetJointState(proxy, j, phys.getJointState(body, j)[0])

    def close(self) -> None:
        try:
            self.p.disconnect()
        except Exception:
            pass
