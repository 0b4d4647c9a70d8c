"""Perception health on ``/diagnostics``: what stops the arm when a camera stops or a marker is
lost.

Each perception node of sacgmm reports one ``diagnostic_msgs/DiagnosticStatus`` named
``sacgmm/<node>`` (``hardware_id``: the topic it watches) in a ``DiagnosticArray`` on
``/diagnostics`` every ``1 / HEALTH_HZ`` s: level ``OK``, or ``ERROR`` with the reason as its
message (``no image on /wrist_camera/image_raw for 1.0 s``). ``iiwa_bridge`` pauses the arm
while any ``sacgmm/`` source is in ``ERROR`` (:meth:`sacgmm.robot.bridge.BridgeCore.set_fault`)
and resumes when that same source reports ``OK``: a node that died in ``ERROR`` keeps the arm
paused until it is back (the graph restarts it) and says so. The standard tools read it too:
``ros2 topic echo /diagnostics``, ``rqt_robot_monitor``.
"""
from __future__ import annotations

import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

PREFIX = "sacgmm/"
HEALTH_HZ = 2.0
TOPIC = "/diagnostics"


class ImageWatch:
    """Whether images keep coming on ``topic``: a fault when none came for ``timeout`` s."""

    def __init__(self, topic: str, timeout: float):
        self.topic, self.timeout = topic, float(timeout)
        self.last: float | None = None            # monotonic time of the last image
        self.started = time.monotonic()

    def seen(self, now: float | None = None) -> None:
        self.last = time.monotonic() if now is None else now

    def fault(self, now: float | None = None) -> str | None:
        now = time.monotonic() if now is None else now
        if self.last is None:
            return (f"no image on {self.topic} yet" if now - self.started > self.timeout
                    else None)
        age = now - self.last
        return f"no image on {self.topic} for {age:.1f} s" if age > self.timeout else None


class HealthReporter:
    """Publishes the node's status on ``/diagnostics`` every ``1 / HEALTH_HZ`` s from
    ``check()`` (the fault, or None), and logs each change."""

    def __init__(self, node, hardware_id: str, check):
        self.node, self.check = node, check
        self.name = PREFIX + node.get_name()
        self.hardware_id = hardware_id
        self.last: str | None = None
        self.pub = node.create_publisher(DiagnosticArray, TOPIC, 10)
        node.create_timer(1.0 / HEALTH_HZ, self.publish)

    def publish(self) -> None:
        fault = self.check()
        if fault != self.last:
            if fault:
                self.node.get_logger().error(f"{fault}: the arm pauses")
            else:
                self.node.get_logger().info("healthy again")
            self.last = fault
        level = DiagnosticStatus.ERROR if fault else DiagnosticStatus.OK
        status = DiagnosticStatus(level=level, name=self.name, message=fault or "ok",
                                  hardware_id=self.hardware_id)
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.node.get_clock().now().to_msg()
        self.pub.publish(msg)


def faults_in(msg: DiagnosticArray) -> list[tuple[str, str | None]]:
    """``(source, fault or None)`` for each ``sacgmm/`` status of ``msg`` (ERROR and STALE are
    faults; OK and WARN are not)."""
    out = []
    for s in msg.status:
        if s.name.startswith(PREFIX):
            level = s.level[0] if isinstance(s.level, (bytes, bytearray)) else int(s.level)
            bad = level >= DiagnosticStatus.ERROR[0]
            out.append((s.name, (s.message or "error") if bad else None))
    return out
