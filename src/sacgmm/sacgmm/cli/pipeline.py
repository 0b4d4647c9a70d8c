"""``sacgmm pipeline``: the main job, end to end on one task.

Stages:

1. demonstrations: a simulated task's scripted expert (peg, lever, door; recorded with the
   run's seed) or a synthetic shape (kept if already there, unless ``--force``);
2. the GMM agent: a stable skill fitted to them (``skill.yaml``, ``skill.png``, ``fit.json``);
3. for simulated tasks, the GMM agent's success rate on the final-evaluation episodes
   (``eval_gmm.json``);
4. SAC-GMM refinement of that skill from sparse success rewards (``refine/``: the run
   directory of ``sacgmm train``), with a progress bar and periodic evaluations;
5. the refined agent's success on the same episodes as stage 3, a before/after figure
   (``before_after.png``) and a GIF of the first of those episodes (``refined_episode.gif``).
"""
from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

from sacgmm.cli.demos import SIM_TASKS
from sacgmm.skill.synthetic import SHAPES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pipeline", help="the main job: demos -> stable skill -> GMM agent -> "
                       "SAC-GMM refinement -> refined agent",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="peg", choices=SIM_TASKS + SHAPES)
    p.add_argument("--out", default="out/pipeline", help="output directory (default out/pipeline)")
    p.add_argument("--n-demos", type=int, default=None,
                   help="number of demonstrations (default: 5 for door, else 20)")
    p.add_argument("--episodes", type=int, default=50,
                   help="evaluation episodes before and after refinement (default 50)")
    p.add_argument("--train-episodes", type=int, default=80,
                   help="SAC-GMM training episodes (default 80; 0: stop after the GMM agent)")
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

    t_start = time.perf_counter()
    out = Path(args.out) / args.task
    demo_dir = out / "demos"
    n = args.n_demos or (5 if args.task == "door" else 20)
    print(f"== sacgmm pipeline: task {args.task}, seed {args.seed}, output {out}")
    if args.force or not any(demo_dir.glob("*.csv")):
        print(f"[1/5] recording {n} demonstrations ...", flush=True)
        if args.task in SIM_TASKS:
            from sacgmm.sim.expert import record_demos
            record_demos(args.task, n, args.seed, demo_dir)
        else:
            from sacgmm.skill.demos import save_demos
            from sacgmm.skill.synthetic import make_demos
            save_demos(demo_dir, make_demos(args.task, n, 3, args.seed), 1.0 / 30.0)
    else:
        print(f"[1/5] demonstrations already in {demo_dir}")
    demos = load_demos(demo_dir)

    skill_path = out / "skill.yaml"
    print("[2/5] fitting the stable GMM skill (K=3) ...", flush=True)
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

    if args.task not in SIM_TASKS:
        print("[3/5] (synthetic shape: no simulator, no refinement)")
        print(f"== done: results in {out}")
        return 0
    from sacgmm.cli.eval import evaluate_gmm
    from sacgmm.rl.train_task import FINAL_SEED

    noise = args.task == "door"      # the door is judged under perception noise
    print(f"[3/5] evaluating the GMM agent on {args.episodes} episodes ...", flush=True)
    before = evaluate_gmm(args.task, str(skill_path), args.episodes, FINAL_SEED, noise=noise)
    _write_json(out / "eval_gmm.json", before)
    print(f"      GMM agent: {_rate(before)}, end reasons {before['end_reasons']}")
    if args.train_episodes <= 0:
        print(f"== done: results in {out}")
        return 0

    refined, summary = _refine(args, skill_path, out, noise)
    after = summary["final"]
    print(f"[5/5] refined agent (SAC-GMM): {_rate(after)}, end reasons {after['end_reasons']}")
    print(f"      GMM agent {100 * before['success_rate']:.0f}% -> SAC-GMM "
          f"{100 * after['success_rate']:.0f}% on the same {args.episodes} episodes, after "
          f"{refined.cfg.episodes} training episodes ({refined.updates} updates, "
          f"{refined.wall_time() / 60:.1f} min)")
    chosen = summary.get("final_policy", {})
    if chosen.get("kind") == "best":
        print(f"      the refined agent is the policy of the best periodic evaluation: episode "
              f"{chosen['episode']}" + (" (before training: no evaluation beat the skill)"
                                        if chosen["episode"] == 0 else ""))
    plot_before_after(before, after, refined.evals_log, out / "before_after.png", args.task)
    outcome = record_episode(refined, FINAL_SEED, out / "refined_episode.gif")
    print(f"      wrote {out / 'before_after.png'} and {out / 'refined_episode.gif'} "
          f"(episode {FINAL_SEED}: {outcome})")
    from sacgmm.machine import machine_info
    _write_json(out / "pipeline.json", {
        "command": "sacgmm pipeline " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in sorted(vars(args).items())
            if k in ("task", "seed", "episodes", "train_episodes")),
        "task": args.task, "seed": args.seed, "demonstrations": n,
        "evaluation_seeds": [FINAL_SEED, FINAL_SEED + args.episodes - 1],
        "gmm_agent": {k: before[k] for k in ("successes", "episodes", "success_rate", "ci95")},
        "sac_gmm": {k: after[k] for k in ("successes", "episodes", "success_rate", "ci95")},
        "training": summary["training"], "final_policy": chosen,
        "video_episode": {"seed": FINAL_SEED, "outcome": outcome},
        "wall_time_s": round(time.perf_counter() - t_start, 1), "machine": machine_info()})
    print(f"== done in {(time.perf_counter() - t_start) / 60:.1f} min: results in {out}")
    return 0


