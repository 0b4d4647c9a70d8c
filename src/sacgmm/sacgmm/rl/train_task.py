"""Training and evaluating the agents on the simulated tasks (``sacgmm train``).

Agents (paper section V):

- ``sac-gmm``: SAC decides delta-theta once per window of N control steps
  (:class:`~sacgmm.rl.task_env.GMMWindowEnv`); the adapted GMM agent drives the robot.
- ``res-gmm``: SAC adds a residual velocity to the GMM velocity at every control step.
- ``sac``: SAC outputs the Cartesian velocity at every control step; its replay buffer is
  seeded with the scripted expert's demonstrations (with their sensor images).
- ``gmm``: the demonstrated GMM agent alone (no learning; evaluation only).

Protocol (the paper's): every ``eval_every`` training episodes, ``eval_episodes`` evaluation
episodes with the deterministic policy; at the end, ``final_episodes`` evaluation episodes.
Episode seeds never overlap: training episode ``i`` of seed ``s`` uses ``1_000_000 (s + 1) + i``;
the periodic evaluations always use seeds ``500_000 + j`` (the same episodes every time, so
curves are comparable); the final evaluation uses ``900_000 + j`` for every agent and seed.

Run directory: ``config.json``, ``episodes.csv`` (one row per training episode), ``evals.csv``,
TensorBoard events in ``tb/``, ``checkpoint.pt`` (written atomically after every evaluation;
``resume=True`` continues from it) and, at the end, ``summary.json``.
"""
from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np

from sacgmm.fileio import atomic_write_text
from sacgmm.retired import ANY, drop_retired

AGENTS = ("sac-gmm", "res-gmm", "sac", "gmm")
TRAIN_SEED_STRIDE = 1_000_000
EVAL_SEED = 500_000
FINAL_SEED = 900_000

# Per-agent defaults (the SAC-GMM paper and the authors' code, sized for a 2-core CPU).
# SAC-GMM starts from the demonstrated skill: its warm-up actions are small (N(0, 0.2) in
# action units) and its entropy temperature starts low, because with sparse 0/1 rewards an
# initial alpha of 1 makes the policy maximise entropy, i.e. apply random deltas that break the
# skill, long before any success is seen. Per-step agents warm up with uniform actions.
# Positions (metres, |x| ~ 0.005-0.2) reach the networks in units of 2 cm (vector_scale 50):
# the corrections SAC-GMM must learn hinge on millimetre offsets (e.g. the peg 5 mm off the
# hole axis), which decimetre inputs (vector_scale 10) left at the scale of the network's noise;
# on peg with the tactile sensor, seeds 2 and 4 went from 28% and 0% to 90-100% evaluations.
AGENT_DEFAULTS: dict[str, dict[str, Any]] = {
    # 1 update per decision and a slower actor (1e-4): 4 updates per decision with the
    # paper's 3e-4 oscillated between 0% and 100% and ended at 4% (docs/findings.md)
    "sac-gmm": {"updates_per_step": 1.0, "learning_starts": 50, "buffer_size": 20_000,
                "warmup_std": 0.6,
                "sac": {"init_alpha": 0.05, "latent_dim": 8, "actor_zero_init": True,
                        "vector_scale": 50.0, "lr_actor": 1e-4}},
    # per-step agents: one update per 16 control steps (2x SAC-GMM's updates per control step;
    # with the autoencoder on 64x64 images an update costs ~0.1 CPU-s here)
    "res-gmm": {"updates_per_step": 0.0625, "learning_starts": 1000, "buffer_size": 50_000,
                "warmup_std": 0.0,
                "sac": {"latent_dim": 8, "actor_zero_init": True, "vector_scale": 50.0}},
    "sac": {"updates_per_step": 0.0625, "learning_starts": 1000, "buffer_size": 50_000,
            "warmup_std": 0.0, "sac": {"latent_dim": 8, "vector_scale": 50.0}},
    "gmm": {"updates_per_step": 0.0, "learning_starts": 0, "buffer_size": 1, "warmup_std": 0.0,
            "sac": {}},
}

