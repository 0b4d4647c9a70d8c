"""ros2 launch sacgmm sim_peg.launch.py [use_sim:=...] [rviz:=true|false] [mode:=train|eval]
[skill:=PATH] [policy:=PATH] [control_mode:=lockstep|timer] [sim_mode:=lockstep|realtime]

The graph (nodes, parameter file config/sim_peg.yaml, remappings) is defined once in
sacgmm/ros/graphs.py; `sacgmm bringup sim_peg` starts the same graph without ROS tooling.
"""
from sacgmm.ros.launch_support import generate


def generate_launch_description():
    return generate("sim_peg")
