"""The ROS 2 user's path with the real tooling: the repository cloned into ``ws/src/``, ``colcon
build``, ``source install/setup.bash``, ``ros2 launch sacgmm <graph>.launch.py``, and checks
from outside with the ``ros2`` command (``node list``, ``topic hz``, ``param get``, ``service
call``), as the README's ROS 2 section gives them. Each test runs on its own ROS_DOMAIN_ID.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from proc_helpers import Proc, domain_id, started_pids, wait_for
from ros2_workspace import (ROOT, base_env, colcon_build, copy_repository, launch, launched_pids,
                            ros2, ros2_until, tooling_problem, topic_rates, wait_gone)

ROOT_SRC = ROOT / "src" / "sacgmm"

WORKSPACE_ROOT = {"build", "install", "log", "src"}

NODES = {
    "sim_peg": {"sim_bridge", "gmm_controller", "camera_encoder", "sac_refiner"},
    "sim_lever": {"sim_bridge", "gmm_controller", "camera_encoder", "sac_refiner"},
    "door_opening": {"sim_bridge", "aruco_reward_detector", "gmm_controller", "camera_encoder",
                     "sac_refiner"},
}
TASKS = {"sim_peg": "peg", "sim_lever": "lever", "door_opening": "door"}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """``ws/src/sacgmm`` holds the repository; ``colcon build`` ran in ``ws``."""
    problem = tooling_problem()
    if problem:
        pytest.fail(problem)
    ws = tmp_path_factory.mktemp("ws")
    copy_repository(ws / "src" / "sacgmm")
    env = base_env(domain_id("colcon-build"), tmp_path_factory.mktemp("home"))
    built = colcon_build(ws, env)
    assert built.returncode == 0, built.stdout + built.stderr
    return ws


def _node_names(ws, env) -> set[str]:
    out = ros2(ws, env, "node", "list", "--no-daemon", "--spin-time", "3").stdout
    return {line.strip().lstrip("/") for line in out.splitlines() if line.startswith("/")}


def _wait_nodes(ws, env, names: set[str], proc, timeout: float = 60.0) -> set[str]:
    end = time.monotonic() + timeout
    seen: set[str] = set()
    while time.monotonic() < end:
        seen = _node_names(ws, env)
        if names <= seen:
            return seen
        assert proc.p.poll() is None, proc.output
        time.sleep(1.0)
    return seen


def _stop_and_check(proc, ws) -> None:
    """SIGINT to ``ros2 launch``: it exits 0, every node it started is gone, and the
    workspace root holds only colcon's folders and the sources."""
    pids = launched_pids(proc.lines)
    status = proc.stop(timeout=40)
    assert status == 0, proc.output
    assert pids and not wait_gone(pids.values(), 10.0), (pids, proc.output)
    assert {p.name for p in ws.iterdir()} == WORKSPACE_ROOT


def test_the_workspace_layout_installs_the_package_and_leaves_no_stray_folders(workspace):
    assert {p.name for p in workspace.iterdir()} == WORKSPACE_ROOT
    share = workspace / "install" / "sacgmm" / "share" / "sacgmm"
    for graph in NODES:
        assert (share / "launch" / f"{graph}.launch.py").is_file()
        assert (share / "config" / f"{graph}.yaml").is_file()
    assert (share / "rviz" / "sacgmm.rviz").is_file()
    # the sources stay as cloned: no egg-info or build output beside setup.py
    assert {p.name for p in (workspace / "src" / "sacgmm" / "src" / "sacgmm").iterdir()} == \
        {"config", "launch", "package.xml", "resource", "rviz", "sacgmm", "setup.cfg", "setup.py"}


