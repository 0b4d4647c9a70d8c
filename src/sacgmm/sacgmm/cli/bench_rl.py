"""``sacgmm bench-rl``: SAC update throughput (batch 256) with and without 64x64 images."""
from __future__ import annotations

import argparse
import json
import sys
import time

from sacgmm.cli._rl_common import command_line


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench-rl", help="benchmark SAC updates/s (with and without the image autoencoder)",
        description="Measure SAC gradient updates per second at a given batch size for a "
                    "vector-only observation and with 64x64 images through the SAC-AE "
                    "autoencoder, and the latency of one act() call; write a JSON file.")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seconds", type=float, default=10.0, help="measuring time per case")
    p.add_argument("--act-dim", type=int, default=12,
                   help="action size (default 12: SAC-GMM d_pi + d_mu for K = 3)")
    p.add_argument("--latent-dim", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2,
                   help="torch threads of the measured setup (default 2, both cores)")
    p.add_argument("--encoder-kind", default=None,
                   help="image encoder of the measured setup (default: the sac-gmm agent "
                        "configuration's)")
    p.add_argument("--autoencoder-batch", type=int, default=None,
                   help="images per reconstruction loss in the measured setup (default: the "
                        "sac-gmm agent configuration's; 0: the whole batch)")
    p.add_argument("--before", default=None, metavar="JSON",
                   help="the output of an earlier version's bench-rl, run just before on this "
                        "machine (scripts/bench_rl_before_after.sh): its figures and the "
                        "speed-up over them are added to this output")
    p.add_argument("--no-reference", dest="reference", action="store_false",
                   help="skip the reference setup (conv encoder, reconstruction on the whole "
                        "batch, 1 thread) measured in the same run for the speed-up ratio")
    p.add_argument("--train-seconds", type=float, default=60.0,
                   help="training time per agent for the control-steps/s measurement (0: skip)")
    p.add_argument("--task", default="peg", help="task of the training measurement")
    p.add_argument("--out", default="results/bench_rl.json", help="output JSON file")
    p.set_defaults(func=run)


#: the setup the speed-up is measured against in the same run: SACConfig's library defaults
#: (the two-layer "conv" encoder, reconstruction on the whole batch) on one thread
REFERENCE = {"encoder_kind": "conv", "autoencoder_batch": None, "threads": 1}


def _bench_case(name, obs_shapes, act_dim, config, batch_size, seconds, seed, threads):
    import numpy as np
    import torch

    from sacgmm.rl.replay import ReplayBuffer
    from sacgmm.rl.sac import SACAgent

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    agent = SACAgent(obs_shapes, act_dim, config)
    buffer = ReplayBuffer(max(batch_size, 512), obs_shapes, act_dim, seed=seed,
                          image_layout=agent.image_layout)

    def random_obs():
        return {k: (rng.integers(0, 256, s, dtype=np.uint8) if len(s) == 3
                    else rng.normal(size=s).astype(np.float32)) for k, s in obs_shapes.items()}

    for _ in range(buffer.capacity):
        buffer.add(random_obs(), rng.uniform(-1, 1, act_dim), rng.normal(), random_obs(),
                   rng.random() < 0.05)
    for _ in range(3):   # warm-up (allocator, oneDNN kernels)
        agent.update(buffer.sample(batch_size))
    n, sample_time, t0, c0 = 0, 0.0, time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds or n < 5:
        ts = time.perf_counter()
        batch = buffer.sample(batch_size)
        sample_time += time.perf_counter() - ts
        agent.update(batch)
        n += 1
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    obs = random_obs()
    agent.act(obs)
    m, ta = 0, time.perf_counter()
    while time.perf_counter() - ta < min(2.0, seconds) or m < 20:
        agent.act(obs)
        m += 1
    act_ms = 1e3 * (time.perf_counter() - ta) / m
    return {
        "case": name, "threads": threads, "encoder_kind": config.encoder_kind,
        "autoencoder_batch": config.autoencoder_batch,
        "obs_shapes": {k: list(v) for k, v in obs_shapes.items()},
        "act_dim": act_dim, "batch_size": batch_size, "updates": n,
        "seconds": round(elapsed, 3), "updates_per_s": round(n / elapsed, 3),
        "ms_per_update": round(1e3 * elapsed / n, 3),
        "cpu_seconds": round(cpu, 3),
        "updates_per_cpu_s": round(n / cpu, 3),
        "of_which_sampling_ms": round(1e3 * sample_time / n, 3),
        "act_ms": round(act_ms, 3),
    }


