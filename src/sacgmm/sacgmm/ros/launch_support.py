"""Builds a ``launch.LaunchDescription`` from a graph of :mod:`sacgmm.ros.graphs`.

Used by ``launch/<graph>.launch.py`` on a ROS 2 install (``ros2 launch sacgmm sim_peg.launch.py
skill:=...``). Every action is created at launch time by one ``OpaqueFunction`` with the same
rules as ``sacgmm bringup``: :func:`sacgmm.ros.graphs.prepare` checks the arguments' files (and
rviz2 for ``rviz:=true``) and resolves the default skill *before* any node exists, so a bad
argument stops ``ros2 launch`` with one line naming it and leaves no process behind; then
:func:`~sacgmm.ros.graphs.active_nodes` and :func:`~sacgmm.ros.graphs.node_overrides` give the
nodes, with the graph's respawn policy.
"""
from __future__ import annotations

from sacgmm.ros.graphs import (PACKAGE, RESPAWN_DELAY, active_nodes, find_share_file, get_graph,
                               node_overrides, params_file_path, prepare, rviz_executable)


def _typed(overrides: dict[str, object]) -> dict[str, object]:
    """Launch-argument strings read as YAML, as ``-p name:=value`` reads them (``sacgmm
    bringup``): ``target:=[0.62, 0.05, 0.31]`` is a list of doubles, not a string."""
    import yaml
    return {k: yaml.safe_load(v) if isinstance(v, str) else v for k, v in overrides.items()}


def generate(graph_name: str):
    """The LaunchDescription of ``graph_name`` (imports launch / launch_ros)."""
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    graph = get_graph(graph_name)
    actions = []
    for a in graph.arguments:
        kwargs = {"default_value": a.default, "description": a.description}
        if a.choices:
            kwargs["choices"] = list(a.choices)
        actions.append(DeclareLaunchArgument(a.name, **kwargs))

    def make_nodes(context, *args, **kwargs):
        messages: list[str] = []
        values = prepare(graph, graph.resolve_args(
            {a.name: LaunchConfiguration(a.name).perform(context) for a in graph.arguments}),
            log=messages.append)
        params_file = str(params_file_path(graph, values))
        out = [LogInfo(msg=m) for m in messages]
        out += [Node(package=PACKAGE, executable=spec.executable, name=spec.name,
                     output="screen",
                     parameters=[params_file, _typed(node_overrides(spec, values))],
                     remappings=list(spec.remappings), respawn=spec.respawn,
                     respawn_delay=RESPAWN_DELAY if spec.respawn else None)
                for spec in active_nodes(graph, values)]
        if values["rviz"] == "true":
            out.append(Node(executable=str(rviz_executable()), name="rviz2", output="screen",
                            arguments=["-d", str(find_share_file("rviz", "sacgmm.rviz"))]))
        return out

    actions.append(OpaqueFunction(function=make_nodes))
    return LaunchDescription(actions)
