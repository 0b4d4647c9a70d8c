"""Atomic, resumable checkpoints of a SAC training run.

A checkpoint is one ``torch.save`` file holding the agent (networks, target networks,
optimizer states, temperature, update counter), optionally the replay buffer, the global RNG
states (python ``random``, ``numpy.random``, ``torch``) and caller-defined counters/extras
(e.g. environment steps, episode number, the environment's generator state). Restoring all of
it and continuing gives the same subsequent updates as never stopping (tested bit-exact on CPU).

Files are written with :func:`sacgmm.fileio.atomic_write_bytes`, so a crash never leaves a
truncated checkpoint; loading a corrupt or truncated file raises :class:`CheckpointError`
naming the file. Files are loaded with ``weights_only=True`` (no arbitrary code execution).
"""
from __future__ import annotations

import io
import os
import random
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from sacgmm.fileio import atomic_write_bytes

FORMAT = "sacgmm-sac-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, truncated or of another format."""


def capture_rng_state() -> dict:
    """The global RNG states of python ``random``, ``numpy.random`` and ``torch`` (CPU)."""
    py = random.getstate()
    kind, key, pos, has_gauss, cached = np.random.get_state(legacy=True)
    return {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": [kind, key.tolist(), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }


def restore_rng_state(state: Mapping) -> None:
    """Inverse of :func:`capture_rng_state`."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, key, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(key, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])


def save_checkpoint(path: str | os.PathLike, agent, replay=None,
                    extra: Mapping[str, Any] | None = None, rng: bool = True) -> Path:
    """Write ``agent`` (a :class:`~sacgmm.rl.sac.SACAgent` or anything with ``state_dict``),
    ``replay`` (a :class:`~sacgmm.rl.replay.ReplayBuffer` or None), the RNG states and
    ``extra`` atomically to ``path``. ``extra`` may hold python scalars, strings, lists,
    dicts, tensors and numpy ``Generator.bit_generator.state`` dicts -- not numpy arrays
    (the file is read back with ``weights_only=True``)."""
    payload = {
        "format": FORMAT, "version": VERSION,
        "agent": agent.state_dict(),
        "replay": replay.state_dict() if replay is not None else None,
        "rng": capture_rng_state() if rng else None,
        "extra": dict(extra or {}),
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    return atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` and return its payload dict
    (keys ``agent``, ``replay``, ``rng``, ``extra``). Raises :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # zip/pickle/EOF errors all mean the same to the user
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated and cannot be read "
                              f"({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a sacgmm SAC checkpoint")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path} has version {payload.get('version')}, "
                              f"this code reads version {VERSION}")
    return payload


def restore_checkpoint(path: str | os.PathLike, agent, replay=None, rng: bool = True) -> dict:
    """Load ``path`` into ``agent`` (and ``replay``; and the global RNGs when ``rng``).

    Returns the ``extra`` dict that was saved. The agent's layout must match.
    """
    payload = load_checkpoint(path)
    agent.load_state_dict(payload["agent"])
    if replay is not None:
        if payload["replay"] is None:
            raise CheckpointError(f"checkpoint {path} holds no replay buffer")
        replay.load_state_dict(payload["replay"])
    if rng and payload["rng"] is not None:
        restore_rng_state(payload["rng"])
    return payload["extra"]
