"""``sacgmm train``: train an agent on a simulated task (see :mod:`sacgmm.rl.train_task`)."""
from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train SAC-GMM or a baseline on a simulated task",
        description="Train an agent on a simulated task with the paper's protocol (evaluation "
                    "every 10 episodes on 10 episodes, 100 final episodes); resumable.")
    p.add_argument("--task", required=True, help="peg, lever or door")
    p.add_argument("--agent", metavar="NAME",
                   help="sac-gmm (default), res-gmm, sac or gmm: the agent's configuration "
                        "(same as --config NAME)")
    p.add_argument("--config", metavar="NAME|FILE",
                   help="agent configuration: a name in sacgmm/agents (e.g. door-via-point) "
                        "or a YAML file of settings (see docs/options.md)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--noise", action="store_true", help="perceived target noise N(0, 1 cm)")
    p.add_argument("--no-sensor", dest="sensor", action="store_false",
                   help="the agent sees only the pose, not the 64x64 sensor image")
    p.add_argument("--dense", action="store_true", help="shaped reward (SAC baseline, Table III)")
    p.add_argument("--episodes", type=int, default=300, help="training episodes (default 300)")
    p.add_argument("--final-episodes", type=int, default=100)
    p.add_argument("--eval-every", type=int, default=10)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--skill", help="skill file (default: the task's demonstrated skill, "
                   "from demonstrations recorded with --demo-seed)")
    p.add_argument("--demo-seed", type=int, default=None,
                   help="seed of the scripted expert's demonstrations the default skill is "
                        "fitted to (default: --seed, so each seed has its own)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting of the configuration, e.g. window=16, "
                        "sac.init_alpha=0.1, delta_theta.adapt_attractor=true (repeatable; "
                        "values are YAML)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for the gradient updates (default 1; 2 uses both cores "
                        "of a 2-core machine when one run has it alone)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/checkpoint.pt")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.add_argument("--json", action="store_true", help="print summary.json at the end")
    p.set_defaults(func=run)


def config_name(args: argparse.Namespace) -> str:
    """The agent configuration named by ``--config`` and ``--agent`` (one of them, or both the
    same); ``ValueError`` if they differ."""
    if args.config and args.agent and args.config != args.agent:
        raise ValueError(f"--agent {args.agent} and --config {args.config}: give one of them")
    return args.config or args.agent or "sac-gmm"


def run(args: argparse.Namespace) -> int:
    from sacgmm.rl.train_task import TaskRun, TrainConfig
    from sacgmm.sim.config import TASKS, unknown_task_message

    if args.task not in TASKS:
        raise ValueError(unknown_task_message(args.task))
    cfg = TrainConfig.named(config_name(args), args.overrides, task=args.task, seed=args.seed,
                            noise=args.noise, sensor=args.sensor, dense=args.dense,
                            episodes=args.episodes, final_episodes=args.final_episodes,
                            eval_every=args.eval_every, eval_episodes=args.eval_episodes,
                            skill=args.skill, demo_seed=args.demo_seed,
                            threads=args.threads)
    run_ = TaskRun(cfg, args.out, log=lambda m: print(m, file=sys.stderr, flush=True))
    summary = run_.train(resume=args.resume, progress=args.progress)
    if args.json:
        print(json.dumps({k: v for k, v in summary.items() if k != "machine"}, indent=2))
    else:
        f, t = summary["final"], summary["training"]
        if f:
            lo, hi = f["ci95"]
            print(f"{args.task}/{cfg.config} seed {args.seed}: final success "
                  f"{100 * f['success_rate']:.0f}% (95% CI {100 * lo:.0f}-{100 * hi:.0f}%) over "
                  f"{f['episodes']} episodes")
        print(f"training: {t['episodes']} episodes, {t['agent_decisions']} agent decisions, "
              f"{t['control_steps']} control steps, {t['gradient_updates']} updates, "
              f"{t['wall_time_s']:.0f} s")
        print(f"run directory: {args.out}")
    return 0
