"""Run a node graph of :mod:`sacgmm.ros.graphs` as plain processes (no ROS launch tooling).

:func:`run` checks the graph's arguments (:func:`sacgmm.ros.graphs.prepare`: files named on
the command line, rviz2, the default skill) before any node starts and starts every node as a
separate process (``python -m sacgmm.ros.<node> --ros-args -r __node:=<name> --params-file
config/GRAPH.yaml -p ... -r ...``) under a :class:`Supervisor`, streaming their logs prefixed
with the node name. The fault policy is launch's: a node marked ``respawn`` in the graph is
started again :data:`~sacgmm.ros.graphs.RESPAWN_DELAY` s after it exits; any other node that
exits is reported and the rest run on. Everything is shut down (SIGINT, then SIGTERM, then
SIGKILL) on SIGINT/SIGTERM, after ``duration`` seconds, or once every node has exited.
Children die with this process even if it is killed (Linux parent-death signal).

Imports no ROS module (the nodes are child processes); used by ``sacgmm bringup``
(:mod:`sacgmm.cli.bringup`) and ``sacgmm bench-ros``.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time

from sacgmm.ros.graphs import RESPAWN_DELAY


def build_commands(graph_name: str, assignments: dict[str, str]) -> list[tuple[str, list[str]]]:
    """``[(node name, argv), ...]`` for the graph's active nodes; ``ValueError`` if bad.

    Builds the commands only; :func:`run` checks the arguments' files first."""
    from sacgmm.ros.graphs import active_nodes, get_graph, node_overrides, params_file_path

    graph = get_graph(graph_name)
    args = graph.resolve_args(assignments)
    pfile = str(params_file_path(graph, args))
    cmds = []
    for spec in active_nodes(graph, args):
        argv = [sys.executable, "-m", spec.module, "--ros-args", "-r", f"__node:={spec.name}",
                "--params-file", pfile]
        for k, v in node_overrides(spec, args).items():
            argv += ["-p", f"{k}:={v}"]
        for a, b in spec.remappings:
            argv += ["-r", f"{a}:={b}"]
        cmds.append((spec.name, argv))
    return cmds


def _child_setup() -> None:
    """In the child before exec: die with the parent (the node then asks for SIGINT itself)."""
    from sacgmm.processes import stop_with_parent
    stop_with_parent(signal.SIGTERM)
    # a graph started in the background inherits an ignored SIGINT: the nodes must still
    # shut down cleanly on the SIGINT the supervisor sends them
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    env.setdefault("RCUTILS_COLORIZED_OUTPUT", "0")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Supervisor:
    """Starts the processes, prefixes their output, restarts the ``respawn`` ones (after
    ``respawn_delay`` s) and shuts them all down."""

    def __init__(self, commands: list[tuple[str, list[str]]], out=None,
                 respawn: frozenset[str] = frozenset(),
                 respawn_delay: float = RESPAWN_DELAY):
        self.commands = commands
        self.out = out or sys.stdout
        self.respawn = respawn
        self.respawn_delay = respawn_delay
        self.procs: list[tuple[str, object]] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._reported: set[int] = set()               # pids whose exit was reported
        self._due: dict[int, float] = {}                # command index -> restart time

    def log(self, text: str) -> None:
        with self._lock:
            self.out.write(f"[bringup] {text}\n")
            self.out.flush()

    def _pump(self, name: str, stream) -> None:
        width = max(len(n) for n, _ in self.commands)
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                self.out.write(f"[{name:<{width}}] {line}\n")
                self.out.flush()
        stream.close()

    def _spawn(self, index: int) -> None:
        import subprocess
        name, argv = self.commands[index]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=child_env(),
                                start_new_session=True, preexec_fn=_child_setup)
        if index < len(self.procs):
            self.procs[index] = (name, proc)
        else:
            self.procs.append((name, proc))
        t = threading.Thread(target=self._pump, args=(name, proc.stdout), daemon=True)
        t.start()
        self._threads.append(t)
        self.log(f"started {name} (pid {proc.pid})")

    def start(self) -> None:
        for i in range(len(self.commands)):
            self._spawn(i)

    def first_exited(self):
        for name, proc in self.procs:
            if proc.poll() is not None:
                return name, proc.returncode
        return None

    def supervise(self, now: float) -> bool:
        """Report exits and restart the ``respawn`` nodes that are due; False once every node
        has exited and none is due to restart."""
        for i, (name, proc) in enumerate(self.procs):
            if proc.poll() is None or proc.pid in self._reported:
                continue
            self._reported.add(proc.pid)
            if name in self.respawn:
                self._due[i] = now + self.respawn_delay
                self.log(f"{name} exited with status {proc.returncode}: restarting it in "
                         f"{self.respawn_delay:g} s")
            else:
                self.log(f"{name} exited with status {proc.returncode} (not restarted)")
        for i, t in list(self._due.items()):
            if now >= t:
                del self._due[i]
                self._spawn(i)
        return bool(self._due) or any(p.poll() is None for _, p in self.procs)

    def shutdown(self, grace: float = 8.0) -> None:
        """SIGINT to every node, then SIGTERM, then SIGKILL (process groups) until all exit."""
        self._due.clear()
        for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            alive = [(n, p) for n, p in self.procs if p.poll() is None]
            if not alive:
                break
            if sig != signal.SIGINT:
                self.log(f"{', '.join(n for n, _ in alive)} still running: {sig.name}")
            for _, p in alive:
                try:
                    os.killpg(p.pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and any(p.poll() is None for _, p in alive):
                time.sleep(0.05)
        for _, p in self.procs:
            try:
                p.wait(timeout=1.0)
            except Exception:  # noqa: BLE001 - reported below
                pass
        for t in self._threads:
            t.join(timeout=2.0)
        for n, p in self.procs:
            self.log(f"{n} exited with status {p.returncode}")


def run(graph_name: str, assignments: dict[str, str], duration: float | None = None,
        out=None) -> int:
    """Check the arguments (``GraphError`` before any node starts), then run the graph."""
    from sacgmm.ros.graphs import (active_nodes, find_share_file, get_graph,
                                   prepare, rviz_executable)

    out = out or sys.stdout
    graph = get_graph(graph_name)

    def announce(text: str) -> None:
        out.write(f"[bringup] {text}\n")
        out.flush()

    args = prepare(graph, graph.resolve_args(assignments), log=announce)
    cmds = build_commands(graph_name, args)
    if args["rviz"] == "true":
        cmds.append(("rviz2", [str(rviz_executable()), "-d",
                               str(find_share_file("rviz", "sacgmm.rviz"))]))
    respawn = frozenset(n.name for n in active_nodes(graph, args) if n.respawn)
    sup = Supervisor(cmds, out, respawn=respawn, respawn_delay=RESPAWN_DELAY)
    stop = threading.Event()
    reason = {"why": None}

    def on_signal(signum, _frame):
        reason["why"] = signal.Signals(signum).name
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    status = 0
    try:
        sup.log(f"graph {graph_name}: {len(cmds)} node(s); Ctrl-C stops them all")
        sup.start()
        t_end = time.monotonic() + duration if duration else None
        while not stop.is_set():
            if not sup.supervise(time.monotonic()):
                sup.log("every node has exited")
                status = 1
                break
            if t_end is not None and time.monotonic() >= t_end:
                reason["why"] = f"--duration {duration:g} s elapsed"
                break
            stop.wait(0.1)
        if reason["why"]:
            sup.log(f"{reason['why']}: shutting the graph down")
    finally:
        sup.shutdown()
        for s, h in old.items():
            signal.signal(s, h)
    return status
