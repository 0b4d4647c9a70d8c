"""How a failed episode of a simulated task failed: the kinds every task reports in
``info["failure"]`` at a failed end (:mod:`sacgmm.sim.base`), and their counts for summaries.
Pure Python: reports and the ROS side read it without starting a simulator."""
from __future__ import annotations

from typing import Iterable

#: how a failed episode failed (``info["failure"]``), in the order a task checks them
FAILURES = {
    "safety_box": "left the safety box",
    "through_door": "the hand reached through the door panel (door)",
    "slipped": "the peg slid at least 1 cm in the hand, short of the success depth (peg)",
    "released_early": "the handle slipped out of the grasp and was not held at the end",
    "jammed": "the peg entered the hole but stuck above the success depth (peg)",
    "stalled": "held the handle to the end without finishing the motion",
    "searching": "touched the board beside the hole and never entered it (peg)",
    "never_reached": "never reached the object (peg: the board; lever, door: never grasped)",
}


def count_failures(failures: Iterable[str | None]) -> dict[str, int]:
    """Failed episodes per kind of :data:`FAILURES` (in that order), from a list of
    ``info["failure"]`` values; ``None`` (successes) are left out."""
    failures = list(failures)
    return {k: failures.count(k) for k in FAILURES if k in failures}