#: settings no longer offered, with the value that left them off (:mod:`sacgmm.retired`)
RETIRED = {"exploration": "step", "exploration_correlation": ANY, "lookahead": False,
           "grasp_reward": 0.0, "success_labels_every": 0, "actor_after_successes": 0,
           "hindsight_grasp_kept": False, "success_needs_kept_grasp": False,
           "hindsight_held": False, "grasp_ends_window": False}


@dataclass
class TrainConfig:
    """Everything a training run depends on (saved as ``config.json`` in the run directory)."""

    task: str
    agent: str = "sac-gmm"
    seed: int = 0
    noise: bool = False
    sensor: bool = True
    dense: bool = False
    episodes: int = 300
    window: int = 32
    eval_every: int = 10
    eval_episodes: int = 10
    final_episodes: int = 100
    batch_size: int = 128
    updates_per_step: float | None = None     # gradient updates per agent decision
    learning_starts: int | None = None        # agent decisions of random actions first
    buffer_size: int | None = None
    warmup_std: float | None = None           # warm-up actions: N(0, std) if > 0, else uniform
    residual_scale: float = 0.1               # Res-GMM: residual = scale * max_speed * action
    delta_theta: dict = field(default_factory=dict)   # DeltaThetaConfig overrides
    sac: dict = field(default_factory=dict)           # SACConfig overrides
    skill: str | None = None                  # skill file (default: fitted from the demos)
    # the policy of the final evaluation: "best" = the one with the highest periodic evaluation
    # (latest on ties; saved as best.pt), "last" = the policy at the end of training
    final_policy: str = "best"
    # give the agent the gripper's opening (m) with its position and sensor latent, so it can
    # tell whether it holds the handle (lever, door) without reading it off the image
    gripper_obs: bool = False
    # replay transitions span this many agent decisions (n-step returns, sacgmm.rl.nstep):
    # a sparse success reaches the early decisions of an episode in one update instead of
    # one decision per round of target-network updates
    n_step: int = 1
    # SAC-GMM with the attractor-shift layout: while the gripper is open the action names a
    # via-point for the window, relative to where the demonstrated skill would go, and the shift
    # is chosen by look-ahead through the skill (sacgmm.skill.via_point; ViaPointConfig
    # overrides, e.g. {"enabled": true}); while it holds, the action is the shift itself
    via_point: dict = field(default_factory=dict)
    # with via_point: every training episode in which the handle was grasped labels its
    # decisions before the grasp with the via-point at the grasp position (hindsight), as
    # extra imitation samples (needs sac.success_bc_weight > 0), whether or not the episode
    # then succeeded: where the hand grasped is known once it has
    hindsight_grasp: bool = False

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """The configuration saved as ``data`` (``config.json``, a checkpoint's extras); keys
        missing from it take today's defaults. Removed settings, also those of its ``sac`` and
        ``via_point`` sections, are dropped at the value that left them off; at any other
        value, and for unknown keys, ``ValueError`` names the key."""
        from sacgmm.rl.sac import RETIRED as SAC_RETIRED
        from sacgmm.skill.via_point import RETIRED as VIA_RETIRED
        data = drop_retired(data, RETIRED)
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown training setting(s) {unknown}")
        data["sac"] = drop_retired(data.get("sac") or {}, SAC_RETIRED, "sac.")
        data["via_point"] = drop_retired(data.get("via_point") or {}, VIA_RETIRED, "via_point.")
        return cls(**data)

    def resolved(self) -> "TrainConfig":
        """A copy with the agent's defaults filled in; raises ``ValueError`` on bad values."""
        if self.agent not in AGENTS:
            raise ValueError(f"unknown agent {self.agent!r}; valid agents: {', '.join(AGENTS)}")
        cfg = TrainConfig(**asdict(self))
        for key, value in AGENT_DEFAULTS[self.agent].items():
            if key == "sac":
                cfg.sac = {**value, **cfg.sac}
            elif getattr(cfg, key) is None:
                setattr(cfg, key, value)
        for key in ("episodes", "window", "eval_every", "eval_episodes", "final_episodes",
                    "batch_size", "buffer_size"):
            if int(getattr(cfg, key)) < (0 if key in ("episodes", "final_episodes") else 1):
                raise ValueError(f"{key} must be positive, got {getattr(cfg, key)}")
        if cfg.final_policy not in ("best", "last"):
            raise ValueError(f"final_policy must be 'best' or 'last', got {cfg.final_policy!r}")
        if int(cfg.n_step) < 1:
            raise ValueError(f"n_step must be >= 1, got {cfg.n_step}")
        from sacgmm.skill.via_point import ViaPointConfig
        via = ViaPointConfig.from_dict(cfg.via_point)
        if via.enabled and cfg.agent != "sac-gmm":
            raise ValueError(f"via_point is for the sac-gmm agent only, not {cfg.agent!r}")
        if cfg.hindsight_grasp:
            if not via.enabled:
                raise ValueError("hindsight_grasp labels via-points: it needs "
                                 "via_point.enabled=true")
            if not float(cfg.sac.get("success_bc_weight", 0)):
                raise ValueError("hindsight_grasp adds imitation labels: it needs "
                                 "sac.success_bc_weight > 0")
        if cfg.updates_per_step < 0 or not math.isfinite(cfg.updates_per_step):
            raise ValueError(f"updates_per_step must be >= 0, got {cfg.updates_per_step}")
        return cfg


