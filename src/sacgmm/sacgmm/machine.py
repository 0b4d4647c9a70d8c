"""A description of the machine a figure was measured on (saved beside every result)."""
from __future__ import annotations

import os
import platform
import sys
from typing import Any


def machine_info() -> dict[str, Any]:
    """Platform, CPU, Python and library versions, and the load when measured."""
    import numpy

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        info["load_average"] = list(os.getloadavg())
    except OSError:
        pass
    return info