@pytest.mark.parametrize("graph", sorted(NODES))
def test_plain_launch_runs_the_default_skill_from_outside(workspace, tmp_path, graph):
    """``ros2 launch sacgmm <graph>.launch.py`` with no arguments: the task's default skill
    (one log line), every node up, commands flowing, one delta-theta per N controller steps,
    markers at 2 Hz, parameters readable, save_policy and reset_episode answering, and SIGINT
    leaving nothing behind."""
    task = TASKS[graph]
    env = base_env(domain_id(f"launch-{graph}"), tmp_path / "home")
    proc = launch(workspace, env, f"{graph}.launch.py", cwd=workspace)
    try:
        assert wait_for(proc.lines, rf"no skill:= given: running the {task} task's default "
                        r"demonstrated skill \S+skill\.yaml", 120.0), proc.output
        seen = _wait_nodes(workspace, env, NODES[graph], proc)
        assert seen == NODES[graph], (seen, proc.output)
        assert wait_for(proc.lines, r"\[gmm_controller\]: control active", 60.0), proc.output
        window = 16                                  # every graph's N (the sac-gmm default's)
        got = ros2_until(workspace, env, "value is", "param", "get", "--no-daemon",
                         "--spin-time", "3", "/gmm_controller", "window_steps").stdout
        assert f"Integer value is: {window}" in got, got
        rates, hz = topic_rates(workspace, env, ["/sacgmm/cmd_vel", "/sacgmm/delta_theta",
                                                 "/sacgmm/markers"], 8.0)
        print(hz)
        assert set(rates) == {"/sacgmm/cmd_vel", "/sacgmm/delta_theta", "/sacgmm/markers"}, hz
        assert rates["/sacgmm/cmd_vel"] > 20.0, hz
        # a delta-theta per window of N steps (the last, shorter window of an episode too)
        per_window = rates["/sacgmm/delta_theta"] * window / rates["/sacgmm/cmd_vel"]
        assert 0.7 < per_window < 1.5, hz
        assert 1.5 < rates["/sacgmm/markers"] < 2.5, hz
        saved = ros2(workspace, env, "service", "call", "/sacgmm/save_policy",
                     "std_srvs/srv/Trigger").stdout
        assert "success=True" in saved, saved
        policy = tmp_path / "home" / "sacgmm" / f"{task}_policy.pt"
        assert policy.is_file() and str(policy) in saved, saved
        reset = ros2(workspace, env, "service", "call", "/sacgmm/reset_episode",
                     "std_srvs/srv/Trigger").stdout
        assert "success=True" in reset, reset
        # the fresh refiner acts (eval mode: it decides, stores nothing, learns nothing)
        assert wait_for(proc.lines, r"\[sac_refiner\]: episode \d+ ended .* [1-9]\d* actions, "
                        r"0 stored, 0 updates", 30.0), proc.output
        assert proc.p.poll() is None, proc.output
    finally:
        _stop_and_check(proc, workspace)
    assert not re.search(r"Traceback|process has died", proc.output), proc.output
    if graph == "sim_peg":   # the saved policy is a checkpoint `sacgmm eval` runs
        ev = subprocess.run([sys.executable, "-m", "sacgmm.cli", "eval", "--agent", "sac-gmm",
                             "--checkpoint", str(policy), "--episodes", "1", "--json"], capture_output=True,
                            text=True, timeout=300)
        assert ev.returncode == 0, ev.stderr
        summary = json.loads(ev.stdout)
        assert summary["task"] == "peg" and summary["episodes"] == 1, summary


def test_real_robot_door_graph_against_the_simulated_driver(workspace, tmp_path):
    """``door_opening.launch.py use_sim:=false sim_driver:=true``: the real-robot nodes come
    up, ``/sacgmm/arm`` and ``/sacgmm/reset_episode`` answer, and the arm moves."""
    env = base_env(domain_id("launch-door-real"), tmp_path / "home")
    proc = launch(workspace, env, "door_opening.launch.py use_sim:=false sim_driver:=true "
                  "control_mode:=timer 'target:=[0.62, 0.05, 0.25]' "
                  f"episode_log:={tmp_path / 'episodes.jsonl'}", cwd=workspace)
    names = {"iiwa_bridge", "iiwa_sim_driver", "gmm_controller", "camera_encoder",
             "aruco_reward_detector", "sac_refiner"}
    try:
        seen = _wait_nodes(workspace, env, names, proc)
        assert seen == names, (seen, proc.output)
        for service in ("/sacgmm/arm", "/sacgmm/reset_episode"):
            out = ros2(workspace, env, "service", "call", service, "std_srvs/srv/Trigger").stdout
            assert "success=True" in out, out + proc.output
        # homing, settle_time (3 s), then episode 0: the controller drives the arm
        assert wait_for(proc.lines, r"\[iiwa_bridge\]: episode \d+ started", 60.0), proc.output
        # the arm moves early in the episode, before the skill slows down near its target
        first = _tip(workspace, env)
        time.sleep(2.0)
        moved = ((_tip(workspace, env) - first) ** 2).sum() ** 0.5
        assert moved > 0.01, (moved, proc.output)
        # 8 s: the CLI's own start and discovery take seconds beside the stand-in's cameras
        rates, hz = topic_rates(workspace, env, ["/sacgmm/cmd_vel",
                                                 "/velocity_controller/commands"], 8.0)
        assert rates.get("/sacgmm/cmd_vel", 0) > 20 and \
            rates.get("/velocity_controller/commands", 0) > 20, hz
    finally:
        _stop_and_check(proc, workspace)


