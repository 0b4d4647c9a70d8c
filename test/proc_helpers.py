"""Process helpers shared by the tests that start node graphs as real processes."""
from __future__ import annotations

import os
import re
import time
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
