"""``sacgmm reproduce table1|table2|table3``: the paper's experiment grids, resumable, in parallel."""
from __future__ import annotations

import argparse
import sys
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
    p.add_argument("table", choices=EXPERIMENTS,
                   help="table1-3: the paper's tables on peg and lever; door: GMM and SAC-GMM "
                        "with the wrist camera on door opening (5 demos, noise)")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--baseline-seeds", type=int, default=None,
                   help="seeds for the per-step agents Res-GMM and SAC (default: --seeds)")
    p.add_argument("--tasks", default="peg,lever", help="comma-separated (default peg,lever)")
    p.add_argument("--jobs", type=int, default=2,
                   help="CPUs of the local Ray instance, i.e. runs at a time (default 2)")
    p.add_argument("--address", default=None,
                   help="a running Ray cluster (e.g. auto, or ray://HEAD:10001) instead of a "
                        "local instance; its nodes must see --runs at the same path")
    p.add_argument("--episodes", type=int, default=300, help="training episodes per run")
    p.add_argument("--episodes-for", action="append", default=[], metavar="TASK:AGENT=N",
                   help="another budget for one task and agent, e.g. lever:sac-gmm=300 "
                        "(repeatable); a finished shorter run is resumed and extended")
    p.add_argument("--runs", default="runs", help="root of the run directories (default runs/)")
    p.add_argument("--results", default="results", help="where reports go (default results/)")
    p.add_argument("--report-only", action="store_true", help="only rewrite the reports")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sacgmm.experiments.grid import (budget_with_overrides, collect, learning_curves,
                                         plot_curves, run_grid, table_specs, write_report)

    if args.seeds < 1 or args.jobs < 1 or args.episodes < 1:
        raise ValueError("--seeds, --jobs and --episodes must be at least 1")
    if args.baseline_seeds is not None and not 0 <= args.baseline_seeds <= args.seeds:
        raise ValueError("--baseline-seeds must be between 0 and --seeds")
    # one root for all tables: a run that two tables share (e.g. SAC-GMM on peg, no noise, with
    # the sensor, in Tables I and II) is trained once
    root = Path(args.runs)
    results = Path(args.results)
    tasks = [t for t in args.tasks.split(",") if t]
    specs = table_specs(args.table, args.seeds, tasks, args.baseline_seeds)
    command = f"sacgmm reproduce {args.table} --seeds {args.seeds} --episodes {args.episodes}"
    if args.baseline_seeds is not None:
        command += f" --baseline-seeds {args.baseline_seeds}"
    command += "".join(f" --episodes-for {o}" for o in args.episodes_for)
    budget = budget_with_overrides(args.episodes, args.episodes_for)
    status = {"failed": 0}
    if not args.report_only:
        status = run_grid(specs, root, budget, args.jobs,
                          log=lambda m: print(m, file=sys.stderr, flush=True),
                          address=args.address)
    report = write_report(args.table, specs, root, results, command)
    print(f"wrote {report} and {report.with_suffix('.csv')}")
    if args.table == "table1":
        gmm = [r["final_success"] for r in collect(specs, root)
               if r["task"] == "peg" and r["agent"] == "gmm"]
        learners = list(dict.fromkeys(s.condition for s in specs
                                      if s.task == "peg" and s.agent != "gmm"))
        png = plot_curves(learning_curves(root, "peg", learners),
                          results / "fig5a.png", "Peg insertion: success during training",
                          flat={"gmm": sum(gmm) / len(gmm)} if gmm else None)
        if png:
            print(f"wrote {png}")
    if args.table == "door":
        gmm = [r["final_success"] for r in collect(specs, root) if r["agent"] == "gmm"]
        # the SAC-GMM condition of the specs (its label carries the door's settings tag)
        sac_gmm = sorted({s.condition for s in specs if s.agent == "sac-gmm"})
        png = plot_curves(learning_curves(root, "door", sac_gmm),
                          results / "fig_door.png",
                          "Door opening (wrist camera, 5 demos, noise): success during training",
                          flat={"gmm+noise": sum(gmm) / len(gmm)} if gmm else None)
        if png:
            print(f"wrote {png}")
    if args.table == "table2":
        curves = learning_curves(root, "peg", ["sac-gmm+noise", "sac-gmm+noise-sensor"])
        names = {"sac-gmm+noise": "SAC-GMM, noise, with tactile",
                 "sac-gmm+noise-sensor": "SAC-GMM, noise, without tactile"}
        png = plot_curves({names[k]: v for k, v in curves.items()}, results / "fig5b.png",
                          "Peg insertion under noise: with / without tactile")
        if png:
            print(f"wrote {png}")
    return 1 if status["failed"] else 0
