"""Frozen task settings: ``sacgmm/tasks/<task>.yaml`` (geometry, randomisation, noise, horizon).

Every number that defines a task lives in its YAML file, so that it is set in one place and the
calibrated difficulty (``results/calibration.md``) cannot drift silently. The files are data of
the Python package, read with :mod:`importlib.resources`, so they are found the same way from a
source checkout, an editable or plain ``pip install`` and a ``colcon build`` (with or without
``--symlink-install``). A task of your own is a YAML file with the same sections, given by path.
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import yaml

TASKS = ("peg", "lever", "door")

#: keys every task file must define (top-level sections)
REQUIRED_SECTIONS = ("task", "env_id", "control", "robot", "geometry", "randomisation",
                     "noise", "safety_box", "sensor", "expert")


def unknown_task_message(task: str) -> str:
    return f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}"


def task_file(task: str):
    """The packaged definition of a named task (a :class:`importlib.resources` traversable)."""
    if task not in TASKS:
        raise ValueError(unknown_task_message(task))
    return resources.files("sacgmm").joinpath("tasks", f"{task}.yaml")


def load_task_config(task_or_path: str | os.PathLike) -> dict:
    """The settings of a task: a task name (``peg``, ``lever``, ``door``) or a YAML file path.

    Raises ``ValueError`` for an unknown task name or a malformed file (naming the file) and
    ``FileNotFoundError`` if the file is missing.
    """
    name = str(task_or_path)
    if name in TASKS:
        path = task_file(name)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: the packaged definition of task {name!r} is "
                                    "missing (a broken install: reinstall sacgmm)")
    elif name.endswith((".yaml", ".yml")):
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: task configuration file not found")
    else:
        raise ValueError(unknown_task_message(name))
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
