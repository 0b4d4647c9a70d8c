"""ROS 2 nodes of sacgmm: thin shells around the pure-Python core.

This sub-package is the only part of sacgmm that imports rclpy. Its modules:

- :mod:`sacgmm.ros.graphs`: the node graphs (``sim_peg``, ``sim_lever``, ``door_opening``),
  read by ``launch/*.launch.py`` and by ``sacgmm bringup``. Imports no ROS module.
- :mod:`sacgmm.ros.bringup`: runs a graph's nodes as supervised processes (``sacgmm bringup``,
  ``sacgmm bench-ros``). Imports no ROS module.
- :mod:`sacgmm.ros.bench_controller`: the controller loop benchmark (``sacgmm bench-ros``).
- :mod:`sacgmm.ros.layouts`: the documented layouts of the Float64MultiArray messages
  (window end, delta-theta). Imports no ROS module.
- :mod:`sacgmm.ros.session`: drives a running graph through episodes from outside
  (``sacgmm standin-train``).
- :mod:`sacgmm.ros.health`: perception health on ``/diagnostics`` (cameras, markers).
- :mod:`sacgmm.ros.convert`: numpy <-> message conversions (Image, MarkerArray, Path, ...).
- :mod:`sacgmm.ros.params`: parameter declaration with descriptors and start-up validation.
- one module per node: :mod:`~sacgmm.ros.gmm_controller`, :mod:`~sacgmm.ros.sim_bridge`,
  :mod:`~sacgmm.ros.aruco_reward_detector`, :mod:`~sacgmm.ros.camera_encoder`; each has a
  ``main()`` (console script) and runs with ``python -m sacgmm.ros.<node> --ros-args ...``.

Conventions: positions in metres, velocities in m/s, times in seconds. Poses are published in
the ``world`` frame (parameter ``frame_id``); the skill's target frame has the world's
orientation and its origin at the perceived target (see :mod:`sacgmm.sim.base`).
"""
