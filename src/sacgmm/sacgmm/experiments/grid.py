"""The paper's experiment grids (Tables I-III, Fig. 5): run specs, Ray tasks, reports.

Each run is one ``sacgmm train`` process writing its own run directory under
``runs/<table>/``; a run whose ``summary.json`` exists is finished and is not redone, and an
interrupted run resumes from its checkpoint, so a grid picks up where it stopped. The runs are
Ray tasks (one CPU each): on a local Ray instance started for the grid (``jobs`` CPUs), or on a
running cluster (``address``), whose nodes must see the run root at the same path (a shared
filesystem) and have sacgmm installed. Reports (``results/<table>.md``, ``.csv``,
learning-curve PNGs) are written from the run directories.
"""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from sacgmm.stats import bootstrap_interval, mean_std, rank_test
from sacgmm.fileio import atomic_write_bytes, atomic_write_text


@dataclass(frozen=True)
class RunSpec:
    """One training run of the grid."""

    task: str
    agent: str
    seed: int
    noise: bool = False
    sensor: bool = True
    dense: bool = False
    # the agent configuration (sacgmm/agents/NAME.yaml) when it is not the agent's own; its
    # name marks the condition label (so such runs never share a directory with the agent's)
    config: str = ""

    @property
    def condition(self) -> str:
        """The row label without the seed, e.g. ``sac-gmm``, ``sac-gmm+noise-sensor``,
        ``sac-gmm+noise+door-via-point`` (with ``config``)."""
        label = self.agent
        if self.dense:
            label += "+dense"
        if self.noise:
            label += "+noise"
        if not self.sensor and self.agent not in ("gmm",):
            label += "-sensor"
        if self.config and self.config != self.agent:
            label += f"+{self.config}"
        return label

    def run_dir(self, root: Path) -> Path:
        return root / self.task / self.condition / f"seed{self.seed}"

    def train_args(self, episodes: int) -> list[str]:
        args = ["train", "--task", self.task, "--config", self.config or self.agent,
                "--seed", str(self.seed), "--episodes", str(episodes)]
        if self.noise:
            args.append("--noise")
        if not self.sensor:
            args.append("--no-sensor")
        if self.dense:
            args.append("--dense")
        return args


TASKS = ("peg", "lever")           # the tasks of Tables I-III
EXPERIMENTS = ("table1", "table2", "table3", "door")

#: training episodes per run unless told otherwise: 150 on peg and lever and 100 on the door
#: (the budgets the one default SAC-GMM configuration is held to), and 200 for Table III's
#: dense-reward SAC, the paper's 60k interactions at 300 control steps per episode
BUDGETS = {"default": 150, "door": 100, "dense": 200}


def default_budget(spec: "RunSpec") -> int:
    """The training episodes of ``spec`` under :data:`BUDGETS`."""
    if spec.dense:
        return BUDGETS["dense"]
    return BUDGETS["door"] if spec.task == "door" else BUDGETS["default"]


PER_STEP_AGENTS = ("res-gmm", "sac")

# SAC-GMM configurations beside the one default (sacgmm/agents/*.yaml): the attractor shift
# alone with plain SAC, and in Table I the paper's delta-theta layout without and with the
# stability projection
TABLE1_CONFIGS = ("attractor-shift", "paper-layout", "paper-layout-stable")
DOOR_CONFIGS = ("attractor-shift",)


