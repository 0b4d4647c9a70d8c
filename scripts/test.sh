#!/usr/bin/env bash
# The test command: set up .venv, then run the test suite (2 CPU cores, no GPU, no ROS install).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup_venv.sh"
# The ROS 2 launch tests build the package with colcon and start it with `ros2 launch`, as a ROS
# user does. On a machine without a ROS install, the launch tooling kit (the real launch,
# launch_ros, ros2cli sources and colcon; SACGMM_ROS2_TOOLING, default ../shared/ros2-tooling)
# adds them to .venv once (its log: .venv/ros2-tooling.log). Without them those tests fail,
# naming what is missing.
tooling="${SACGMM_ROS2_TOOLING:-$root/../shared/ros2-tooling}"
if [ -f "$tooling/install.sh" ]; then
    bash "$tooling/install.sh" "$root/.venv" > "$root/.venv/ros2-tooling.log" 2>&1 \
        || { cat "$root/.venv/ros2-tooling.log" >&2; exit 1; }
fi
cd "$root"
exec "$root/.venv/bin/python" -m pytest -q "$@"
