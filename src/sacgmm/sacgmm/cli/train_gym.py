"""``sacgmm train-gym``: train the SAC core on a gymnasium environment with Box actions."""
from __future__ import annotations

import argparse
import json
import sys

from sacgmm.cli._rl_common import command_line


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train-gym", help="train and evaluate the SAC core on a gymnasium env (e.g. Pendulum-v1)",
        description="Train the SAC core on any gymnasium environment with Box actions, "
                    "evaluate the deterministic policy, and print a summary.")
    p.add_argument("--env", required=True, help="gymnasium environment id, e.g. Pendulum-v1")
    p.add_argument("--steps", type=int, default=20000, help="environment steps (default 20000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="run directory: checkpoint.pt, episodes.csv, evals.csv, "
                                 "summary.json")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.add_argument("--learning-starts", type=int, default=1000,
                   help="random-action steps before updates start (default 1000)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--buffer-size", type=int, default=1_000_000)
    p.add_argument("--eval-every", type=int, default=5000, help="steps between evaluations")
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--checkpoint-every", type=int, default=0,
                   help="checkpoint at the first episode end after every N steps (0: only at "
                        "the end); needs --out")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--init-alpha", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from sacgmm.rl.sac import SACConfig
    from sacgmm.rl.train_gym import train_gym

    torch.set_num_threads(args.threads)
    if args.resume and not args.out:
        raise ValueError("--resume needs --out")
    config = SACConfig(hidden=tuple(args.hidden), gamma=args.gamma, init_alpha=args.init_alpha)
    command = command_line("train-gym", args)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    try:
        summary = train_gym(
            args.env, args.steps, args.seed, config=config,
            learning_starts=args.learning_starts, batch_size=args.batch_size,
            buffer_size=args.buffer_size, eval_every=args.eval_every,
            eval_episodes=args.eval_episodes, out_dir=args.out,
            checkpoint_every=args.checkpoint_every, resume=args.resume, log=log)
    except FloatingPointError as exc:
        print(f"sacgmm train-gym: training diverged: {exc}", file=sys.stderr)
        return 3
    summary = {"command": command, **summary}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        fe = summary["final_eval"]
        print(f"{args.env}: mean return {fe['mean_return']:.1f} +- {fe['std_return']:.1f} over "
              f"{fe['episodes']} deterministic episodes after {summary['env_steps']} steps "
              f"({summary['wall_time_s']:.0f} s, {summary['updates_per_s'] or 0:.0f} updates/s)")
    return 0