def table_specs(table: str, seeds: int, tasks: Iterable[str] = TASKS,
                baseline_seeds: int | None = None) -> list[RunSpec]:
    """The runs of Table I, II or III (paper section V) for ``seeds`` seeds each, or of the door
    experiment (``door``: the GMM agent and SAC-GMM with the wrist camera, both from the door's
    5 demonstrations and under perception noise, as on the paper's real robot; SAC-GMM in its
    default configuration and in :data:`DOOR_CONFIGS`; ``tasks`` is ignored). Table I has
    extra SAC-GMM rows, one per configuration of :data:`TABLE1_CONFIGS`, and the RLPD-style
    baseline, ``sac+rlpd``.

    ``baseline_seeds`` (default ``seeds``) limits the per-step agents (Res-GMM, SAC), which
    cost 5-10x more CPU per episode than SAC-GMM, to their first seeds.
    """
    if table == "door":
        return [RunSpec("door", "gmm", seed, noise=True) for seed in range(seeds)] + \
            [RunSpec("door", "sac-gmm", seed, noise=True, config=config)
             for config in ("", *DOOR_CONFIGS) for seed in range(seeds)]
    tasks = list(tasks)
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown or not tasks:
        raise ValueError(f"unknown task(s) {unknown or tasks}; valid: {', '.join(TASKS)}")
    n_base = seeds if baseline_seeds is None else baseline_seeds
    specs: list[RunSpec] = []
    for seed in range(seeds):
        for task in tasks:
            if table == "table1":
                specs += [RunSpec(task, a, seed) for a in ("sac-gmm", "res-gmm", "sac", "gmm")]
                specs += [RunSpec(task, "sac-gmm", seed, config=c) for c in TABLE1_CONFIGS]
                specs.append(RunSpec(task, "sac", seed, config="rlpd"))
            elif table == "table2":
                for noise in (False, True):
                    specs.append(RunSpec(task, "gmm", seed, noise=noise))
                    for sensor in (True, False):
                        specs.append(RunSpec(task, "sac-gmm", seed, noise=noise, sensor=sensor))
            elif table == "table3":
                specs += [RunSpec(task, "sac", seed, dense=True), RunSpec(task, "sac-gmm", seed)]
            else:
                raise ValueError(f"unknown table {table!r}; valid: {', '.join(EXPERIMENTS)}")
    specs = [s for s in specs if s.agent not in PER_STEP_AGENTS or s.seed < n_base]
    # the cheap runs first, SAC-GMM next, per-step agents (slowest) last, seed by seed (both
    # baselines of a seed before the next seed, so a grid stopped early has comparable rows)
    order = {"gmm": 0, "sac-gmm": 1, "res-gmm": 2, "sac": 2}
    return sorted(specs, key=lambda s: (order[s.agent], s.seed, s.task, s.agent, s.noise,
                                        not s.sensor))


def episodes_of(spec: RunSpec, episodes) -> int:
    """Training episodes of ``spec``: ``episodes`` is one number or a function of the spec."""
    return int(episodes(spec)) if callable(episodes) else int(episodes)


def budget_with_overrides(default: int | None,
                          overrides: Iterable[str]) -> Callable[[RunSpec], int]:
    """``default`` episodes (None: :func:`default_budget`), except for ``TASK:AGENT=N`` or
    ``TASK:CONDITION=N`` overrides (e.g. ``lever:sac-gmm=300``, ``peg:sac+dense=200``; a
    condition's override wins over its agent's)."""
    table: dict[tuple[str, str], int] = {}
    for item in overrides:
        try:
            key, n = item.split("=")
            task, agent = key.split(":")
            table[(task, agent)] = int(n)
        except ValueError:
            raise ValueError(f"episode override {item!r}: expected TASK:AGENT=N, e.g. "
                             "lever:sac-gmm=300") from None
        if table[(task, agent)] < 1:
            raise ValueError(f"episode override {item!r}: N must be at least 1")
    def budget(spec: RunSpec) -> int:
        fallback = default if default is not None else default_budget(spec)
        return table.get((spec.task, spec.condition), table.get((spec.task, spec.agent), fallback))
    return budget


def all_specs(seeds: int, tasks: Iterable[str] = TASKS, baseline_seeds: int | None = None,
              door_seeds: int | None = None) -> dict[str, list[RunSpec]]:
    """The runs of every experiment, per experiment (``sacgmm reproduce all``); a run two
    tables share (SAC-GMM without noise is in Tables I, II and III) appears in each of them
    but is one run directory. ``door_seeds`` (default ``seeds``) for the door."""
    tasks = list(tasks)
    out = {t: table_specs(t, seeds, tasks, baseline_seeds) for t in EXPERIMENTS if t != "door"}
    out["door"] = table_specs("door", seeds if door_seeds is None else door_seeds)
    return out


def unique_runs(specs: Iterable[RunSpec]) -> list[RunSpec]:
    """``specs`` without repeats (same run directory), in their order."""
    return list(dict.fromkeys(specs))