def _tip(ws, env) -> np.ndarray:
    out = ros2(ws, env, "topic", "echo", "--no-daemon", "--once", "--field", "pose.position",
               "/iiwa_sim_driver/tip_pose", "geometry_msgs/msg/PoseStamped").stdout
    vals = dict(re.findall(r"^(x|y|z): (\S+)$", out, re.M))
    assert set(vals) == {"x", "y", "z"}, out
    return np.array([float(vals[k]) for k in "xyz"])


@pytest.mark.parametrize("args, says", [
    ("rviz:=true", r"rviz:=true: rviz2 is not installed"),
    ("skill:=/nonexistent/skill.yaml", r"argument 'skill': /nonexistent/skill\.yaml"),
    ("policy:={bad}", r"argument 'policy': .*{bad}"),
    ("params_file:=/nonexistent/params.yaml", r"params_file:=/nonexistent/params\.yaml"),
])
def test_bad_arguments_stop_the_launch_before_any_node(workspace, tmp_path, args, says):
    bad = tmp_path / "policy.pt"
    bad.write_text("not a checkpoint")
    args, says = args.format(bad=bad), says.format(bad=re.escape(str(bad)))
    env = base_env(domain_id(f"launch-bad-{args}"), tmp_path / "home")
    proc = launch(workspace, env, f"sim_peg.launch.py {args}", cwd=workspace)
    status = proc.p.wait(120)
    proc.stop()
    assert status != 0, proc.output
    errors = [l for l in proc.lines if "[ERROR]" in l]
    assert len(errors) == 1 and re.search(says, errors[0]), proc.output
    assert "process started" not in proc.output, proc.output
    assert {p.name for p in workspace.iterdir()} == WORKSPACE_ROOT


def test_pip_install_layouts_find_the_task_definitions(tmp_path):
    """The task files are package data: found from a plain ``pip install`` (another prefix),
    from a source checkout on PYTHONPATH, and from this (editable) install alike."""
    repo = copy_repository(tmp_path / "repo")
    prefix = tmp_path / "prefix"
    # --ignore-installed: never uninstall this environment's own sacgmm
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                          "--ignore-installed", "--no-build-isolation", "--prefix", str(prefix),
                          str(repo / "src" / "sacgmm")], capture_output=True, text=True,
                         timeout=300)
    assert pip.returncode == 0, pip.stderr
    site = next(prefix.glob("lib/python*/site-packages"))
    probe = ("import sacgmm; from sacgmm.sim.config import load_task_config; "
             "from sacgmm.ros.graphs import find_share_file; "
             "print(sacgmm.__file__); print(load_task_config('door')['_path']); "
             "print(find_share_file('config', 'sim_peg.yaml'))")
    layouts = {"pip install": ({"PYTHONPATH": str(site), "AMENT_PREFIX_PATH": str(prefix)},
                               site / "sacgmm", prefix / "share" / "sacgmm"),
               "source checkout": ({"PYTHONPATH": str(repo / "src" / "sacgmm")},
                                   repo / "src" / "sacgmm" / "sacgmm", repo / "src" / "sacgmm"),
               "editable": ({}, None, None)}
    for name, (extra, package, share) in layouts.items():
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AMENT_PREFIX_PATH")}
        env.update(extra)
        out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                             text=True, timeout=60, cwd=tmp_path)
        assert out.returncode == 0, (name, out.stderr)
        module, task, params = out.stdout.split()
        if package is None:   # this test run's own install: the repository's sources
            package, share = ROOT_SRC / "sacgmm", ROOT_SRC
        assert module == str(package / "__init__.py"), (name, out.stdout)
        assert task == str(package / "tasks" / "door.yaml"), (name, out.stdout)
        assert params == str(share / "config" / "sim_peg.yaml"), (name, out.stdout)


