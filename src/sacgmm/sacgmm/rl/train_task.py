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
curves are comparable); the final evaluation uses ``900_000 + j`` for every agent and seed. Without a skill
file, the run's skill is fitted to the scripted expert's demonstrations recorded with the run's
seed (``demo_seed``), so the spread over seeds includes the spread over demonstration sets.

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
from pathlib import Path
from typing import Callable

import numpy as np

from sacgmm.fileio import atomic_write_text
from sacgmm.rl.config import AGENTS, TrainConfig  # noqa: F401  (AGENTS: re-exported)
from sacgmm.sim.failures import count_failures

TRAIN_SEED_STRIDE = 1_000_000
EVAL_SEED = 500_000
FINAL_SEED = 900_000


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
                         "slipped": sum(bool(r["slipped"]) for r in rows),
                         "successes": sum(bool(r["success"]) for r in rows)}
    return out


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
        from sacgmm.rl.learner import Learner

        self.cfg = cfg = TrainConfig.from_dict(config.to_dict()).checked()
        if cfg.skill:
            cfg.demo_seed = None
        elif cfg.demo_seed is None:
            cfg.demo_seed = cfg.seed              # recorded in config.json as resolved
        self.out = Path(out_dir) if out_dir is not None else None
        self.log = log or (lambda msg: None)
        self.skill = skill if skill is not None else self._load_skill()
        self.env = self.make_env(train=True)
        self.eval_env = self.make_env(train=False)
        self.learns = cfg.agent != "gmm"
        obs_space = self.env.observation_space
        self.obs_shapes = {k: tuple(int(d) for d in sp.shape) for k, sp in obs_space.spaces.items()}
        self.act_dim = int(np.prod(self.env.action_space.shape))
        #: the agent's side of every decision (None for the GMM agent, which does not learn)
        self.learner = (Learner(cfg, self.obs_shapes, self.act_dim, train=True,
                                steering=getattr(self.env, "via_point", None))
                        if self.learns else None)
        self.agent = self.learner.agent if self.learns else None
        self.experience = self.learner.experience if self.learns else None
        self.buffer = self.experience.buffer if self.learns else None
        self.successes = self.experience.successes if self.learns else None
        self.episode = 0
        self.control_steps = 0
        self.episodes_log: list[dict] = []
        self.evals_log: list[dict] = []
        self.time_env = 0.0
        self._tb = None
        self.best: dict | None = None    # {"episode", "success_rate"} of the best evaluation
        self._wall_before = 0.0
        self._best_state = None

    @property
    def decisions(self) -> int:
        """Agent decisions taken in training episodes."""
        return self.learner.decisions if self.learns else 0

    @property
    def updates(self) -> int:
        return self.learner.updates if self.learns else 0

    @property
    def last_losses(self) -> dict[str, float]:
        return self.learner.last_losses if self.learns else {}

    @property
    def time_update(self) -> float:
        """Seconds spent in gradient updates."""
        return self.learner.update_time if self.learns else 0.0

    # ------------------------------------------------------------------ set-up
    def _load_skill(self):
        from sacgmm.skill import load_skill
        if self.cfg.skill:
            return load_skill(self.cfg.skill)
        from sacgmm.sim.default_skill import default_skill
        return default_skill(self.cfg.task, log=self.log, seed=self.cfg.demo_seed)

    def make_env(self, train: bool, video_every: int = 0):
        """The agent's view of a fresh task environment (see :mod:`sacgmm.rl.task_env`).

        ``video_every`` > 0: the task renders, and every that many control steps a frame is
        kept (``env.task_env.frames``, RGB arrays; :class:`sacgmm.sim.video.FrameRecorder`).
        """
        from sacgmm.rl.task_env import GMMWindowEnv, ResidualGMMEnv, VelocityEnv
        from sacgmm.sim import make_env
        from sacgmm.skill.adaptation import SkillAdaptation
        from sacgmm.skill.delta_theta import DeltaTheta

        cfg = self.cfg
        sensor = cfg.sensor and cfg.agent != "gmm"
        task_env = make_env(cfg.task, noise=cfg.noise, sensor=sensor, dense=cfg.dense and train,
                            **({"render_mode": "rgb_array"} if video_every else {}))
        if video_every:
            from sacgmm.sim.video import FrameRecorder
            task_env = FrameRecorder(task_env, video_every)
        grip = cfg.gripper_obs and cfg.agent != "gmm"
        if cfg.agent == "sac-gmm":
            task = task_env.unwrapped
            adaptation = SkillAdaptation.from_settings(self.skill, cfg.delta_theta, cfg.via_point,
                                                       cfg.window, task.dt, task.max_speed)
            return GMMWindowEnv(task_env, self.skill, adaptation.delta, cfg.window, gripper=grip,
                                via_point=adaptation.steering,
                                follow_held_object=cfg.follow_held_object)
        if cfg.agent == "gmm":
            return GMMWindowEnv(task_env, self.skill, DeltaTheta.for_skill(self.skill), cfg.window,
                                follow_held_object=cfg.follow_held_object)
        if cfg.agent == "res-gmm":
            return ResidualGMMEnv(task_env, self.skill, cfg.residual_scale, gripper=grip)
        return VelocityEnv(task_env, gripper=grip)

    # ------------------------------------------------------------------ acting
    def policy(self, obs: dict, deterministic: bool) -> np.ndarray:
        if not self.learns:
            return np.zeros(self.act_dim, dtype=np.float32)
        return self.learner.act(obs, explore=not deterministic)

    def run_episode(self, env, seed: int, deterministic: bool, train: bool) -> dict:
        """One episode; with ``train``, stores transitions and updates the agent
        (:class:`~sacgmm.rl.learner.Learner`, in the order the ``sac_refiner`` node uses)."""
        obs, info = env.reset(seed=seed)
        ret, decisions, steps = 0.0, 0, 0
        learner = self.learner if train else None
        if self.learns:
            self.learner.start_episode()
        offset = None        # where on the handle the first grasp held (m, the task's)
        while True:
            t0 = time.perf_counter()
            if learner is not None:
                action = learner.act(obs, explore=True)
            else:
                action = self.policy(obs, deterministic)
            next_obs, reward, term, trunc, info = env.step(action)
            self.time_env += time.perf_counter() - t0
            ret += reward
            decisions += 1
            steps += info["control_steps"]
            if offset is None and info.get("grasp_offset") is not None \
                    and info.get("grasp_position") is not None:
                offset = float(info["grasp_offset"])
            if learner is not None:
                self.control_steps += info["control_steps"]
                learner.store(obs, action, reward, next_obs, term, trunc, report=info)
                learner.learn()
            obs = next_obs
            if term or trunc:
                break
        if learner is not None:
            learner.end_episode(bool(info["success"]))
        return {"success": bool(info["success"]), "return": ret, "decisions": decisions,
                "control_steps": steps, "end_reason": info["end_reason"],
                "failure": info.get("failure"), "slipped": int(info.get("slips", 0)) > 0,
                "grasp_offset": offset}

    def seed_with_demonstrations(self, n: int = 20) -> int:
        """SAC baseline: fill the buffer with the scripted expert's successful episodes, those
        of the run's demonstration set (``demo_seed``; seed 0 with a given skill file)."""
        from sacgmm.sim.expert import demo_episode_seed, run_expert_episode

        rec = _RecordingEnv(self.env.task_env)

        def convert(obs: dict) -> dict:
            return self.env.agent_observation(obs, obs["gripper_opening"])

        added, attempt = 0, 0
        while added < n and attempt < 4 * n:
            rec.transitions.clear()
            _, info = run_expert_episode(
                rec, seed=demo_episode_seed(self.cfg.demo_seed or 0, attempt))
            attempt += 1
            if not info["success"]:
                continue
            last = len(rec.transitions) - 1
            for i, (obs, v, r, next_obs, term) in enumerate(rec.transitions):
                a = np.clip(np.asarray(v) / self.env.max_speed, -1, 1).astype(np.float32)
                self.experience.add(convert(obs), a, r, convert(next_obs), term, i == last,
                                    demonstration=True)
            self.experience.end_episode(True)     # the expert's episodes all succeeded
            added += 1
        self.log(f"replay seeded with {added} expert episodes ({len(self.experience)} transitions)")
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
        # how the failed episodes failed (sacgmm.sim.failures.FAILURES)
        out["failures"] = count_failures(r["failure"] for r in results)
        by_offset = grasps_by_offset(results)
        if by_offset:
            out["grasps_by_offset"] = by_offset
        return out

    # ------------------------------------------------------------------ persistence
    def _extra(self) -> dict:
        return {"episode": self.episode, "control_steps": self.control_steps,
                "episodes_log": self.episodes_log, "evals_log": self.evals_log,
                "best": self.best, "wall_time_s": self.wall_time()}

    def checkpoint(self) -> None:
        if self.out is None or not self.learns:
            return
        self.learner.save(self.out / "checkpoint.pt", self._extra(), replay=True)
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
        saved = TrainConfig.from_saved(extra["config"]).to_dict()
        mine = self.cfg.to_dict()
        diff = sorted(k for k in mine
                      if k not in ("episodes", "final_episodes", "final_policy", "threads")
                      and saved[k] != mine[k])
        if diff:
            raise ValueError(f"{path}: cannot resume with a different configuration ({', '.join(diff)} "
                             "differ from the checkpoint's)")
        self.episode, self.control_steps = int(extra["episode"]), int(extra["control_steps"])
        self.learner.load_state(extra)
        self.episodes_log, self.evals_log = list(extra["episodes_log"]), list(extra["evals_log"])
        self.best = extra.get("best")
        self._wall_before = float(extra.get("wall_time_s", 0.0))   # wall time before the resume
        if self.best is not None:
            from sacgmm.rl.checkpoint import load_checkpoint
            self._best_state = load_checkpoint(self.out / "best.pt")["agent"]
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
        """Keep the policy of a periodic evaluation (the starting policy's at episode 0
        included) at least as good as every earlier one: a later tie wins.

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
            self.learner.save(self.out / "best.pt", self._extra(), replay=False)

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
            atomic_write_text(self.out / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
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
                # the starting policy is a candidate too: a run whose learning only made the
                # skill worse ends with the skill it started from
                result = self.evaluate(cfg.eval_episodes, EVAL_SEED)
                self._log_eval(result)
                self._keep_if_best(result)
            while self.episode < cfg.episodes:
                seed = TRAIN_SEED_STRIDE * (cfg.seed + 1) + self.episode
                t_env0, steps0 = self.time_env, self.control_steps
                ep = self.run_episode(self.env, seed, deterministic=False, train=True)
                self.episode += 1
                self.episodes_log.append({"episode": self.episode, "success": int(ep["success"]),
                                          "return": ep["return"], "decisions": ep["decisions"],
                                          "control_steps": ep["control_steps"],
                                          "end_reason": ep["end_reason"],
                                          "failure": ep["failure"] or "",
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
            "task": cfg.task, "agent": cfg.agent, "seed": cfg.seed, "demo_seed": cfg.demo_seed,
            "noise": cfg.noise,
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
            "config": cfg.to_dict(),
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
