"""``sacgmm bringup`` (real processes over DDS, private ROS_DOMAIN_ID) and the graphs' parameter
files. The launch files run for real in test_ros_launch.py."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from proc_helpers import alive as _alive
from proc_helpers import call_trigger, domain_id, started_pids
from proc_helpers import wait_for as _wait_for


ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "src" / "sacgmm" / "config"


def _start_bringup(tmp_path, name: str, *extra: str):
    did = domain_id(name)
    env = dict(os.environ, ROS_DOMAIN_ID=str(did), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               ROS_LOG_DIR=str(tmp_path / "ros_log"), PYTHONUNBUFFERED="1")
    sys.path.insert(0, str(Path(__file__).parent))
    from test_ros_nodes import make_skill
    skill = tmp_path / "skill.yaml"
    make_skill().save(skill)
    p = subprocess.Popen([sys.executable, "-m", "sacgmm.cli", "bringup", "sim_peg",
                          f"skill:={skill}", "sim_mode:=lockstep",
                          *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, env=env, text=True)
    lines: list[str] = []
    t = threading.Thread(target=lambda: [lines.append(l) for l in p.stdout], daemon=True)
    t.start()
    return p, lines, t, did


def test_bringup_sim_peg_runs_and_shuts_down_cleanly(tmp_path):
    p, lines, t, did = _start_bringup(tmp_path, "bringup_clean")
    try:
        # the controller only says "control active" once poses from the sim arrived over DDS
        assert _wait_for(lines, r"\[gmm_controller\s*\].*control active", 60.0), "".join(lines)
        assert _wait_for(lines, r"\[camera_encoder\s*\].*no policy_path", 5.0), "".join(lines)
        # the refiner is up (torch loaded, parameters read) before Ctrl-C is tested
        assert _wait_for(lines, r"\[sac_refiner\s*\].* mode, peg observation", 40.0), "".join(lines)
        pids = started_pids(lines)
        assert set(pids) == {"sim_bridge", "gmm_controller", "camera_encoder", "sac_refiner"}
        episode = _check_graph_topics(did)
        assert _wait_for(lines, rf"\[sim_bridge\s*\].*reset requested: episode {episode - 1} abandoned",
                         10.0), "".join(lines)
        p.send_signal(signal.SIGINT)
        assert p.wait(30) == 0, "".join(lines)
    finally:
        if p.poll() is None:
            p.kill()
    t.join(5)
    time.sleep(0.2)
    assert not [n for n, pid in pids.items() if _alive(pid)], "".join(lines)
    out = "".join(lines)
    assert "SIGINT: shutting the graph down" in out
    for name in pids:                      # every node of the graph exits cleanly on SIGINT
        assert re.search(rf"\[bringup\] {name} exited with status 0", out), (name, out)
    assert not re.search(r"exited with status (?!0\b)", out), out


def _check_graph_topics(did: int) -> int:
    """From outside the graph: moving commands, RViz markers and rollout, episode reset.

    Returns the number of the episode the reset service started.
    """
    import rclpy
    from geometry_msgs.msg import TwistStamped
    from nav_msgs.msg import Path as PathMsg
    from visualization_msgs.msg import MarkerArray
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=did)
    node = rclpy.create_node("bringup_probe", context=ctx)
    ex = rclpy.executors.SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    got = {"cmd": [], "markers": [], "path": []}
    node.create_subscription(TwistStamped, "/sacgmm/cmd_vel", got["cmd"].append, 10)
    node.create_subscription(MarkerArray, "/sacgmm/markers", got["markers"].append, 10)
    node.create_subscription(PathMsg, "/sacgmm/rollout", got["path"].append, 10)

    def spin_until(pred, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end and not pred():
            ex.spin_once(timeout_sec=0.05)
        return pred()

    try:
        end = time.monotonic() + 20.0
        while time.monotonic() < end and not (got["markers"] and got["path"] and any(
                abs(m.twist.linear.x) + abs(m.twist.linear.y) + abs(m.twist.linear.z) > 0
                for m in got["cmd"])):
            ex.spin_once(timeout_sec=0.05)
        assert got["markers"] and len(got["markers"][-1].markers) == 4     # K=3 + target
        assert got["path"] and len(got["path"][-1].poses) > 1
        result = call_trigger(node, spin_until, "/sacgmm/reset_episode")
        assert result.success, result.message
        started = re.search(r"episode (\d+) started", result.message)
        assert started, result.message
        return int(started.group(1))      # episodes may also have ended on their own before
    finally:
        ex.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)


def test_bringup_killed_leaves_no_orphans(tmp_path):
    p, lines, t, did = _start_bringup(tmp_path, "bringup_kill")
    try:
        assert _wait_for(lines, r"started camera_encoder", 30.0), "".join(lines)
        assert _wait_for(lines, r"\[gmm_controller\s*\].*lockstep mode", 60.0), "".join(lines)
        pids = started_pids(lines)
        p.kill()                                   # no chance to clean up: parent-death signal
        p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
    end = time.monotonic() + 15
    while time.monotonic() < end and any(_alive(pid) for pid in pids.values()):
        time.sleep(0.1)
    left = [n for n, pid in pids.items() if _alive(pid)]
    for n in left:
        os.kill(pids[n], signal.SIGKILL)
    assert not left


def test_bringup_bad_arguments(tmp_path, capsys, monkeypatch):
    """Bad arguments stop ``sacgmm bringup`` before any node starts, naming the argument and
    the file, as they stop ``ros2 launch``."""
    from sacgmm.cli.main import main
    assert main(["bringup", "sim_peg", "use_sim:=false", "--dry-run"]) == 2
    assert main(["bringup", "sim_peg", "colour:=red", "--dry-run"]) == 2
    assert main(["bringup", "sim_peg", "--dry-run", "skill:=/x.yaml"]) == 0
    capsys.readouterr()
    bad_policy = tmp_path / "policy.pt"
    bad_policy.write_text("not a checkpoint")
    bad_params = tmp_path / "params.yaml"
    bad_params.write_text("gmm_controller: [1, 2]\n")
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))        # no rviz2 here
    for argv, says in (
            (["rviz:=true"], "rviz:=true: rviz2 is not installed"),
            (["skill:=/nonexistent/skill.yaml"], "argument 'skill': /nonexistent/skill.yaml"),
            ([f"policy:={bad_policy}"], f"argument 'policy': checkpoint {bad_policy}"),
            ([f"params_file:={bad_params}"], f"params_file:={bad_params}: expected"),
            (["--params-file", "/nonexistent.yaml"], "params_file:=/nonexistent.yaml")):
        assert main(["bringup", "sim_peg", *argv]) == 2, argv
        out = capsys.readouterr()
        assert says in out.err and "started" not in out.out, (argv, out)
    # the real robot needs the user's own skill
    assert main(["bringup", "door_opening", "use_sim:=false"]) == 2
    assert "skill:= is required on the real robot" in capsys.readouterr().err


def test_graphs_respawn_the_learning_nodes_only():
    from sacgmm.ros.graphs import GRAPHS
    for g in GRAPHS.values():
        for spec in g.nodes:
            assert spec.respawn == (spec.executable in (
                "sac_refiner", "camera_encoder", "aruco_reward_detector",
                "aruco_target_detector")), (g.name, spec.name)


def test_parameter_files_match_declared_parameters():
    import yaml

    from sacgmm.ros.graphs import GRAPHS
    declared = {}
    for mod in sorted({spec.executable for g in GRAPHS.values() for spec in g.nodes}):
        src = (ROOT / "src/sacgmm/sacgmm/ros" / f"{mod}.py").read_text()
        declared[mod] = set(re.findall(r'Param\("(\w+)"', src))
    for g in GRAPHS.values():
        data = yaml.safe_load((PARAMS / g.params_file).read_text())
        for spec in g.nodes:
            params = data[spec.name]["ros__parameters"]
            assert set(params) <= declared[spec.executable], (g.name, spec.name)


@pytest.mark.parametrize("change, match", [
    ({"sac_refiner": {"agent_config": "door-via-pint"}}, r"unknown agent configuration 'door-via-pint'"),
    ({"sac_refiner": {"agent": {"window": 32}}}, r"gmm_controller.window_steps is 16 .* window = 32"),
    ({"gmm_controller": {"stable_adaptation": True}}, r"delta_theta.stable = False"),
    ({"sac_refiner": {"agent": {"sac": {"lr_alpa": 0.1}}}}, r"unknown SAC config keys \['lr_alpa'\]"),
])
def test_prepare_refuses_a_refiner_configuration_the_controller_would_misapply(tmp_path, change,
                                                                               match):
    """The door graph's refiner runs the agent configuration door-via-point; a parameter file
    whose refiner and controller disagree on the window or the adaptation rule, or that names
    a configuration or setting that does not exist, stops before any node starts."""
    import yaml

    from sacgmm.ros.graphs import GraphError, get_graph, prepare
    graph = get_graph("door_opening")
    doc = yaml.safe_load((PARAMS / "door_opening.yaml").read_text())
    assert doc["sac_refiner"]["ros__parameters"]["agent_config"] == "door-via-point"
    args = graph.resolve_args({})
    prepare(graph, args, log=lambda _m: None)                # the shipped file is consistent
    for node, params in change.items():
        doc[node]["ros__parameters"].update(params)
    pfile = tmp_path / "params.yaml"
    pfile.write_text(yaml.safe_dump(doc))
    with pytest.raises(GraphError, match=match):
        prepare(graph, graph.resolve_args({"params_file": str(pfile)}), log=lambda _m: None)


def test_bench_ros_measures_the_controller_in_the_sim_graph(tmp_path):
    """``sacgmm bench-ros`` (short, no training load) writes the controller's achieved rate,
    jitter and delta latency, and the bare comparison loop measured in its own process."""
    import json

    from test_ros_nodes import make_skill
    skill, out = tmp_path / "skill.yaml", tmp_path / "bench_ros.json"
    make_skill().save(skill)
    env = dict(os.environ, ROS_LOG_DIR=str(tmp_path / "ros_log"), PYTHONUNBUFFERED="1")
    r = subprocess.run([sys.executable, "-m", "sacgmm.cli", "bench-ros", "--skill", str(skill),
                        "--rate", "200", "--duration", "3", "--warmup", "6", "--baseline", "0",
                        "--refiner", "stub", "--domain-id", str(domain_id("bench_ros")),
                        "--out", str(out)],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    d = json.loads(out.read_text())
    assert d["rate_hz_nominal"] == 200.0 and d["n_periods"] > 300
    assert 150.0 < d["rate_hz_achieved"] < 250.0        # absolute deadlines: no drift
    assert 0.0 <= d["jitter_p50_ms"] <= d["jitter_p99_ms"] <= d["jitter_max_ms"]
    assert d["windows_seen"] > 0 and d["deltas_applied"] > 0
    assert d["delta_latency_ms_max"] >= d["delta_latency_ms_mean"] > 0.0
    assert d["baseline_bare_rclpy_timer"] is None       # --baseline 0 skips it
    bare = d["bare_loop_process_under_load"]
    assert bare is not None and 150.0 < bare["rate_hz_achieved"] < 250.0
    assert d["command"].startswith("sacgmm bench-ros --skill")


def test_package_xml_declares_every_ros_package_the_code_imports():
    """``rosdep install --from-paths src`` brings every ROS package the nodes and launch files
    import: each one is an exec_depend of package.xml."""
    import xml.etree.ElementTree as ET
    declared = {e.text for e in ET.parse(ROOT / "src" / "sacgmm" / "package.xml").getroot()
                .iter("exec_depend")}
    imported = set()
    for src in (ROOT / "src" / "sacgmm" / "sacgmm").rglob("*.py"):
        text = src.read_text()
        imported |= set(re.findall(r"^\s*from (\w+)\.(?:msg|srv)\b", text, re.M))
        imported |= set(re.findall(r"^\s*(?:from|import) (rclpy|launch_ros|launch|"
                                   r"ament_index_python)\b", text, re.M))
    assert imported >= {"rclpy", "launch", "launch_ros", "std_msgs", "geometry_msgs"}
    assert imported <= declared, imported - declared


def test_prepare_checks_every_file_the_parameter_file_names(tmp_path):
    """A policy named for any node in the parameter file is checked before the start, and a
    skill named for the controller goes to the refiner too (it must be the controller's)."""
    import yaml

    from sacgmm.ros.graphs import GraphError, get_graph, prepare
    from test_ros_nodes import make_skill
    graph = get_graph("sim_peg")
    doc = yaml.safe_load((PARAMS / "sim_peg.yaml").read_text())
    skill = tmp_path / "skill.yaml"
    make_skill().save(skill)
    doc["gmm_controller"]["ros__parameters"]["skill_path"] = str(skill)
    doc["camera_encoder"]["ros__parameters"]["policy_path"] = str(tmp_path / "missing.pt")
    pfile = tmp_path / "params.yaml"
    pfile.write_text(yaml.safe_dump(doc))
    args = graph.resolve_args({"params_file": str(pfile)})
    with pytest.raises(GraphError, match=r"camera_encoder\.policy_path: checkpoint .*missing\.pt"):
        prepare(graph, args, log=lambda _m: None)
    doc["camera_encoder"]["ros__parameters"]["policy_path"] = ""
    pfile.write_text(yaml.safe_dump(doc))
    logged: list[str] = []
    out = prepare(graph, args, log=logged.append)
    assert out["skill"] == str(skill) and not logged       # no default skill announced