def updates_due(credit: float, decisions: int, buffer_len: int, cfg: "TrainConfig") -> tuple[int, float]:
    """The update schedule shared by ``sacgmm train`` and the ``sac_refiner`` node.

    After ``cfg.learning_starts`` decisions, each decision earns ``cfg.updates_per_step``
    gradient updates (fractions accumulate in ``credit``). Returns ``(updates to run now,
    remaining credit)``.
    """
    if decisions < cfg.learning_starts or buffer_len < 2:
        return 0, credit
    credit += cfg.updates_per_step
    n = int(credit)
    return n, credit - n


GRASP_OUTCOMES = ("never grasped", "slipped", "held")


def grasp_outcome(info: dict, grasped: bool) -> str | None:
    """How an episode of a grasping task (its ``info`` has ``grasped`` and ``slips``) went:
    ``never grasped``, ``slipped`` (the handle slipped out at least once) or ``held``; None
    for tasks without a grasp. ``grasped``: held at the end of any agent decision."""
    if "grasped" not in info:
        return None
    if int(info.get("slips", 0)) > 0:
        return "slipped"
    return "held" if grasped or info["grasped"] else "never grasped"


def count_grasp_failures(outcomes: list[str | None]) -> dict[str, int]:
    """Failed episodes per :func:`grasp_outcome` kind (None outcomes, from tasks without a
    grasp, are left out; empty dict if none is left)."""
    return {k: outcomes.count(k) for k in GRASP_OUTCOMES if k in outcomes}


def make_hindsight(cfg: "TrainConfig", steering):
    """The :class:`~sacgmm.rl.hindsight.GraspHindsight` for via-point ``steering`` if
    ``cfg.hindsight_grasp`` is set, else None (shared by ``sacgmm train`` and the
    ``sac_refiner`` node)."""
    if not cfg.hindsight_grasp:
        return None
    from sacgmm.rl.hindsight import GraspHindsight
    return GraspHindsight(steering)


#: cm: bins of where on a bar handle the first grasp held (> 0 towards the door's hinge)
OFFSET_BINS = ((-math.inf, -2.0, "< -2 cm"), (-2.0, 2.0, "-2..2 cm"), (2.0, math.inf, "> 2 cm"))


