"""``sacgmm reproduce table1|table2|table3|door|all``: the paper's experiment grids, resumable,
in parallel (Ray)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from sacgmm.experiments.grid import EXPERIMENTS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce", help="run the grid of the paper's Table I, II or III (or the door "
                          "experiment) and write results/",
        description="Runs every (task, agent, condition, seed) of a table as its own "
                    "`sacgmm train` process in a Ray task: on a local Ray instance, --jobs at a "
                    "time, or on a Ray cluster (--address); finished runs are skipped and "
                    "interrupted ones resume. Writes results/<table>.md/.csv and Fig. 5 plots.")
    p.add_argument("table", choices=EXPERIMENTS + ("all",),
                   help="table1-3: the paper's tables on peg and lever; door: GMM and SAC-GMM "
                        "with the wrist camera on door opening (5 demos, noise); all: every "
                        "one of them in one grid, with the total compute time "
                        "(results/reproduce_all.md)")
    p.add_argument("--seeds", type=int, default=5, help="seeds per condition (default 5)")
    p.add_argument("--door-seeds", type=int, default=10,
                   help="seeds per door condition (default 10)")
    p.add_argument("--baseline-seeds", type=int, default=None,
                   help="seeds for the per-step agents Res-GMM and SAC (default: --seeds)")
    p.add_argument("--tasks", default="peg,lever", help="comma-separated (default peg,lever)")
    p.add_argument("--jobs", type=int, default=2,
                   help="CPUs of the local Ray instance, i.e. runs at a time (default 2)")
    p.add_argument("--address", default=None,
                   help="a running Ray cluster (e.g. auto, or ray://HEAD:10001) instead of a "
                        "local instance; its nodes must see --runs at the same path")
    p.add_argument("--episodes", type=int, default=None,
                   help="training episodes per run (default: 150 on peg and lever, 100 on the "
                        "door, 200 for Table III's dense-reward SAC, i.e. the paper's 60k "
                        "interactions)")
    p.add_argument("--episodes-for", action="append", default=[],
                   metavar="TASK:AGENT=N",
                   help="another budget for one task and agent or condition, e.g. "
                        "lever:sac-gmm=300 or peg:sac+dense=200 (repeatable); a finished "
                        "shorter run is resumed and extended")
    p.add_argument("--runs", default="runs",
                   help="root of the run directories (default runs/); the committed grids use "
                        "results/runs, whose .gitignore keeps each finished run's summary.json "
                        "and evals.csv, so a clone has the runs its tables come from and a grid "
                        "resumed there does not redo them")
    p.add_argument("--results", default="results", help="where reports go (default results/)")
    p.add_argument("--report-only", action="store_true", help="only rewrite the reports")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sacgmm.experiments.grid import (all_specs, budget_with_overrides, run_grid,
                                         table_specs, unique_runs, write_report)

    if args.seeds < 1 or args.door_seeds < 1 or args.jobs < 1 or \
            (args.episodes is not None and args.episodes < 1):
        raise ValueError("--seeds, --door-seeds, --jobs and --episodes must be at least 1")
    if args.baseline_seeds is not None and not 0 <= args.baseline_seeds <= args.seeds:
        raise ValueError("--baseline-seeds must be between 0 and --seeds")
    # one root for all tables: a run that two tables share (e.g. SAC-GMM on peg, no noise, with
    # the sensor, in Tables I and II) is trained once
    root = Path(args.runs)
    results = Path(args.results)
    tasks = [t for t in args.tasks.split(",") if t]
    if args.table == "all":
        groups = all_specs(args.seeds, tasks, args.baseline_seeds, args.door_seeds)
    else:
        seeds = args.door_seeds if args.table == "door" else args.seeds
        groups = {args.table: table_specs(args.table, seeds, tasks, args.baseline_seeds)}
    command = f"sacgmm reproduce {args.table} --seeds {args.seeds}"
    if args.table in ("door", "all"):
        command += f" --door-seeds {args.door_seeds}"
    if args.table != "door" and args.tasks != "peg,lever":
        command += f" --tasks {args.tasks}"
    if args.episodes is not None:
        command += f" --episodes {args.episodes}"
    if args.baseline_seeds is not None:
        command += f" --baseline-seeds {args.baseline_seeds}"
    command += "".join(f" --episodes-for {o}" for o in args.episodes_for)
    if args.runs != "runs":
        command += f" --runs {args.runs}"
    budget = budget_with_overrides(args.episodes, args.episodes_for)
    specs = unique_runs(s for group in groups.values() for s in group)
    status = {"failed": 0}
    t0 = time.perf_counter()
    if not args.report_only:
        status = run_grid(specs, root, budget, args.jobs,
                          log=lambda m: print(m, file=sys.stderr, flush=True),
                          address=args.address)
    wall = time.perf_counter() - t0
    for table, table_runs in groups.items():
        report = write_report(table, table_runs, root, results, command)
        print(f"wrote {report} and {report.with_suffix('.csv')}")
        for png in _figures(table, table_runs, root, results):
            print(f"wrote {png}")
    if args.table == "all":
        path = _compute_report(specs, root, results, command, wall, args)
        print(f"wrote {path}")
    return 1 if status["failed"] else 0


def _figures(table: str, specs, root: Path, results: Path) -> list[Path]:
    """The learning-curve figures of ``table`` (Fig. 5a, 5b, the door's)."""
    from sacgmm.experiments.grid import collect, learning_curves, plot_curves

    pngs = []
    if table == "table1":
        gmm = [r["final_success"] for r in collect(specs, root)
               if r["task"] == "peg" and r["agent"] == "gmm"]
        learners = list(dict.fromkeys(s.condition for s in specs
                                      if s.task == "peg" and s.agent != "gmm"))
        pngs.append(plot_curves(learning_curves(root, "peg", learners),
                                results / "fig5a.png", "Peg insertion: success during training",
                                flat={"gmm": sum(gmm) / len(gmm)} if gmm else None))
    if table == "door":
        gmm = [r["final_success"] for r in collect(specs, root) if r["agent"] == "gmm"]
        # the SAC-GMM condition of the specs (its label carries the door's settings tag)
        sac_gmm = sorted({s.condition for s in specs if s.agent == "sac-gmm"})
        pngs.append(plot_curves(learning_curves(root, "door", sac_gmm),
                                results / "fig_door.png",
                                "Door opening (wrist camera, 5 demos, noise): success during "
                                "training",
                                flat={"gmm+noise": sum(gmm) / len(gmm)} if gmm else None))
    if table == "table2":
        # Fig. 5b (peg, tactile) and its lever counterpart (depth): with and without the sensor,
        # under noise and without
        rows = collect(specs, root)
        for task, sensor, png in (("peg", "tactile", "fig5b.png"),
                                  ("lever", "depth", "fig5b_lever.png")):
            if not any(s.task == task for s in specs):
                continue
            conds = ["sac-gmm+noise", "sac-gmm+noise-sensor", "sac-gmm", "sac-gmm-sensor"]
            names = {"sac-gmm+noise": f"SAC-GMM, noise, with {sensor}",
                     "sac-gmm+noise-sensor": f"SAC-GMM, noise, without {sensor}",
                     "sac-gmm": f"SAC-GMM, no noise, with {sensor}",
                     "sac-gmm-sensor": f"SAC-GMM, no noise, without {sensor}"}
            curves = learning_curves(root, task, conds)
            gmm = {f"gmm{n}": [r["final_success"] for r in rows
                               if r["task"] == task and r["condition"] == f"gmm{n}"]
                   for n in ("", "+noise")}
            pngs.append(plot_curves({names[k]: v for k, v in curves.items()}, results / png,
                                    f"{task.capitalize()} with / without the {sensor} sensor",
                                    flat={k: sum(v) / len(v) for k, v in gmm.items() if v}))
    return [p for p in pngs if p]


def _compute_report(specs, root: Path, results: Path, command: str, wall: float,
                    args: argparse.Namespace) -> Path:
    """``results/reproduce_all.md`` and ``.json``: the compute of every run of the grid and
    what it takes on this machine's cores and on a cluster of N one-CPU workers."""
    from sacgmm.experiments.grid import collect, makespan
    from sacgmm.fileio import atomic_write_text
    from sacgmm.machine import machine_info

    rows = collect(specs, root)
    durations = [r["wall_time_s"] for r in rows]
    workers = [args.jobs, 4, 8, 16, 32]
    out = {"command": command, "runs": len(specs), "finished_runs": len(rows),
           "run_wall_time_s": {"total": round(sum(durations), 1),
                               "longest": round(max(durations, default=0.0), 1)},
           "makespan_s": {str(n): round(makespan(durations, n), 1) for n in workers},
           "this_invocation_wall_s": round(wall, 1), "machine": machine_info()}
    atomic_write_text(results / "reproduce_all.json", json.dumps(out, indent=2) + "\n")
    hours = lambda s: f"{s / 3600:.1f} h"      # noqa: E731
    lines = ["# The whole reproduction: compute", "", f"Command: `{command}`", "",
             f"{len(rows)} of {len(specs)} runs finished; each run trains on one CPU "
             "(one torch thread). Their wall times add up to "
             f"{hours(out['run_wall_time_s']['total'])}; the longest run took "
             f"{hours(out['run_wall_time_s']['longest'])}.", "",
             "| one-CPU workers | wall time of the grid (longest run first to the least "
             "loaded worker) |", "|---|---|"]
    lines += [f"| {n} | {hours(out['makespan_s'][str(n)])} |" for n in workers]
    lines += ["", f"This invocation ran for {hours(wall)} (runs finished by earlier "
              "invocations are not repeated)."]
    path = results / "reproduce_all.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
