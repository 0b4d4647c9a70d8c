"""Builds a ``launch.LaunchDescription`` from a graph of :mod:`sacgmm.ros.graphs`.

Used by ``launch/<graph>.launch.py`` on a ROS 2 install (``ros2 launch sacgmm sim_peg.launch.py
skill:=...``). Node actions are created at launch time by an ``OpaqueFunction`` with the same
rules as ``sacgmm bringup`` (:func:`sacgmm.ros.graphs.active_nodes`,
:func:`~sacgmm.ros.graphs.node_overrides`), so both start exactly the same graph.
"""
from __future__ import annotations

from sacgmm.ros.graphs import PACKAGE, active_nodes, get_graph, node_overrides


def generate(graph_name: str):
    """The LaunchDescription of ``graph_name`` (imports launch / launch_ros)."""
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.conditions import IfCondition
    from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
    from launch_ros.actions import Node
    from launch_ros.substitutions import FindPackageShare

    graph = get_graph(graph_name)
    share = FindPackageShare(PACKAGE)
    params_file = PathJoinSubstitution([share, "config", graph.params_file])
    actions = []
    for a in graph.arguments:
        kwargs = {"default_value": a.default, "description": a.description}
        if a.choices:
            kwargs["choices"] = list(a.choices)
        actions.append(DeclareLaunchArgument(a.name, **kwargs))

    def make_nodes(context, *args, **kwargs):
        values = graph.resolve_args({a.name: LaunchConfiguration(a.name).perform(context)
                                     for a in graph.arguments})
        return [Node(package=PACKAGE, executable=spec.executable, name=spec.name,
                     output="screen", parameters=[params_file, node_overrides(spec, values)],
                     remappings=list(spec.remappings))
                for spec in active_nodes(graph, values)]

    actions.append(OpaqueFunction(function=make_nodes))
    actions.append(Node(package="rviz2", executable="rviz2", name="rviz2", output="screen",
                        arguments=["-d", PathJoinSubstitution([share, "rviz", "sacgmm.rviz"])],
                        condition=IfCondition(LaunchConfiguration("rviz"))))
    return LaunchDescription(actions)