def grasps_by_offset(results: list[dict]) -> dict[str, dict[str, int]]:
    """Episodes whose first grasp held a bar handle (``grasp_offset``, m, not None), per
    :data:`OFFSET_BINS` bin: how many, how many of them slipped at least once, how many
    succeeded (empty dict if no episode grasped a bar)."""
    out: dict[str, dict[str, int]] = {}
    for lo, hi, name in OFFSET_BINS:
        rows = [r for r in results if r.get("grasp_offset") is not None
                and lo <= 100.0 * r["grasp_offset"] < hi]
        if rows:
            out[name] = {"episodes": len(rows),
                         "slipped": sum(r["grasp"] == "slipped" for r in rows),
                         "successes": sum(bool(r["success"]) for r in rows)}
    return out


def warmup_action(rng: np.random.Generator, cfg: "TrainConfig", act_dim: int) -> np.ndarray:
    """A warm-up action in ``[-1, 1]``: N(0, ``cfg.warmup_std``) clipped, or uniform if the
    std is 0 (shared by ``sacgmm train`` and the ``sac_refiner`` node)."""
    if cfg.warmup_std > 0:
        eps = rng.standard_normal(act_dim)
        return np.clip(cfg.warmup_std * eps, -1.0, 1.0).astype(np.float32)
    return rng.uniform(-1.0, 1.0, act_dim).astype(np.float32)


def _csv_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


