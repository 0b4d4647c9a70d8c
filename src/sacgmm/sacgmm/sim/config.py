"""Frozen task settings: ``config/tasks/<task>.yaml`` (geometry, randomisation, noise, horizon).

Every number that defines a task lives in its YAML file, so that it is set in one place and the
calibrated difficulty (``results/calibration.md``) cannot drift silently. The directory is found
in this order: the ``SACGMM_TASK_CONFIG_DIR`` environment variable; ``config/tasks`` of the
source checkout this package runs from; ``share/sacgmm/config/tasks`` of an installed prefix.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

TASKS = ("peg", "lever", "door")

#: keys every task file must define (top-level sections)
REQUIRED_SECTIONS = ("task", "env_id", "control", "robot", "geometry", "randomisation",
                     "noise", "safety_box", "sensor", "expert")


def unknown_task_message(task: str) -> str:
    return f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}"


def config_dir() -> Path:
    """The directory holding the task YAML files (see the module docstring)."""
    env = os.environ.get("SACGMM_TASK_CONFIG_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    candidates = [here.parents[4] / "config" / "tasks",
                  Path(sys.prefix) / "share" / "sacgmm" / "config" / "tasks"]
    for c in candidates:
        if c.is_dir():
            return c
    return candidates[0]


def load_task_config(task_or_path: str | os.PathLike) -> dict:
    """The settings of a task: a task name (``peg``, ``lever``, ``door``) or a YAML file path.

    Raises ``ValueError`` for an unknown task name or a malformed file (naming the file) and
    ``FileNotFoundError`` if the file is missing.
    """
    name = str(task_or_path)
    if name in TASKS:
        path = config_dir() / f"{name}.yaml"
    elif name.endswith((".yaml", ".yml")):
        path = Path(name)
    else:
        raise ValueError(unknown_task_message(name))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: task configuration file not found "
                                "(set SACGMM_TASK_CONFIG_DIR to the directory holding it)")
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: expected a mapping of settings at the top level")
    missing = [k for k in REQUIRED_SECTIONS if k not in cfg]
    if missing:
        raise ValueError(f"{path}: missing section(s) {', '.join(missing)}")
    cfg["_path"] = str(path)
    return cfg
