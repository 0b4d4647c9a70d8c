"""``sacgmm standin-train``: SAC-GMM trained through the real-robot door graph, against the
stand-in cell.

Starts ``sacgmm bringup door_opening use_sim:=false sim_driver:=true target_marker:=true
control_mode:=timer mode:=train`` (every node a process, talking over DDS on a private
``ROS_DOMAIN_ID``), arms the bridge, starts the first episode and lets the graph run episodes
by itself (``auto_reset``) until the bridge's episode log holds ``--episodes``; then stops it
with SIGINT (the refiner saves its policy and replay buffer on exit and every 10 episodes, so a
second call with the same ``--out`` resumes). The graph is the one a real cell runs: the target
from the door's front marker, the gripper commanded by ``iiwa_bridge``, the reward from the
ArUco marker on the door's back seen by the door camera, the wrist camera's images encoded for
the refiner. The stand-in puts the door elsewhere after every episode (``--jitter``), as the
simulated task varies its position.

Then the trained policy runs ``--eval-episodes`` more episodes in ``mode:=eval``
(deterministic, other door placements). Writes ``<out>/params_train.yaml`` and
``params_eval.yaml`` (the graph's parameters), ``<out>/episodes.jsonl`` and
``eval_episodes.jsonl`` (the bridge's logs), ``<out>/policy.pt``, ``<out>/graph.log``, and
``<results>/summary.json``, ``summary.md`` and ``learning_curve.png``: success per block of
``--block`` training episodes and the trained policy's success with its Wilson interval, with
the command, seed and machine.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from sacgmm.ros.session import drive_episodes

SETTINGS = {
    # the simulated task's episode: 300 control steps at 30 Hz
    "iiwa_bridge": {"episode_duration": 10.0, "settle_time": 1.0, "auto_reset": True},
    "sac_refiner": {"save_every_episodes": 10, "save_replay": True, "save_on_exit": True},
}


def write_params(out: Path, seed: int, jitter: float, mode: str = "train",
                 gmm_only: bool = False) -> Path:
    """The graph's parameter file ``<out>/params_<mode>.yaml`` for the run: the package's
    door_opening.yaml with the run's settings (:data:`SETTINGS`, seed, policy path, door
    jitter); in ``mode`` eval the refiner never saves. ``gmm_only``: the refiner
    runs a fresh ``attractor-shift`` SAC-GMM agent, whose zero-initialised actor adapts nothing
    (windows of its 32 steps): the graph runs the GMM agent alone."""
    import yaml

    from sacgmm.fileio import atomic_write_text
    from sacgmm.ros.graphs import find_share_file
    doc = yaml.safe_load(find_share_file("config", "door_opening.yaml").read_text())
    for node, values in SETTINGS.items():
        doc[node]["ros__parameters"].update(values)
    doc["sac_refiner"]["ros__parameters"].update(
        {"seed": seed, "save_path": str((out / "policy.pt").resolve())})
    doc["iiwa_sim_driver"]["ros__parameters"].update(
        {"door_jitter": [jitter, jitter], "seed": seed})
    if gmm_only:
        doc["sac_refiner"]["ros__parameters"]["agent_config"] = "attractor-shift"
        doc["gmm_controller"]["ros__parameters"]["window_steps"] = 32
    if mode == "eval":                            # evaluations never overwrite the policy
        doc["sac_refiner"]["ros__parameters"].update(
            {"save_every_episodes": 0, "save_on_exit": False, "save_path": ""})
    path = out / f"params_{mode}.yaml"
    atomic_write_text(path, yaml.safe_dump(doc, sort_keys=False))
    return path


def success_blocks(records: list[dict], block: int) -> list[dict]:
    """Successes per block of ``block`` consecutive episodes of the log."""
    out = []
    for start in range(0, len(records), block):
        part = records[start:start + block]
        out.append({"episodes": f"{start}-{start + len(part) - 1}", "n": len(part),
                    "successes": int(sum(bool(r.get("success")) for r in part))})
    return out


def _stop(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _run(args) -> int:
    from sacgmm.robot.episodes import read_log
    # Ctrl-C, and SIGTERM or SIGINT even when started in the background (where SIGINT is
    # ignored by default): the graph is stopped and nothing is left running
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    policy = out / "policy.pt"
    train_log, eval_log = out / "episodes.jsonl", out / "eval_episodes.jsonl"
    if args.episodes == 0 and policy.exists():
        raise SystemExit(f"sacgmm standin-train: --episodes 0 evaluates the GMM agent alone, but "
                         f"--out {out} holds a trained policy ({policy}): use another --out")
    _session(args, out, "train", train_log, args.episodes, args.seed)
    if args.eval_episodes:
        if args.episodes and not policy.exists():
            raise SystemExit(f"sacgmm standin-train: {policy} was not saved: nothing to evaluate")
        # the trained policy (--episodes 0: the GMM agent alone), deterministic, on other
        # door placements
        _session(args, out, "eval", eval_log, args.eval_episodes, args.seed + 1000,
                 gmm_only=args.episodes == 0)
    train = read_log(train_log)[:args.episodes]
    evaluation = read_log(eval_log)[:args.eval_episodes] if eval_log.exists() else []
    _report(train, evaluation, args, Path(args.results), out)
    return 0 if len(train) >= args.episodes and len(evaluation) >= args.eval_episodes else 1


def _session(args, out: Path, mode: str, log: Path, episodes: int, seed: int,
             gmm_only: bool = False) -> None:
    """Run the graph in ``mode`` until ``log`` holds ``episodes`` (nothing if it does)."""
    from sacgmm.robot.episodes import read_log
    done = len(read_log(log)) if log.exists() else 0
    if done >= episodes:
        return
    params = write_params(out, seed, args.jitter, mode, gmm_only)
    policy = out / "policy.pt"
    graph_args = ["use_sim:=false", "sim_driver:=true", "target_marker:=true",
                  "control_mode:=timer", f"mode:={mode}", f"params_file:={params}",
                  f"episode_log:={log}"] + (
                      [f"policy:={policy}"] if policy.exists() and not gmm_only else [])
    domain = args.domain_id if args.domain_id is not None else 1 + os.getpid() % 200
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    cmd = [sys.executable, "-m", "sacgmm.cli", "bringup", "door_opening", *graph_args]
    print(f"{mode}: ROS_DOMAIN_ID={domain} {' '.join(cmd)}", flush=True)
    with open(out / "graph.log", "a") as graph_log:
        proc = subprocess.Popen(cmd, env=env, stdout=graph_log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        try:
            drive_episodes(proc, domain, log, episodes, done)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _report(records: list[dict], evaluation: list[dict], args, results: Path,
            out: Path) -> None:
    from sacgmm.fileio import atomic_write_text
    from sacgmm.machine import machine_info
    from sacgmm.stats import wilson_interval
    results.mkdir(parents=True, exist_ok=True)
    for name in ("episodes.jsonl", "eval_episodes.jsonl"):     # the raw data beside the summary
        if (out / name).exists() and out.resolve() != results.resolve():
            atomic_write_text(results / name, (out / name).read_text())
    blocks = success_blocks(records, args.block)
    n, m = len(records), len(evaluation)
    wins = int(sum(bool(r.get("success")) for r in evaluation))
    summary = {
        "command": " ".join(["sacgmm", *sys.argv[1:]]),
        "seed": args.seed, "door_jitter_m": args.jitter,
        "training": {"episodes": n, "successes": int(sum(bool(r.get("success")) for r in records)),
                     "blocks": blocks, "end_reasons": _reasons(records),
                     "robot_time_s": _span(records)},
        "evaluation": {"episodes": m, "successes": wins,
                       "success_rate": wins / m if m else None,
                       "wilson_95": list(wilson_interval(wins, m)) if m else None,
                       "end_reasons": _reasons(evaluation), "robot_time_s": _span(evaluation)},
        "machine": machine_info(),
    }
    atomic_write_text(results / "summary.json", json.dumps(summary, indent=2) + "\n")
    t = summary["training"]
    lines = [f"# SAC-GMM through the real-robot door graph, stand-in cell (seed {args.seed})",
             "", f"Produced by `{summary['command']}`; the bridge's episode logs of the run "
             "are beside this file (`episodes.jsonl`: training, `eval_episodes.jsonl`: the "
             "trained policy).", "",
             f"Training: {t['successes']} successes in {n} episodes (exploring policy; "
             f"{t['robot_time_s'] / 60:.0f} min of robot time).", ""]
    if m:
        lo, hi = summary["evaluation"]["wilson_95"]
        who = ("the GMM agent alone (no training)" if not n else "the trained policy")
        lines += [f"Evaluation of {who} (deterministic, other door placements): "
                  f"**{wins}/{m}** ({100 * wins / m:.0f} %, Wilson 95 % interval "
                  f"{100 * lo:.0f}-{100 * hi:.0f} %).", ""]
    lines += ["| training episodes | successes |", "|---|---|"]
    lines += [f"| {b['episodes']} | {b['successes']}/{b['n']} |" for b in blocks]
    atomic_write_text(results / "summary.md", "\n".join(lines) + "\n")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot([args.block * (i + 1) for i in range(len(blocks))],
            [100.0 * b["successes"] / b["n"] for b in blocks], marker="o",
            label="training (exploring)")
    if m:
        ax.axhline(100.0 * wins / m, color="C1", ls="--", label="trained policy")
        ax.legend(loc="upper left")
    ax.set_xlabel("training episodes")
    ax.set_ylabel(f"success per {args.block} episodes (%)")
    ax.set_ylim(0, 100)
    ax.set_title("door, real-robot graph on the stand-in cell")
    fig.tight_layout()
    fig.savefig(results / "learning_curve.png", dpi=100)
    plt.close(fig)


def _reasons(records: list[dict]) -> dict[str, int]:
    return {k: sum(str(r.get("end_reason")) == k for r in records)
            for k in sorted({str(r.get("end_reason")) for r in records})}


def _span(records: list[dict]) -> float:
    """Seconds from the first episode's start to the last one's end."""
    if not records:
        return 0.0
    return records[-1]["start_time"] + records[-1]["duration"] - records[0]["start_time"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "standin-train", help="train SAC-GMM through the real-robot door graph on the "
        "stand-in cell", description=__doc__.split("\n\n")[0])
    p.add_argument("--episodes", type=int, default=100, help="training episodes (default 100)")
    p.add_argument("--seed", type=int, default=0, help="refiner and door placements (default 0)")
    p.add_argument("--jitter", type=float, default=0.04,
                   help="the door's placement range after each episode, +- m in x and y "
                        "(default 0.04, the simulated task's)")
    p.add_argument("--eval-episodes", type=int, default=30, help="episodes of the trained "
                   "policy afterwards, deterministic, on other door placements (default 30)")
    p.add_argument("--block", type=int, default=10, help="episodes per point of the curve")
    p.add_argument("--out", default="runs/door_standin", help="run directory (resumable)")
    p.add_argument("--results", default="results/door_standin", help="where the summary goes")
    p.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: "
                   "derived from the process id)")
    p.set_defaults(func=_run)
