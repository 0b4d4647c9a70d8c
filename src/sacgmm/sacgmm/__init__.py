"""sacgmm: robot skills from demonstrations, refined on the robot by reinforcement learning.

Subpackages (pure Python unless stated):

- :mod:`sacgmm.skill` -- demonstrations, the stable GMM dynamical system (the GMM agent).
- :mod:`sacgmm.cli` -- the ``sacgmm`` command-line tool.

Only ``sacgmm.ros`` (later) imports rclpy.
"""

__version__ = "0.1.0"
