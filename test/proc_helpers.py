"""Process helpers shared by the tests that start node graphs as real processes."""
from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path


def alive(pid: int) -> bool:
    """True if ``pid`` is a running (not zombie) process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not a running orphan
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(lines, pattern: str, timeout: float) -> bool:
    """Wait up to ``timeout`` s for a line matching ``pattern`` in the (growing) list ``lines``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(re.search(pattern, line) for line in list(lines)):
            return True
        time.sleep(0.1)
    return False


_DOMAINS: dict[str, int] = {}


#: how ``sacgmm bringup`` and ``ros2 launch`` report a started node: groups (name, pid)
BRINGUP_STARTED = r"\[bringup\] started (\w+) \(pid (\d+)\)"
LAUNCH_STARTED = r"\[INFO\] \[(\w+)-\d+\]: process started with pid \[(\d+)\]"


def started_pids(lines: list[str], pattern: str = BRINGUP_STARTED) -> dict[str, int]:
    """``{node name: pid}`` of the nodes a start path reported started (a restart wins)."""
    out = {}
    for line in list(lines):
        m = re.search(pattern, line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def domain_id(name: str) -> int:
    """A ROS_DOMAIN_ID private to one test: the same for the same ``name``, different for every
    other name asked for in this pytest process (up to 200), offset by the process id so that
    two test runs on one machine are unlikely to share one."""
    if name not in _DOMAINS:
        _DOMAINS[name] = 1 + (zlib.crc32(str(os.getpid()).encode()) + len(_DOMAINS)) % 200
    return _DOMAINS[name]


def _default_sigint() -> None:
    """In the child before exec: SIGINT back to its default action."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Proc:
    """A node process whose merged output is collected in ``lines``."""

    def __init__(self, argv: list[str], env: dict, cwd=None):
        # a test run started in the background (e.g. `cmd &` in a script) ignores SIGINT, and
        # so would the process: stop() asks it to end with SIGINT, as Ctrl-C does
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=env, text=True, cwd=cwd,
                                  preexec_fn=_default_sigint)
        self.lines: list[str] = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGINT (as Ctrl-C), then SIGKILL after ``timeout`` s; the exit status."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.t.join(2.0)
        return self.p.returncode


@contextlib.contextmanager
def ros_session(test_name: str, tmp_path: Path, node_name: str = "sacgmm_test"):
    """A test node on a private ROS domain and a way to start node processes in it.

    Yields ``(node, env, start, spin_until, procs)``: ``start(module, *ros_args)`` runs
    ``python -m module --ros-args ...`` with ``env`` (the private domain, localhost discovery,
    logs under ``tmp_path``); ``spin_until(pred, timeout)`` spins the test node until ``pred()``
    is true. Every started process is stopped (SIGINT) on exit.
    """
    import rclpy
    import rclpy.executors

    did = domain_id(test_name)
    env = dict(os.environ, ROS_DOMAIN_ID=str(did), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               ROS_LOG_DIR=str(tmp_path / "ros_log"), RMW_IMPLEMENTATION="rmw_fastrtps_cpp",
               PYTHONUNBUFFERED="1", RCUTILS_COLORIZED_OUTPUT="0")
    os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=did)
    node = rclpy.create_node(node_name, context=ctx)
    executor = rclpy.executors.SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    procs: list[Proc] = []

    def start(module: str, *ros_args: str) -> Proc:
        proc = Proc([sys.executable, "-m", module, "--ros-args", *ros_args], env)
        procs.append(proc)
        return proc

    def spin_until(pred, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred():
                return True
            executor.spin_once(timeout_sec=0.02)
        return pred()

    try:
        yield node, env, start, spin_until, procs
    finally:
        for p in procs:
            p.stop()
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)


def call_trigger(node, spin_until, name: str, timeout: float = 30.0, retry: bool = True):
    """Call the ``std_srvs/Trigger`` service ``name`` from ``node``; its response.

    DDS discovers a new client's response reader at the server some time after the client sees
    the service: under load a response sent before that is dropped (the server logs "failed to
    send response"). The client made here is kept for later calls and given a moment after the
    service appears; with ``retry`` (idempotent services) a request whose answer did not come
    within 3 s is sent again, until ``timeout``.
    """
    from std_srvs.srv import Trigger
    clients = node.__dict__.setdefault("_sacgmm_trigger_clients", {})
    fresh = name not in clients
    if fresh:
        clients[name] = node.create_client(Trigger, name)
    cli = clients[name]
    end = time.monotonic() + timeout
    assert spin_until(cli.service_is_ready, timeout), f"service {name} not available"
    if fresh:
        spin_until(lambda: False, 0.5)
    while True:
        fut = cli.call_async(Trigger.Request())
        wait = min(3.0, end - time.monotonic()) if retry else end - time.monotonic()
        if spin_until(fut.done, max(wait, 0.1)):
            return fut.result()
        assert retry and time.monotonic() < end, f"no answer from {name} within {timeout} s"
