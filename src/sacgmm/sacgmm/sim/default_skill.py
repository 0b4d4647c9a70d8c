"""The demonstrated skill of each simulated task, recorded and fitted once and then reused.

``default_skill(task, seed)`` records the scripted expert's demonstrations with ``seed`` (20
per task, 5 for the door, the paper's counts) and fits the stable GMM (K = 3, fitted with the
same seed) the first time it is asked, under ``$SACGMM_CACHE`` (default ``~/.cache/sacgmm``) in
a folder keyed by a hash of the task's frozen configuration, so a change to
``sacgmm/tasks/<task>.yaml`` gets a fresh skill. Each seed is its own demonstration set, as
each user's demonstrations are their own: ``sacgmm train --seed S`` trains from the skill of
seed ``S`` unless told otherwise (``--demo-seed``, ``--skill``). Files are written atomically,
so parallel workers asking at once are safe.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

DEMO_COUNTS = {"peg": 20, "lever": 20, "door": 5}
DEMO_SEED = 0


def cache_root() -> Path:
    return Path(os.environ.get("SACGMM_CACHE", Path.home() / ".cache" / "sacgmm"))


def skill_dir(task: str, seed: int = DEMO_SEED) -> Path:
    """Where the task's demonstrations and skill of ``seed`` live for the current task
    configuration."""
    from sacgmm.sim.config import load_task_config
    # fit_version 2: fits with one BLAS thread (deterministic across machines); the file's
    # location is left out, so every install of the same definition shares one skill, and so is
    # the calibration note (measured figures, not settings: recalibrating keeps the skills)
    cfg = {k: v for k, v in load_task_config(task).items() if k not in ("_path", "calibration")}
    cfg["fit_version"] = 2
    # demonstration sets of different seeds are disjoint (sacgmm.sim.expert.DEMO_SET_STRIDE)
    cfg["demo_sets"] = 2
    digest = hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:12]
    folder = cache_root() / "skills" / f"{task}-{digest}"
    return folder if seed == DEMO_SEED else folder / f"seed{int(seed)}"


def default_skill(task: str, log: Callable[[str], None] | None = None, seed: int = DEMO_SEED):
    """The task's demonstrated GMM skill of ``seed`` (recorded and fitted on first use)."""
    from sacgmm.skill import load_skill
    return load_skill(default_skill_path(task, log, seed))


def default_skill_path(task: str, log: Callable[[str], None] | None = None,
                       seed: int = DEMO_SEED) -> Path:
    """The file of the task's demonstrated GMM skill of ``seed``, recorded and fitted if not
    cached yet."""
    from sacgmm.skill import fit_skill, load_demos

    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"demonstration seed must be an integer >= 0, got {seed!r}")
    folder = skill_dir(task, seed)
    path = folder / "skill.yaml"
    if path.exists():
        return path
    demo_dir = folder / "demos"
    n = DEMO_COUNTS.get(task, 20)
    if len(list(demo_dir.glob("*.csv"))) < n:
        if log:
            log(f"recording {n} expert demonstrations of {task} (seed {seed}) into {demo_dir}")
        from sacgmm.sim.expert import record_demos
        record_demos(task, n, seed, demo_dir)
    demos = load_demos(demo_dir)
    skill = fit_skill(demos.positions, demos.dt, n_components=3, stable=True, seed=seed,
                      frame=demos.frame)
    skill.meta["demos"] = str(demo_dir)
    skill.meta["demo_seed"] = int(seed)
    skill.save(path)
    if log:
        log(f"fitted the {task} skill: {path}")
    return path
