"""The node graphs of sacgmm: one definition per graph, read by ``launch/*.launch.py`` (through
:mod:`sacgmm.ros.launch_support`) and by ``sacgmm bringup`` (:mod:`sacgmm.cli.bringup`).

A graph lists its launch arguments and its nodes. Each node has a name (also the section of
the graph's parameter file ``config/<graph>.yaml`` it reads), an executable (console script in
``lib/sacgmm``, equal to its module ``sacgmm.ros.<executable>``), topic remappings, fixed
parameter overrides, parameters taken from launch arguments (empty values are not passed, so
the parameter file's value stays), and an optional condition on a boolean argument
(``"use_sim"`` or ``"!use_sim"``).

Both start paths share one start-up check and one fault policy:

* :func:`prepare` runs before any node starts. It checks every file given on the command line
  (``skill:=``, ``policy:=``, ``params_file:=``) and ``rviz:=true`` (rviz2 installed), and
  raises :class:`GraphError` naming the argument and the file; with no ``skill:=`` a simulated
  graph runs its task's default demonstrated skill (recorded and fitted once, then cached).
* The refiner, the camera encoder and the ArUco reward detector are restarted when they exit
  (``respawn``, after :data:`RESPAWN_DELAY` s); the controller runs on with its last skill
  meanwhile. The bridges and the controller are not restarted: when the pose source dies the
  controller commands zero within its pose timeout and keeps logging why.

This module imports no ROS package (the launch files and the CLI both import it).
"""
from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

PACKAGE = "sacgmm"

#: s before a node that exited is started again (``respawn``)
RESPAWN_DELAY = 2.0


class GraphError(ValueError):
    """A graph cannot start: the message names the launch argument and the file."""


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
    respawn: bool = False                                 # restarted when it exits

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
    task: str                                             # simulated task (default skill)
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
        Argument("skill", "", "skill YAML for gmm_controller and sac_refiner (empty: the "
                 "parameter file's; if that is empty too, the simulated task's default "
                 "demonstrated skill)"),
        Argument("policy", "", "SAC checkpoint for sac_refiner and camera_encoder (empty: the "
                 "parameter file's; if that is empty too, a fresh policy)"),
        Argument("params_file", "", "ROS parameter file instead of the package's "
                 "config/<graph>.yaml"),
        Argument("control_mode", "lockstep", "gmm_controller loop: lockstep with the sim or "
                 "timer (real time)", ("lockstep", "timer")),
        Argument("sim_mode", "lockstep", "sim_bridge stepping", ("lockstep", "realtime")),
    )


_CONTROLLER = NodeSpec("gmm_controller", "gmm_controller",
                       arg_parameters=(("skill", "skill_path"), ("control_mode", "control_mode")))
_REFINER = NodeSpec("sac_refiner", "sac_refiner",
                     arg_parameters=(("mode", "mode"), ("skill", "skill_path"),
                                     ("policy", "policy_path")), respawn=True)
_ENCODER = NodeSpec("camera_encoder", "camera_encoder", arg_parameters=(("policy", "policy_path"),),
                    respawn=True)
_BRIDGE = NodeSpec("sim_bridge", "sim_bridge", arg_parameters=(("sim_mode", "mode"),),
                   condition="use_sim")

#: gmm_controller on the real robot: the gripper joint the iiwa_bridge commands (its opening in m,
#: on the driver's joint states) and a target older than 0.5 s stops the arm
REAL_CONTROLLER_OVERRIDES = (("gripper_topic", "/joint_states"),
                             ("gripper_joints", ["gripper_opening"]),
                             ("target_timeout", 0.5))

#: the wrist camera on the real robot: the window that sees the door task's camera's 70 deg
#: (sacgmm/tasks/door.yaml sensor.fov), from its CameraInfo
WRIST_VIEW = (("camera_info_topic", "/wrist_camera/camera_info"), ("view_fov", 70.0))