def _rate(res: dict) -> str:
    lo, hi = res["ci95"]
    return (f"success {100 * res['success_rate']:.0f}% ({res['successes']}/{res['episodes']}, "
            f"95% CI {100 * lo:.0f}-{100 * hi:.0f}%)")


def _refine(args, skill_path: Path, out: Path, noise: bool):
    """Stage 4: ``sacgmm train``'s SAC-GMM run on the fitted skill; the run and its summary
    (``final``: the policy of the best periodic evaluation on the final-evaluation seeds)."""
    from sacgmm.rl.train_task import TaskRun, TrainConfig

    cfg = TrainConfig.named("sac-gmm", task=args.task, seed=args.seed, noise=noise,
                            episodes=args.train_episodes, eval_every=10, eval_episodes=10,
                            final_episodes=args.episodes, skill=str(skill_path))
    print(f"[4/5] refining the skill with SAC-GMM: {cfg.episodes} training episodes, sparse "
          "success reward, an evaluation every 10 ...", flush=True)
    refined = TaskRun(cfg, out / "refine")
    return refined, refined.train(progress=True)


def record_episode(run, seed: int, path: Path) -> str:
    """The run's deterministic policy on episode ``seed``, rendered to ``path``; its outcome."""
    from sacgmm.sim.video import save_video

    env = run.make_env(train=False, video_every=2)
    try:
        result = run.run_episode(env, seed, deterministic=True, train=False)
        save_video(env.task_env.frames, path, env.task_env.fps)
    finally:
        env.close()
    return "success" if result["success"] else f"failed ({result['end_reason']})"


def plot_before_after(before: dict, after: dict, evals: list[dict], path: Path,
                      task: str) -> None:
    """Success of the GMM agent and of the refined agent (95 % Wilson intervals), and the
    periodic evaluations during refinement."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sacgmm.fileio import atomic_write_bytes

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.6), gridspec_kw={"width_ratios": [1, 2]})
    names, results = ["GMM agent", "SAC-GMM"], [before, after]
    rates = [100 * r["success_rate"] for r in results]
    errs = [[rates[i] - 100 * r["ci95"][0] for i, r in enumerate(results)],
            [100 * r["ci95"][1] - rates[i] for i, r in enumerate(results)]]
    ax1.bar(names, rates, yerr=errs, capsize=6, color=["#999999", "#1f77b4"])
    ax1.set_ylim(0, 105)
    ax1.set_ylabel(f"success (%), {before['episodes']} episodes")
    ax1.set_title(f"{task}: before / after")
    ax2.plot([e["episode"] for e in evals], [100 * e["success_rate"] for e in evals], "o-",
             color="#1f77b4", label="SAC-GMM (10 evaluation episodes)")
    ax2.axhline(rates[0], ls="--", color="#999999", label="GMM agent")
    ax2.set_ylim(0, 105)
    ax2.set_xlabel("training episodes")
    ax2.set_ylabel("success (%)")
    ax2.set_title("refinement")
    ax2.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