def _bench_training(task: str, agent: str, seconds: float, seed: int, setup: dict) -> dict:
    """Control steps per second while an agent trains on a simulated task (with its sensor).

    Training episodes run (acting, simulation, sensor rendering, replay and gradient updates
    with the agent's default schedule, warm-up shortened so updates start at once) until
    ``seconds`` of wall time have passed; the skill is the task's default demonstrated skill.
    ``setup``: the encoder kind, reconstruction batch and torch threads.
    """
    from sacgmm.rl.train_task import TaskRun, TrainConfig

    start = {"sac-gmm": 2, "res-gmm": 64, "sac": 64}[agent]
    run = TaskRun(TrainConfig.named(
        agent, task=task, seed=seed, episodes=1_000_000, learning_starts=start,
        threads=setup["threads"], sac={"encoder_kind": setup["encoder_kind"],
                                       "autoencoder_batch": setup["autoencoder_batch"]}))
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        episodes = 0
        while time.perf_counter() - t0 < seconds:
            run.run_episode(run.env, seed + episodes, deterministic=False, train=True)
            episodes += 1
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        run.env.close()
        run.eval_env.close()
    return {"agent": agent, "task": task, "sensor": True, **setup, "episodes": episodes,
            "agent_decisions": run.decisions, "control_steps": run.control_steps,
            "gradient_updates": run.updates, "updates_per_decision": run.cfg.updates_per_step,
            "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "control_steps_per_s": round(run.control_steps / wall, 1),
            "control_steps_per_cpu_s": round(run.control_steps / max(cpu, 1e-9), 1),
            "share_of_time_in_env": round(run.time_env / wall, 3),
            "share_of_time_in_updates": round(run.time_update / wall, 3)}