# real-robot arguments of door_opening (empty: the parameter file's value stays)
_REAL_ARGS = (
    Argument("wrist_image_topic", "", "use_sim:=false: wrist (gripper) camera image for "
             "camera_encoder/sac_refiner, resized to the policy's 64x64 (default "
             "/wrist_camera/image_raw)"),
    Argument("wrist_camera_info_topic", "", "use_sim:=false: the wrist camera's CameraInfo "
             "(default /wrist_camera/camera_info): its images are cropped to the 70 deg view "
             "the door policy was trained with"),
    Argument("door_image_topic", "", "use_sim:=false: door camera image for the ArUco reward "
             "(default /door_camera/image_raw)"),
    Argument("door_camera_info_topic", "", "use_sim:=false: door camera CameraInfo (default "
             "/door_camera/camera_info)"),
    Argument("target", "", "use_sim:=false: fixed door-handle position '[x, y, z]' (m, world) "
             "published by iiwa_bridge on /sacgmm/target_pose"),
    Argument("target_marker", "false", "use_sim:=false: the target from a second ArUco marker "
             "on the door's front (aruco_target_detector) instead of target:=",
             ("true", "false")),
    Argument("episode_log", "", "use_sim:=false: iiwa_bridge's JSON-lines episode log"),
    Argument("sim_driver", "false", "use_sim:=false: also start iiwa_sim_driver, the PyBullet "
             "stand-in for the iiwa_ros2 driver (CI, dry runs)", ("true", "false")),
)

GRAPHS: dict[str, Graph] = {
    "sim_peg": Graph(
        "sim_peg", "peg insertion in simulation: sim_bridge (tactile images), gmm_controller, "
        "camera_encoder, sac_refiner", "sim_peg.yaml", "peg", _common_args(("true",)),
        (_BRIDGE, _CONTROLLER, _ENCODER, _REFINER)),
    "sim_lever": Graph(
        "sim_lever", "power-lever sliding in simulation: sim_bridge (static depth camera), "
        "gmm_controller, camera_encoder, sac_refiner", "sim_lever.yaml", "lever",
        _common_args(("true",)),
        (_BRIDGE, _CONTROLLER, _ENCODER, _REFINER)),
    "door_opening": Graph(
        "door_opening", "door opening: gripper RGB camera -> camera_encoder, ArUco marker on "
        "the door -> aruco_reward_detector; simulated (use_sim:=true) or a real KUKA iiwa "
        "(use_sim:=false: iiwa_bridge to the iiwa_ros2 velocity_controller)", "door_opening.yaml",
        "door", _common_args(("true", "false")) + _REAL_ARGS,
        (
            # in simulation the detector is the reward source; the simulator's own success
            # (ground truth) stays visible on /sacgmm/sim/*
            NodeSpec("sim_bridge", "sim_bridge", condition="use_sim",
                     arg_parameters=(("sim_mode", "mode"),),
                     remappings=(("/sacgmm/reward", "/sacgmm/sim/reward"),
                                 ("/sacgmm/success", "/sacgmm/sim/success"))),
            NodeSpec("aruco_reward_detector", "aruco_reward_detector", condition="use_sim",
                     respawn=True),
            NodeSpec("aruco_reward_detector", "aruco_reward_detector", condition="!use_sim",
                     respawn=True, parameters=(("image_topic", "/door_camera/image_raw"),
                                 ("camera_info_topic", "/door_camera/camera_info")),
                     arg_parameters=(("door_image_topic", "image_topic"),
                                     ("door_camera_info_topic", "camera_info_topic"))),
            NodeSpec(_CONTROLLER.name, _CONTROLLER.executable, condition="use_sim",
                     arg_parameters=_CONTROLLER.arg_parameters),
            # the real gripper's opening comes with the driver's joint states (the bridge's
            # gripper_joints), and a target that stops coming (marker lost) stops the arm
            NodeSpec(_CONTROLLER.name, _CONTROLLER.executable, condition="!use_sim",
                     arg_parameters=_CONTROLLER.arg_parameters,
                     parameters=REAL_CONTROLLER_OVERRIDES),
            NodeSpec("camera_encoder", "camera_encoder", arg_parameters=(("policy", "policy_path"),),
                     condition="use_sim", respawn=True),
            NodeSpec("camera_encoder", "camera_encoder", condition="!use_sim", respawn=True,
                     arg_parameters=(("policy", "policy_path"), ("wrist_image_topic", "image_topic"),
                                     ("wrist_camera_info_topic", "camera_info_topic")),
                     parameters=(("image_topic", "/wrist_camera/image_raw"),) + WRIST_VIEW),
            # the real robot: the user runs the iiwa_ros2 driver (or sim_driver:=true) and the
            # camera drivers beside this graph (README, "On the real robot")
            NodeSpec("iiwa_bridge", "iiwa_bridge", condition="!use_sim",
                     arg_parameters=(("target", "target_position"),
                                     ("episode_log", "episode_log"))),
            NodeSpec("iiwa_sim_driver", "iiwa_sim_driver", condition="sim_driver"),
            NodeSpec("aruco_target_detector", "aruco_target_detector",
                     condition="target_marker", respawn=True,
                     arg_parameters=(("door_image_topic", "image_topic"),
                                     ("door_camera_info_topic", "camera_info_topic"))),
            NodeSpec("sac_refiner", "sac_refiner", condition="use_sim", respawn=True,
                     arg_parameters=_REFINER.arg_parameters),
            # the refiner reads the same wrist camera as camera_encoder
            NodeSpec("sac_refiner", "sac_refiner", condition="!use_sim", respawn=True,
                     arg_parameters=_REFINER.arg_parameters + (
                         ("wrist_image_topic", "image_topic"),
                         ("wrist_camera_info_topic", "camera_info_topic")),
                     parameters=WRIST_VIEW + (("image_topic", "/wrist_camera/image_raw"),
                                 ("update_order", "act_then_update"),
                                 # a camera's stamps never equal the arm's: the latest image,
                                 # at once (waiting would delay every decision)
                                 ("image_wait", 0.0))),
        )),
}