def makespan(durations: Iterable[float], workers: int) -> float:
    """Wall time (same unit as ``durations``) of independent one-CPU runs on ``workers``
    CPUs, longest run first to the least loaded worker (LPT; within 4/3 of the optimum)."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    loads = [0.0] * workers
    for d in sorted((float(x) for x in durations), reverse=True):
        i = loads.index(min(loads))
        loads[i] += d
    return max(loads)


#: settings in which a finished run may differ from what its spec runs now and still count
#: (the budget is checked on its own; threads and the final policy's choice do not change
#: the training)
NOT_COMPARED = ("episodes", "final_episodes", "final_policy", "threads")


def _summary(spec: RunSpec, root: Path) -> dict | None:
    path = spec.run_dir(root) / "summary.json"
    try:
        return json.loads(path.read_text()) if path.exists() else None
    except (OSError, json.JSONDecodeError):
        return None


def changed_settings(spec: RunSpec, summary: dict, episodes) -> list[str]:
    """The settings (top-level keys) in which a finished run's saved configuration differs
    from what ``spec`` would run now, e.g. after a change to an agent configuration file.
    Settings the run did not record are not compared, nor, in a run without the sensor, the
    image encoder's (:data:`sacgmm.rl.sac.IMAGE_SETTINGS`)."""
    from sacgmm.rl.config import TrainConfig
    from sacgmm.rl.sac import IMAGE_SETTINGS
    raw = summary.get("config", {})
    now = TrainConfig.named(spec.config or spec.agent, task=spec.task, seed=spec.seed,
                            noise=spec.noise, sensor=spec.sensor, dense=spec.dense,
                            episodes=episodes_of(spec, episodes)).to_dict()
    if now.get("demo_seed") is None and not now.get("skill"):
        now["demo_seed"] = spec.seed          # what a run records: its own demonstrations
    try:
        saved = TrainConfig.from_saved(raw).to_dict()
    except (TypeError, ValueError):
        return sorted(k for k in raw if k not in NOT_COMPARED)
    if not spec.sensor:           # the image encoder's settings cannot change a run without it
        for cfg in (saved, now):
            cfg["sac"] = {k: v for k, v in cfg["sac"].items() if k not in IMAGE_SETTINGS}
    return sorted(k for k in raw if k in now and k not in NOT_COMPARED and saved[k] != now[k])


def is_finished(spec: RunSpec, root: Path, episodes, extra_args: Iterable[str] = ()) -> bool:
    """The run has its summary, with the spec's budget (any budget for the GMM agent, which
    does not train) and the configuration the spec runs now (not compared when the grid
    passes extra ``sacgmm train`` arguments: the settings are then the caller's)."""
    summary = _summary(spec, root)
    if summary is None:
        return False
    if spec.agent != "gmm" and \
            summary.get("config", {}).get("episodes") != episodes_of(spec, episodes):
        return False
    return bool(tuple(extra_args)) or not changed_settings(spec, summary, episodes)


def check_not_stale(specs: Iterable[RunSpec], root: Path, episodes) -> None:
    """``ValueError`` naming every finished run of ``specs`` made with other settings than its
    spec runs now: the grid neither mixes them into a table nor overwrites them."""
    stale = []
    for s in specs:
        summary = _summary(s, root)
        changed = changed_settings(s, summary, episodes) if summary is not None else []
        if changed:
            stale.append(f"{s.run_dir(root)} ({', '.join(changed)})")
    if stale:
        raise ValueError(f"{len(stale)} finished run(s) under {root} were made with other "
                         "settings than their configuration has now; remove them (or pass "
                         "another --runs) to run them again: " + "; ".join(stale))


BUSY = -1000   # run_one's return code for a run another process holds
DONE = -1001   # run_one's return code for a run another process finished meanwhile


def run_one(spec: RunSpec, root: Path, episodes, extra_args: Iterable[str] = (),
            cwd: str | None = None) -> int:
    """Run (or resume) one spec in its own process; its output goes to ``run_dir/train.log``.

    The run directory is locked (``flock`` on ``run_dir/.lock``) while it trains, so that two
    grids sharing a run root (e.g. Tables I and II started side by side) never train the same
    run at once: the second one gets ``BUSY`` and moves on, or ``DONE`` if the run was
    finished by another grid since this one listed its work.
    """
    import fcntl

    out = spec.run_dir(root)
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "sacgmm.cli", *spec.train_args(episodes_of(spec, episodes)),
           "--out", str(out),
           "--resume", "--no-progress", *extra_args]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with open(out / ".lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)   # held by the trainer too (pass_fds)
        except BlockingIOError:
            return BUSY
        if is_finished(spec, root, episodes, extra_args):
            return DONE
        with open(out / "train.log", "ab") as log:
            log.write(f"\n$ {' '.join(cmd)}\n".encode())
            log.flush()
            # the training process inherits the locked descriptor: if this worker dies, the
            # run stays locked for as long as its trainer lives
            return subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                  cwd=cwd, pass_fds=(lock.fileno(),)).returncode


