"""A training run's configuration: :class:`TrainConfig` and the named agent configurations.

An *agent configuration* is a YAML file of :class:`TrainConfig` settings: the agent
(``sac-gmm``, ``res-gmm``, ``sac`` or ``gmm``), its schedule and the nested sections
``sac`` (:class:`~sacgmm.rl.sac.SACConfig`), ``delta_theta``
(:class:`~sacgmm.skill.delta_theta.DeltaThetaConfig`) and ``via_point``
(:class:`~sacgmm.skill.via_point.ViaPointConfig`). A file may start from another with
``base: NAME``; its settings then replace the base's, section by section. The package's
configurations live in ``sacgmm/agents/`` (:func:`agent_config_names`); a path to any other
file works wherever a name does.

Every run is built from one (:meth:`TrainConfig.named`): ``sacgmm train --config NAME``
(``--agent NAME`` names the four plain agents), the ``reproduce`` grids and the ROS
``sac_refiner`` (parameter ``agent_config``, and overrides as ``agent.KEY`` parameters), so a
recipe is written once. Overrides (``--set KEY=VALUE``, ``section.key`` inside a section)
apply on top.
"""
from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from sacgmm.retired import ANY, drop_retired
from sacgmm.rl.sac import SACConfig
from sacgmm.skill.delta_theta import DeltaThetaConfig
from sacgmm.skill.via_point import ViaPointConfig

AGENTS = ("sac-gmm", "res-gmm", "sac", "gmm")

#: the nested sections of a configuration and their types
SECTIONS: dict[str, type] = {"delta_theta": DeltaThetaConfig, "sac": SACConfig,
                             "via_point": ViaPointConfig}

#: settings that say which run this is, not how the agent learns: an agent configuration
#: file holds none of them
RUN_FIELDS = ("task", "seed", "noise", "sensor", "dense", "episodes", "eval_every",
              "eval_episodes", "final_episodes", "final_policy", "skill", "demo_seed", "config",
              "threads")

#: settings no longer offered, with the value that left them off (:mod:`sacgmm.retired`)
RETIRED = {"exploration": "step", "exploration_correlation": ANY, "lookahead": False,
           "grasp_reward": 0.0, "success_labels_every": 0, "actor_after_successes": 0,
           "hindsight_grasp_kept": False, "success_needs_kept_grasp": False,
           "hindsight_held": False, "grasp_ends_window": False}


