"""Demonstrations: validation, the on-disk format, and velocity estimation.

A demonstration is an array of end-effector positions ``(T, d)`` in metres, expressed in the
*target frame* (the skill's attractor, e.g. the hole or the door handle, is the origin),
sampled every ``dt`` seconds.

On-disk format (``sacgmm-demo`` version 1): one UTF-8 CSV file per demonstration, a few
``# key: value`` header lines, a column-name row, then one row per sample::

    # sacgmm-demo: 1
    # dt: 0.0333333333
    # frame: target
    # units: m
    x,y,z
    0.1032,-0.0410,0.2011
    ...

Columns are named ``x, y, z`` for ``d <= 3`` and ``x0 .. x{d-1}`` beyond. A demonstration set
is a directory of such files (read in sorted name order). The files load with any CSV reader
(``numpy.loadtxt(path, delimiter=",", comments="#", skiprows=...)``) and are written
atomically.

Velocities are estimated by a Savitzky-Golay filter (local quadratic fit over a 7-sample
window, first derivative): a finite difference with light smoothing that removes
sensor/teleoperation jitter without shifting the signal in time. Short demonstrations use the
largest odd window that fits (a 3-sample demo gets the exact derivative of a parabola).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.signal import savgol_filter

from sacgmm.fileio import atomic_write_text

DEMO_FORMAT = "sacgmm-demo"
DEMO_VERSION = 1
MIN_DEMO_POINTS = 3
SMOOTHING_WINDOW = 7


def column_names(dim: int) -> list[str]:
    """Column names for a ``dim``-dimensional demonstration."""
    return ["x", "y", "z"][:dim] if dim <= 3 else [f"x{i}" for i in range(dim)]


def check_dt(dt: float) -> float:
    """Return ``dt`` as a float, or raise ``ValueError`` if it is not a positive finite time (s)."""
    try:
        value = float(dt)
    except (TypeError, ValueError):
        raise ValueError(f"dt must be a positive number of seconds, got {dt!r}") from None
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"dt must be a positive finite number of seconds, got {dt!r}")
    return value


def validate_demos(demos: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Check a list of demonstrations and return them as float64 arrays ``(T_i, d)``.

    Raises ``ValueError`` naming the demonstration index and the problem: not a 2-D array,
    fewer than 3 points, NaN/inf values, or a dimension different from demo 0.
    """
    if isinstance(demos, np.ndarray):
        demos = [demos] if demos.ndim == 2 else list(demos)
    if len(demos) == 0:
        raise ValueError("no demonstrations given")
    out: list[np.ndarray] = []
    dim = None
    for i, demo in enumerate(demos):
        try:
            arr = np.asarray(demo, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"demo {i}: not a numeric array ({exc})") from None
        if arr.ndim != 2:
            raise ValueError(f"demo {i}: expected a 2-D array (T, d) of positions, got shape {arr.shape}")
        if arr.shape[1] < 1:
            raise ValueError(f"demo {i}: has dimension 0, expected d >= 1 columns")
        if arr.shape[0] < MIN_DEMO_POINTS:
            raise ValueError(
                f"demo {i}: has {arr.shape[0]} point(s), needs at least {MIN_DEMO_POINTS}")
        bad = ~np.isfinite(arr)
        if bad.any():
            row = int(np.argwhere(bad)[0, 0])
            raise ValueError(f"demo {i}: contains NaN or inf (first at row {row})")
        if dim is None:
            dim = arr.shape[1]
        elif arr.shape[1] != dim:
            raise ValueError(
                f"demo {i}: has dimension {arr.shape[1]}, but demo 0 has dimension {dim} "
                "(all demonstrations must share d)")
        out.append(arr)
    return out


def estimate_velocities(positions: np.ndarray, dt: float) -> np.ndarray:
    """Velocities (m/s) of one demonstration ``(T, d)`` sampled every ``dt`` seconds.

    Savitzky-Golay first derivative (quadratic, window ``min(7, T)`` rounded down to odd).
    """
    dt = check_dt(dt)
    positions = np.asarray(positions, dtype=np.float64)
    n = positions.shape[0]
    window = min(SMOOTHING_WINDOW, n if n % 2 == 1 else n - 1)
    polyorder = min(2, window - 1)
    return savgol_filter(positions, window, polyorder, deriv=1, delta=dt, axis=0, mode="interp")


def gain_scale(x: np.ndarray, v: np.ndarray) -> float:
    """The demonstrations' gain scale ``sqrt(mean |v|^2 / mean |x|^2)`` (1/s) for positions
    ``x`` (m) and velocities ``v`` (m/s), both (n, d): their typical speed over their typical
    distance from the attractor."""
    return math.sqrt(float(np.mean(np.sum(v ** 2, 1))) /
                     max(float(np.mean(np.sum(x ** 2, 1))), 1e-300))