class TaskRun:
    """One training run of one agent on one task (see the module docstring)."""

    def __init__(self, config: TrainConfig, out_dir: str | Path | None = None,
                 skill=None, log: Callable[[str], None] | None = None):
        import torch

        from sacgmm.rl.experience import Experience
        from sacgmm.rl.sac import SACAgent, SACConfig

        self.cfg = cfg = config.resolved()
        self.out = Path(out_dir) if out_dir is not None else None
        self.log = log or (lambda msg: None)
        torch.set_num_threads(1)
        self.skill = skill if skill is not None else self._load_skill()
        self.env = self.make_env(train=True)
        self.eval_env = self.make_env(train=False)
        self.learns = cfg.agent != "gmm"
        #: the hindsight labels of training episodes (None unless hindsight_grasp)
        self.hindsight = make_hindsight(cfg, getattr(self.env, "via_point", None))
        obs_space = self.env.observation_space
        self.obs_shapes = {k: tuple(int(d) for d in sp.shape) for k, sp in obs_space.spaces.items()}
        self.act_dim = int(np.prod(self.env.action_space.shape))
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        self.agent = (SACAgent(self.obs_shapes, self.act_dim, SACConfig.from_dict(cfg.sac))
                      if self.learns else None)
        self.experience = (Experience.for_agent(self.agent, cfg.buffer_size, seed=cfg.seed,
                                                n_step=cfg.n_step) if self.learns else None)
        self.buffer = self.experience.buffer if self.learns else None
        self.successes = self.experience.successes if self.learns else None
        self.action_rng = np.random.default_rng(cfg.seed + 12345)
        self.episode = 0
        self.decisions = 0
        self.control_steps = 0
        self.updates = 0
        self.update_credit = 0.0
        self.episodes_log: list[dict] = []
        self.evals_log: list[dict] = []
        self.last_losses: dict[str, float] = {}
        self.time_env = 0.0
        self.time_update = 0.0
        self._tb = None
        self.best: dict | None = None    # {"episode", "success_rate"} of the best evaluation
        self._wall_before = 0.0
        self._best_state = None

    # ------------------------------------------------------------------ set-up
    def _load_skill(self):
        from sacgmm.skill import load_skill
        if self.cfg.skill:
            return load_skill(self.cfg.skill)
        from sacgmm.sim.default_skill import default_skill
        return default_skill(self.cfg.task, log=self.log)

    def make_env(self, train: bool, video_every: int = 0):
        """The agent's view of a fresh task environment (see :mod:`sacgmm.rl.task_env`).

        ``video_every`` > 0: the task renders, and every that many control steps a frame is
        kept (``env.task_env.frames``, RGB arrays; :class:`sacgmm.sim.video.FrameRecorder`).
        """
        from sacgmm.rl.task_env import GMMWindowEnv, ResidualGMMEnv, VelocityEnv
        from sacgmm.sim import make_env
        from sacgmm.skill.delta_theta import DeltaTheta, DeltaThetaConfig

        cfg = self.cfg
        sensor = cfg.sensor and cfg.agent != "gmm"
        task_env = make_env(cfg.task, noise=cfg.noise, sensor=sensor, dense=cfg.dense and train,
                            **({"render_mode": "rgb_array"} if video_every else {}))
        if video_every:
            from sacgmm.sim.video import FrameRecorder
            task_env = FrameRecorder(task_env, video_every)
        grip = cfg.gripper_obs and cfg.agent != "gmm"
        if cfg.agent == "sac-gmm":
            delta = DeltaTheta.for_skill(self.skill, DeltaThetaConfig.from_dict(cfg.delta_theta))
            return GMMWindowEnv(task_env, self.skill, delta, cfg.window, gripper=grip,
                                via_point=self.make_via_point(task_env, delta))
        if cfg.agent == "gmm":
            return GMMWindowEnv(task_env, self.skill, DeltaTheta.for_skill(self.skill), cfg.window)
        if cfg.agent == "res-gmm":
            return ResidualGMMEnv(task_env, self.skill, cfg.residual_scale, gripper=grip)
        return VelocityEnv(task_env, gripper=grip)

    def make_via_point(self, task_env, delta):
        """The :class:`~sacgmm.skill.via_point.ViaPointSteering` of this run's skill and task
        timing, or None unless ``via_point.enabled``."""
        from sacgmm.skill.via_point import ViaPointConfig, ViaPointSteering
        via = ViaPointConfig.from_dict(self.cfg.via_point)
        if not via.enabled:
            return None
        task = task_env.unwrapped
        return ViaPointSteering(self.skill, delta, self.cfg.window, float(task.dt),
                                float(task.max_speed), via)

    # ------------------------------------------------------------------ acting
    def policy(self, obs: dict, deterministic: bool) -> np.ndarray:
        if not self.learns:
            return np.zeros(self.act_dim, dtype=np.float32)
        return self.agent.act(obs, deterministic=deterministic)

    def run_episode(self, env, seed: int, deterministic: bool, train: bool) -> dict:
        """One episode; with ``train``, stores transitions and updates the agent."""
        obs, info = env.reset(seed=seed)
        ret, decisions, steps = 0.0, 0, 0
        grasped = False      # tasks with a grasp (lever, door): held at the end of any decision
        hindsight = self.hindsight if train else None
        if hindsight is not None:
            hindsight.start_episode()
        offset = None        # where on the handle the first grasp held (m, the task's)
        while True:
            t0 = time.perf_counter()
            if train and self.decisions < self.cfg.learning_starts:
                action = warmup_action(self.action_rng, self.cfg, self.act_dim)
            else:
                action = self.policy(obs, deterministic)
            next_obs, reward, term, trunc, info = env.step(action)
            self.time_env += time.perf_counter() - t0
            ret += reward
            decisions += 1
            steps += info["control_steps"]
            grasped = grasped or bool(info.get("grasped", False))
            if offset is None and info.get("grasp_offset") is not None \
                    and info.get("grasp_position") is not None:
                offset = float(info["grasp_offset"])
            if train:
                self.decisions += 1
                self.control_steps += info["control_steps"]
                self.experience.add(obs, action, reward, next_obs, term, trunc)
                if hindsight is not None:
                    for sample in hindsight.observe(obs, next_obs, reward, term, info):
                        self.experience.add_imitation(*sample)
                self._learn()
            obs = next_obs
            if term or trunc:
                break
        if train:
            self.experience.end_episode(bool(info["success"]))
        return {"success": bool(info["success"]), "return": ret, "decisions": decisions,
                "control_steps": steps, "end_reason": info["end_reason"],
                "grasp": grasp_outcome(info, grasped), "grasp_offset": offset}

    def _learn(self) -> None:
        n, self.update_credit = updates_due(self.update_credit, self.decisions,
                                            len(self.buffer), self.cfg)
        if n:
            self.last_losses, seconds = self.experience.update(self.agent, n,
                                                               self.cfg.batch_size)
            self.updates += n
            self.time_update += seconds

    def seed_with_demonstrations(self, n: int = 20) -> int:
        """SAC baseline: fill the buffer with the scripted expert's successful episodes."""
        from sacgmm.sim.expert import run_expert_episode

        rec = _RecordingEnv(self.env.task_env)

        def convert(obs: dict) -> dict:
            return self.env.agent_observation(obs, obs["gripper_opening"])

        added, attempt = 0, 0
        while added < n and attempt < 4 * n:
            rec.transitions.clear()
            _, info = run_expert_episode(rec, seed=attempt)
            attempt += 1
            if not info["success"]:
                continue
            last = len(rec.transitions) - 1
            for i, (obs, v, r, next_obs, term) in enumerate(rec.transitions):
                a = np.clip(np.asarray(v) / self.env.max_speed, -1, 1).astype(np.float32)
                self.experience.add(convert(obs), a, r, convert(next_obs), term, i == last)
            self.experience.end_episode(True)     # the expert's episodes all succeeded
            added += 1
        self.log(f"replay buffer seeded with {added} expert episodes ({len(self.buffer)} transitions)")
        return added

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, episodes: int, seed: int) -> dict:
        results = [self.run_episode(self.eval_env, seed + j, deterministic=True, train=False)
                   for j in range(episodes)]
        successes = sum(r["success"] for r in results)
        reasons: dict[str, int] = {}
        for r in results:
            reasons[r["end_reason"]] = reasons.get(r["end_reason"], 0) + 1
        from sacgmm.stats import wilson_interval
        lo, hi = wilson_interval(successes, episodes)
        out = {"episodes": episodes, "successes": successes, "success_rate": successes / episodes,
               "ci95": [lo, hi], "mean_control_steps": float(np.mean([r["control_steps"] for r in results])),
               "end_reasons": reasons}
        failures = count_grasp_failures([r["grasp"] for r in results if not r["success"]])
        if failures:      # where the failed episodes of a grasping task went wrong
            out["failures_by_grasp"] = failures
        by_offset = grasps_by_offset(results)
        if by_offset:
            out["grasps_by_offset"] = by_offset
        return out

    # ------------------------------------------------------------------ persistence
    def _extra(self) -> dict:
        return {"episode": self.episode, "decisions": self.decisions,
                "control_steps": self.control_steps, "updates": self.updates,
                "update_credit": self.update_credit, "episodes_log": self.episodes_log,
                "evals_log": self.evals_log, "action_rng": self.action_rng.bit_generator.state,
                "best": self.best, "wall_time_s": self.wall_time(),
                "config": asdict(self.cfg),
                "successes": self.experience.successes_state()}

    def checkpoint(self) -> None:
        if self.out is None or not self.learns:
            return
        from sacgmm.rl.checkpoint import save_checkpoint
        save_checkpoint(self.out / "checkpoint.pt", self.agent, self.buffer, extra=self._extra())
        self._write_logs()

    def resume(self) -> None:
        from sacgmm.rl.checkpoint import restore_checkpoint
        if self.out is None:
            raise ValueError("resume needs a run directory")
        path = self.out / "checkpoint.pt"
        if not self.learns:
            return
        extra = restore_checkpoint(path, self.agent, self.buffer)
        # a setting added after the checkpoint was written had its default value then
        saved = asdict(TrainConfig.from_dict(extra["config"]))
        mine = asdict(self.cfg)
        diff = sorted(k for k in mine if k not in ("episodes", "final_episodes", "final_policy")
                      and saved[k] != mine[k])
        if diff:
            raise ValueError(f"{path}: cannot resume with a different configuration ({', '.join(diff)} "
                             "differ from the checkpoint's)")
        for key in ("episode", "decisions", "control_steps", "updates", "update_credit"):
            setattr(self, key, extra[key])
        self.episodes_log, self.evals_log = list(extra["episodes_log"]), list(extra["evals_log"])
        self.best = extra.get("best")
        self._wall_before = float(extra.get("wall_time_s", 0.0))   # wall time before the resume
        if self.best is not None:
            from sacgmm.rl.checkpoint import load_checkpoint
            self._best_state = load_checkpoint(self.out / "best.pt")["agent"]
        self.action_rng.bit_generator.state = extra["action_rng"]
        self.experience.load_successes_state(extra.get("successes"))
        self.log(f"resumed from {path} at episode {self.episode}")

    def _write_logs(self) -> None:
        if self.out is None:
            return
        atomic_write_text(self.out / "episodes.csv", _csv_text(self.episodes_log))
        atomic_write_text(self.out / "evals.csv", _csv_text(self.evals_log))

    def _tensorboard(self):
        if self._tb is None and self.out is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self._tb = SummaryWriter(str(self.out / "tb"))
            except ImportError:
                self._tb = False
        return self._tb or None

    def _log_eval(self, result: dict) -> None:
        row = {"episode": self.episode, "decisions": self.decisions,
               "control_steps": self.control_steps, "updates": self.updates,
               "success_rate": result["success_rate"], "successes": result["successes"],
               "episodes": result["episodes"], "wall_time_s": round(self.wall_time(), 2)}
        self.evals_log.append(row)
        tb = self._tensorboard()
        if tb:
            tb.add_scalar("eval/success_rate", result["success_rate"], self.episode)
            for k, v in self.last_losses.items():
                tb.add_scalar(f"loss/{k}", v, self.episode)
            tb.flush()

    def _keep_if_best(self, result: dict) -> None:
        """Keep the policy of a periodic evaluation at least as good as every earlier one.

        Periodic evaluations use their own episode seeds (``EVAL_SEED``), the final one others
        (``FINAL_SEED``), so choosing on the former does not bias the latter.
        """
        if not self.learns or (self.best is not None
                               and result["success_rate"] < self.best["success_rate"]):
            return
        import copy
        self.best = {"episode": self.episode, "success_rate": result["success_rate"]}
        self._best_state = copy.deepcopy(self.agent.state_dict())
        if self.out is not None:
            from sacgmm.rl.checkpoint import save_checkpoint
            save_checkpoint(self.out / "best.pt", self.agent, None, extra=self._extra())

    def wall_time(self) -> float:
        """Seconds of wall time of the run, including the parts before each resume (s)."""
        return time.perf_counter() - self._t_start + self._wall_before

    # ------------------------------------------------------------------ main loop
    def train(self, resume: bool = False, progress: bool = True) -> dict:
        """Train for ``episodes`` episodes (periodic evaluations), then the final evaluation."""
        cfg = self.cfg
        self._t_start = time.perf_counter()
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.out / "config.json", json.dumps(asdict(cfg), indent=2) + "\n")
        if resume and self.out is not None and (self.out / "checkpoint.pt").exists():
            self.resume()
        elif cfg.agent == "sac":
            self.seed_with_demonstrations()
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=cfg.episodes, initial=self.episode, unit="ep",
                       desc=f"{cfg.task}/{cfg.agent}/seed{cfg.seed}", dynamic_ncols=True)
        if self.learns:
            if self.episode == 0 and not self.evals_log:
                self._log_eval(self.evaluate(cfg.eval_episodes, EVAL_SEED))
            while self.episode < cfg.episodes:
                seed = TRAIN_SEED_STRIDE * (cfg.seed + 1) + self.episode
                t_env0, steps0 = self.time_env, self.control_steps
                ep = self.run_episode(self.env, seed, deterministic=False, train=True)
                self.episode += 1
                self.episodes_log.append({"episode": self.episode, "success": int(ep["success"]),
                                          "return": ep["return"], "decisions": ep["decisions"],
                                          "control_steps": ep["control_steps"],
                                          "end_reason": ep["end_reason"],
                                          "alpha": round(self.agent.alpha, 6),
                                          # the policy's entropy (nats, squashed Gaussian) on
                                          # the last update's batch: how widely it explores
                                          "entropy": round(float(self.last_losses.get(
                                              "entropy", math.nan)), 4)})
                if self.episode % cfg.eval_every == 0 or self.episode == cfg.episodes:
                    result = self.evaluate(cfg.eval_episodes, EVAL_SEED)
                    self._log_eval(result)
                    self._keep_if_best(result)
                    self.checkpoint()
                if bar is not None:
                    sps = (self.control_steps - steps0) / max(self.time_env - t_env0, 1e-9)
                    post = {"eval": f"{self.evals_log[-1]['success_rate']:.0%}",
                            "steps/s": f"{sps:.0f}", "upd": self.updates}
                    if self.last_losses:
                        post.update({k: f"{v:.3g}" for k, v in self.last_losses.items()
                                     if k in ("critic", "actor", "alpha")})
                    bar.set_postfix(post, refresh=False)
                    bar.update(1)
        if bar is not None:
            bar.close()
        final_policy = {"kind": "last", "episode": self.episode}
        if (self.learns and cfg.final_episodes and cfg.final_policy == "best"
                and self._best_state is not None):
            self.agent.load_state_dict(self._best_state)
            final_policy = {"kind": "best", **self.best}
        final = self.evaluate(cfg.final_episodes, FINAL_SEED) if cfg.final_episodes else None
        summary = self.summary(final)
        summary["final_policy"] = final_policy
        if self.out is not None:
            self._write_logs()
            atomic_write_text(self.out / "summary.json", json.dumps(summary, indent=2) + "\n")
        if self._tb:
            self._tb.close()
        return summary

    def summary(self, final: dict | None) -> dict:
        from sacgmm.machine import machine_info
        cfg = self.cfg
        return {
            "task": cfg.task, "agent": cfg.agent, "seed": cfg.seed, "noise": cfg.noise,
            "sensor": cfg.sensor, "dense": cfg.dense,
            "final": final,
            "final_success_rate": final["success_rate"] if final else None,
            "training": {"episodes": self.episode, "agent_decisions": self.decisions,
                         "control_steps": self.control_steps, "gradient_updates": self.updates,
                         "env_time_s": round(self.time_env, 2),
                         "update_time_s": round(self.time_update, 2),
                         "wall_time_s": round(self.wall_time(), 2),
                         "control_steps_per_s": (self.control_steps / self.time_env
                                                 if self.time_env > 0 else None),
                         "updates_per_s": (self.updates / self.time_update
                                           if self.time_update > 0 else None)},
            "evals": self.evals_log,
            "last_losses": self.last_losses,
            "config": asdict(cfg),
            "machine": machine_info(),
        }


class _RecordingEnv:
    """Forwards to a task env and records ``(obs, action, reward, next_obs, terminated)``;
    each recorded observation also holds the robot's ``gripper_opening`` (m) at that time."""

    def __init__(self, env):
        self.env = env
        self.unwrapped = env.unwrapped
        self.transitions: list[tuple] = []
        self._obs = None

    def _with_gripper(self, obs: dict) -> dict:
        return dict(obs, gripper_opening=self.unwrapped.robot.gripper_opening())

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._obs = self._with_gripper(obs)
        return obs, info

    def step(self, action):
        obs, r, term, trunc, info = self.env.step(action)
        recorded = self._with_gripper(obs)
        self.transitions.append((self._obs, np.asarray(action, dtype=np.float64), float(r),
                                 recorded, bool(term)))
        self._obs = recorded
        return obs, r, term, trunc, info
