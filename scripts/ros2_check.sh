#!/usr/bin/env bash
# The README's ROS 2 commands, run once and recorded: builds this repository in a fresh colcon
# workspace (ws/src/sacgmm), starts `ros2 launch sacgmm GRAPH.launch.py` with no arguments and
# runs, from outside, `ros2 node list`, `ros2 topic hz`, `ros2 param get` and the two services,
# then stops the launch with SIGINT. The transcript goes to stdout (and to OUT if given).
# Needs `ros2` and `colcon` on PATH and the ROS underlay on AMENT_PREFIX_PATH: a sourced ROS 2
# install, or this repository's .venv after scripts/test.sh (which adds the launch tooling):
#   source .venv/bin/activate && AMENT_PREFIX_PATH=$VIRTUAL_ENV bash scripts/ros2_check.sh sim_peg results/ros2_check_sim_peg.txt
set -euo pipefail
graph="${1:-sim_peg}"
out="${2:-/dev/null}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ws="$(mktemp -d)"
launch_pid=""
trap '[ -n "$launch_pid" ] && kill -INT "$launch_pid" 2>/dev/null && wait "$launch_pid"; rm -rf "$ws"' EXIT
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-42}" ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export ROS_HOME="$ws/ros_home" RCUTILS_COLORIZED_OUTPUT=0
topics="/sacgmm/cmd_vel /sacgmm/delta_theta /sacgmm/markers"
exec > >(tee "$out")
{
    echo "# scripts/ros2_check.sh $graph ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(uname -srm), $(nproc) cores)"
    mkdir -p "$ws/ws/src/sacgmm"
    git -C "$root" ls-files -z | grep -zv '^results/' \
        | (cd "$root" && xargs -0 cp --parents -t "$ws/ws/src/sacgmm")
    cd "$ws/ws"
    echo '$ colcon build'
    colcon build 2>&1 | tail -n 2
    set +u      # colcon's setup scripts read unset variables
    # shellcheck disable=SC1091
    source install/setup.bash
    set -u
    echo "\$ ros2 launch sacgmm $graph.launch.py &"
    set -m      # a job of its own: a script's background jobs would ignore SIGINT
    ros2 launch sacgmm "$graph.launch.py" > "$ws/launch.log" 2>&1 &
    launch_pid=$!
    set +m
    for _ in $(seq 120); do grep -q "control active" "$ws/launch.log" && break; sleep 1; done
    grep -m1 "default demonstrated skill" "$ws/launch.log" || true
    echo '$ ros2 node list --no-daemon --spin-time 3'
    ros2 node list --no-daemon --spin-time 3
    echo "\$ ros2 topic hz $topics   (8 s, then Ctrl-C)"
    # shellcheck disable=SC2086
    timeout -s INT 8 ros2 topic hz $topics | awk 'BEGIN{RS=""} {last=$0} END{print last}' || true
    echo '$ ros2 param get --no-daemon --spin-time 3 /gmm_controller window_steps'
    ros2 param get --no-daemon --spin-time 3 /gmm_controller window_steps
    for srv in save_policy reset_episode; do
        echo "\$ ros2 service call /sacgmm/$srv std_srvs/srv/Trigger"
        ros2 service call "/sacgmm/$srv" std_srvs/srv/Trigger | grep "Response("
    done
    echo '$ kill -INT <ros2 launch>'
    kill -INT "$launch_pid"
    status=0
    wait "$launch_pid" || status=$?
    launch_pid=""
    echo "ros2 launch exited with status $status"
    left=$(pgrep -f "$ws/ws/install" || true)
    echo "processes left: ${left:-none}"
}
