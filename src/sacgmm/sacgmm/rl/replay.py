"""Fixed-capacity ring replay buffer; images stored compactly as uint8.

An observation is a dict of named parts. A part with a 3-D shape ``(C, H, W)`` is an image and
is stored as ``uint8`` (0-255); any other part is a vector stored as ``float32``. Each
transition stores ``obs``, ``action`` (``float32``, ``(A,)``, in ``[-1, 1]``), ``reward``
(``float32``), ``next_obs``, ``done`` (1.0 when the episode *terminated*, i.e. no
bootstrapping; a time-limit truncation is stored as 0.0) and ``steps``, the number of agent
decisions between ``obs`` and ``next_obs`` (1 for a plain transition; ``k`` for an n-step
transition whose ``reward`` is the discounted sum of ``k`` rewards, so that the critic
bootstraps with ``gamma ** k``; :mod:`sacgmm.rl.nstep`).

With ``image_layout = (cell, patch)`` images are stored, and sampled, in that patch layout
of :func:`sacgmm.rl.encoder.patchify`, ``(n, n, cell^2, C patch^2)``, the layout the agent's
encoder reads (``ConvEncoder.layout``), so that a batch needs no re-ordering copy;
:func:`patch_layout` converts images.

Sampling is uniform with replacement from the buffer's own ``numpy`` generator, so saving and
restoring :meth:`ReplayBuffer.state_dict` reproduces the same future batches.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch


def is_image_shape(shape: tuple[int, ...]) -> bool:
    """A part is an image when its shape is ``(C, H, W)``."""
    return len(shape) == 3


def patch_layout(images: np.ndarray, layout: tuple[int, int]) -> np.ndarray:
    """Images ``(..., C, S, S)`` (one or a stack) -> ``(..., n, n, cell^2, C patch^2)`` for
    ``layout = (cell, patch)``: :func:`sacgmm.rl.encoder.patchify`'s order."""
    from sacgmm.rl.encoder import patchify
    arr = np.asarray(images)
    x = torch.from_numpy(np.ascontiguousarray(arr.reshape(-1, *arr.shape[-3:])))
    out = patchify(x, *layout).numpy()
    return out.reshape(*arr.shape[:-3], *out.shape[1:])


@dataclass
class Batch:
    """A sampled mini-batch as torch tensors (``B`` = batch size).

    ``obs``/``next_obs``: dict name -> ``(B, *shape)`` (images uint8, in the buffer's patch
    layout when it has one; vectors float32);
    ``action``: ``(B, A)`` float32; ``reward``, ``done``, ``steps``: ``(B,)`` float32
    (``steps`` None: every transition spans one decision).
    """
    obs: dict[str, torch.Tensor]
    action: torch.Tensor
    reward: torch.Tensor
    next_obs: dict[str, torch.Tensor]
    done: torch.Tensor
    steps: torch.Tensor | None = None


def concat_batches(a: Batch, b: Batch) -> Batch:
    """One batch of ``a``'s transitions followed by ``b``'s (same observation parts)."""
    if set(a.obs) != set(b.obs):
        raise ValueError(f"batches differ in their observation parts: {sorted(a.obs)} vs "
                         f"{sorted(b.obs)}")
    steps = None
    if a.steps is not None or b.steps is not None:
        ones = [torch.ones_like(x.reward) for x in (a, b)]
        steps = torch.cat([a.steps if a.steps is not None else ones[0],
                           b.steps if b.steps is not None else ones[1]])
    return Batch(obs={k: torch.cat([a.obs[k], b.obs[k]]) for k in a.obs},
                 action=torch.cat([a.action, b.action]),
                 reward=torch.cat([a.reward, b.reward]),
                 next_obs={k: torch.cat([a.next_obs[k], b.next_obs[k]]) for k in a.next_obs},
                 done=torch.cat([a.done, b.done]), steps=steps)


