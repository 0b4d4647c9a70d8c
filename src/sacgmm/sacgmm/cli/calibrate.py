"""``sacgmm calibrate``: measure a task's difficulty with the plain GMM agent, over several
demonstration sets.

For each task and each demonstration seed S (default 0-4) it runs exactly the documented
pipeline::

    sacgmm demos --task T --n N --seed S --out WORK/T/demoS/demos      (N = 20; door: 5)
    sacgmm fit   --demos WORK/T/demoS/demos --out WORK/T/demoS/skill.yaml --components 3 --seed S
    sacgmm eval  --task T --agent gmm --skill WORK/T/demoS/skill.yaml --episodes E --seed 1000 --json
    sacgmm eval  ... --noise

(the evaluations run in ``--jobs`` parallel processes): the skill of seed S is the one
``sacgmm train --demo-seed S`` starts from and merges the figures into
``results/calibration.json``; ``results/calibration.md`` is regenerated from that JSON. A
task's difficulty is the *mean* success rate over the demonstration sets (one set can be a
lucky or an unlucky draw), checked against the task's calibration band (GMM without noise: peg
10-35 %, lever 40-70 %; door with noise 5-30 %; noise must lower the mean rate). Each record
holds the commands, seeds, the task's frozen settings (randomisation, noise, grasp), the git
commit, the machine and, per demonstration set and pooled, the success rates with 95 % Wilson
intervals, the end reasons and how the failed episodes failed.
"""
from __future__ import annotations

import datetime as _dt
import json
import subprocess
import sys
from pathlib import Path

