"""Soft actor-critic with an optional SAC-AE image encoder (one per image sensor).

Observation: a dict of named parts (see :mod:`sacgmm.rl.replay`): vectors ``(D_k,)`` float32
and images ``(C, S, S)`` uint8. The feature vector fed to the actor and critics is the
concatenation, in sorted key order, of the vectors and of each image's latent ``z``
(``latent_dim`` each). Actions are in ``[-1, 1]^A``.

One :meth:`SACAgent.update` on a :class:`~sacgmm.rl.replay.Batch` does, in order:

1. **Critic + autoencoder**: target ``y = r + gamma^k (1 - done) (min_i Q'_i(s', a') - alpha log pi(a'|s'))``
   with ``a' ~ pi(.|s')`` and ``k`` the transition's decisions (``Batch.steps``; 1 unless n-step); the next observation's images are encoded once, by the target
   encoder, for both ``a'`` and ``Q'`` (SAC-AE encodes ``s'`` for the actor with the online
   encoder; one pass instead of two halves the image cost). Loss
   ``0.5 sum_i MSE(Q_i(s, a), y)`` plus, for each
   image, the reconstruction loss + ``lambda_z |z|^2`` (SAC-AE). The encoder is trained by both
   through one Adam with two parameter groups: critics at ``lr_critic`` (3e-4), encoder and
   decoder at ``lr_autoencoder`` (3e-5, the SAC-GMM paper's autoencoder rate).
2. **Actor** (every ``actor_update_every`` updates): ``E[alpha log pi(a|s) - c min_i Q_i(s, a)]``
   (``c = actor_q_weight``, 1 in SAC)
   on the step-1 features of ``s``, detached: the encoder is *detached* for the actor (its
   latents are those computed just before the critic step, saving one image pass). With
   ``success_bc_weight`` > 0 and a batch of transitions from successful episodes
   (``update(batch, successes)``), plus ``w E[1{Q(s, a_s) > Q(s, mu(s))} |tanh(mu(s)) - a_s|^2]``
   (Q-filtered behaviour cloning of the agent's own successes). With ``skill_prior_episodes``
   ``n0`` > 0 that term is weighted ``1 - p`` and ``p E_batch |tanh(mu(s))|^2`` is added,
   ``p = n0 / (n0 + n)`` after ``n`` episodes behind the imitated transitions
   (``update(..., imitation_episodes=n)``): the skill, the zero action, as a prior.
3. **Temperature**: ``-log_alpha * (log pi + target_entropy)`` with target entropy ``-A``.
4. **Targets**: polyak averaging, ``tau`` (0.005) for the critics, ``encoder_tau`` for encoders.

A non-finite loss raises :class:`FloatingPointError` naming the loss, *before* the optimizer
step, so parameters are never corrupted and the caller can stop before writing a checkpoint.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, fields
from typing import Mapping

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sacgmm.retired import drop_retired
from sacgmm.rl.encoder import ConvAutoencoder
from sacgmm.rl.networks import SquashedGaussianActor, TwinQ
from sacgmm.rl.replay import Batch, is_image_shape

#: options no longer offered, with the value that turned them off (:mod:`sacgmm.retired`)
RETIRED = {"critic_on_successes": False, "image_shift": 0, "policy_average": 0.0,
           "actor_q_where": None}


#: settings of :class:`SACConfig` that act only on image sensors (the autoencoders): they cannot
#: change an agent whose observation has no image
IMAGE_SETTINGS = ("latent_dim", "encoder_kind", "encoder_channels", "lambda_z",
                  "autoencoder_batch", "lr_autoencoder", "encoder_tau")


@dataclass
class SACConfig:
    """Hyper-parameters of :class:`SACAgent` (defaults: SB3 / SAC-AE / the SAC-GMM paper)."""
    hidden: tuple[int, ...] = (256, 256)
    # the actor's hidden layers when they differ from the critics' (None: ``hidden``); ``()``
    # makes the policy's pre-tanh mean and log-std linear in the features
    actor_hidden: tuple[int, ...] | None = None
    activation: str = "relu"
    gamma: float = 0.99
    tau: float = 0.005
    encoder_tau: float = 0.05
    lr_actor: float = 3e-4
    lr_critic: float = 3e-4
    lr_alpha: float = 3e-4
    lr_autoencoder: float = 3e-5
    init_alpha: float = 1.0
    target_entropy: float | None = None   # None -> -A
    actor_update_every: int = 1
    target_update_every: int = 1
    grad_clip_norm: float | None = None
    actor_zero_init: bool = False         # initial policy mean 0 in every state (refiners)
    # with actor_zero_init: the initial pre-tanh standard deviation in every state (None:
    # exp(-1.5) = 0.22); e.g. halve it when the action unit is doubled, so that a refiner with
    # a larger range starts exploring the same distances
    actor_init_std: float | None = None
    # the largest pre-tanh standard deviation the actor may have (None: exp(2)). With sparse
    # rewards the entropy term is the only gradient on the spread, and Adam takes full-size
    # steps on it however small alpha is, so the spread grows to this bound (docs/door.md)
    actor_max_std: float | None = None
    vector_scale: float = 1.0             # vector observation parts are multiplied by this
    # image sensors (used only when the observation has image parts)
    latent_dim: int = 50
    encoder_kind: str = "conv"
    encoder_channels: int = 32
    lambda_z: float = 1e-6
    # the reconstruction loss on the first ``autoencoder_batch`` images of each batch only
    # (None: all); the critics' gradient still reaches the encoder through every image. The
    # decoder's pass is the largest part of an update with images, and at the autoencoder's
    # learning rate (3e-5) a quarter of the batch gives it nearly the same step
    autoencoder_batch: int | None = None
    # imitation of the agent's own successful episodes (Q-filtered behaviour cloning, as Nair
    # et al. 2018 use for demonstrations): on an extra batch of transitions from successful
    # episodes, the actor's mean action is pulled towards the stored action where the critics
    # rate that action above the policy's own; weight of that term in the actor loss, 0: off
    success_bc_weight: float = 0.0
    # the Q-filter of that term; False: every stored success action is imitated (self-imitation
    # of all successful episodes, like reward-weighted regression with 0/1 weights)
    success_bc_filter: bool = True
    # LayerNorm in the critics' hidden layers (RLPD-style critics)
    critic_layer_norm: bool = False
    # weight of the critics' value in the actor loss (SAC: 1); 0 leaves the actor to the
    # entropy term and the success imitation alone (filtered behaviour cloning with SAC's
    # exploration), a diagnostic of what the critics add
    actor_q_weight: float = 1.0
    # the demonstrated skill as a prior of the imitation term, worth this many episodes of
    # evidence (0: off): with ``n`` episodes behind the imitation buffer (successes and
    # labelled episodes) and ``p = n0 / (n0 + n)``, the term is ``(1 - p)`` times the
    # imitation loss plus ``p E_batch |tanh(mu(s))|^2``, which pulls the policy's mean towards
    # the zero action (the skill unchanged) on every state of the batch, both times
    # ``success_bc_weight`` (which it needs); with no episode yet, the pull alone. A few
    # episodes, whose actions are mostly exploration, move the policy a little; many move it
    # fully. The count goes on when the buffer of successes drops its oldest transitions.
    skill_prior_episodes: float = 0.0

    @classmethod
    def from_dict(cls, d: Mapping) -> "SACConfig":
        """Build from a plain dict (e.g. a YAML section); unknown keys are an error. Options
        that were removed are accepted at the value that left them off (older checkpoints)."""
        names = {f.name for f in fields(cls)}
        d = drop_retired(d, RETIRED, "sac.")
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown SAC config keys {sorted(unknown)}")
        d = dict(d)
        for key in ("hidden", "actor_hidden"):
            if d.get(key) is not None:
                d[key] = tuple(int(h) for h in d[key])
        return cls(**d)


class SACAgent:
    """The SAC agent. ``obs_shapes``: dict part name -> shape; ``act_dim``: ``A``.

    Main API: :meth:`act`, :meth:`update`, :meth:`state_dict`, :meth:`load_state_dict`.
    Everything runs on ``device`` (CPU by default) in float32.
    """

    def __init__(self, obs_shapes: Mapping[str, tuple[int, ...]], act_dim: int,
                 config: SACConfig | None = None, device: str | torch.device = "cpu"):
        self.config = cfg = config or SACConfig()
        self.device = torch.device(device)
        self.obs_shapes = {k: tuple(int(d) for d in v) for k, v in obs_shapes.items()}
        self.act_dim = int(act_dim)
        self.image_keys = sorted(k for k, s in self.obs_shapes.items() if is_image_shape(s))
        self.vector_keys = sorted(k for k, s in self.obs_shapes.items() if not is_image_shape(s))
        for k in self.vector_keys:
            if len(self.obs_shapes[k]) != 1:
                raise ValueError(f"vector part {k!r} must be 1-D, got shape {self.obs_shapes[k]}")
        for k in self.image_keys:
            c, h, w = self.obs_shapes[k]
            if h != w:
                raise ValueError(f"image part {k!r} must be square, got {h}x{w}")
        self.feature_dim = (sum(self.obs_shapes[k][0] for k in self.vector_keys)
                            + cfg.latent_dim * len(self.image_keys))
        if self.feature_dim == 0:
            raise ValueError("the observation has no parts")
        if cfg.autoencoder_batch is not None and int(cfg.autoencoder_batch) < 1:
            raise ValueError(f"autoencoder_batch must be a positive number of images or None, "
                             f"got {cfg.autoencoder_batch!r}")
        if not (np.isfinite(cfg.skill_prior_episodes) and cfg.skill_prior_episodes >= 0):
            raise ValueError("skill_prior_episodes must be a finite number >= 0, got "
                             f"{cfg.skill_prior_episodes}")
        if cfg.skill_prior_episodes > 0 and not cfg.success_bc_weight > 0:
            raise ValueError("skill_prior_episodes weighs against the imitation term: it needs "
                             "success_bc_weight > 0")
        if not (np.isfinite(cfg.actor_q_weight) and cfg.actor_q_weight >= 0):
            raise ValueError("actor_q_weight must be a finite number >= 0, got "
                             f"{cfg.actor_q_weight}")
        self.target_entropy = (float(cfg.target_entropy) if cfg.target_entropy is not None
                               else -float(self.act_dim))

        self.autoencoders = nn.ModuleDict({
            k: ConvAutoencoder(self.obs_shapes[k][0], cfg.latent_dim, self.obs_shapes[k][1],
                               cfg.encoder_kind, cfg.encoder_channels, cfg.lambda_z)
            for k in self.image_keys}).to(self.device)
        self.target_encoders = nn.ModuleDict({
            k: copy.deepcopy(ae.encoder) for k, ae in self.autoencoders.items()})
        #: the patch layout ``(cell, patch)`` in which a replay buffer should store this
        #: agent's images (``ReplayBuffer(image_layout=...)``); None: the image layout
        self.image_layout = (self.autoencoders[self.image_keys[0]].encoder.layout
                             if self.image_keys else None)
        actor_hidden = cfg.hidden if cfg.actor_hidden is None else cfg.actor_hidden
        self.actor = SquashedGaussianActor(self.feature_dim, self.act_dim, actor_hidden,
                                           cfg.activation, cfg.actor_zero_init,
                                           cfg.actor_init_std, cfg.actor_max_std
                                           ).to(self.device)
        self.critic = TwinQ(self.feature_dim, self.act_dim, cfg.hidden,
                            cfg.activation, cfg.critic_layer_norm).to(self.device)
        self.critic_target = copy.deepcopy(self.critic)
        for p in [*self.critic_target.parameters(), *self.target_encoders.parameters()]:
            p.requires_grad_(False)
        self.log_alpha = torch.tensor(float(np.log(cfg.init_alpha)), device=self.device,
                                      requires_grad=True)

        # the fused Adam kernel: one pass over all parameters instead of one per tensor
        fused = {"fused": True} if self.device.type in ("cpu", "cuda") else {}
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr_actor, **fused)
        groups = [{"params": list(self.critic.parameters()), "lr": cfg.lr_critic}]
        if self.image_keys:
            groups.append({"params": list(self.autoencoders.parameters()),
                           "lr": cfg.lr_autoencoder})
        self.critic_opt = torch.optim.Adam(groups, **fused)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=cfg.lr_alpha, **fused)
        self.num_updates = 0

    # ------------------------------------------------------------------ features
    @property
    def alpha(self) -> float:
        """Current entropy temperature ``exp(log_alpha)``."""
        return float(self.log_alpha.detach().exp())

    def _vector_parts(self, obs: Mapping[str, torch.Tensor]) -> list[torch.Tensor]:
        """The vector observation parts as float32, times ``config.vector_scale``."""
        scale = self.config.vector_scale
        parts = [obs[k].to(self.device, torch.float32) for k in self.vector_keys]
        return [p * scale for p in parts] if scale != 1.0 else parts

    def features(self, obs: Mapping[str, torch.Tensor], target: bool = False) -> torch.Tensor:
        """Batched observation parts -> features ``(B, feature_dim)``.

        ``target=True`` encodes images with the target encoders. Gradients flow into the
        online encoders unless the caller wraps this in ``torch.no_grad()``.
        """
        parts = self._vector_parts(obs)
        for k in self.image_keys:
            enc = self.target_encoders[k] if target else self.autoencoders[k].encoder
            parts.append(enc(obs[k].to(self.device)))
        return torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]

    def _as_batch(self, obs: Mapping[str, np.ndarray]) -> tuple[dict[str, torch.Tensor], bool]:
        missing = set(self.obs_shapes) - set(obs)
        if missing:
            raise ValueError(f"observation lacks parts {sorted(missing)}")
        key = next(iter(self.obs_shapes))
        single = np.ndim(obs[key]) == len(self.obs_shapes[key])
        out = {}
        for k in self.obs_shapes:
            arr = np.asarray(obs[k])
            if k in self.image_keys and arr.dtype != np.uint8:
                arr = arr.astype(np.float32)
            t = torch.as_tensor(arr, device=self.device)
            out[k] = t.unsqueeze(0) if single else t
        return out, single

    # ------------------------------------------------------------------ acting
    @torch.no_grad()
    def act(self, obs: Mapping[str, np.ndarray], deterministic: bool = False) -> np.ndarray:
        """Action(s) in ``[-1, 1]``: ``(A,)`` for one observation, ``(B, A)`` for a batch;
        stochastic actions take a fresh draw of the pre-tanh Gaussian per call."""
        tensors, single = self._as_batch(obs)
        action, _ = self.actor(self.features(tensors), deterministic=deterministic,
                               with_log_prob=False)
        action = action.cpu().numpy().astype(np.float32)
        return action[0] if single else action

    @torch.no_grad()
    def encode(self, obs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Latents of the image parts: dict key -> ``(latent_dim,)`` or ``(B, latent_dim)``."""
        tensors, single = self._as_batch(obs)
        out = {k: self.autoencoders[k].encoder(tensors[k]).cpu().numpy() for k in self.image_keys}
        return {k: v[0] for k, v in out.items()} if single else out

    # ------------------------------------------------------------------ learning
    def _check(self, name: str, loss: torch.Tensor) -> None:
        if not bool(torch.isfinite(loss)):
            raise FloatingPointError(
                f"SAC update {self.num_updates + 1}: {name} is {float(loss.detach())} (not finite); "
                "training stopped before the optimizer step, no parameter was changed by it")

    def _step(self, opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip_norm:
            params = [p for g in opt.param_groups for p in g["params"]]
            nn.utils.clip_grad_norm_(params, self.config.grad_clip_norm)
        opt.step()

    def q_values(self, feat: torch.Tensor, action: torch.Tensor, target: bool = False
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(q1, q2)`` ``(B,)`` of the online (or ``target``) critics for features ``feat``
        ``(B, feature_dim)`` and actions ``(B, A)``."""
        return (self.critic_target if target else self.critic)(feat, action)

    @torch.no_grad()
    def td_target(self, batch: Batch) -> torch.Tensor:
        """The critics' regression target ``y`` ``(B,)`` (soft Bellman backup, module doc)."""
        alpha = self.log_alpha.exp()
        # one target-encoder pass serves both the next action and the target critics
        next_feat = self.features(batch.next_obs, target=True)
        next_a, next_logp = self.actor(next_feat)
        q1_t, q2_t = self.q_values(next_feat, next_a, target=True)
        soft_v = torch.min(q1_t, q2_t) - alpha * next_logp
        # an n-step transition (batch.steps = k decisions) bootstraps with gamma ** k
        gamma = self.config.gamma
        discount = gamma if batch.steps is None else gamma ** batch.steps.to(self.device)
        return batch.reward.to(self.device) + discount * (1.0 - batch.done.to(self.device)) * soft_v

    def critic_losses(self, batch: Batch
                      ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """Critic (+ autoencoder) loss on ``batch``.

        Returns ``(total, info, features)`` where ``features`` ``(B, feature_dim)`` are the
        observation features *detached* from the encoder (reused by the actor step).
        """
        y = self.td_target(batch)
        parts = self._vector_parts(batch.obs)
        latents, prepared = {}, {}
        for k in self.image_keys:
            # normalised once, for the encoder and the reconstruction target
            encoder = self.autoencoders[k].encoder
            prepared[k] = encoder.prepare(batch.obs[k].to(self.device))
            latents[k] = encoder.encode_prepared(prepared[k])
            parts.append(latents[k])
        feat = torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]
        q1, q2 = self.q_values(feat, batch.action.to(self.device))
        critic_loss = 0.5 * (F.mse_loss(q1, y) + F.mse_loss(q2, y))
        info = {"critic_loss": critic_loss, "q1": q1.mean().detach(), "q2": q2.mean().detach()}
        total = critic_loss
        n = self.config.autoencoder_batch or len(y)
        for k in self.image_keys:
            ae_loss, ae_info = self.autoencoders[k].loss(batch.obs[k][:n], latents[k][:n],
                                                         prepared[k][:n])
            info[f"ae_loss/{k}"] = ae_loss
            info[f"recon/{k}"] = ae_info["recon"]
            total = total + ae_loss
        return total, info, feat.detach()

    def success_bc_loss(self, successes: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Q-filtered behaviour cloning on transitions of successful episodes:
        ``(loss, fraction of the batch the filter kept)``. The features are encoded with the
        online encoders, detached (the encoder learns from the critic and reconstruction only)."""
        with torch.no_grad():
            feat = self.features(successes.obs)
        a_s = successes.action.to(self.device)
        mode, _ = self.actor(feat, deterministic=True, with_log_prob=False)
        if not self.config.success_bc_filter:
            keep = torch.ones(len(a_s), device=self.device)
        else:
            with torch.no_grad():
                keep = (torch.min(*self.q_values(feat, a_s))
                        > torch.min(*self.q_values(feat, mode.detach()))).float()
        per = ((mode - a_s) ** 2).sum(-1)
        return (keep * per).mean(), keep.mean()

    def actor_losses(self, feat: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """``(actor_loss, alpha_loss, info)`` on features ``(B, feature_dim)``.

        The features must carry no gradient to the encoder (SAC-AE: the encoder is detached
        for the actor); they are detached here again to make that certain.
        """
        feat = feat.detach()
        action, logp = self.actor(feat)
        alpha = self.log_alpha.exp().detach()
        weight = self.config.actor_q_weight
        if not weight:      # the critics do not enter the loss: skip their pass
            actor_loss = (alpha * logp).mean()
        else:
            # the critics are constants here: no gradient is computed for their weights
            critic_params = list(self.critic.parameters())
            for p in critic_params:
                p.requires_grad_(False)
            try:
                q1, q2 = self.q_values(feat, action)
            finally:
                for p in critic_params:
                    p.requires_grad_(True)
            q = torch.min(q1, q2)
            actor_loss = (alpha * logp - weight * q).mean()
        alpha_loss = -(self.log_alpha * (logp.detach() + self.target_entropy)).mean()
        return actor_loss, alpha_loss, {"entropy": -logp.mean().detach()}

    @torch.no_grad()
    def _polyak(self, target: nn.Module, source: nn.Module, tau: float) -> None:
        t_params = list(target.parameters())
        s_params = list(source.parameters())
        if t_params:
            torch._foreach_lerp_(t_params, s_params, tau)
        for tb, sb in zip(target.buffers(), source.buffers()):
            tb.copy_(sb)

    def skill_prior_share(self, imitation_episodes: int) -> float:
        """``p = n0 / (n0 + n)``: the share of the skill prior in the imitation term after
        ``n`` episodes of evidence (0 when ``skill_prior_episodes`` is 0)."""
        n0 = float(self.config.skill_prior_episodes)
        return n0 / (n0 + max(int(imitation_episodes), 0)) if n0 > 0 else 0.0

    def update(self, batch: Batch, successes: Batch | None = None,
               imitation_episodes: int = 0) -> dict[str, float]:
        """One gradient step of critics (+ autoencoders), actor and temperature.

        ``successes``: transitions of successful episodes for the ``success_bc_weight`` term
        (ignored when the weight is 0); ``imitation_episodes``: the episodes behind them, the
        evidence the ``skill_prior_episodes`` prior weighs against. Returns the losses and diagnostics as floats. Raises
        ``FloatingPointError`` on a non-finite loss (before stepping that optimizer).
        """
        cfg = self.config
        # 1. critics (+ autoencoders) on the soft Bellman target
        total, info, feat = self.critic_losses(batch)
        for name in ["critic_loss", *(f"ae_loss/{k}" for k in self.image_keys)]:
            self._check(name, info[name])
        self._step(self.critic_opt, total)

        # 2. actor (+ imitation of the agent's own successes) and 3. temperature
        if self.num_updates % cfg.actor_update_every == 0:
            actor_loss, alpha_loss, a_info = self.actor_losses(feat)
            prior = self.skill_prior_share(imitation_episodes)
            if cfg.success_bc_weight > 0 and successes is not None:
                bc, kept = self.success_bc_loss(successes)
                actor_loss = actor_loss + cfg.success_bc_weight * (1.0 - prior) * bc
                a_info.update(success_bc=bc.detach(), success_bc_kept=kept)
            if prior > 0:
                mode, _ = self.actor(feat.detach(), deterministic=True, with_log_prob=False)
                pull = (mode ** 2).sum(-1).mean()
                actor_loss = actor_loss + cfg.success_bc_weight * prior * pull
                a_info.update(skill_prior=torch.tensor(prior), skill_prior_pull=pull.detach())
            self._check("actor_loss", actor_loss)
            self._check("alpha_loss", alpha_loss)
            self._step(self.actor_opt, actor_loss)
            self._step(self.alpha_opt, alpha_loss)
            info.update(actor_loss=actor_loss.detach(), alpha_loss=alpha_loss.detach(), **a_info)

        # 4. target networks
        if self.num_updates % cfg.target_update_every == 0:
            self._polyak(self.critic_target, self.critic, cfg.tau)
            for k in self.image_keys:
                self._polyak(self.target_encoders[k], self.autoencoders[k].encoder,
                             cfg.encoder_tau)
        self.num_updates += 1
        out = {k: float(v.detach()) for k, v in info.items()}
        out["alpha"] = self.alpha
        return out

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Everything needed to continue training identically (networks, optimizers, counters)."""
        return {
            "config": asdict(self.config), "obs_shapes": dict(self.obs_shapes),
            "act_dim": self.act_dim, "num_updates": self.num_updates,
            "actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "autoencoders": self.autoencoders.state_dict(),
            "target_encoders": self.target_encoders.state_dict(),
            "log_alpha": self.log_alpha.detach().clone(),
            "actor_opt": self.actor_opt.state_dict(), "critic_opt": self.critic_opt.state_dict(),
            "alpha_opt": self.alpha_opt.state_dict(),
        }

    def load_state_dict(self, state: Mapping) -> None:
        """Restore :meth:`state_dict`; the observation layout and action size must match."""
        shapes = {k: tuple(v) for k, v in state["obs_shapes"].items()}
        if shapes != self.obs_shapes or int(state["act_dim"]) != self.act_dim:
            raise ValueError(f"agent layout differs from the saved one: saved parts {shapes}, "
                             f"act_dim {state['act_dim']}; this agent: {self.obs_shapes}, "
                             f"act_dim {self.act_dim}")
        try:
            self.actor.load_state_dict(state["actor"])
            self.critic.load_state_dict(state["critic"])
            self.critic_target.load_state_dict(state["critic_target"])
            self.autoencoders.load_state_dict(state["autoencoders"])
            self.target_encoders.load_state_dict(state["target_encoders"])
        except RuntimeError as exc:   # missing/unexpected keys or shape mismatches
            raise ValueError("the saved networks do not fit this agent (different config or "
                             f"an older network layout): {exc}") from exc
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.alpha_opt.load_state_dict(state["alpha_opt"])
        self.num_updates = int(state["num_updates"])

    @classmethod
    def from_state_dict(cls, state: Mapping, device: str | torch.device = "cpu") -> "SACAgent":
        """A new agent built from a saved :meth:`state_dict` (config and layout included)."""
        agent = cls(state["obs_shapes"], state["act_dim"], SACConfig.from_dict(state["config"]),
                    device)
        agent.load_state_dict(state)
        return agent
