"""``sacgmm eval``: success rate of an agent on a simulated task.

Examples::

    sacgmm eval --task peg --agent gmm --skill skills/peg.yaml --episodes 100 --seed 0 --json
    sacgmm eval --agent sac-gmm --checkpoint runs/x/checkpoint.pt --episodes 100

``--agent sac-gmm --checkpoint FILE`` loads a SAC-GMM checkpoint written by ``sacgmm train``
(``checkpoint.pt``) or by the ``sac_refiner`` node (``/sacgmm/save_policy``): the agent's
networks and the training configuration saved with them (task, skill, delta-theta layout,
sensor, noise), and runs the deterministic policy through
:class:`sacgmm.rl.task_env.GMMWindowEnv` (one delta-theta per window of N control steps).
``--task``/``--skill`` default to the checkpoint's; ``--noise`` forces perception noise on,
otherwise the checkpoint's setting is used.

Episode ``i`` is reset with seed ``seed + i``. The GMM agent's action is the skill's velocity at
the perceived TCP position, clipped to the task's maximum speed. Prints the success rate with a
95 % Wilson score interval, the mean episode length (control steps) and the end reasons; for
a SAC-GMM policy on the door, also where on the handle bar the first grasps held (from the
bar's centre, > 0 towards the hinge), with how many of them slipped and succeeded.
"""
from __future__ import annotations

import json
import sys
import time

from sacgmm.stats import wilson_interval

AGENTS = ("gmm", "sac-gmm")


def evaluate_gmm(task: str, skill_path: str, episodes: int, seed: int, noise: bool,
                 video: str | None = None, progress: bool = False) -> dict:
    """Run the GMM agent; returns a summary dict (see module docstring)."""
    import numpy as np

    from sacgmm.sim import make_env
    from sacgmm.skill import load_skill
    from sacgmm.skill.speed import limit_velocity

    if video:                    # a bad name fails before the episodes run, not after
        from sacgmm.sim.video import check_video_path
        check_video_path(video)
    skill = load_skill(skill_path)
    env = make_env(task, noise=noise, render_mode="rgb_array" if video else None)
    vmax, fps = env.unwrapped.max_speed, 1.0 / (2 * env.unwrapped.dt)   # a frame per 2 steps
    from sacgmm.sim.failures import count_failures
    reasons: dict[str, int] = {}
    lengths, successes, frames, kinds = [], 0, [], []
    t0 = time.perf_counter()
    try:
        for i in range(episodes):
            obs, info = env.reset(seed=seed + i)
            if video and i == 0:
                frames.append(env.render())
            while True:
                v = limit_velocity(skill.velocity(obs["position"].astype(np.float64)), vmax)
                obs, _, term, trunc, info = env.step(v)
                if video and i == 0 and info["steps"] % 2 == 0:
                    frames.append(env.render())
                if term or trunc:
                    break
            successes += int(info["success"])
            lengths.append(info["steps"])
            reasons[info["end_reason"]] = reasons.get(info["end_reason"], 0) + 1
            kinds.append(info.get("failure"))
            if progress:
                print(f"episode {i + 1}/{episodes}: {info['end_reason']} after "
                      f"{info['steps']} steps", file=sys.stderr)
    finally:
        env.close()
    if video:
        from sacgmm.sim.video import save_video
        save_video(frames, video, fps)
    lo, hi = wilson_interval(successes, episodes)
    return {
        "task": task, "agent": "gmm", "skill": str(skill_path), "episodes": episodes,
        "seed": seed, "noise": noise, "successes": successes,
        "success_rate": successes / episodes if episodes else 0.0,
        "ci95": [lo, hi], "mean_length": float(np.mean(lengths)) if lengths else 0.0,
        "end_reasons": reasons, "failures": count_failures(kinds),
        "wall_time_s": time.perf_counter() - t0,
    }


