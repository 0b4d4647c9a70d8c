"""A small known skill shared by the controller and ROS node tests."""
from __future__ import annotations

import numpy as np

from sacgmm.skill.model import GMMSkill, _joint_from_linear


def make_skill(gain: float = 3.0) -> GMMSkill:
    """A SEDS-stable 3-D skill (x_dot = -g_k x with g_k = gain, 2 gain, 3 gain; metres)."""
    mu = np.array([[0.0, 0.0, 0.02], [0.03, 0.0, 0.1], [-0.03, 0.02, 0.18]])
    means, covs = _joint_from_linear(mu, np.stack([np.eye(3) * 0.002] * 3),
                                     np.stack([-gain * k * np.eye(3) for k in (1, 2, 3)]),
                                     np.stack([np.eye(3) * 1e-4] * 3))
    return GMMSkill(np.ones(3) / 3, means, covs)


def door_skill() -> GMMSkill:
    """Down onto the bar, then along the chord of the handle's arc (target frame, m): a
    component above the handle that falls fast and moves little sideways, and one near the
    handle's height that pulls towards the target."""
    a = -np.stack([np.diag([0.01, 0.01, 6.0]), np.diag([0.3, 0.3, 6.0])])
    mu = np.array([[0.17, -0.125, 0.1], [0.08, -0.06, 0.0]])
    sxx = np.stack([np.diag([0.05 ** 2, 0.05 ** 2, 0.03 ** 2])] * 2)
    means, covs = _joint_from_linear(mu, sxx, a, np.stack([np.eye(3) * 1e-4] * 2))
    return GMMSkill(np.ones(2) / 2, means, covs)
