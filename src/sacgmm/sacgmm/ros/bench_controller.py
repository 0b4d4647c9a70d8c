"""The gmm_controller's loop in real-time mode while the sim graph runs.

Starts the ``sim_peg`` graph with a private ROS_DOMAIN_ID: ``sim_bridge`` in real time at
30 Hz with tactile images, ``gmm_controller`` in timer mode at ``--rate`` Hz,
``camera_encoder`` and, by default (``--refiner train``), ``sac_refiner`` *training* online
(SAC-AE updates on the tactile images, acting before updating so that a window's delta is not
delayed by the gradient step). With ``--refiner stub`` this process answers every window end
with a random delta-theta instead (the controller's own cost without the training load). The
controller measures its own timer periods; written to ``--out``: achieved rate, p50/p99/max of
|period - nominal| and the window-end -> delta-applied latency, next to a bare rclpy timer
measured on the same machine just before (the machine is shared: its load average is recorded).

Run by ``sacgmm bench-ros`` (:mod:`sacgmm.cli.bench_ros`, which defines the options).
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from sacgmm.stats import period_jitter


def run_benchmark(args) -> int:
    """Run the benchmark described by ``args`` (the ``sacgmm bench-ros`` options); exit code."""
    import numpy as np

    from sacgmm.machine import machine_info
    from sacgmm.ros.bringup import Supervisor, build_commands

    os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    os.environ["ROS_DOMAIN_ID"] = str(args.domain_id)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    import rclpy
    from std_msgs.msg import Float64MultiArray

    from sacgmm.ros.convert import from_multiarray, to_multiarray
    from sacgmm.ros.layouts import DeltaThetaMessage, decode_window, encode_delta
    from sacgmm.skill import load_skill

    skill = load_skill(args.skill)
    tmp = Path(tempfile.mkdtemp(prefix="sacgmm_bench_ros_"))
    timing = tmp / "timing.json"
    train = args.refiner == "train"
    cmds = build_commands("sim_peg", {"skill": str(args.skill), "control_mode": "timer",
                                      "sim_mode": "realtime", "mode": "train" if train else "eval"})
    window = args.window_steps or max(1, round(32 * args.rate / 30.0))
    extra = {"gmm_controller": ["-p", f"rate_hz:={float(args.rate)}", "-p", f"timing_log:={timing}",
                                "-p", f"window_steps:={window}",
                                *(["-p", f"marker_rate_hz:={args.marker_rate}"]
                                  if args.marker_rate is not None else []),
                                "-p", f"rt_priority:={args.rt_priority}",
                                "-p", f"timer_impl:={args.timer_impl}"],
             "sac_refiner": ["-p", "update_order:=act_then_update", "-p", "learning_starts:=5",
                             "-p", f"window_steps:={window}",
                             "-p", f"save_path:={tmp / 'policy.pt'}"]}
    cmds = [(n, argv + extra.get(n, [])) for n, argv in cmds if train or n != "sac_refiner"]
    log = open(tmp / "graph.log", "w")
    sup = Supervisor(cmds, log)
    rclpy.init()
    load_before = os.getloadavg()
    bare = _bare_timer(rclpy, args.rate, args.baseline) if args.baseline > 0 else None
    node = rclpy.create_node("sacgmm_bench_refiner")
    pub = node.create_publisher(Float64MultiArray, "/sacgmm/delta_theta", 10)
    rng = np.random.default_rng(0)
    n_windows = [0]

    def on_window(msg):
        n_windows[0] += 1
        if train:               # the sac_refiner node answers
            return
        w = decode_window(from_multiarray(msg))
        k, dim = skill.n_components, skill.dim
        d = DeltaThetaMessage(d_priors=rng.uniform(-0.05, 0.05, k),
                              d_means=np.concatenate([rng.uniform(-0.01, 0.01, (k, dim)),
                                                      np.zeros((k, dim))], 1),
                              window_index=w.window_index)
        pub.publish(to_multiarray(encode_delta(d)))

    node.create_subscription(Float64MultiArray, "/sacgmm/window", on_window, 10)
    try:
        sup.start()
        end = time.monotonic() + args.warmup + args.duration
        loaded: dict = {}
        probe = None
        while time.monotonic() < end:
            if probe is None and time.monotonic() > end - args.duration:
                # the same loop as the controller's, without its work, under the same load, in
                # a process of its own (in this one it would share the GIL with the spin)
                probe = _start_bare_loop_process(args.rate, min(10.0, args.duration),
                                                 args.rt_priority)
            rclpy.spin_once(node, timeout_sec=0.05)
            if sup.first_exited():
                raise RuntimeError(f"a node died; see {tmp / 'graph.log'}")
        if probe is not None:
            loaded = _bare_loop_result(probe)
    finally:
        sup.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
        log.close()
    if not timing.is_file():
        print(f"bench-ros: the controller wrote no timing log; see {tmp / 'graph.log'}",
              file=sys.stderr)
        return 1
    ctrl = json.loads(timing.read_text())
    load_after = os.getloadavg()
    out = {
        "what": "gmm_controller timer loop while the sim_peg graph runs (sim_bridge real time "
                "30 Hz with tactile images, camera_encoder idle without a policy) and "
                + ("sac_refiner trains online on the tactile images (act, then update)" if train
                   else "this process answers every window with a random delta-theta (no "
                        "training load)"),
        "refiner": args.refiner,
        "window_steps": window,
        "marker_rate_hz": args.marker_rate,
        "rate_hz_nominal": ctrl["rate_hz_nominal"],
        "rate_hz_achieved": ctrl.get("rate_hz_achieved"),
        "jitter_p50_ms": ctrl.get("jitter_p50_ms"),
        "jitter_p99_ms": ctrl.get("jitter_p99_ms"),
        "jitter_max_ms": ctrl.get("jitter_max_ms"),
        "n_periods": ctrl["n_periods"],
        "controller_params": {"timer_impl": args.timer_impl, "rt_priority": args.rt_priority},
        "windows_seen": n_windows[0],
        "refiner_log_tail": _refiner_tail(tmp / "graph.log") if train else None,
        "deltas_applied": ctrl.get("deltas_applied"),
        "deltas_for_an_older_window": ctrl.get("deltas_for_an_older_window"),
        "delta_latency_ms_mean": ctrl.get("delta_latency_ms_mean"),
        "delta_latency_ms_max": ctrl.get("delta_latency_ms_max"),
        "targets": {"rate_hz": 1000, "jitter_p99_ms": 0.5},
        "baseline_bare_rclpy_timer": bare,
        "bare_loop_process_under_load": loaded or None,
        "load_average_1min": {"before": load_before[0], "after": load_after[0]},
        "duration_s": args.duration,
        "skill": {"path": str(args.skill), "summary": repr(skill),
                  "made_by": args.skill_note or None},
        "machine": machine_info(),
        "command": "sacgmm bench-ros " + " ".join(sys.argv[2:]),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    from sacgmm.fileio import atomic_write_text
    atomic_write_text(args.out, json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


def _refiner_tail(path: Path) -> list[str]:
    """The sac_refiner's last episode lines (decisions, updates) from the graph log."""
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines()
             if "[sac_refiner" in line and "ended" in line]
    return lines[-2:]