#: (measured with noise?, low, high): the success band each task is calibrated into
BANDS = {"peg": (False, 0.10, 0.35), "lever": (False, 0.40, 0.70), "door": (True, 0.05, 0.30)}
DEMO_COUNT = {"peg": 20, "lever": 20, "door": 5}
DEFAULT_DEMO_SEEDS = (0, 1, 2, 3, 4)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=Path(__file__).resolve().parent, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "tasks", "sim"],
                               capture_output=True, text=True,
                               cwd=Path(__file__).resolve().parents[1], timeout=10)
        if out.returncode == 0:
            return out.stdout.strip() + (" (+uncommitted sim/config changes)"
                                         if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def _eval_job(args: tuple) -> dict:
    from sacgmm.cli.eval import evaluate_gmm
    task, skill, episodes, seed, noise = args
    return evaluate_gmm(task, skill, episodes, seed, noise)


PER_SET_FIELDS = ("successes", "episodes", "success_rate", "ci95", "mean_length",
                  "end_reasons", "failures", "wall_time_s")


def pool_results(per_set: list[dict]) -> dict:
    """One noise setting over the demonstration sets: the mean success rate over the sets
    (``success_rate``) with its standard deviation and the per-set rates, the pooled successes
    and episodes with their 95 % Wilson interval, and the summed end reasons and failures."""
    import numpy as np

    from sacgmm.stats import wilson_interval
    rates = [r["success_rate"] for r in per_set]
    successes = sum(r["successes"] for r in per_set)
    episodes = sum(r["episodes"] for r in per_set)

    def total(key):
        out: dict[str, int] = {}
        for r in per_set:
            for k, v in r.get(key, {}).items():
                out[k] = out.get(k, 0) + v
        return out
    return {"successes": successes, "episodes": episodes,
            "success_rate": float(np.mean(rates)), "std_over_sets": float(np.std(rates)),
            "per_set": [round(x, 4) for x in rates], "ci95": list(wilson_interval(successes, episodes)),
            "mean_length": float(np.mean([r["mean_length"] for r in per_set])),
            "end_reasons": total("end_reasons"), "failures": total("failures"),
            "wall_time_s": float(sum(r["wall_time_s"] for r in per_set))}


def calibrate_task(task: str, episodes: int, workdir: Path, demo_seeds=DEFAULT_DEMO_SEEDS,
                   eval_seed: int = 1000, components: int = 3, n_demos: int | None = None,
                   jobs: int = 2, commit: str | None = None, method: str = "seds") -> dict:
    """Run demos -> fit -> eval (with and without noise) for ``task``, once per demonstration
    seed; return the record."""
    import shutil
    from concurrent.futures import ProcessPoolExecutor

    from sacgmm.cli.main import main as cli_main
    from sacgmm.sim.config import load_task_config

    n = n_demos or DEMO_COUNT[task]
    demo_seeds = [int(s) for s in demo_seeds]
    if not demo_seeds or len(set(demo_seeds)) != len(demo_seeds):
        raise ValueError(f"--demo-seeds must name distinct seeds, got {demo_seeds}")
    shutil.rmtree(workdir / task, ignore_errors=True)  # scratch space of this command only
    jobs_args, cmds = [], []
    for seed in demo_seeds:
        d = workdir / task / f"demo{seed}"
        demos, skill = d / "demos", d / "skill.yaml"
        steps = [
            ["demos", "--task", task, "--n", str(n), "--seed", str(seed), "--out", str(demos)],
            ["fit", "--demos", str(demos), "--out", str(skill), "--components", str(components),
             "--seed", str(seed)] + ([] if method == "seds" else ["--method", method]),
        ]
        for c in steps:
            print("sacgmm " + " ".join(c), file=sys.stderr, flush=True)
            if cli_main(c) != 0:
                raise RuntimeError(f"sacgmm {c[0]} failed for task {task!r}, demo seed {seed}")
        cmds += steps
        jobs_args += [(task, str(skill), episodes, eval_seed, nz) for nz in (False, True)]
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            res = list(pool.map(_eval_job, jobs_args))
    else:
        res = [_eval_job(a) for a in jobs_args]
    per_seed = []
    for i, seed in enumerate(demo_seeds):
        pair = {("noise" if r["noise"] else "no_noise"): {f: r[f] for f in PER_SET_FIELDS}
                for r in res[2 * i: 2 * i + 2]}
        per_seed.append({"demo_seed": seed, **pair})
    results = {key: pool_results([p[key] for p in per_seed]) for key in ("no_noise", "noise")}
    eval_cmd = (f"sacgmm eval --task {task} --agent gmm --skill SKILL --episodes {episodes} "
                f"--seed {eval_seed} --json [--noise]")
    cfg = load_task_config(task)
    with_noise, lo, hi = BANDS[task]
    rate = results["noise" if with_noise else "no_noise"]["success_rate"]
    return {
        "task": task,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commands": ["sacgmm " + " ".join(c) for c in cmds] + [eval_cmd],
        "demo_seeds": demo_seeds, "n_demos": n, "components": components, "fit_method": method,
        "eval_seed": eval_seed, "episodes": episodes,
        "settings": {"config": cfg["_path"], "randomisation": cfg["randomisation"],
                     "noise": cfg["noise"],
                     "grasp": cfg["geometry"].get("grasp"),
                     "lateral_friction": cfg["geometry"].get("lateral_friction")},
        "git_commit": commit if commit is not None else _git_commit(),
        "results": results,
        "per_demo_seed": per_seed,
        "band": {"measured_with_noise": with_noise, "low": lo, "high": hi},
        "in_band": lo <= rate <= hi,
        "noise_lowers_rate": results["noise"]["success_rate"] < results["no_noise"]["success_rate"],
    }


def _seeds_text(seeds) -> str:
    seeds = list(seeds)
    if seeds == list(range(seeds[0], seeds[0] + len(seeds))) and len(seeds) > 2:
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def update_config_note(rec: dict) -> Path:
    """Replace (or append) the trailing ``calibration:`` section of the task's YAML file with
    the date, commit and measured rates of ``rec``; the rest of the file is left untouched."""
    from sacgmm.fileio import atomic_write_text

    path = Path(rec["settings"]["config"])
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("calibration:"):
            lines = lines[:i]
            break
    while lines and not lines[-1].strip():
        lines.pop()
    r0, r1 = rec["results"]["no_noise"], rec["results"]["noise"]
    b = rec["band"]

    def fmt(r):
        sets = ", ".join(f"{100 * x:.0f}" for x in r["per_set"])
        return (f"mean {100 * r['success_rate']:.1f} % over {len(r['per_set'])} demonstration "
                f"sets (per set: {sets} %; pooled {r['successes']}/{r['episodes']})")

    lines += [
        "calibration:              # written by `sacgmm calibrate` (results/calibration.md)",
        f"  date: \"{rec['date']}\"",
        f"  commit: \"{rec['git_commit']}\"",
        f"  agent: \"plain GMM, K={rec['components']}, {rec['n_demos']} demos from each of "
        f"seeds {_seeds_text(rec['demo_seeds'])}, eval seed {rec['eval_seed']}\"",
        f"  success_no_noise: \"{fmt(r0)}\"",
        f"  success_noise: \"{fmt(r1)}\"",
        f"  band: \"{100 * b['low']:.0f}-{100 * b['high']:.0f} % "
        f"{'with' if b['measured_with_noise'] else 'without'} noise\"",
        f"  in_band: {str(rec['in_band']).lower()}",
        f"  noise_lowers_rate: {str(rec['noise_lowers_rate']).lower()}",
        "",
    ]
    atomic_write_text(path, "\n".join(lines))
    return path


def render_markdown(doc: dict) -> str:
    """``results/calibration.md`` from the calibration JSON document."""
    from sacgmm.sim.failures import FAILURES
    lines = [
        "# Task difficulty calibration (plain GMM agent)",
        "",
        "Generated by `sacgmm calibrate` from `results/calibration.json`; do not edit by hand.",
        "",
        "Each task is calibrated so that the plain GMM agent (K = 3, fitted on 20 expert "
        "demonstrations; 5 for the door) succeeds in 10-35 % of peg and 40-70 % of lever "
        "episodes without noise, and in 5-30 % of door episodes with noise (N(0, 1 cm) "
        "perceived-target error), noise lowering the rate. The rate is the mean over several "
        "demonstration sets (the expert's demonstrations recorded with different seeds, each "
        "fitted and evaluated on the same 100 or more episodes), because one set can be a lucky "
        "or an unlucky draw. The paper's geometry is fixed (peg 50 mm, hole 56 mm, lever 50 mm "
        "above its base); only the per-episode robot-to-target randomisation and the natural "
        "task parameters below were chosen. The settings are frozen in "
        "`src/sacgmm/sacgmm/tasks/*.yaml`: changes must not make the tasks easier.",
        "",
        f"Command: `{doc.get('command') or 'sacgmm calibrate'}` (run from the repository root). "
        f"Machine: {doc['machine']['platform']}, Python {doc['machine']['python']}, "
        f"{doc['machine']['cpu_count']} CPUs (shared with other jobs; rates do not depend on "
        "speed: every episode is seeded and the simulation is deterministic).",
        "",
        "| task | noise | mean rate over sets | std over sets | per set | pooled successes | "
        "95 % Wilson CI (pooled) | band | how the failed episodes failed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for task in ("peg", "lever", "door"):
        rec = doc["tasks"].get(task)
        if not rec:
            lines.append(f"| {task} | - | not measured | | | | | | |")
            continue
        b = rec["band"]
        for key in ("no_noise", "noise"):
            r = rec["results"][key]
            lo, hi = r["ci95"]
            band = (f"{100 * b['low']:.0f}-{100 * b['high']:.0f} %"
                    + (" ✔" if rec["in_band"] else " ✘")
                    if (key == "noise") == b["measured_with_noise"] else "")
            sets = ", ".join(f"{100 * x:.0f}" for x in r["per_set"])
            how = ", ".join(f"{k} {v}" for k, v in r["failures"].items()) or "-"
            lines.append(f"| {task} | {'yes' if key == 'noise' else 'no'} | "
                         f"{100 * r['success_rate']:.1f} % | {100 * r['std_over_sets']:.1f} | "
                         f"{sets} % | {r['successes']}/{r['episodes']} | "
                         f"{100 * lo:.1f}-{100 * hi:.1f} % | {band} | {how} |")
    lines += ["", "Failure kinds: " + "; ".join(f"`{k}`: {v}" for k, v in FAILURES.items())
              + "."]
    for task in ("peg", "lever", "door"):
        rec = doc["tasks"].get(task)
        if not rec:
            continue
        s = rec["settings"]
        lines += [
            "",
            f"## {task}",
            "",
            f"Measured {rec['date']} at commit {rec['git_commit']} with demonstration seeds "
            f"{_seeds_text(rec['demo_seeds'])}; noise lowers the mean rate: "
            f"{'yes' if rec['noise_lowers_rate'] else 'NO'}; in band: "
            f"{'yes' if rec['in_band'] else 'NO'}.",
            "",
            "| demonstration seed | no noise | noise |",
            "|---|---|---|",
            *[f"| {p['demo_seed']} | {p['no_noise']['successes']}/{p['no_noise']['episodes']} | "
              f"{p['noise']['successes']}/{p['noise']['episodes']} |"
              for p in rec["per_demo_seed"]],
            "",
            "```",
            *rec["commands"],
            "```",
            "",
            "Failed expert episodes are skipped when recording; evaluation episode i uses seed "
            f"{rec['eval_seed']} + i for every set. Settings (`{s['config']}`):",
            "",
            "```",
            json.dumps({k: v for k, v in s.items() if k != "config"}, indent=1),
            "```",
        ]
    lines.append("")
    return "\n".join(lines)


def _run(args) -> int:
    from sacgmm.fileio import atomic_write_text
    from sacgmm.machine import machine_info
    from sacgmm.sim.config import TASKS, unknown_task_message

    tasks = list(TASKS) if args.task == "all" else [args.task]
    for t in tasks:
        if t not in TASKS:
            raise ValueError(unknown_task_message(t))
    if args.episodes < 1:
        raise ValueError("--episodes must be at least 1")
    if len(set(args.demo_seeds)) != len(args.demo_seeds) or min(args.demo_seeds) < 0:
        raise ValueError(f"--demo-seeds must be distinct non-negative seeds, got {args.demo_seeds}")
    if args.jobs < 1:
        raise ValueError("--jobs must be at least 1")
    json_path, md_path = Path(args.json_out), Path(args.md_out)
    doc = {"tasks": {}}
    if json_path.is_file():
        try:
            doc = json.loads(json_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{json_path}: not valid JSON ({exc})") from None
    # records of one demonstration set (no per-set figures) are measured again, not mixed in
    doc["tasks"] = {t: r for t, r in doc.get("tasks", {}).items() if "per_demo_seed" in r}
    workdir = Path(args.workdir)
    commit = _git_commit()  # before this command rewrites any calibration note
    for t in tasks:
        rec = calibrate_task(t, args.episodes, workdir, demo_seeds=args.demo_seeds,
                             eval_seed=args.seed, components=args.components, jobs=args.jobs,
                             commit=commit, method=args.method)
        doc["tasks"][t] = rec
        if args.update_config:
            print(f"updated the calibration note of {update_config_note(rec)}")
        for k, r in rec["results"].items():
            print(f"{t} {k}: mean {100 * r['success_rate']:.1f} % over the demonstration sets "
                  f"(per set: {', '.join(f'{100 * x:.0f}' for x in r['per_set'])} %), "
                  f"failures {r['failures']}")
        print(f"{t}: in band {rec['in_band']}, noise lowers the rate {rec['noise_lowers_rate']}")
    doc["machine"] = machine_info()
    doc["command"] = "sacgmm calibrate " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else None
    atomic_write_text(json_path, json.dumps(doc, indent=2) + "\n")
    atomic_write_text(md_path, render_markdown(doc))
    print(f"wrote {json_path} and {md_path}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("calibrate", help="measure task difficulty with the GMM agent",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--task", required=True, help="peg, lever, door or all")
    p.add_argument("--episodes", type=int, default=100, help="evaluation episodes per setting")
    p.add_argument("--seed", type=int, default=1000, help="evaluation seed (episode i: seed+i)")
    p.add_argument("--demo-seeds", type=int, nargs="+", default=list(DEFAULT_DEMO_SEEDS),
                   metavar="SEED", help="seeds of the demonstration sets (default 0 1 2 3 4)")
    p.add_argument("--components", type=int, default=3)
    p.add_argument("--method", choices=("seds", "clf"), default="seds",
                   help="the skill fit (sacgmm fit --method); a clf calibration is a comparison: "
                        "use it with --no-update-config")
    p.add_argument("--jobs", type=int, default=2, help="parallel evaluation processes")
    p.add_argument("--workdir", default="/tmp/sacgmm-calibration",
                   help="where demos and skills are written (not results)")
    p.add_argument("--json-out", default="results/calibration.json")
    p.add_argument("--md-out", default="results/calibration.md")
    p.add_argument("--no-update-config", dest="update_config", action="store_false",
                   help="do not rewrite the calibration: note of sacgmm/tasks/<task>.yaml")
    p.set_defaults(func=_run)
