#!/bin/bash
# source ROS 2 and the sacgmm workspace, then run the command (default: the real-robot graph)
set -e
source /opt/ros/kilted/setup.bash
source /ws/install/setup.bash
exec "$@"
