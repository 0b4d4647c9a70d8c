"""Gripper control on a real robot, without ROS: the simulation's grasp rule for a real hand.

In simulation the fingers close by themselves when the TCP comes within the capture radius of
the handle and reopen when the episode ends (:class:`sacgmm.sim.base.Grasp`). On a robot the
same rule has to command a real gripper; :class:`GripperCore` decides those commands once per
control period, and the ``iiwa_bridge`` node sends them to a ros2_control forward command
controller (``std_msgs/Float64MultiArray``, one position per gripper joint) and reads the
gripper's ``sensor_msgs/JointState``.

The rule
  * while an episode runs, the gripper closes (``closed_positions``) once the TCP is within
    ``capture_radius`` (m) of the handle: the segment ``handle + [-1, 1] * handle_half`` with
    ``handle = target + handle_offset`` (world frame, m; ``target`` is the perceived target,
    ``/sacgmm/target_pose``), and stays closed until the episode ends;
  * unless it closed on nothing: a fresh state within ``empty_tolerance`` of
    ``closed_positions`` (every joint; a hand on the handle stops at its width) is a missed
    grasp, and the gripper opens again (change ``"missed"``). Once it is confirmed open it may
    close again within the capture radius, as the simulated grasp retries when the hand comes
    back to the handle;
  * when no episode runs (it ended: success, time limit, reset; or before the first), the
    gripper opens (``open_positions``);
  * halted (``/sacgmm/stop``): nothing is commanded, the hand keeps what it holds;
  * the gripper's state is stale when no joint state came for ``state_timeout`` s (or none
    yet): :meth:`GripperCore.state_fresh` is False, and the bridge then stops the arm as it
    does for a stale arm state;
  * outside an episode the arm moves (homing, idle commands) only once the hand is confirmed
    open (:meth:`GripperCore.confirmed_open`: a fresh state within ``open_tolerance`` of
    ``open_positions``): a hand still closed on the handle, or one of unknown state, would
    drag the handle along.

A command is sent when it changes and again every ``resend`` s (a lost message is repaired).
``max_effort`` (one value per joint, the driver's units), when given, goes with every command
(``iiwa_bridge`` publishes it on its effort topic) so a closing hand cannot crush the handle.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

OPEN, CLOSED = "open", "closed"


@dataclass
class GripperConfig:
    """The gripper's joints and the handle (units in the module docstring)."""

    open_positions: np.ndarray
    closed_positions: np.ndarray
    handle_offset: np.ndarray = field(default_factory=lambda: np.zeros(3))
    handle_half: np.ndarray = field(default_factory=lambda: np.zeros(3))
    capture_radius: float = 0.03
    state_timeout: float = 0.2
    resend: float = 1.0
    max_effort: np.ndarray | None = None
    open_tolerance: float = 0.005
    empty_tolerance: float = 0.002

    def __post_init__(self):
        self.open_positions = _finite(self.open_positions, "open_positions")
        self.closed_positions = _finite(self.closed_positions, "closed_positions")
        if self.open_positions.shape != self.closed_positions.shape:
            raise ValueError("open_positions and closed_positions need one value per gripper "
                             f"joint each, got {self.open_positions.size} and "
                             f"{self.closed_positions.size}")
        self.handle_offset = _finite(self.handle_offset, "handle_offset", 3)
        self.handle_half = _finite(self.handle_half, "handle_half", 3)
        if self.max_effort is not None:
            self.max_effort = _finite(self.max_effort, "max_effort", self.open_positions.size)
            if (self.max_effort <= 0).any():
                raise ValueError("max_effort must be positive")
        for name in ("capture_radius", "state_timeout", "resend", "open_tolerance",
                     "empty_tolerance"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")


def _finite(value, name: str, size: int | None = None) -> np.ndarray:
    v = np.asarray(value, dtype=float).ravel()
    if v.size == 0 or (size is not None and v.size != size) or not np.isfinite(v).all():
        want = f"{size} finite numbers" if size is not None else "finite numbers"
        raise ValueError(f"{name}: expected {want}, got {value!r}")
    return v


def closest_on_segment(p: np.ndarray, centre: np.ndarray, half: np.ndarray) -> np.ndarray:
    """The point of the segment ``centre + u * half``, ``u`` in [-1, 1], closest to ``p``
    (``centre`` itself for a zero ``half``). Also the simulation's rule for where a bar
    handle is grasped (:class:`sacgmm.sim.base.Grasp`)."""
    h2 = float(half @ half)
    u = 0.0 if h2 == 0.0 else float(np.clip((p - centre) @ half / h2, -1.0, 1.0))
    return centre + u * half


def distance_to_segment(p: np.ndarray, centre: np.ndarray, half: np.ndarray) -> float:
    """Distance (m) from ``p`` to the segment ``centre + u * half``, ``u`` in [-1, 1]."""
    return float(np.linalg.norm(p - closest_on_segment(p, centre, half)))


class GripperCore:
    """See the module docstring. ``now`` arguments are monotonic seconds."""

    def __init__(self, cfg: GripperConfig):
        self.cfg = cfg
        self.wanted = OPEN
        self.positions: np.ndarray | None = None     # the last joint state (driver units)
        self.state_time = -math.inf
        self._sent: str | None = None
        self._missed = False
        self._sent_time = -math.inf

    def set_state(self, positions, now: float) -> bool:
        """A gripper joint state (positions in ``open_positions`` order); False if unusable."""
        q = np.asarray(positions, dtype=float).ravel()
        if q.size != self.cfg.open_positions.size or not np.isfinite(q).all():
            return False
        self.positions, self.state_time = q, now
        return True

    def state_fresh(self, now: float) -> bool:
        return self.positions is not None and now - self.state_time <= self.cfg.state_timeout

    def confirmed_open(self, now: float) -> bool:
        """A fresh state within ``open_tolerance`` of ``open_positions`` (every joint)."""
        return self.state_fresh(now) and bool(np.all(
            np.abs(self.positions - self.cfg.open_positions) <= self.cfg.open_tolerance))

    def closed_on_nothing(self, now: float) -> bool:
        """A fresh state within ``empty_tolerance`` of ``closed_positions`` (every joint)."""
        return self.state_fresh(now) and bool(np.all(
            np.abs(self.positions - self.cfg.closed_positions) <= self.cfg.empty_tolerance))

    def handle(self, target: np.ndarray) -> np.ndarray:
        """The handle's centre (world, m) for the perceived ``target`` (world, m)."""
        return np.asarray(target, dtype=float) + self.cfg.handle_offset

    def step(self, now: float, running: bool, halted: bool, tcp: np.ndarray | None,
             target: np.ndarray | None) -> tuple[np.ndarray | None, str | None]:
        """The command to send now (positions, or None: send nothing) and the change of
        wanted state (``"open"``, ``"closed"``, ``"missed"`` (opens again) or None), for the
        episode state (``running``, ``halted``), the TCP position and the perceived target
        (world, m; None: unknown)."""
        if halted:
            return None, None
        missed = False
        if not running:
            wanted = OPEN
            self._missed = False
        elif self.wanted == CLOSED:
            missed = self.closed_on_nothing(now)
            wanted = OPEN if missed else CLOSED
        elif self._missed and not self.confirmed_open(now):
            wanted = OPEN                          # after a miss: close again only once open
        elif tcp is not None and target is not None and distance_to_segment(
                np.asarray(tcp, dtype=float), self.handle(target),
                self.cfg.handle_half) <= self.cfg.capture_radius:
            wanted = CLOSED
        else:
            wanted = OPEN
        change = None
        if wanted != self.wanted:
            self.wanted = wanted
            change = "missed" if missed else wanted
            self._missed = missed
        if self._sent == self.wanted and now - self._sent_time < self.cfg.resend:
            return None, change
        self._sent, self._sent_time = self.wanted, now
        return (self.cfg.closed_positions if self.wanted == CLOSED
                else self.cfg.open_positions).copy(), change
