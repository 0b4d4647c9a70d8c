"""Node parameters: declaration with descriptors, start-up validation, and the ``main`` helper.

Every node describes its parameters as a tuple of :class:`Param` (name, default, description,
numeric range or string choices). :func:`declare` declares them with a
``rcl_interfaces/ParameterDescriptor`` (so ``ros2 param describe`` documents them), reads the
values (from ``--params-file``/``-p`` overrides), and checks them. Any problem -- a value of
the wrong type, out of its range, not one of the choices, or a parameter name in the file that
the node does not declare (a typo) -- raises :class:`StartupError` naming the parameter;
:func:`run_node` prints it and exits with status 2 before the node does anything.
"""
from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import ParameterException

from sacgmm.processes import stop_with_parent

# rclpy's own parameters, always accepted in a parameter file
_BUILTIN = {"use_sim_time", "start_type_description_service", "qos_overrides"}


class StartupError(RuntimeError):
    """A node cannot start (bad parameter, missing file); the message names the cause."""


@dataclass(frozen=True)
class Param:
    """One parameter: ``default`` fixes its type (bool, int, float, str, list of float/str)."""

    name: str
    default: Any
    description: str
    range: tuple[float, float] | None = None     # inclusive numeric range
    choices: tuple[str, ...] = field(default_factory=tuple)
    read_only: bool = False

    def descriptor(self) -> ParameterDescriptor:
        desc = self.description
        if self.choices:
            desc += f" (one of: {', '.join(self.choices)})"
        d = ParameterDescriptor(name=self.name, description=desc, read_only=self.read_only)
        if isinstance(self.default, float):
            # accept "rate_hz: 1000" for a float parameter (checked and converted in declare)
            d.dynamic_typing = True
        if self.range is not None:
            lo, hi = self.range
            if isinstance(self.default, bool):
                pass
            elif isinstance(self.default, int):
                d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=0)]
            elif isinstance(self.default, float):
                d.floating_point_range = [FloatingPointRange(from_value=float(lo),
                                                             to_value=float(hi), step=0.0)]
        return d


def declare(node, params: tuple[Param, ...], check_unknown: bool = True) -> dict[str, Any]:
    """Declare ``params`` on ``node`` and return ``name -> value``; :class:`StartupError` if bad.
    ``check_unknown`` False: the node declares more parameters and then calls
    :func:`check_unknown_parameters` itself."""
    values: dict[str, Any] = {}
    for p in params:
        try:
            node.declare_parameter(p.name, p.default, p.descriptor())
            value = node.get_parameter(p.name).value
        except ParameterException as exc:
            raise StartupError(f"parameter '{p.name}': {exc}") from None
        except (TypeError, ValueError) as exc:
            raise StartupError(f"parameter '{p.name}': {exc}") from None
        if isinstance(p.default, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise StartupError(f"parameter '{p.name}': expected a number, got {value!r}")
            value = float(value)
        if p.choices and value not in p.choices:
            raise StartupError(f"parameter '{p.name}': {value!r} is not one of {list(p.choices)}")
        if p.range is not None and not isinstance(value, (bool, str, list)):
            lo, hi = p.range
            if not (lo <= value <= hi):
                raise StartupError(f"parameter '{p.name}': {value!r} is outside [{lo}, {hi}]")
        values[p.name] = value
    if check_unknown:
        check_unknown_parameters(node)
    return values


def check_unknown_parameters(node) -> None:
    """:class:`StartupError` if the parameter file or ``-p`` set a parameter ``node`` has not
    declared (a typo)."""
    overrides = getattr(node, "_parameter_overrides", {}) or {}
    unknown = sorted(n for n in overrides if not node.has_parameter(n) and n not in _BUILTIN
                     and not n.startswith("qos_overrides."))
    if unknown:
        declared = sorted(n for n in node._parameters if n not in _BUILTIN)
        raise StartupError(f"unknown parameter(s) {unknown} for node '{node.get_name()}' "
                           f"(declared: {declared})")


def ensure_ros_environment() -> None:
    """Environment defaults for rclpy from a venv: the only RMW the PyPI wheels ship."""
    os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")


def run_node(factory: Callable[[], Any], args: list[str] | None = None,
             executor_factory: Callable[[], Any] | None = None) -> int:
    """``rclpy.init``, build the node with ``factory``, spin until Ctrl-C/SIGTERM, clean up.

    Ctrl-C and SIGTERM become a shutdown request, never a ``KeyboardInterrupt``: rclpy's own
    handler shuts the context down and the executor returns. A ``KeyboardInterrupt`` raised
    between bytecodes can land inside a pybind11 call (e.g. while rclpy converts a message
    type in ``take_message``), where it surfaces as an unrelated ``RuntimeError`` and the node
    would exit with a traceback instead of cleanly.

    The node also stops (as on Ctrl-C) when the process that started it dies: ``ros2 launch``
    stopped by SIGTERM or SIGKILL leaves its processes running, and a controller or refiner
    nobody supervises must not run on.

    Returns 0 on a normal shutdown, 2 if the node could not start (the reason on stderr).
    """
    ensure_ros_environment()
    stop_with_parent()
    stop = {"signal": None}

    def request_stop(signum, _frame):
        stop["signal"] = signum   # rclpy's handler, which chains to this one, shuts down

    # installed before rclpy.init so that rclpy's handlers chain to these, not to the defaults
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            rclpy.init(args=args)
        except Exception as exc:  # e.g. a parameter file rcl cannot parse
            print(f"error: cannot initialise ROS: {exc}", file=sys.stderr, flush=True)
            return 2
        return _build_and_spin(factory, executor_factory, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _build_and_spin(factory, executor_factory, stop: dict) -> int:
    from rclpy.executors import ExternalShutdownException

    node = None
    try:
        try:
            node = factory()
        except StartupError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return 2
        if stop["signal"] is not None:   # stopped while the node was being built
            return 0
        executor = executor_factory() if executor_factory else rclpy.executors.SingleThreadedExecutor()
        executor.add_node(node)
        try:
            # bounded waits rather than executor.spin(): rclpy's signal handler wakes the
            # executor *before* it shuts the context down, and a wait entered in between (the
            # wake-up consumed, the context still ok) would sleep until the next message or
            # timer, for ever in a node without timers
            while rclpy.ok() and stop["signal"] is None:
                executor.spin_once(timeout_sec=0.1)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        except Exception:
            if stop["signal"] is None and rclpy.ok():
                raise
            # the context went away under a callback because we were asked to stop
        return 0
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if close is not None:
                close()
            node.destroy_node()
        rclpy.try_shutdown()