@dataclass
class TrainConfig:
    """Everything a training run depends on (saved as ``config.json`` in the run directory).

    Build it with :meth:`named` (from an agent configuration) or :meth:`from_dict` (a saved
    one); the dataclass defaults are the library's, not those of any agent.
    """

    task: str
    agent: str = "sac-gmm"
    config: str = ""                          # the agent configuration it was built from
    seed: int = 0
    noise: bool = False
    sensor: bool = True
    dense: bool = False
    episodes: int = 300
    window: int = 32                          # control steps per SAC-GMM decision (N)
    eval_every: int = 10
    eval_episodes: int = 10
    final_episodes: int = 100
    batch_size: int = 128
    updates_per_step: float = 1.0             # gradient updates per agent decision
    learning_starts: int = 0                  # agent decisions of warm-up actions first
    buffer_size: int = 20_000
    warmup_std: float = 0.0                   # warm-up actions: N(0, std) if > 0, else uniform
    residual_scale: float = 0.1               # Res-GMM: residual = scale * max_speed * action
    skill: str | None = None                  # skill file (default: the task's default skill)
    # without ``skill``: the seed of the demonstrations the default skill is recorded and
    # fitted with (None: the run's seed, so every seed brings its own demonstration set)
    demo_seed: int | None = None
    # the policy of the final evaluation: "best" = the one with the highest periodic evaluation
    # (the one before training, episode 0, included; latest on ties; saved as best.pt),
    # "last" = the policy at the end of training
    final_policy: str = "best"
    # give the agent the gripper's opening (m) with its position and sensor latent, so it can
    # tell whether it holds the handle (lever, door) without reading it off the image
    gripper_obs: bool = False
    # replay transitions span this many agent decisions (n-step returns, sacgmm.rl.nstep):
    # a sparse success reaches the early decisions of an episode in one update instead of
    # one decision per round of target-network updates
    n_step: int = 1
    # with via_point.enabled: every training episode in which the handle was grasped labels
    # its decisions before the grasp with the via-point at the grasp position (hindsight), as
    # extra imitation samples (needs sac.success_bc_weight > 0)
    hindsight_grasp: bool = False
    # the observation carries what the previous decision did: the hand's displacement over
    # its window and its action (sacgmm.rl.memory), so a policy can search (try elsewhere
    # after a window that went nowhere) instead of repeating itself
    decision_memory: bool = False
    # simulation only: the GMM agent (and SAC-GMM's adapted skill) drives the held peg, not the
    # hand: the skill sees the TCP raised by how far the peg slid up in the fingers
    follow_held_object: bool = False
    # SAC baseline: the share of each batch drawn from the demonstrations, kept in a buffer of
    # their own (RLPD's symmetric sampling: 0.5); 0: they sit in the main buffer
    demo_fraction: float = 0.0
    # torch threads of the gradient updates (1 when runs share the cores, e.g. a grid with
    # one run per core; the results then differ from a 1-thread run only in rounding)
    threads: int = 1
    delta_theta: DeltaThetaConfig = field(default_factory=DeltaThetaConfig)
    sac: SACConfig = field(default_factory=SACConfig)
    via_point: ViaPointConfig = field(default_factory=ViaPointConfig)

    def __post_init__(self):
        for name, kind in SECTIONS.items():
            value = getattr(self, name)
            if isinstance(value, Mapping):
                setattr(self, name, kind.from_dict(value))
            elif not isinstance(value, kind):
                raise ValueError(f"{name} must be a {kind.__name__} or a mapping, got {value!r}")

    # -- building -------------------------------------------------------------------------
    @classmethod
    def named(cls, config: str | Path = "sac-gmm", overrides: Iterable[str] = (),
              **settings) -> "TrainConfig":
        """The configuration of agent configuration ``config`` (a name in ``sacgmm/agents`` or
        a YAML path), then ``settings`` (e.g. ``task="peg", seed=1``; sections as mappings
        of the keys they change), then ``overrides`` (``KEY=VALUE`` strings, ``section.key``
        inside a section, values parsed as YAML). Checked: ``ValueError`` names the file,
        key or override at fault."""
        data = load_agent_config(config)
        data = merge(data, dict(settings))
        for item in overrides:
            data = merge(data, parse_override(item))
        data["config"] = str(config)
        return cls.from_dict(data).checked()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        """The configuration saved as ``data`` (``config.json``, a checkpoint's extras); keys
        missing from it take the library's defaults. Removed settings, also those of its
        sections, are dropped at the value that left them off; at any other value, and for
        unknown keys, ``ValueError`` names the key."""
        data = drop_retired(dict(data), RETIRED)
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown training setting(s) {unknown}")
        for name in SECTIONS:
            if data.get(name) is None:
                data.pop(name, None)
            elif not isinstance(data[name], (Mapping, SECTIONS[name])):
                raise ValueError(f"{name} must be a mapping of settings, got {data[name]!r}")
        for key in ("updates_per_step", "learning_starts", "buffer_size", "warmup_std"):
            if key in data and data[key] is None:     # saved before the agents had files
                raise ValueError(f"{key} is not set (a configuration saved unresolved)")
        return cls(**data)

    @classmethod
    def from_saved(cls, data: Mapping[str, Any]) -> "TrainConfig":
        """:meth:`from_dict` for a configuration a run saved: one saved before runs recorded
        their own demonstrations (no ``demo_seed``) was trained from those of seed 0."""
        data = dict(data)
        if "demo_seed" not in data and not data.get("skill"):
            data["demo_seed"] = 0
        return cls.from_dict(data)

    def checked(self) -> "TrainConfig":
        """``self`` if its values are usable; ``ValueError`` naming the first bad one."""
        if self.agent not in AGENTS:
            raise ValueError(f"unknown agent {self.agent!r}; valid agents: {', '.join(AGENTS)}")
        for key in ("episodes", "window", "eval_every", "eval_episodes", "final_episodes",
                    "batch_size", "buffer_size", "n_step", "threads"):
            value = getattr(self, key)
            low = 0 if key in ("episodes", "final_episodes") else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{key} must be an integer >= {low}, got {value!r}")
        if isinstance(self.learning_starts, bool) or not isinstance(self.learning_starts, int) \
                or self.learning_starts < 0:
            raise ValueError(f"learning_starts must be an integer >= 0, got {self.learning_starts!r}")
        for key in ("updates_per_step", "warmup_std", "residual_scale"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0:
                raise ValueError(f"{key} must be a finite number >= 0, got {value!r}")
        if self.demo_seed is not None and (isinstance(self.demo_seed, bool)
                                           or not isinstance(self.demo_seed, int)
                                           or self.demo_seed < 0):
            raise ValueError(f"demo_seed must be an integer >= 0, got {self.demo_seed!r}")
        for key in ("gripper_obs", "hindsight_grasp", "decision_memory", "follow_held_object"):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"{key} must be true or false, got {getattr(self, key)!r}")
        if self.follow_held_object and self.agent not in ("sac-gmm", "gmm"):
            raise ValueError("follow_held_object is for the GMM agents (sac-gmm, gmm), not "
                             f"{self.agent!r}")
        if self.decision_memory and self.agent != "sac-gmm":
            raise ValueError(f"decision_memory is for the sac-gmm agent only, not {self.agent!r}")
        if isinstance(self.demo_fraction, bool) or not isinstance(self.demo_fraction, (int, float)) \
                or not 0.0 <= self.demo_fraction < 1.0:
            raise ValueError(f"demo_fraction must be a number in [0, 1), got {self.demo_fraction!r}")
        if self.demo_fraction and self.agent != "sac":
            raise ValueError("demo_fraction is for the sac agent (the one seeded with "
                             f"demonstrations), not {self.agent!r}")
        if self.final_policy not in ("best", "last"):
            raise ValueError(f"final_policy must be 'best' or 'last', got {self.final_policy!r}")
        if self.via_point.enabled and self.agent != "sac-gmm":
            raise ValueError(f"via_point is for the sac-gmm agent only, not {self.agent!r}")
        if self.hindsight_grasp:
            if not self.via_point.enabled:
                raise ValueError("hindsight_grasp labels via-points: it needs "
                                 "via_point.enabled=true")
            if not self.sac.success_bc_weight:
                raise ValueError("hindsight_grasp adds imitation labels: it needs "
                                 "sac.success_bc_weight > 0")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON/YAML-safe lists instead of tuples) that :meth:`from_dict` reads."""
        return _plain(asdict(self))

    def agent_settings(self) -> dict[str, Any]:
        """The settings an agent configuration file holds (all but :data:`RUN_FIELDS`)."""
        return {k: v for k, v in self.to_dict().items() if k not in RUN_FIELDS}


# -- agent configuration files ---------------------------------------------------------------
def agent_config_names() -> list[str]:
    """The agent configurations shipped in the package (``sacgmm/agents/NAME.yaml``)."""
    folder = resources.files("sacgmm") / "agents"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _is_path(config: str | Path) -> bool:
    return isinstance(config, Path) or "/" in str(config) or str(config).endswith((".yaml", ".yml"))


def _read(config: str | Path) -> tuple[str, Any]:
    if _is_path(config):
        path = Path(config)
        try:
            return str(path), yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise ValueError(f"agent configuration file {path} does not exist") from None
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML ({exc})") from None
    names = agent_config_names()
    if str(config) not in names:
        raise ValueError(f"unknown agent configuration {str(config)!r}; the package has "
                         f"{', '.join(names)} (or give a path to a YAML file)")
    ref = resources.files("sacgmm") / "agents" / f"{config}.yaml"
    return f"sacgmm/agents/{config}.yaml", yaml.safe_load(ref.read_text())


def load_agent_config(config: str | Path, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """The settings of agent configuration ``config`` with its ``base`` chain resolved (plain
    data, not yet checked); ``ValueError`` names the file at fault."""
    where, data = _read(config)
    if where in _seen:
        raise ValueError(f"{where}: 'base' chain loops ({' -> '.join(_seen + (where,))})")
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping of settings, got {type(data).__name__}")
    data = dict(data)
    run = sorted(set(data) & set(RUN_FIELDS))
    if run:
        raise ValueError(f"{where}: {run} say which run this is, not how the agent learns; "
                         "give them on the command line")
    base = data.pop("base", None)
    if base is not None:
        if _is_path(base) and _is_path(config):
            base = str(Path(config).parent / base)
        data = merge(load_agent_config(base, _seen + (where,)), data)
    elif "agent" not in data:
        raise ValueError(f"{where}: needs 'agent' ({', '.join(AGENTS)}) or 'base'")
    try:
        TrainConfig.from_dict({"task": "peg", **data})
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where}: {exc}") from None
    return data


def merge(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied; a section (a mapping in both) is merged key by key."""
    out = copy.deepcopy(dict(base))
    for key, value in changes.items():
        if isinstance(value, SECTIONS.get(key, ())):
            value = asdict(value)
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_override(item: str) -> dict[str, Any]:
    """``KEY=VALUE`` (``section.key=VALUE`` inside a section; the value parsed as YAML) as a
    mapping for :func:`merge`; ``ValueError`` naming the override if it is malformed."""
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"--set {item!r}: value is not valid YAML ({exc})") from None
    section, dot, sub = key.partition(".")
    if dot:
        if section not in SECTIONS or not sub or "." in sub:
            raise ValueError(f"--set {item!r}: only {', '.join(s + '.KEY' for s in SECTIONS)} "
                             "have sub-keys")
        return {section: {sub: value}}
    if key in SECTIONS or key not in {f.name for f in fields(TrainConfig)}:
        raise ValueError(f"--set {item!r}: unknown setting {key!r}")
    return {key: value}


def flatten(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as ``{"sac.lr_alpha": ..., "window": ...}`` (e.g. ROS parameter names)."""
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`flatten`."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *path, last = key.split(".")
        node = out
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
