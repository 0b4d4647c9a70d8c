"""``sacgmm bringup GRAPH [key:=value ...]``: start a node graph without ROS launch tooling.

Reads the same graph definition as ``launch/GRAPH.launch.py`` (:mod:`sacgmm.ros.graphs`),
checks its arguments the same way before any node starts
(:func:`sacgmm.ros.graphs.prepare`: files named on the command line, rviz2, the default skill)
and starts every node as a separate process (``python -m sacgmm.ros.<node> --ros-args -r
__node:=<name> --params-file config/GRAPH.yaml -p ... -r ...``), streaming their logs prefixed
with the node name (:mod:`sacgmm.ros.bringup`). The fault policy is launch's: a node marked
``respawn`` in the graph (the refiner, the camera encoder, the reward detector) is started again
:data:`~sacgmm.ros.graphs.RESPAWN_DELAY` s after it exits; any other node that exits is
reported and the rest run on. Everything is shut down (SIGINT, then SIGTERM, then SIGKILL) on
Ctrl-C, SIGTERM, after ``--duration`` seconds, or once every node has exited. Children die with
this process even if it is killed (Linux parent-death signal), so no node is left orphaned.
Exit status: 0 after a requested shutdown, 1 if every node exited by itself, 2 for bad
arguments.
"""
from __future__ import annotations

import sys

from sacgmm.ros.bringup import build_commands, run


def _parse_assignments(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if ":=" not in item:
            raise ValueError(f"expected key:=value, got {item!r}")
        k, v = item.split(":=", 1)
        out[k.strip()] = v
    return out


def _run(args) -> int:
    if args.rest:
        extra = _options_parser().parse_intermixed_args(args.rest)
        args.assignments = list(args.assignments) + extra.assignments
        args.params_file = extra.params_file or args.params_file
        args.duration = extra.duration if extra.duration is not None else args.duration
        args.dry_run = args.dry_run or extra.dry_run
    try:
        assignments = _parse_assignments(args.assignments)
        if args.params_file:
            assignments.setdefault("params_file", args.params_file)
        if args.dry_run:
            for name, argv in build_commands(args.graph, assignments):
                print(f"{name}: {' '.join(argv)}")
            return 0
        return run(args.graph, assignments, args.duration)
    except (ValueError, FileNotFoundError) as exc:
        print(f"sacgmm bringup: error: {exc}", file=sys.stderr)
        return 2


def _options_parser(positional: bool = True):
    import argparse
    p = argparse.ArgumentParser(prog="sacgmm bringup GRAPH", add_help=False)
    if positional:
        p.add_argument("assignments", nargs="*", metavar="key:=value")
    p.add_argument("--params-file", default=None,
                   help="ROS parameter file instead of config/GRAPH.yaml (as params_file:=)")
    p.add_argument("--duration", type=float, default=None,
                   help="shut down after this many seconds (default: run until Ctrl-C)")
    p.add_argument("--dry-run", action="store_true", help="print the node commands and exit")
    return p


def register(subparsers) -> None:
    import argparse

    from sacgmm.ros.graphs import GRAPHS  # no ROS import
    p = subparsers.add_parser("bringup", help="start a ROS 2 node graph without ros2 launch",
                              description=__doc__.split("\n\n")[0],
                              parents=[_options_parser(positional=False)])
    p.add_argument("graph", choices=sorted(GRAPHS))
    p.add_argument("assignments", nargs="*", metavar="key:=value",
                   help="graph arguments as for ros2 launch (use_sim, rviz, mode, skill, "
                        "policy, params_file, control_mode, sim_mode, ...)")
    # options may come after key:=value assignments: re-parsed (intermixed) in _run
    p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=_run)
