"""``sacgmm fit``: fit a skill to a demonstration set and report how good it is."""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fit", help="fit a GMM skill (stable GMR) to demonstrations",
                       description="Fit a stable GMR dynamical system to demonstrations, save it "
                                   "as YAML and print log-likelihood, reproduction error and "
                                   "stability margin.")
    p.add_argument("--demos", required=True, help="demo directory (or one demo file)")
    p.add_argument("--out", required=True, help="skill file to write (YAML)")
    p.add_argument("--components", type=int, default=3, help="K, number of Gaussians (default 3)")
    p.add_argument("--unstable", action="store_true",
                   help="plain EM + GMR without the stability constraints")
    p.add_argument("--method", choices=("seds", "clf"), default="seds",
                   help="how the stable fit gets its guarantee: seds (constrained local maps; "
                        "default) or clf (path-attracting GMR under a control-Lyapunov-function "
                        "filter, closer to the demonstrations)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", help="also write a PNG of demos, rollouts, streamlines, ellipses")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sacgmm.skill import fit_skill, load_demos
    from sacgmm.skill.summary import format_summary, summarize_fit

    demos = load_demos(args.demos)
    skill = fit_skill(demos.positions, demos.dt, n_components=args.components,
                      stable=not args.unstable, seed=args.seed, frame=demos.frame,
                      method=args.method)
    skill.meta["demos"] = str(args.demos)
    skill.save(args.out)
    summary = summarize_fit(skill, demos.positions, demos.dt)
    summary["skill_file"] = str(args.out)
    if args.plot:
        from sacgmm.skill.plot import plot_skill
        plot_skill(skill, demos.positions, demos.dt, args.plot)
        summary["plot"] = str(args.plot)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
        print(f"wrote {args.out}" + (f" and {args.plot}" if args.plot else ""))
    return 0