class ReplayBuffer:
    """Ring buffer of ``capacity`` transitions.

    ``obs_shapes``: dict name -> shape of one observation part, e.g.
    ``{"state": (3,), "tactile": (2, 64, 64)}``; ``act_dim``: action size ``A``;
    ``image_layout``: store images in that ``(cell, patch)`` layout (module doc), None: as
    given.
    """

    def __init__(self, capacity: int, obs_shapes: Mapping[str, tuple[int, ...]], act_dim: int,
                 seed: int | None = None, image_layout: tuple[int, int] | None = None):
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self.capacity = int(capacity)
        self.obs_shapes = {k: tuple(int(d) for d in v) for k, v in obs_shapes.items()}
        self.act_dim = int(act_dim)
        self.image_layout = (None if image_layout is None
                             else (int(image_layout[0]), int(image_layout[1])))
        self.obs: dict[str, np.ndarray] = {}
        self.next_obs: dict[str, np.ndarray] = {}
        for key, shape in self.obs_shapes.items():
            dtype = np.uint8 if is_image_shape(shape) else np.float32
            if is_image_shape(shape) and self.image_layout:
                shape = patch_layout(np.zeros(shape, np.uint8), self.image_layout).shape
            self.obs[key] = np.zeros((self.capacity, *shape), dtype=dtype)
            self.next_obs[key] = np.zeros((self.capacity, *shape), dtype=dtype)
        self.action = np.zeros((self.capacity, self.act_dim), dtype=np.float32)
        self.reward = np.zeros(self.capacity, dtype=np.float32)
        self.done = np.zeros(self.capacity, dtype=np.float32)
        self.steps = np.ones(self.capacity, dtype=np.float32)
        self.pos = 0
        self.size = 0
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.size

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays, in bytes."""
        arrays = [*self.obs.values(), *self.next_obs.values(), self.action, self.reward,
                  self.done, self.steps]
        return int(sum(a.nbytes for a in arrays))

    def _put(self, store: dict[str, np.ndarray], obs: Mapping[str, np.ndarray], i: int) -> None:
        if set(obs) != set(self.obs_shapes):
            raise ValueError(f"observation parts {sorted(obs)} != buffer parts "
                             f"{sorted(self.obs_shapes)}")
        for key, arr in store.items():
            value = np.asarray(obs[key])
            if value.shape != self.obs_shapes[key]:
                raise ValueError(f"part {key!r}: shape {value.shape} != {self.obs_shapes[key]}")
            if arr.dtype == np.uint8 and value.dtype != np.uint8:
                if value.min() < 0 or value.max() > 255:
                    raise ValueError(f"image part {key!r} has values outside [0, 255]")
                value = np.rint(value)
            if arr.dtype == np.uint8 and self.image_layout:
                value = patch_layout(value, self.image_layout)
            arr[i] = value

    def add(self, obs: Mapping[str, np.ndarray], action: np.ndarray, reward: float,
            next_obs: Mapping[str, np.ndarray], done: bool | float, steps: int = 1) -> None:
        """Store one transition, overwriting the oldest when full."""
        if int(steps) < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        i = self.pos
        self._put(self.obs, obs, i)
        self._put(self.next_obs, next_obs, i)
        action = np.asarray(action, dtype=np.float32).reshape(-1)
        if action.shape != (self.act_dim,):
            raise ValueError(f"action shape {action.shape} != ({self.act_dim},)")
        self.action[i] = action
        self.reward[i] = float(reward)
        self.done[i] = float(done)
        self.steps[i] = float(int(steps))
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, device: str | torch.device = "cpu") -> Batch:
        """Uniformly sample ``batch_size`` stored transitions (with replacement)."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = self.rng.integers(0, self.size, size=batch_size)

        def parts(store: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
            return {k: torch.as_tensor(v[idx], device=device) for k, v in store.items()}

        return Batch(obs=parts(self.obs),
                     action=torch.as_tensor(self.action[idx], device=device),
                     reward=torch.as_tensor(self.reward[idx], device=device),
                     next_obs=parts(self.next_obs),
                     done=torch.as_tensor(self.done[idx], device=device),
                     steps=torch.as_tensor(self.steps[idx], device=device))

    def state_dict(self) -> dict:
        """Contents (only the filled rows, as torch tensors), position and generator state."""
        n = self.size
        return {
            "capacity": self.capacity, "obs_shapes": dict(self.obs_shapes),
            "act_dim": self.act_dim, "image_layout": self.image_layout, "pos": self.pos,
            "size": n,
            "obs": {k: torch.from_numpy(v[:n].copy()) for k, v in self.obs.items()},
            "next_obs": {k: torch.from_numpy(v[:n].copy()) for k, v in self.next_obs.items()},
            "action": torch.from_numpy(self.action[:n].copy()),
            "reward": torch.from_numpy(self.reward[:n].copy()),
            "done": torch.from_numpy(self.done[:n].copy()),
            "steps": torch.from_numpy(self.steps[:n].copy()),
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned; the layout must match this buffer's,
        except that images saved in the image layout are re-ordered into this buffer's."""
        saved_layout = _layout(state.get("image_layout"))
        convert = saved_layout is None and self.image_layout is not None
        if (state["capacity"] != self.capacity or state["act_dim"] != self.act_dim
                or {k: tuple(v) for k, v in state["obs_shapes"].items()} != self.obs_shapes
                or (saved_layout != self.image_layout and not convert)):
            raise ValueError("replay buffer layout differs from the saved one: saved capacity "
                             f"{state['capacity']}, parts {state['obs_shapes']}, act_dim "
                             f"{state['act_dim']}, image layout {state.get('image_layout')}; "
                             f"this buffer: {self.capacity}, {self.obs_shapes}, "
                             f"{self.act_dim}, {self.image_layout}")
        n = int(state["size"])
        for key in self.obs:
            for store, saved in ((self.obs, state["obs"]), (self.next_obs, state["next_obs"])):
                values = saved[key].numpy()
                if convert and store[key].dtype == np.uint8:
                    values = patch_layout(values, self.image_layout)
                store[key][:n] = values
        self.action[:n] = state["action"].numpy()
        self.reward[:n] = state["reward"].numpy()
        self.done[:n] = state["done"].numpy()
        # buffers saved before n-step transitions existed hold one-decision transitions only
        self.steps[:n] = state["steps"].numpy() if "steps" in state else 1.0
        self.pos, self.size = int(state["pos"]), n
        self.rng.bit_generator.state = state["rng"]


def _layout(value) -> tuple[int, int] | None:
    """A saved ``image_layout`` (None, or a pair as a list or tuple) as a tuple."""
    return None if value is None else (int(value[0]), int(value[1]))
