"""Helpers shared by the RL subcommands (``train-gym``, ``bench-rl``); not a subcommand."""
from __future__ import annotations

import argparse
import shlex


def command_line(name: str, args: argparse.Namespace) -> str:
    """The full command, every option spelled out, that reproduces this run."""
    parts = ["sacgmm", name]
    for key, value in sorted(vars(args).items()):
        if key in ("func", "command") or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif isinstance(value, (list, tuple)):
            parts += [flag, *(str(v) for v in value)]
        else:
            parts += [flag, str(value)]
    return " ".join(shlex.quote(p) for p in parts)
