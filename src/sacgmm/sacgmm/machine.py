"""A description of the machine a figure was measured on (saved beside every result)."""
from __future__ import annotations

import os
import platform
import sys
from typing import Any


def machine_info() -> dict[str, Any]:
    """Platform, CPU, Python and library versions, and the load when measured.

    Keys: ``platform``, ``machine``, ``processor``, ``cpu_count``, ``cpu_model`` (Linux),
    ``python``, ``numpy`` (versions), ``load_average`` (1, 5, 15 min); when the measuring
    process has imported them, ``torch`` with ``torch_threads`` (intra-op threads) and
    ``pybullet`` (versions).
    """
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
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    if "pybullet" in sys.modules:
        from importlib.metadata import PackageNotFoundError, version
        try:
            info["pybullet"] = version("pybullet")
        except PackageNotFoundError:
            pass
    return info
