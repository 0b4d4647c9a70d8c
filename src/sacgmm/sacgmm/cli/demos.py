"""``sacgmm demos``: write a demonstration set (synthetic shapes or a simulated task's expert)."""
from __future__ import annotations

import argparse

from sacgmm.skill.synthetic import SHAPES

SIM_TASKS = ("peg", "lever", "door")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demos", help="write demonstrations (sacgmm-demo CSV files) to a directory",
        description="Synthetic shapes (line, curve, s-shape) need nothing but numpy; the "
                    "simulated tasks (peg, lever, door) record a scripted expert in PyBullet and "
                    "keep only successful demonstrations.")
    p.add_argument("--task", required=True, choices=SHAPES + SIM_TASKS)
    p.add_argument("--n", type=int, default=20, help="number of demonstrations (default 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dim", type=int, default=3, help="dimension of synthetic shapes (default 3)")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise ValueError(f"--n must be >= 1, got {args.n}")
    if args.task in SIM_TASKS:
        from sacgmm.sim.expert import record_demos
        paths = record_demos(args.task, args.n, args.seed, args.out)
    else:
        from sacgmm.skill.demos import save_demos
        from sacgmm.skill.synthetic import make_demos
        dt = 1.0 / 30.0
        paths = save_demos(args.out, make_demos(args.task, args.n, args.dim, args.seed, dt=dt), dt)
    print(f"wrote {len(paths)} demonstrations of {args.task!r} to {args.out}")
    return 0