def run_grid(specs: list[RunSpec], root: Path, episodes, jobs: int,
             log: Callable[[str], None] = print, extra_args: Iterable[str] = (),
             address: str | None = None) -> dict[str, int]:
    """Run every unfinished spec as a Ray task: on a local Ray instance with ``jobs`` CPUs
    (started and stopped here), or on the cluster at ``address`` (e.g. ``auto`` or
    ``ray://head:10001``), one CPU per run."""
    import ray

    extra_args = list(extra_args)
    if not extra_args:
        check_not_stale(specs, root, episodes)
    todo = [s for s in specs if not is_finished(s, root, episodes, extra_args)]
    where = f"the Ray cluster at {address}" if address else f"a local Ray instance ({jobs} CPUs)"
    log(f"{len(specs) - len(todo)} of {len(specs)} runs already finished; {len(todo)} to run "
        f"on {where}")
    status = {"finished": len(specs) - len(todo), "ran": 0, "failed": 0, "busy": 0}
    if not todo:
        return status
    t0 = time.perf_counter()
    # relative paths in extra_args mean the driver's directory; a cluster node may not have it
    root, cwd = Path(root).resolve(), (None if address else os.getcwd())
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(num_cpus=max(1, jobs), include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_timed_run)
        pending = {task.remote(spec, root, episodes_of(spec, episodes), list(extra_args), cwd):
                   spec for spec in todo}
        done = 0
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            spec = pending.pop(ready[0])
            try:
                code, secs = ray.get(ready[0])
            except ray.exceptions.RayError as exc:      # the worker or its node died
                code, secs = f"lost ({type(exc).__name__})", float("nan")
            done += 1
            key = {0: "ran", BUSY: "busy", DONE: "finished"}.get(code, "failed")
            status[key] += 1
            what = {"ran": "done", "busy": "skipped, another process is training it",
                    "finished": "skipped, another process finished it"}.get(
                key, f"FAILED (exit {code})")
            log(f"[{done}/{len(todo)}] {spec.task} "
                f"{spec.condition} seed {spec.seed}: {what} in {secs:.0f} s (see "
                f"{spec.run_dir(root) / 'train.log'}); {time.perf_counter() - t0:.0f} s elapsed")
    finally:
        ray.shutdown()
    return status


def _timed_run(spec: RunSpec, root: Path, episodes: int, extra_args: list[str],
               cwd: str | None) -> tuple[int, float]:
    """A Ray task: :func:`run_one` and its wall time (s)."""
    t = time.perf_counter()
    return run_one(spec, root, episodes, extra_args, cwd), time.perf_counter() - t


def collect(specs: list[RunSpec], root: Path) -> list[dict]:
    """One row per finished run: spec fields, final success, budget and wall time."""
    rows = []
    for s in specs:
        path = s.run_dir(root) / "summary.json"
        if not path.exists():
            continue
        summary = json.loads(path.read_text())
        t = summary["training"]
        final = summary.get("final", {})
        rows.append({"task": s.task, "condition": s.condition, "agent": s.agent, "seed": s.seed,
                     "noise": s.noise, "sensor": s.sensor, "dense": s.dense,
                     "final_success": summary["final_success_rate"],
                     "final_episodes": final.get("episodes", 0),
                     # how the failed final-evaluation episodes failed (sacgmm.sim.failures)
                     "failures": ";".join(f"{k}={v}" for k, v in
                                          final.get("failures", {}).items()),
                     "episodes": t["episodes"], "agent_decisions": t["agent_decisions"],
                     "control_steps": t["control_steps"], "gradient_updates": t["gradient_updates"],
                     "wall_time_s": t["wall_time_s"]})
    return rows


