"""``sacgmm bench-ros``: the gmm_controller's loop in real-time mode while the sim graph runs.

The options are defined here; the benchmark itself, and what it measures and writes, is
:mod:`sacgmm.ros.bench_controller`.
"""
from __future__ import annotations


def _run(args) -> int:
    from sacgmm.ros.bench_controller import run_benchmark
    return run_benchmark(args)


def register(subparsers) -> None:
    p = subparsers.add_parser("bench-ros", help="benchmark the controller loop in the ROS graph",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--skill", required=True, help="skill YAML (3-D) for the controller")
    p.add_argument("--rate", type=float, default=1000.0, help="controller rate (Hz)")
    p.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=8.0, help="start-up seconds before that")
    p.add_argument("--baseline", type=float, default=5.0,
                   help="seconds of a bare rclpy timer measured first, for comparison")
    p.add_argument("--skill-note", default="", help="how the skill was made (recorded)")
    p.add_argument("--rt-priority", type=int, default=0,
                   help="gmm_controller rt_priority (SCHED_FIFO of its loop thread; 0: off)")
    p.add_argument("--window-steps", type=int, default=0,
                   help="controller steps per SAC-GMM window (default: 32 steps of the 30 Hz "
                        "task, i.e. round(32 * rate / 30))")
    p.add_argument("--marker-rate", type=float, default=None,
                   help="gmm_controller marker_rate_hz (RViz output; default: the config's)")
    p.add_argument("--refiner", choices=("train", "stub"), default="train",
                   help="train: the sac_refiner node learns online (default); stub: this "
                        "process answers windows with random deltas")
    p.add_argument("--timer-impl", choices=("thread", "rclpy"), default="thread")
    p.add_argument("--domain-id", type=int, default=140, help="private ROS_DOMAIN_ID")
    p.add_argument("--out", default="results/bench_ros.json")
    p.set_defaults(func=_run)
