"""Real-robot support without ROS: URDF kinematics and DLS (:mod:`.kinematics`), the Cartesian
velocity bridge with its safety limits and episode state machine (:mod:`.bridge`), the
crash-safe episode log (:mod:`.episodes`) and demonstration resampling (:mod:`.recording`).

Only numpy and scipy (and pybullet_data for the default URDF path); the ROS shells live in
:mod:`sacgmm.ros` (``iiwa_bridge``, ``iiwa_sim_driver``, ``demo_recorder``).
"""