@pytest.mark.parametrize("symlink", [False, True], ids=["copy", "symlink-install"])
def test_colcon_build_in_the_repository_root_finds_the_task_definitions(tmp_path, symlink):
    """``colcon build [--symlink-install]`` in the repository root (a venv in it is ignored)."""
    problem = tooling_problem()
    if problem:
        pytest.fail(problem)
    repo = copy_repository(tmp_path / "repo")
    (repo / ".venv").mkdir()
    (repo / ".venv" / "COLCON_IGNORE").touch()     # as scripts/setup_venv.sh leaves it
    (repo / ".venv" / "share" / "x").mkdir(parents=True)
    (repo / ".venv" / "share" / "x" / "package.xml").write_text("<package/>")
    env = base_env(domain_id(f"colcon-root-{symlink}"), tmp_path / "home")
    built = colcon_build(repo, env, *(["--symlink-install"] if symlink else []))
    assert built.returncode == 0, built.stdout + built.stderr
    assert "1 package finished" in built.stdout, built.stdout
    out = subprocess.run(
        ["bash", "-c", f"source {repo}/install/setup.bash && exec python -c \"from "
         "sacgmm.sim.config import load_task_config; print(load_task_config('peg')['_path'])\""],
        env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    path = out.stdout.strip()
    source = repo / "src" / "sacgmm" / "sacgmm" / "tasks" / "peg.yaml"
    if symlink:      # the build tree links back to the sources
        assert path.startswith(str(repo / "build")) and os.path.realpath(path) == str(source)
    else:
        assert path.startswith(str(repo / "install")) and os.path.realpath(path) != str(source)


@pytest.mark.parametrize("start", ["ros2 launch", "sacgmm bringup"])
def test_one_fault_policy_for_both_start_paths(workspace, tmp_path, start):
    """The same faults, driven from outside, under both start paths: a killed refiner is
    restarted while the controller runs on with its skill; NaN and wrongly sized delta-theta
    are rejected; a killed bridge is not restarted and the controller commands zero within its
    pose timeout and keeps saying why. Every command is finite and within the speed limit."""
    import rclpy
    import rclpy.executors
    from geometry_msgs.msg import TwistStamped
    from std_msgs.msg import Float64MultiArray

    from sacgmm.ros.convert import to_multiarray
    from sacgmm.ros.layouts import DeltaThetaMessage, encode_delta

    did = domain_id(f"faults-{start}")
    env = base_env(did, tmp_path / "home")
    args = "mode:=train"
    if start == "ros2 launch":
        proc = launch(workspace, env, f"sim_peg.launch.py {args}", cwd=workspace)
        pids = launched_pids
    else:
        proc = Proc([sys.executable, "-m", "sacgmm.cli", "bringup", "sim_peg", args], env,
                    cwd=tmp_path)
        pids = started_pids
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=did)
    node = rclpy.create_node("fault_probe", context=ctx)
    ex = rclpy.executors.SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    cmds: list[tuple[float, np.ndarray]] = []
    deltas: list[float] = []
    node.create_subscription(TwistStamped, "/sacgmm/cmd_vel", lambda m: cmds.append(
        (time.monotonic(), np.array([m.twist.linear.x, m.twist.linear.y, m.twist.linear.z]))),
        100)
    node.create_subscription(Float64MultiArray, "/sacgmm/delta_theta",
                             lambda m: deltas.append(time.monotonic()), 10)
    bad_pub = node.create_publisher(Float64MultiArray, "/sacgmm/delta_theta", 10)

    def spin(seconds: float, until=lambda: False) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not until():
            ex.spin_once(timeout_sec=0.02)
        return until()

    def moving_after(t0: float) -> int:
        return sum(1 for t, v in cmds if t > t0 and np.linalg.norm(v) > 1e-4)

    try:
        # the fresh refiner acts and, in train mode, learns
        assert wait_for(proc.lines, r"\[sac_refiner\S*\].*episode \d+ ended .* [1-9]\d* updates",
                        120.0), proc.output
        # 1) the refiner dies: restarted, the controller runs on with its skill meanwhile
        first = pids(proc.lines)
        killed = time.monotonic()
        os.kill(first["sac_refiner"], signal.SIGKILL)
        spin(2.0 + 3.0)                      # respawn delay; delta_wait (2 s) for a dead refiner
        assert moving_after(killed + 2.5) > 10, proc.output
        assert spin(30.0, lambda: pids(proc.lines).get("sac_refiner") not in (
            None, first["sac_refiner"])), proc.output                 # a new refiner process
        n_deltas = len(deltas)
        assert spin(60.0, lambda: len(deltas) > n_deltas + 3), "the new refiner never acted"
        # 2) NaN and wrongly sized delta-theta: rejected, the skill unchanged
        good = encode_delta(DeltaThetaMessage(d_priors=np.zeros(3), d_means=np.zeros((3, 6))))
        nan = to_multiarray(good)
        nan.data = [float("nan")] * len(nan.data)
        short = to_multiarray(encode_delta(DeltaThetaMessage(d_priors=np.zeros(2))))
        for msg in (nan, short):
            bad_pub.publish(msg)
        assert wait_for(proc.lines, r"delta_theta rejected", 10.0), proc.output
        spin(1.0)
        rejected = [l for l in proc.lines if "delta_theta rejected" in l]
        assert len(rejected) >= 2, proc.output
        # 3) the pose source dies: not restarted; zero within the pose timeout, and why
        killed = time.monotonic()
        os.kill(pids(proc.lines)["sim_bridge"], signal.SIGKILL)
        spin(8.0)
        # zero from delta_wait + pose timeout on, at the lock-step watchdog's 4 Hz (about 22 in
        # the 5.5 s left; fewer on a loaded machine)
        late = [v for t, v in cmds if t > killed + 2.0 + 0.5]
        assert len(late) > 10 and all(np.linalg.norm(v) == 0.0 for v in late), proc.output
        after = "".join(proc.lines[-200:])
        assert len(re.findall(r"control stopped \(zero velocity\): stale_pose", after)) >= 2, \
            proc.output
        assert pids(proc.lines)["sim_bridge"] == first["sim_bridge"]     # not restarted
        assert proc.p.poll() is None, proc.output
    finally:
        everyone = every_pid(proc.lines, pids)
        status = proc.stop(timeout=40)
        ex.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
    assert status == 0, proc.output
    assert not wait_gone(everyone, 10.0), proc.output
    v = np.array([v for _, v in cmds])
    assert len(v) > 100 and np.isfinite(v).all() and np.abs(v).max() <= 0.15 + 1e-9


def every_pid(lines: list[str], pids) -> set[int]:
    """Every pid a start path reported, the ones of restarted nodes included."""
    return {pid for line in list(lines) for pid in pids([line]).values()}


def test_a_launch_stopped_by_sigterm_leaves_no_node(workspace, tmp_path):
    """``ros2 launch`` does not stop its processes on SIGTERM (it says they may be orphaned);
    sacgmm's nodes stop themselves when the launch process is gone."""
    env = base_env(domain_id("launch-sigterm"), tmp_path / "home")
    proc = launch(workspace, env, "sim_peg.launch.py", cwd=workspace)
    try:
        assert wait_for(proc.lines, r"\[gmm_controller\]: control active", 120.0), proc.output
        pids = launched_pids(proc.lines)
        assert set(pids) == NODES["sim_peg"], proc.output
        proc.p.send_signal(signal.SIGTERM)
        proc.p.wait(20)
    finally:
        proc.stop()
    assert not wait_gone(pids.values(), 15.0), proc.output