def _start_bare_loop_process(rate: float, seconds: float, prio: int):
    """:func:`_bare_thread_loop` in a child process (result as JSON on its stdout)."""
    import subprocess
    code = ("import json, sys; from sacgmm.ros.bench_controller import _bare_thread_loop; "
            f"print(json.dumps(_bare_thread_loop({rate!r}, {seconds!r}, {prio!r})))")
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def _bare_loop_result(proc) -> dict | None:
    try:
        out, _ = proc.communicate(timeout=30.0)
    except Exception:  # noqa: BLE001 - the probe is a comparison, never fatal
        proc.kill()
        proc.wait()
        return None
    return json.loads(out) if proc.returncode == 0 and out.strip() else None


def _bare_thread_loop(rate: float, seconds: float, prio: int) -> dict:
    """Period jitter of a thread that only sleeps to absolute deadlines (the controller's
    ``timer_impl: thread`` loop without its work), with the same SCHED_FIFO priority: what the
    machine's scheduler gives any loop while the graph runs."""
    import numpy as np
    period, ticks = 1.0 / rate, []
    if prio > 0:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(prio))
        except (AttributeError, OSError):
            prio = 0
    start = time.perf_counter()
    deadline = start + period
    while time.perf_counter() - start < seconds:
        time.sleep(max(deadline - time.perf_counter(), 0.1 * period))
        ticks.append(time.perf_counter())
        deadline += period
        if ticks[-1] - deadline > period:
            deadline = ticks[-1] + period
    return {"seconds": seconds, "sched_fifo_priority": prio,
            **period_jitter(np.diff(ticks[int(rate * 0.5):]), period)}


def _bare_timer(rclpy, rate: float, seconds: float) -> dict:
    """Rate and |period - nominal| of an rclpy timer doing nothing, on this machine now."""
    import numpy as np
    node = rclpy.create_node("sacgmm_bench_bare_timer")
    ticks: list[float] = []
    node.create_timer(1.0 / rate, lambda: ticks.append(time.perf_counter()))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.1)
    node.destroy_node()
    return {"seconds": seconds, **period_jitter(np.diff(ticks[int(rate * 0.5):]), 1.0 / rate)}
