"""The speed limit of a skill's command, one rule for every controller path.

Each component of the velocity (m/s, world axes) is clipped to ``[-max_speed, max_speed]``:
the rule of the simulated tasks (``control.max_speed`` of ``sacgmm/tasks/*.yaml``), under which
the skills were fitted, the tasks calibrated and the agents trained. The in-process window
environment, ``sacgmm eval``, the via-point look-ahead and the ROS ``gmm_controller`` all apply
it, so a policy runs as it was trained. On a real robot ``iiwa_bridge`` adds its own limit on
the norm (``max_cart_speed``) as the safety layer. (``GMMSkill.rollout(max_speed=...)`` caps
the norm instead: it predicts paths for RViz and the door oracle, it sends no command.)
"""
from __future__ import annotations

import numpy as np


def limit_velocity(velocity, max_speed: float) -> np.ndarray:
    """``velocity`` (``(3,)`` or ``(n, 3)``, m/s) with each component within ``+-max_speed``."""
    return np.clip(np.asarray(velocity, dtype=np.float64), -max_speed, max_speed)