def write_report(table: str, specs: list[RunSpec], root: Path, results: Path, command: str) -> Path:
    """``results/<table>.csv`` (per run) and ``.md`` (mean +- std over seeds per condition)."""
    from sacgmm.machine import machine_info

    rows = collect(specs, root)
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    atomic_write_text(results / f"{table}.csv", buf.getvalue())
    # by agent, then in the specs' order (a set's order would change from run to run)
    conditions = sorted(dict.fromkeys((s.condition, s.agent) for s in specs),
                        key=lambda c: ["gmm", "sac", "res-gmm", "sac-gmm"].index(c[1]))
    tasks = [t for t in (*TASKS, "door") if any(s.task == t for s in specs)]
    lines = [f"# {table}: final success over the final evaluation episodes (mean +- std over "
             "seeds)", "",
             f"Produced by `{command}` from the run directories under `{root}`; per-run figures "
             f"in `{table}.csv`. Learning agents are evaluated with the policy of their best "
             "periodic evaluation (10 episodes before training and every 10 training episodes, "
             "other episode seeds than the final evaluation's; the policy before training is "
             "a candidate too; `final_policy` in each run's summary.json).", "",
             "| condition | " + " | ".join(tasks) + " |",
             "|---|" + "---|" * len(tasks)]
    for cond, _ in conditions:
        cells = []
        for task in tasks:
            vals = [100 * r["final_success"] for r in rows
                    if r["task"] == task and r["condition"] == cond]
            if vals:
                m, sd = mean_std(vals)
                cells.append(f"{m:.0f} +- {sd:.0f} % ({len(vals)} seed{'s' * (len(vals) > 1)})")
            else:
                cells.append("-")
        lines.append(f"| {cond} | " + " | ".join(cells) + " |")
    named = sorted({(s.condition, s.config) for s in specs if s.config})
    if named:
        lines += ["", "Agent configurations beyond the agents' own (`sacgmm train --config "
                  "NAME`; `sacgmm/agents/NAME.yaml`):", ""]
        lines += [f"- {cond}: `{config}`" for cond, config in named]
    lines += ["", "Budget per run (averages over the seeds of each row):", "",
              "| condition | task | seeds | training episodes | agent decisions | control steps | "
              "gradient updates | wall time per run |", "|---|---|---|---|---|---|---|---|"]
    for cond, _ in conditions:
        for task in tasks:
            vals = [r for r in rows if r["task"] == task and r["condition"] == cond]
            if not vals:
                continue

            def avg(key):
                return sum(r[key] for r in vals) / len(vals)
            lines.append(f"| {cond} | {task} | {len(vals)} | {avg('episodes'):.0f} | "
                         f"{avg('agent_decisions'):.0f} | {avg('control_steps'):.0f} | "
                         f"{avg('gradient_updates'):.0f} | {avg('wall_time_s') / 60:.1f} min |")
    lines += statistics_table(rows, conditions, tasks)
    lines += failure_table(rows, conditions, tasks)
    info = machine_info()
    lines += ["", f"Machine: {info.get('cpu_model', info['processor'])}, {info['cpu_count']} cores, "
              f"{info['platform']}; runs share the 2 cores (`--jobs`), so wall times include "
              "waiting for the CPU.", ""]
    path = results / f"{table}.md"
    atomic_write_text(path, "\n".join(lines))
    return path