def get_graph(name: str) -> Graph:
    if name not in GRAPHS:
        raise ValueError(f"unknown graph {name!r}; valid: {', '.join(GRAPHS)}")
    return GRAPHS[name]


def share_dirs() -> list[Path]:
    """Candidate ``share/sacgmm``-like roots: the package's source folder (``src/sacgmm`` of a
    checkout), then the installed prefixes (this Python's and ``AMENT_PREFIX_PATH``)."""
    here = Path(__file__).resolve()
    out = [here.parents[2]]                                  # the folder holding setup.py
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


def rviz_executable() -> Path | None:
    """rviz2's executable in a ROS install on ``AMENT_PREFIX_PATH`` (or on ``PATH``), else None."""
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        exe = Path(prefix) / "lib" / "rviz2" / "rviz2"
        if prefix and os.access(exe, os.X_OK):
            return exe
    found = shutil.which("rviz2")
    return Path(found) if found else None


def params_file_path(graph: Graph, args: dict[str, str]) -> Path:
    """The parameter file the graph's nodes read: ``params_file:=`` or the package's own."""
    given = args.get("params_file", "")
    return Path(given) if given else find_share_file("config", graph.params_file)


def _read_params_file(path: Path, given: bool) -> dict:
    """The node sections of a ROS parameter file; GraphError naming the file if it is bad."""
    import yaml
    where = f"params_file:={path}" if given else str(path)
    if not path.is_file():
        raise GraphError(f"{where}: no such parameter file")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise GraphError(f"{where}: not a readable YAML file ({exc})") from None
    if not isinstance(doc, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("ros__parameters"), dict)
            for v in doc.values()):
        raise GraphError(f"{where}: expected '<node>: {{ros__parameters: {{...}}}}' sections")
    return doc


def _file_parameter(doc: dict, node: str, name: str) -> str:
    return str(doc.get(node, {}).get("ros__parameters", {}).get(name, "") or "")