def stack_demos(demos: Sequence[np.ndarray], dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Validated positions and estimated velocities of all demos, stacked: ``(N, d), (N, d)``."""
    demos = validate_demos(demos)
    dt = check_dt(dt)
    x = np.concatenate(demos, axis=0)
    v = np.concatenate([estimate_velocities(d, dt) for d in demos], axis=0)
    return x, v


@dataclass(frozen=True)
class DemoSet:
    """Demonstrations loaded from disk: positions in ``frame`` (metres), sampled every ``dt`` s."""

    positions: list[np.ndarray]
    dt: float
    frame: str = "target"
    paths: list[Path] = field(default_factory=list)

    @property
    def dim(self) -> int:
        return self.positions[0].shape[1]

    def __len__(self) -> int:
        return len(self.positions)


def format_demo(positions: np.ndarray, dt: float, frame: str = "target") -> str:
    """The text of a ``sacgmm-demo`` v1 file for one demonstration."""
    (positions,) = validate_demos([positions])
    dt = check_dt(dt)
    if not frame or any(c in frame for c in "\r\n"):
        raise ValueError(f"frame must be a non-empty single-line name, got {frame!r}")
    lines = [
        f"# {DEMO_FORMAT}: {DEMO_VERSION}",
        f"# dt: {dt!r}",
        f"# frame: {frame}",
        "# units: m",
        ",".join(column_names(positions.shape[1])),
    ]
    lines += [",".join(repr(float(v)) for v in row) for row in positions]
    return "\n".join(lines) + "\n"


def save_demo(path: str | os.PathLike, positions: np.ndarray, dt: float,
              frame: str = "target") -> Path:
    """Write one demonstration atomically in the ``sacgmm-demo`` v1 format."""
    return atomic_write_text(path, format_demo(positions, dt, frame))


def save_demos(directory: str | os.PathLike, demos: Sequence[np.ndarray], dt: float,
               frame: str = "target", prefix: str = "demo") -> list[Path]:
    """Write a demonstration set as ``directory/{prefix}_000.csv, ...``."""
    demos = validate_demos(demos)
    directory = Path(directory)
    return [save_demo(directory / f"{prefix}_{i:03d}.csv", d, dt, frame) for i, d in enumerate(demos)]


def _parse_demo_file(path: Path) -> tuple[np.ndarray, float, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (expected a {DEMO_FORMAT} CSV)") from None
    header: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines) and lines[i].startswith("#"):
        key, sep, value = lines[i][1:].partition(":")
        if sep:
            header[key.strip()] = value.strip()
        i += 1
    if DEMO_FORMAT not in header:
        raise ValueError(f"{path}: missing the '# {DEMO_FORMAT}: {DEMO_VERSION}' header line")
    if header[DEMO_FORMAT] != str(DEMO_VERSION):
        raise ValueError(f"{path}: unsupported {DEMO_FORMAT} version {header[DEMO_FORMAT]!r} "
                         f"(this sacgmm reads version {DEMO_VERSION})")
    if "dt" not in header:
        raise ValueError(f"{path}: missing the '# dt: <seconds>' header line")
    try:
        dt = check_dt(header["dt"])
    except ValueError as exc:
        raise ValueError(f"{path}: field 'dt': {exc}") from None
    frame = header.get("frame", "target")
    if i >= len(lines):
        raise ValueError(f"{path}: missing the column-name row and data")
    columns = [c.strip() for c in lines[i].split(",")]
    dim = len(columns)
    if columns != column_names(dim):
        raise ValueError(f"{path}: column-name row {lines[i]!r}; expected "
                         f"{','.join(column_names(dim))!r}")
    rows = []
    for lineno, line in enumerate(lines[i + 1:], start=i + 2):
        if not line.strip():
            continue
        parts = line.split(",")
        if len(parts) != dim:
            raise ValueError(f"{path}: line {lineno} has {len(parts)} values, expected {dim} "
                             "(truncated or corrupt file?)")
        try:
            rows.append([float(p) for p in parts])
        except ValueError:
            raise ValueError(f"{path}: line {lineno} is not numeric: {line!r}") from None
    positions = np.asarray(rows, dtype=np.float64).reshape(-1, dim)
    try:
        validate_demos([positions])
    except ValueError as exc:
        raise ValueError(f"{path}: {str(exc).removeprefix('demo 0: ')}") from None
    return positions, dt, frame


def load_demos(path: str | os.PathLike) -> DemoSet:
    """Load a demonstration set: a directory of ``*.csv`` demo files, or a single demo file.

    Raises ``FileNotFoundError`` for a missing path and ``ValueError`` naming the file and
    the problem for a malformed one (bad header, wrong column count, NaN, too few points,
    different dt, frame or dimension between files).
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.csv"))
        if not files:
            raise ValueError(f"{path}: no demonstration files (*.csv) in this directory")
    elif path.exists():
        files = [path]
    else:
        raise FileNotFoundError(f"{path}: no such demonstration file or directory")
    positions, dt0, frame0 = [], None, None
    for f in files:
        pos, dt, frame = _parse_demo_file(f)
        if dt0 is None:
            dt0, frame0 = dt, frame
        else:
            if not math.isclose(dt, dt0, rel_tol=1e-9):
                raise ValueError(f"{f}: dt {dt} differs from {files[0].name}'s dt {dt0}")
            if frame != frame0:
                raise ValueError(f"{f}: frame {frame!r} differs from {files[0].name}'s {frame0!r}")
            if pos.shape[1] != positions[0].shape[1]:
                raise ValueError(f"{f}: dimension {pos.shape[1]} differs from {files[0].name}'s "
                                 f"{positions[0].shape[1]}")
        positions.append(pos)
    return DemoSet(positions=positions, dt=float(dt0), frame=str(frame0), paths=list(files))