def statistics_table(rows: list[dict], conditions, tasks) -> list[str]:
    """Markdown lines: per condition and task the final success of every seed, its mean, the
    percentile-bootstrap 95 % interval of the mean over seeds, and the two-sided Mann-Whitney U
    test against the reference condition (``sac-gmm``, else the first SAC-GMM condition)."""
    names = [c for c, _ in conditions]
    ref = "sac-gmm" if "sac-gmm" in names else next(
        (c for c, agent in conditions if agent == "sac-gmm"), None)
    test = (f"the two-sided Mann-Whitney U test against `{ref}` on the same task (p-value; `-` "
            "for the reference itself or with fewer than two seeds; with 3 seeds a side it "
            "cannot go below 0.1)" if ref else "no rank test (no SAC-GMM condition)")
    lines = ["", "Statistics over seeds (final success, %): the mean with its percentile-bootstrap "
             "95 % interval (10k resamples; over 3-5 seeds it is narrower than the truth), the "
             f"per-seed figures, and {test}:", "",
             "| condition | task | seeds | mean | 95 % bootstrap CI | per seed | p vs "
             f"{ref or '-'} |", "|---|---|---|---|---|---|---|"]
    for cond, _ in conditions:
        for task in tasks:
            vals = [100 * r["final_success"] for r in sorted(rows, key=lambda r: r["seed"])
                    if r["task"] == task and r["condition"] == cond]
            if not vals:
                continue
            lo, hi = bootstrap_interval(vals)
            ci = "-" if lo != lo else f"{lo:.0f}-{hi:.0f}"
            refs = [100 * r["final_success"] for r in rows
                    if r["task"] == task and r["condition"] == ref]
            p = rank_test(vals, refs) if cond != ref else float("nan")
            lines.append(f"| {cond} | {task} | {len(vals)} | {sum(vals) / len(vals):.0f} | {ci} | "
                         f"{', '.join(f'{v:.0f}' for v in vals)} | "
                         f"{'-' if p != p else f'{p:.3g}'} |")
    return lines


def failure_table(rows: list[dict], conditions, tasks) -> list[str]:
    """Markdown lines: per condition and task, how the failed final-evaluation episodes failed,
    summed over the seeds (kinds of :data:`sacgmm.sim.failures.FAILURES`, most frequent first)."""
    from sacgmm.sim.failures import FAILURES
    lines = ["", "How the failed final-evaluation episodes failed (sum over seeds; "
             + "; ".join(f"{k}: {v}" for k, v in FAILURES.items()) + "):", "",
             "| condition | task | failed / episodes | how |", "|---|---|---|---|"]
    for cond, _ in conditions:
        for task in tasks:
            vals = [r for r in rows if r["task"] == task and r["condition"] == cond]
            if not vals or not any(r["final_episodes"] for r in vals):
                continue
            counts: dict[str, int] = {}
            for r in vals:
                for item in filter(None, r["failures"].split(";")):
                    kind, n = item.split("=")
                    counts[kind] = counts.get(kind, 0) + int(n)
            episodes = sum(r["final_episodes"] for r in vals)
            failed = episodes - round(sum(r["final_success"] * r["final_episodes"] for r in vals))
            how = ", ".join(f"{k} {n}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))
            lines.append(f"| {cond} | {task} | {failed} / {episodes} | {how or '-'} |")
    return lines


def learning_curves(root: Path, task: str, conditions: list[str]) -> dict[str, tuple]:
    """Per condition: (episodes, mean success, std success) over the seeds' ``evals.csv``.

    Only finished runs (with ``summary.json``) count: a run still training would cut every
    seed's curve down to the episodes it has reached.
    """
    import numpy as np
    out = {}
    for cond in conditions:
        curves = []
        for d in sorted((root / task / cond).glob("seed*")):
            path = d / "evals.csv"
            if path.exists() and (d / "summary.json").exists():
                rows = list(csv.DictReader(path.read_text().splitlines()))
                if rows:
                    curves.append({int(r["episode"]): float(r["success_rate"]) for r in rows})
        if not curves:
            continue
        episodes = sorted(set.intersection(*(set(c) for c in curves)))
        if not episodes:
            continue
        mat = np.array([[c[e] for e in episodes] for c in curves])
        out[cond] = (np.array(episodes), mat.mean(0), mat.std(0))
    return out


def plot_curves(curves: dict[str, tuple], path: Path, title: str,
                flat: dict[str, float] | None = None) -> Path | None:
    """A Fig. 5-style plot: success vs training episodes, mean +- std band over seeds."""
    if not curves and not flat:
        return None
    import matplotlib
    import numpy as np
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.5, 4.2), dpi=110)
    for cond, (ep, m, sd) in curves.items():
        ax.plot(ep, 100 * m, label=cond)
        ax.fill_between(ep, 100 * np.clip(m - sd, 0, 1), 100 * np.clip(m + sd, 0, 1), alpha=0.2)
    for cond, value in (flat or {}).items():
        ax.axhline(100 * value, ls="--", color="0.4", label=f"{cond} (final)")
    ax.set_xlabel("training episodes")
    ax.set_ylabel("success rate (%)")
    ax.set_ylim(-2, 102)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())