def evaluate_sac_gmm(checkpoint: str, episodes: int, seed: int, task: str | None = None,
                     skill: str | None = None, noise: bool | None = None) -> dict:
    """The deterministic SAC-GMM policy of ``checkpoint`` over ``episodes`` episodes (episode
    ``i`` reset with seed ``seed + i``); returns a summary dict like :func:`evaluate_gmm`."""
    from sacgmm.rl.checkpoint import load_checkpoint
    from sacgmm.rl.train_task import TaskRun, TrainConfig

    payload = load_checkpoint(checkpoint)
    saved = (payload.get("extra") or {}).get("config")
    if not isinstance(saved, dict):
        raise ValueError(f"{checkpoint}: no training configuration saved with the agent")
    try:
        cfg = TrainConfig.from_saved(saved)
    except ValueError as exc:
        raise ValueError(f"{checkpoint}: {exc}") from None
    if cfg.agent != "sac-gmm":
        raise ValueError(f"{checkpoint}: a {cfg.agent!r} checkpoint, not sac-gmm")
    if task is not None and task != cfg.task:
        raise ValueError(f"{checkpoint}: trained on task {cfg.task!r}, not {task!r}")
    if skill:
        cfg.skill = skill
    if noise:
        cfg.noise = True
    cfg.final_episodes = episodes
    t0 = time.perf_counter()
    run = TaskRun(cfg)
    try:
        run.agent.load_state_dict(payload["agent"])
    except (ValueError, RuntimeError, KeyError) as exc:
        raise ValueError(f"{checkpoint}: the saved agent does not fit the task's "
                         f"observation/action layout ({exc})") from None
    try:
        res = run.evaluate(episodes, seed)
    finally:
        run.env.close()
        run.eval_env.close()
    return {
        "task": cfg.task, "agent": "sac-gmm", "checkpoint": str(checkpoint),
        "skill": cfg.skill, "episodes": episodes, "seed": seed, "noise": cfg.noise,
        "successes": res["successes"], "success_rate": res["success_rate"],
        "ci95": res["ci95"], "mean_length": res["mean_control_steps"],
        "end_reasons": res["end_reasons"], "failures": res["failures"],
        "wall_time_s": time.perf_counter() - t0,
        **({"grasps_by_offset": res["grasps_by_offset"]} if "grasps_by_offset" in res else {}),
    }


def _run(args) -> int:
    from sacgmm.sim.config import TASKS, unknown_task_message
    if args.task is not None and args.task not in TASKS:
        raise ValueError(unknown_task_message(args.task))
    if args.agent not in AGENTS:
        raise ValueError(f"unknown agent {args.agent!r}; valid agents: {', '.join(AGENTS)}")
    if args.episodes < 1:
        raise ValueError("--episodes must be at least 1")
    if args.agent == "sac-gmm":
        if not args.checkpoint:
            raise ValueError("--agent sac-gmm needs --checkpoint")
        res = evaluate_sac_gmm(args.checkpoint, args.episodes, args.seed, args.task,
                               args.skill, args.noise)
    else:
        if args.task is None or not args.skill:
            raise ValueError("--agent gmm needs --task and --skill")
        res = evaluate_gmm(args.task, args.skill, args.episodes, args.seed, args.noise,
                           video=args.video, progress=args.verbose)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        lo, hi = res["ci95"]
        print(f"{res['task']} / {res['agent']} ({'noise' if res['noise'] else 'no noise'}), "
              f"{res['episodes']} episodes from seed {res['seed']}")
        print(f"success rate: {100 * res['success_rate']:.1f} %  "
              f"(95 % Wilson CI {100 * lo:.1f}-{100 * hi:.1f} %)")
        print(f"mean episode length: {res['mean_length']:.1f} control steps")
        print("end reasons: " + ", ".join(f"{k}={v}" for k, v in sorted(res["end_reasons"].items())))
        if res["failures"]:
            print("failed episodes: " + ", ".join(f"{k}={v}" for k, v in res["failures"].items()))
        for name, row in res.get("grasps_by_offset", {}).items():
            print(f"first grasp {name} from the bar's centre: {row['episodes']} episodes, "
                  f"{row['slipped']} slipped, {row['successes']} succeeded")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="evaluate an agent on a simulated task",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--task", help="peg, lever or door (sac-gmm: the checkpoint's)")
    p.add_argument("--agent", default="gmm", help="agent type (gmm, sac-gmm)")
    p.add_argument("--skill", help="skill file (YAML) for the gmm agent (sac-gmm: the "
                   "checkpoint's)")
    p.add_argument("--checkpoint", help="sac-gmm: checkpoint from sacgmm train or "
                   "/sacgmm/save_policy")
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--seed", type=int, default=0, help="episode i uses seed + i")
    p.add_argument("--noise", action="store_true", help="perceived target noise N(0, 1 cm)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--video", help="record the first episode to this .gif or .mp4")
    p.add_argument("--verbose", action="store_true", help="one line per episode on stderr")
    p.set_defaults(func=_run)