def run(args: argparse.Namespace) -> int:
    import os
    from dataclasses import asdict, replace

    from sacgmm.fileio import atomic_write_text
    from sacgmm.machine import machine_info
    from sacgmm.rl.sac import SACConfig

    from sacgmm.rl.config import TrainConfig

    before = _load_before(args.before) if args.before else None
    default = SACConfig(latent_dim=args.latent_dim)
    agent = TrainConfig.named("sac-gmm", task=args.task).sac     # what training uses
    setup = {"encoder_kind": args.encoder_kind or agent.encoder_kind,
             "autoencoder_batch": (agent.autoencoder_batch if args.autoencoder_batch is None
                                   else args.autoencoder_batch or None),
             "threads": args.threads}
    setups = {"measured": setup}
    if args.reference:
        setups["reference"] = dict(REFERENCE)
    cases = [
        ("no_image", {"position": (3,)}),
        ("depth_1x64x64", {"position": (3,), "depth": (1, 64, 64)}),
        ("tactile_2x64x64", {"position": (3,), "tactile": (2, 64, 64)}),
    ]
    results = {name: [] for name in setups}
    load_before = os.getloadavg()
    for case, shapes in cases:
        for name, st in setups.items():
            config = replace(default, encoder_kind=st["encoder_kind"],
                             autoencoder_batch=st["autoencoder_batch"])
            r = _bench_case(case, shapes, args.act_dim, config, args.batch_size, args.seconds,
                            args.seed, st["threads"])
            print(f"{name} {case}: {r['updates_per_s']:.2f} updates/s wall, "
                  f"{r['updates_per_cpu_s']:.2f} per CPU-second ({r['ms_per_update']:.1f} "
                  f"ms/update, act {r['act_ms']:.2f} ms)", file=sys.stderr)
            results[name].append(r)
    training = {name: [] for name in setups}
    if args.train_seconds > 0:
        for agent in ("sac-gmm", "res-gmm", "sac"):
            for name, st in setups.items():
                r = _bench_training(args.task, agent, args.train_seconds, args.seed, st)
                print(f"{name}: training {agent} on {args.task}: {r['control_steps_per_s']} "
                      f"control steps/s wall, {r['control_steps_per_cpu_s']} per CPU-second",
                      file=sys.stderr)
                training[name].append(r)
    out = {
        "command": command_line("bench-rl", args),
        "seed": args.seed,
        "what": "SAC gradient updates per second (critic + autoencoder, actor, temperature, "
                "targets; one Adam step each) on random data, CPU, float32",
        "sac_config": asdict(default),
        "setups": setups,
        "updates": results["measured"],
        "env_steps_per_s": training["measured"],
        "env_steps_per_s_note": "control steps per second of the simulated task while each "
                                "agent trains with its default update schedule and the task's "
                                "sensor (SAC-GMM: one decision and one update per 32 steps; "
                                "Res-GMM and SAC: a decision and an update per control step)",
        "machine": machine_info(),
        "load_average_1_5_15min": {"before": [round(x, 2) for x in load_before],
                                   "after": [round(x, 2) for x in os.getloadavg()]},
        "note": "the machine has 2 cores shared with other workers; a load average above 2 "
                "means other processes competed for the CPU during the measurement, and then "
                "updates_per_s (wall clock) understates the speed",
    }
    if args.reference:
        out["reference"] = {"updates": results["reference"],
                            "env_steps_per_s": training["reference"]}
        out["speedup_over_reference"] = {
            "updates_per_s": {m["case"]: round(m["updates_per_s"] / r["updates_per_s"], 2)
                              for m, r in zip(results["measured"], results["reference"])},
            "control_steps_per_s": {
                m["agent"]: round(m["control_steps_per_s"] / r["control_steps_per_s"], 2)
                for m, r in zip(training["measured"], training["reference"])}}
        print(f"speed-up over the reference: {out['speedup_over_reference']}", file=sys.stderr)
    if before is not None:
        out["before"], out["speedup_over_before"] = _compare_before(before, out)
        print(f"speed-up over {args.before}: {out['speedup_over_before']}", file=sys.stderr)
    atomic_write_text(args.out, json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


def _load_before(path: str) -> dict:
    """The earlier version's figures in ``path`` (a bench-rl JSON); ``ValueError`` naming the
    file if it is not one."""
    try:
        before = json.loads(open(path).read())
        cases = {c["case"]: c["updates_per_s"] for c in before["updates"]}
        agents = {r["agent"]: r["control_steps_per_s"] for r in before.get("env_steps_per_s", [])}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"--before {path}: not a bench-rl output ({exc})") from None
    return {"file": path, "command": before.get("command"),
            "updates_per_s": cases, "control_steps_per_s": agents}


def _compare_before(summary: dict, out: dict) -> tuple[dict, dict]:
    """``summary`` (:func:`_load_before`) and this run's speed-up over it, case by case and
    agent by agent."""
    cases, agents = summary["updates_per_s"], summary["control_steps_per_s"]
    speedup = {
        "updates_per_s": {c["case"]: round(c["updates_per_s"] / cases[c["case"]], 2)
                          for c in out["updates"] if cases.get(c["case"])},
        "control_steps_per_s": {r["agent"]: round(r["control_steps_per_s"] / agents[r["agent"]], 2)
                                for r in out["env_steps_per_s"] if agents.get(r["agent"])}}
    return summary, speedup
