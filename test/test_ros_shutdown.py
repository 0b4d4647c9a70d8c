"""Ctrl-C/SIGTERM stop a node between callbacks, never inside one (``params.run_node``).

A ``KeyboardInterrupt`` raised in the middle of a callback can land inside a pybind11 call of
rclpy, where it turns into an unrelated ``RuntimeError`` and the node exits with status 1 (seen
in CI on ``iiwa_bridge``). The node here signals itself from inside a timer callback and then
keeps working; the callback must finish and the process must exit 0.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from proc_helpers import domain_id  # noqa: E402

NODE = textwrap.dedent("""
    import os, signal, sys, time
    from rclpy.node import Node
    from sacgmm.ros.params import run_node

    marker, signum = sys.argv[1], int(sys.argv[2])

    class SelfStopping(Node):
        def __init__(self):
            super().__init__("self_stopping")
            self.create_timer(0.05, self.tick)

        def tick(self):
            os.kill(os.getpid(), signum)
            end = time.monotonic() + 0.3    # keep working after the signal
            while time.monotonic() < end:
                sum(range(1000))
            with open(marker, "a") as f:
                f.write("callback finished\\n")

    sys.exit(run_node(SelfStopping))
""")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_inside_a_callback_lets_it_finish_and_exits_0(tmp_path, signum):
    script = tmp_path / "node.py"
    script.write_text(NODE)
    marker = tmp_path / "marker.txt"
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id(f"shutdown-{int(signum)}")))
    p = subprocess.run([sys.executable, str(script), str(marker), str(int(signum))],
                       capture_output=True, text=True, timeout=60, env=env)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert "Traceback" not in out, out
    assert marker.read_text().splitlines() == ["callback finished"], out
