"""Append-only episode log (JSON lines) that survives a crash.

Every record is one line ``json.dumps(record) + "\\n"``, written with a single ``write`` on a
file opened in append mode, then flushed and ``fsync``-ed before :meth:`EpisodeLog.append`
returns: after a crash (power loss, ``kill -9``) every completed append is on disk, and at
most the line being written is torn. :func:`read_log` skips such a torn last line, and
:meth:`EpisodeLog.next_index` continues the episode numbering after a restart.

A record of the real-robot bridge (``sacgmm.robot.bridge``) holds: ``episode`` (index),
``start_time`` (UNIX s), ``duration`` (s), ``start_position`` / ``end_position`` (TCP, world
frame, m), ``start_joints`` (rad), ``reward`` (sum of rewards received), ``max_reward``,
``success`` (bool), ``end_reason`` (success | timeout | reset | stopped | shutdown).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path


def _clean(v):
    """JSON-safe copy: numpy scalars/arrays to Python, non-finite floats to None."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if hasattr(v, "tolist"):
        return _clean(v.tolist())
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def read_log(path: str | os.PathLike) -> list[dict]:
    """All complete records of a log (a torn or unparsable line is skipped); [] if absent."""
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


class EpisodeLog:
    """See the module docstring. ``path`` empty: records are kept in memory only."""

    def __init__(self, path: str | os.PathLike | None):
        self.path = Path(path) if path else None
        self.records: list[dict] = []
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def next_index(self) -> int:
        """1 + the largest ``episode`` index in the log (0 for a new log)."""
        recs = read_log(self.path) if self.path is not None else self.records
        idx = [int(r["episode"]) for r in recs if isinstance(r.get("episode"), int)]
        return max(idx) + 1 if idx else 0

    def append(self, record: dict) -> None:
        rec = _clean(record)
        self.records.append(rec)
        if self.path is None:
            return
        line = json.dumps(rec, sort_keys=True, allow_nan=False) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            # a torn previous line (crash mid-write) must not swallow this record
            if os.fstat(fd).st_size > 0:
                with open(self.path, "rb") as f:
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        line = "\n" + line
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
