"""The node graphs of sacgmm: one definition per graph, read by ``launch/*.launch.py`` (through
:mod:`sacgmm.ros.launch_support`) and by ``sacgmm bringup`` (:mod:`sacgmm.cli.bringup`).

A graph lists its launch arguments and its nodes. Each node has a name (also the section of
the graph's parameter file ``config/<graph>.yaml`` it reads), an executable (console script in
``lib/sacgmm``, equal to its module ``sacgmm.ros.<executable>``), topic remappings, fixed
parameter overrides, parameters taken from launch arguments (empty values are not passed, so
the parameter file's value stays), and an optional condition on a boolean argument
(``"use_sim"`` or ``"!use_sim"``).

This module imports no ROS package (the launch files and the CLI both import it).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "sacgmm"


@dataclass(frozen=True)
class Argument:
    """A launch argument (``name:=value``); ``choices`` empty means free text."""

    name: str
    default: str
    description: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeSpec:
    name: str
    executable: str
    remappings: tuple[tuple[str, str], ...] = ()
    parameters: tuple[tuple[str, object], ...] = ()       # fixed overrides (after the file)
    arg_parameters: tuple[tuple[str, str], ...] = ()      # (launch argument, parameter)
    condition: str | None = None                          # "arg" or "!arg" (boolean argument)

    @property
    def module(self) -> str:
        return f"{PACKAGE}.ros.{self.executable}"

    def enabled(self, args: dict[str, str]) -> bool:
        if self.condition is None:
            return True
        neg = self.condition.startswith("!")
        value = args[self.condition.lstrip("!")].lower() == "true"
        return value != neg


@dataclass(frozen=True)
class Graph:
    name: str
    description: str
    params_file: str                                      # file name in config/
    arguments: tuple[Argument, ...]
    nodes: tuple[NodeSpec, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def resolve_args(self, given: dict[str, str]) -> dict[str, str]:
        """Defaults updated by ``given``; ``ValueError`` for an unknown name or a bad choice."""
        known = {a.name: a for a in self.arguments}
        for k, v in given.items():
            if k not in known:
                raise ValueError(f"graph {self.name}: unknown argument {k!r}; valid: "
                                 f"{', '.join(known)}")
            if known[k].choices and v not in known[k].choices:
                raise ValueError(f"graph {self.name}: argument {k}:={v} is not one of "
                                 f"{', '.join(known[k].choices)}")
        out = {a.name: a.default for a in self.arguments}
        out.update(given)
        return out


def _common_args(use_sim_choices: tuple[str, ...], use_sim_default: str = "true") -> tuple[Argument, ...]:
    return (
        Argument("use_sim", use_sim_default, "run the PyBullet simulator (sim_bridge) instead "
                 "of a real robot", use_sim_choices),
        Argument("rviz", "false", "start rviz2 with share/sacgmm/rviz/sacgmm.rviz", ("true", "false")),
        Argument("mode", "eval", "sac_refiner: train (refine online) or eval (act only, "
                 "deterministic policy)", ("train", "eval")),
        Argument("skill", "", "skill YAML for gmm_controller (empty: the parameter file's)"),
        Argument("policy", "", "SAC checkpoint for sac_refiner and camera_encoder (empty: the "
                 "parameter file's)"),
        Argument("control_mode", "lockstep", "gmm_controller loop: lockstep with the sim or "
                 "timer (real time)", ("lockstep", "timer")),
        Argument("sim_mode", "lockstep", "sim_bridge stepping", ("lockstep", "realtime")),
    )


_CONTROLLER = NodeSpec("gmm_controller", "gmm_controller",
                       arg_parameters=(("skill", "skill_path"), ("control_mode", "control_mode")))
_REFINER = NodeSpec("sac_refiner", "sac_refiner",
                     arg_parameters=(("mode", "mode"), ("skill", "skill_path"),
                                     ("policy", "policy_path")))
_ENCODER = NodeSpec("camera_encoder", "camera_encoder", arg_parameters=(("policy", "policy_path"),))
_BRIDGE = NodeSpec("sim_bridge", "sim_bridge", arg_parameters=(("sim_mode", "mode"),),
                   condition="use_sim")

# real-robot arguments of door_opening (empty: the parameter file's value stays)
_REAL_ARGS = (
    Argument("wrist_image_topic", "", "use_sim:=false: wrist (gripper) camera image for "
             "camera_encoder/sac_refiner, resized to the policy's 64x64 (default "
             "/wrist_camera/image_raw)"),
    Argument("door_image_topic", "", "use_sim:=false: door camera image for the ArUco reward "
             "(default /door_camera/image_raw)"),
    Argument("door_camera_info_topic", "", "use_sim:=false: door camera CameraInfo (default "
             "/door_camera/camera_info)"),
    Argument("target", "", "use_sim:=false: fixed door-handle position '[x, y, z]' (m, world) "
             "published by iiwa_bridge on /sacgmm/target_pose"),
    Argument("episode_log", "", "use_sim:=false: iiwa_bridge's JSON-lines episode log"),
    Argument("sim_driver", "false", "use_sim:=false: also start iiwa_sim_driver, the PyBullet "
             "stand-in for the iiwa_ros2 driver (CI, dry runs)", ("true", "false")),
)

GRAPHS: dict[str, Graph] = {
    "sim_peg": Graph(
        "sim_peg", "peg insertion in simulation: sim_bridge (tactile images), gmm_controller, "
        "camera_encoder, sac_refiner", "sim_peg.yaml", _common_args(("true",)),
        (_BRIDGE, _CONTROLLER, _ENCODER, _REFINER)),
    "sim_lever": Graph(
        "sim_lever", "power-lever sliding in simulation: sim_bridge (static depth camera), "
        "gmm_controller, camera_encoder, sac_refiner", "sim_lever.yaml", _common_args(("true",)),
        (_BRIDGE, _CONTROLLER, _ENCODER, _REFINER)),
    "door_opening": Graph(
        "door_opening", "door opening: gripper RGB camera -> camera_encoder, ArUco marker on "
        "the door -> aruco_reward_detector; simulated (use_sim:=true) or a real KUKA iiwa "
        "(use_sim:=false: iiwa_bridge to the iiwa_ros2 velocity_controller)", "door_opening.yaml",
        _common_args(("true", "false")) + _REAL_ARGS,
        (
            # in simulation the detector is the reward source; the simulator's own success
            # (ground truth) stays visible on /sacgmm/sim/*
            NodeSpec("sim_bridge", "sim_bridge", condition="use_sim",
                     arg_parameters=(("sim_mode", "mode"),),
                     remappings=(("/sacgmm/reward", "/sacgmm/sim/reward"),
                                 ("/sacgmm/success", "/sacgmm/sim/success"))),
            NodeSpec("aruco_reward_detector", "aruco_reward_detector", condition="use_sim"),
            NodeSpec("aruco_reward_detector", "aruco_reward_detector", condition="!use_sim",
                     parameters=(("image_topic", "/door_camera/image_raw"),
                                 ("camera_info_topic", "/door_camera/camera_info")),
                     arg_parameters=(("door_image_topic", "image_topic"),
                                     ("door_camera_info_topic", "camera_info_topic"))),
            _CONTROLLER,
            NodeSpec("camera_encoder", "camera_encoder", arg_parameters=(("policy", "policy_path"),),
                     condition="use_sim"),
            NodeSpec("camera_encoder", "camera_encoder", condition="!use_sim",
                     arg_parameters=(("policy", "policy_path"), ("wrist_image_topic", "image_topic")),
                     parameters=(("image_topic", "/wrist_camera/image_raw"),)),
            # the real robot: the user runs the iiwa_ros2 driver (or sim_driver:=true) and the
            # camera drivers beside this graph (README, "On the real robot")
            NodeSpec("iiwa_bridge", "iiwa_bridge", condition="!use_sim",
                     arg_parameters=(("target", "target_position"),
                                     ("episode_log", "episode_log"))),
            NodeSpec("iiwa_sim_driver", "iiwa_sim_driver", condition="sim_driver"),
            NodeSpec("sac_refiner", "sac_refiner", condition="use_sim",
                     arg_parameters=_REFINER.arg_parameters),
            # the refiner reads the same wrist camera as camera_encoder
            NodeSpec("sac_refiner", "sac_refiner", condition="!use_sim",
                     arg_parameters=_REFINER.arg_parameters + (("wrist_image_topic",
                                                                "image_topic"),),
                     parameters=(("image_topic", "/wrist_camera/image_raw"),
                                 ("update_order", "act_then_update"))),
        )),
}


def get_graph(name: str) -> Graph:
    if name not in GRAPHS:
        raise ValueError(f"unknown graph {name!r}; valid: {', '.join(GRAPHS)}")
    return GRAPHS[name]


def share_dirs() -> list[Path]:
    """Candidate ``share/sacgmm``-like roots: the source checkout, then installed prefixes."""
    here = Path(__file__).resolve()
    out = [here.parents[4]]                                  # repository top level
    for prefix in [sys.prefix, *os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)]:
        if prefix:
            out.append(Path(prefix) / "share" / PACKAGE)
    return out


def find_share_file(*parts: str) -> Path:
    """``config/<file>`` or ``rviz/<file>`` from the checkout or an install; FileNotFoundError."""
    tried = []
    for root in share_dirs():
        p = root.joinpath(*parts)
        if p.is_file():
            return p
        tried.append(str(p))
    raise FileNotFoundError(f"{'/'.join(parts)} not found (looked in: {', '.join(tried)})")


def node_overrides(spec: NodeSpec, args: dict[str, str]) -> dict[str, object]:
    """Parameters given to ``spec`` after the parameter file: its fixed overrides and the
    non-empty launch arguments it reads (``args`` as returned by :meth:`Graph.resolve_args`)."""
    out: dict[str, object] = dict(spec.parameters)
    for arg, param in spec.arg_parameters:
        if args.get(arg, ""):
            out[param] = args[arg]
    return out


def active_nodes(graph: Graph, args: dict[str, str]) -> list[NodeSpec]:
    """The nodes of ``graph`` whose condition holds for the resolved ``args``."""
    return [n for n in graph.nodes if n.enabled(args)]
