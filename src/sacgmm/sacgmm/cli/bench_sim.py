"""``sacgmm bench-sim``: speed of the simulated tasks, written to ``results/bench_sim.json``.

Measures, for each task, control steps per second without images (random actions, one
process, one core) and milliseconds per 64x64 sensor image, plus the door's ArUco check
(render + detection), both in wall-clock and in process CPU time (robust to other load).
"""
from __future__ import annotations

import json
import sys
import time


def _bench_task(task: str, steps: int, images: int, seed: int) -> dict:
    import numpy as np

    from sacgmm.sim import make_env

    env = make_env(task)
    e = env.unwrapped
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    done_steps, t0, c0 = 0, time.perf_counter(), time.process_time()
    while done_steps < steps:
        a = rng.uniform(-0.3, 0.3, 3) * e.max_speed
        _, _, term, trunc, _ = env.step(a)
        done_steps += 1
        if term or trunc:
            env.reset(seed=seed + done_steps)
    sps = steps / (time.perf_counter() - t0)
    # CPU time of this process: the one-core figure, robust to other load on a shared machine
    out = {"steps_per_s_no_images": sps,
           "steps_per_cpu_s_no_images": steps / (time.process_time() - c0)}
    if task == "door":
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(images):
            e.marker_visible()
        out["ms_per_aruco_check"] = 1e3 * (time.perf_counter() - t0) / images
        out["cpu_ms_per_aruco_check"] = 1e3 * (time.process_time() - c0) / images
        out["aruco_check_every"] = e.check_every
        out["aruco_image_px"] = e.aruco_size
    env.close()
    env = make_env(task, sensor=True)
    e = env.unwrapped
    env.reset(seed=seed)
    for _ in range(5):
        env.step(np.zeros(3))
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(images):
        obs = e._sensor_obs()
    dt = time.perf_counter() - t0
    n_img = 2 if task == "peg" else 1
    out["ms_per_64x64_image"] = 1e3 * dt / (images * n_img)
    out["cpu_ms_per_64x64_image"] = 1e3 * (time.process_time() - c0) / (images * n_img)
    out["images_per_observation"] = n_img
    t0 = time.perf_counter()
    for _ in range(steps // 3):
        _, _, term, trunc, _ = env.step(np.zeros(3))
        if term or trunc:
            env.reset(seed=seed)
    out["steps_per_s_with_images"] = (steps // 3) / (time.perf_counter() - t0)
    env.close()
    return out


def _run(args) -> int:
    from sacgmm.fileio import atomic_write_text
    from sacgmm.sim.config import TASKS

    results = {}
    for task in TASKS:
        results[task] = _bench_task(task, args.steps, args.images, args.seed)
        print(f"{task}: " + ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                                      for k, v in results[task].items()))
    import pybullet  # noqa: F401  (its version is in machine_info())

    from sacgmm.machine import machine_info
    doc = {
        "command": "sacgmm " + " ".join(sys.argv[1:]) if sys.argv[0].endswith("sacgmm")
        else " ".join(["sacgmm", "bench-sim"] + sys.argv[2:]),
        "seed": args.seed,
        "steps": args.steps, "images": args.images,
        "machine": machine_info(),
        "note": ("steps_per_s_* and ms_per_* are wall-clock; the cpu_* / *_per_cpu_s_* figures "
                 "use this process's CPU time (one core), which is what the targets mean "
                 "when the machine is shared (see load_average)"),
        "targets": {"steps_per_s_no_images": 300, "ms_per_64x64_image": 5.0},
        "results": results,
    }
    atomic_write_text(args.out, json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("bench-sim", help="benchmark the simulated tasks",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=900, help="control steps per task")
    p.add_argument("--images", type=int, default=100, help="sensor images per task")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="results/bench_sim.json")
    p.set_defaults(func=_run)
