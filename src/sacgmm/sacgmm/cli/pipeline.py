"""``sacgmm pipeline``: the main job, end to end on one task.

Stages (each skipped if its output already exists, unless ``--force``):

1. demonstrations: a simulated task's scripted expert (peg, lever, door) or a synthetic shape;
2. the GMM agent: a stable skill fitted to them (``skill.yaml``, ``skill.png``, ``fit.json``);
3. for simulated tasks, the GMM agent's success rate (``eval_gmm.json``).

Later stages (SAC-GMM refinement) will join here as they land.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from sacgmm.cli.demos import SIM_TASKS
from sacgmm.skill.synthetic import SHAPES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pipeline", help="the main job: demos -> stable skill -> evaluation",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="peg", choices=SIM_TASKS + SHAPES)
    p.add_argument("--out", default="out/pipeline", help="output directory (default out/pipeline)")
    p.add_argument("--n-demos", type=int, default=None,
                   help="number of demonstrations (default: 5 for door, else 20)")
    p.add_argument("--episodes", type=int, default=30, help="evaluation episodes (default 30)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="redo stages whose outputs exist")
    p.set_defaults(func=run)


def _write_json(path: Path, data: dict) -> None:
    from sacgmm.fileio import atomic_write_text
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def run(args: argparse.Namespace) -> int:
    from sacgmm.skill import fit_skill, load_demos
    from sacgmm.skill.plot import plot_skill
    from sacgmm.skill.summary import format_summary, summarize_fit

    out = Path(args.out) / args.task
    demo_dir = out / "demos"
    n = args.n_demos or (5 if args.task == "door" else 20)
    print(f"== sacgmm pipeline: task {args.task}, seed {args.seed}, output {out}")
    if args.force or not any(demo_dir.glob("*.csv")):
        print(f"[1/3] recording {n} demonstrations ...", flush=True)
        if args.task in SIM_TASKS:
            from sacgmm.sim.expert import record_demos
            record_demos(args.task, n, args.seed, demo_dir)
        else:
            from sacgmm.skill.demos import save_demos
            from sacgmm.skill.synthetic import make_demos
            save_demos(demo_dir, make_demos(args.task, n, 3, args.seed), 1.0 / 30.0)
    else:
        print(f"[1/3] demonstrations already in {demo_dir}")
    demos = load_demos(demo_dir)

    skill_path = out / "skill.yaml"
    print("[2/3] fitting the stable GMM skill (K=3) ...", flush=True)
    skill = fit_skill(demos.positions, demos.dt, n_components=3, stable=True, seed=args.seed,
                      frame=demos.frame)
    skill.meta["demos"] = str(demo_dir)
    skill.save(skill_path)
    summary = summarize_fit(skill, demos.positions, demos.dt)
    plot_skill(skill, demos.positions, demos.dt, out / "skill.png",
               title=f"{args.task}: stable GMM skill, K=3")
    _write_json(out / "fit.json", summary)
    print(format_summary(summary))
    print(f"      wrote {skill_path} and {out / 'skill.png'}")

    if args.task in SIM_TASKS:
        print(f"[3/3] evaluating the GMM agent on {args.episodes} episodes ...", flush=True)
        from sacgmm.cli.eval import evaluate_gmm
        res = evaluate_gmm(args.task, str(skill_path), args.episodes, 10_000 + args.seed,
                           noise=args.task == "door")
        _write_json(out / "eval_gmm.json", res)
        lo, hi = res["ci95"]
        print(f"      GMM agent success {100 * res['success_rate']:.0f}% "
              f"(95% CI {100 * lo:.0f}-{100 * hi:.0f}%), end reasons {res['end_reasons']}")
    else:
        print("[3/3] (synthetic shape: no simulator evaluation)")
    print(f"== done: results in {out}")
    return 0
