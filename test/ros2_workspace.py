"""A colcon workspace of this repository and the real ``ros2`` command line, as a ROS user has them.

The tests that use it run exactly what the README's ROS 2 section tells a user to run:
``colcon build`` in a workspace whose ``src/`` holds the repository, ``source
install/setup.bash``, ``ros2 launch sacgmm <graph>.launch.py``, and ``ros2 node list``, ``ros2
topic hz``, ``ros2 param get`` and ``ros2 service call`` from outside. ``ros2`` and ``colcon``
must sit beside this Python (``scripts/test.sh`` installs them from the launch tooling kit).
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from proc_helpers import LAUNCH_STARTED, Proc, alive, started_pids

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
VENV = VENV_BIN.parent


def tooling_problem() -> str | None:
    """Why the real ROS 2 tooling cannot be used here, or None."""
    missing = [t for t in ("ros2", "colcon") if not (VENV_BIN / t).exists()]
    if missing:
        return (f"{', '.join(missing)} not found in {VENV_BIN}: run scripts/test.sh (it installs "
                "the ROS 2 launch tooling from SACGMM_ROS2_TOOLING, default ../shared/ros2-tooling)")
    return None


def tracked_files() -> list[str]:
    """The repository's files as a clone has them (tracked and new, not ignored)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                         cwd=ROOT, capture_output=True, check=True)
    return [f for f in out.stdout.decode().split("\0")
            if f and not f.startswith("results/") and (ROOT / f).is_file()]


def copy_repository(dest: Path) -> Path:
    """Copy the repository (without results/) into ``dest``; returns ``dest``."""
    for f in tracked_files():
        target = dest / f
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, target)
    return dest


def base_env(domain: int, home: Path) -> dict[str, str]:
    """The environment of a ROS user's shell: the venv activated, the ROS underlay on
    ``AMENT_PREFIX_PATH`` (what ``/opt/ros/<distro>/setup.bash`` gives), a private domain."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "AMENT_PREFIX_PATH", "COLCON_PREFIX_PATH")}
    env.update(PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(VENV),
               AMENT_PREFIX_PATH=str(VENV), ROS_DOMAIN_ID=str(domain),
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", ROS_HOME=str(home),
               ROS_LOG_DIR=str(home / "log"), RMW_IMPLEMENTATION="rmw_fastrtps_cpp",
               RCUTILS_COLORIZED_OUTPUT="0", PYTHONUNBUFFERED="1")
    return env


def colcon_build(ws: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["colcon", "build", *args], cwd=ws, env=env, capture_output=True,
                          text=True, timeout=300)


def sourced(ws: Path, command: str) -> list[str]:
    """``bash -c 'source ws/install/setup.bash && exec <command>'``."""
    return ["bash", "-c", f"source {shlex.quote(str(ws / 'install' / 'setup.bash'))} && "
                          f"exec {command}"]


def ros2(ws: Path, env: dict, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """One ``ros2 ...`` command in the sourced workspace (stdout and stderr merged)."""
    cmd = "ros2 " + " ".join(shlex.quote(a) for a in args)
    return subprocess.run(sourced(ws, cmd), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)


def ros2_until(ws: Path, env: dict, pattern: str, *args: str,
               timeout: float = 30.0) -> subprocess.CompletedProcess:
    """``ros2 ...`` repeated until its output matches ``pattern`` (a ``--no-daemon`` command
    discovers the graph from scratch each time and can miss a node that is up)."""
    end = time.monotonic() + timeout
    while True:
        r = ros2(ws, env, *args, timeout=timeout)
        if re.search(pattern, r.stdout) or time.monotonic() > end:
            return r
        time.sleep(0.5)


def topic_rates(ws: Path, env: dict, topics: list[str], seconds: float) -> tuple[dict, str]:
    """Rates (Hz) that ``ros2 topic hz`` prints for ``topics`` after ``seconds`` (Ctrl-C)."""
    cmd = "ros2 topic hz --window 100000 " + " ".join(shlex.quote(t) for t in topics)
    p = subprocess.Popen(sourced(ws, cmd), env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    time.sleep(seconds)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=20)
    rates = {}
    for line in out.splitlines():                  # the last table wins
        m = re.match(r"^(/\S+)\s+([0-9.]+)\s", line)
        if m and m.group(1) in topics:
            rates[m.group(1)] = float(m.group(2))
    return rates, out


def launch(ws: Path, env: dict, args: str, cwd: Path) -> Proc:
    """``ros2 launch sacgmm <args>`` in the sourced workspace, output collected."""
    return Proc(sourced(ws, f"ros2 launch sacgmm {args}"), env, cwd=cwd)


def launched_pids(lines: list[str]) -> dict[str, int]:
    """``{node name: pid}`` of the processes ``ros2 launch`` reported started (latest wins)."""
    return started_pids(lines, LAUNCH_STARTED)


def wait_gone(pids, timeout: float) -> list[int]:
    """Wait until none of ``pids`` runs; the ones still running after ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and any(alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if alive(p)]

