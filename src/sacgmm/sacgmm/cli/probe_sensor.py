"""``sacgmm probe-sensor``: what the peg task's tactile images say about where a press landed
(:mod:`sacgmm.sim.probe`), written to ``results/sensor_probe.json``."""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "probe-sensor", help="scripted presses of the peg beside the hole: how much the tactile "
                             "images differ between the two sides, and how far the peg slides",
        description="Presses the held peg onto the board at +-OFFSET from the hole's axis along "
                    "x and y (no noise, no learning) and reports the mean absolute difference "
                    "of the two fingertip images between the two sides (grey levels), at the "
                    "end of the press and at most during it, with each press's slip in the "
                    "hand and whether it went in.")
    p.add_argument("--offsets", default="0.002,0.004,0.006,0.01,0.02,0.03",
                   help="comma-separated offsets from the hole's axis, m "
                        "(default 2, 4, 6, 10, 20, 30 mm)")
    p.add_argument("--speed", type=float, default=0.02, help="descent speed, m/s (default 0.02)")
    p.add_argument("--seed", type=int, default=0, help="episode seed of the scene (default 0)")
    p.add_argument("--out", default="results/sensor_probe.json")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import math

    from sacgmm.fileio import atomic_write_text
    from sacgmm.machine import machine_info
    from sacgmm.sim.probe import side_contrast

    try:
        offsets = [float(x) for x in args.offsets.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"--offsets {args.offsets!r}: expected comma-separated numbers (m)") \
            from None
    if not offsets or any(not math.isfinite(x) or x <= 0 for x in offsets):
        raise ValueError(f"--offsets {args.offsets!r}: every offset must be a positive number (m)")
    rows = side_contrast(offsets, speed=args.speed, seed=args.seed)
    command = (f"sacgmm probe-sensor --offsets {args.offsets} --speed {args.speed:g} "
               f"--seed {args.seed}")
    doc = {"command": command, "seed": args.seed, "task": "peg", "speed_m_per_s": args.speed,
           "note": "difference: mean absolute difference of the two 64x64 fingertip images "
                   "between the presses at +offset and -offset, grey levels 0-255; "
                   "press_change: the +offset press's end images against its first (before "
                   "contact); peg_slip: m the press pushed the peg up into the hand",
           "presses": rows, "machine": machine_info()}
    atomic_write_text(args.out, json.dumps(doc, indent=2) + "\n")
    print(f"{'axis':>4} {'offset mm':>9} {'press':>6} {'diff end':>8} {'diff max':>8} "
          f"{'slip mm (+/-)':>14} {'in (+/-)':>8}")
    for r in rows:
        print(f"{r['axis']:>4} {1e3 * r['offset_m']:9.1f} {r['press_change']:6.2f} "
              f"{r['difference_at_end']:8.2f} "
              f"{r['largest_difference']:8.2f} "
              f"{1e3 * r['plus']['peg_slip']:6.1f} /{1e3 * r['minus']['peg_slip']:6.1f} "
              f"{int(r['plus']['success']):>4}/{int(r['minus']['success'])}")
    print(f"wrote {args.out}")
    return 0