def prepare(graph: Graph, args: dict[str, str], log: Callable[[str], None] = print) -> dict[str, str]:
    """Check a graph's start-up inputs before any node starts; the arguments to start it with.

    ``args`` as returned by :meth:`Graph.resolve_args`. Raises :class:`GraphError` naming the
    argument and the file for a missing or unreadable skill, policy or parameter file, and for
    ``rviz:=true`` without rviz2. With neither ``skill:=`` nor a ``skill_path`` in the
    parameter file, a simulated graph (``use_sim:=true``, or the real-robot graph against the
    simulated driver) gets its task's default demonstrated skill, announced in one ``log``
    line; the real robot needs a skill of its own demonstrations.
    """
    out = dict(args)
    if out.get("rviz") == "true" and rviz_executable() is None:
        raise GraphError("rviz:=true: rviz2 is not installed (install ros-<distro>-rviz2 and "
                         "source it, or leave rviz:=false)")
    pfile = params_file_path(graph, out)
    doc = _read_params_file(pfile, given=bool(out.get("params_file")))
    # the controller's skill is the refiner's too: one from the parameter file goes to both
    controller_skill = _file_parameter(doc, "gmm_controller", "skill_path")
    if not out.get("skill") and controller_skill:
        out["skill"] = controller_skill
    if out.get("skill"):
        where = "argument 'skill'" if args.get("skill") else f"{pfile}: gmm_controller.skill_path"
        _check_skill(out["skill"], where)
    elif out.get("use_sim", "true") == "true" or out.get("sim_driver") == "true":
        from sacgmm.sim.default_skill import default_skill_path
        out["skill"] = str(default_skill_path(graph.task, log=log))
        log(f"no skill:= given: running the {graph.task} task's default demonstrated skill "
            f"{out['skill']}")
    else:
        raise GraphError("skill:= is required on the real robot: a skill fitted to your own "
                         "demonstrations (sacgmm fit --demos DIR --out skill.yaml)")
    if out.get("policy"):
        _check_policy(out["policy"], "argument 'policy'")
    else:   # every node reading a policy checks the one its section of the file names
        for spec in active_nodes(graph, out):
            for arg, param in spec.arg_parameters:
                value = _file_parameter(doc, spec.name, param)
                if arg == "policy" and value:
                    _check_policy(value, f"{pfile}: {spec.name}.{param}")
    if any(spec.name == "sac_refiner" for spec in active_nodes(graph, out)):
        _check_agent(doc, pfile, graph.task)
    if any(spec.name == "iiwa_bridge" for spec in active_nodes(graph, out)):
        _check_target_source(doc, pfile, out)
    return out


def _check_target_source(doc: dict, pfile, args: dict[str, str]) -> None:
    """The real robot needs a target: ``target:=``, the parameter file's
    ``iiwa_bridge.target_position`` or the marker detector (``target_marker:=true``)."""
    if args.get("target") or args.get("target_marker") == "true":
        return
    fixed = doc.get("iiwa_bridge", {}).get("ros__parameters", {}).get("target_position")
    if isinstance(fixed, list) and len(fixed) == 3:
        return
    raise GraphError(f"use_sim:=false needs the door handle's position: target:='[x, y, z]' (m, "
                     f"robot base frame), iiwa_bridge.target_position in {pfile}, or "
                     "target_marker:=true with the door's front marker (README, 'The "
                     "handle's position')")


def _check_agent(doc: dict, pfile, task: str) -> None:
    """The refiner's agent configuration loads, and its window and adaptation rule are the
    controller's (``window_steps``, ``stable_adaptation``)."""
    from sacgmm.rl.config import TrainConfig, unflatten
    refiner = doc.get("sac_refiner", {}).get("ros__parameters", {}) or {}
    name = str(refiner.get("agent_config") or "sac-gmm")
    flat = {k[len("agent."):]: v for k, v in refiner.items() if k.startswith("agent.")}
    settings = {**(refiner.get("agent") or {}), **unflatten(flat)}
    try:
        cfg = TrainConfig.named(name, task=task, **settings)
    except (ValueError, TypeError) as exc:
        raise GraphError(f"{pfile}: sac_refiner.agent_config / agent.*: {exc}") from None
    if cfg.agent != "sac-gmm":
        raise GraphError(f"{pfile}: sac_refiner.agent_config {name} is a {cfg.agent!r} "
                         "configuration; the refiner runs sac-gmm ones")
    controller = doc.get("gmm_controller", {}).get("ros__parameters", {}) or {}
    for param, key, value in (("window_steps", "window", cfg.window),
                              ("stable_adaptation", "delta_theta.stable", cfg.delta_theta.stable)):
        if param in controller and controller[param] != value:
            raise GraphError(f"{pfile}: gmm_controller.{param} is {controller[param]!r} but the "
                             f"refiner's agent configuration {name} has {key} = {value!r}; "
                             "they must agree")


def _check_skill(path: str, where: str) -> None:
    """``where``: what named the file (``argument 'skill'``); errors name it and the file."""
    from sacgmm.skill import load_skill
    try:
        skill = load_skill(path)
    except (OSError, ValueError) as exc:
        raise GraphError(f"{where}: {exc}") from None
    if skill.dim != 3:
        raise GraphError(f"{where}: {path}: a 3-D position skill is needed, this one has "
                         f"d={skill.dim}")


def _check_policy(path: str, where: str) -> None:
    from sacgmm.rl.checkpoint import load_checkpoint
    try:
        load_checkpoint(path)
    except (OSError, ValueError) as exc:
        raise GraphError(f"{where}: {exc}") from None
