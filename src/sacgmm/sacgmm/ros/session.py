"""Driving a running node graph through episodes from outside, as an operator would (used by
``sacgmm standin-train``)."""
from __future__ import annotations

import time
from pathlib import Path


def trigger(node, executor, name: str, timeout: float = 60.0) -> None:
    """Call the std_srvs/Trigger service ``name`` until it answers with success."""
    from std_srvs.srv import Trigger
    cli = node.create_client(Trigger, name)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cli.wait_for_service(timeout_sec=1.0):
            fut = cli.call_async(Trigger.Request())
            executor.spin_until_future_complete(fut, timeout_sec=5.0)
            if fut.done() and fut.result().success:
                return
        time.sleep(1.0)
    raise RuntimeError(f"service {name} did not answer within {timeout:g} s")


def drive_episodes(proc, domain: int, log: Path, episodes: int, done: int = 0,
                   stall_timeout: float = 600.0) -> None:
    """Drive the graph of process ``proc`` (ROS domain ``domain``) through episodes: once the
    controller and the target detector listen for episode starts and the refiner for windows,
    arm ``iiwa_bridge`` and start the first episode (it runs the next ones by itself); return
    when its episode log ``log`` holds ``episodes`` records (``done`` were there before),
    printing progress; ``RuntimeError`` if the graph exits first or no episode ends for
    ``stall_timeout`` s."""
    import rclpy

    from sacgmm.robot.episodes import read_log
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = rclpy.create_node("standin_train", context=ctx)
    executor = rclpy.executors.SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    try:
        # the first episode only once the controller and the target detector listen for
        # episode starts and the refiner for windows
        end = time.monotonic() + 120.0
        while time.monotonic() < end and not (node.count_subscribers("/sacgmm/episode") >= 2
                                              and node.count_subscribers("/sacgmm/window") >= 1):
            executor.spin_once(timeout_sec=0.5)
        executor.spin_once(timeout_sec=2.0)
        trigger(node, executor, "/sacgmm/arm")
        trigger(node, executor, "/sacgmm/reset_episode")
        t0, last = time.monotonic(), done
        progress = time.monotonic()
        while proc.poll() is None:
            time.sleep(2.0)
            n = len(read_log(log)) if log.exists() else 0
            if n == last and time.monotonic() - progress > stall_timeout:
                raise RuntimeError(f"no episode ended for {stall_timeout:g} s: the graph is "
                                   "stuck (see its log)")
            if n != last:
                progress = time.monotonic()
                recent = read_log(log)[max(0, n - 10):n]
                print(f"{n}/{episodes} episodes, {time.monotonic() - t0:.0f} s; successes in "
                      f"the last {len(recent)}: {sum(bool(r.get('success')) for r in recent)}",
                      flush=True)
                last = n
            if n >= episodes:
                return
        raise RuntimeError(f"the graph exited with status {proc.returncode} (see graph.log)")
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
