"""Random-shift image augmentation for the SAC updates (DrQ, Kostrikov et al. 2020).

Each image of a batch is padded by ``pad`` pixels on every side (edge pixels repeated) and
cropped back to its size at a random offset in ``[0, 2 pad]`` per axis, independently per
image. Applied to the observations (and next observations) the critics and autoencoders are
trained on, it regularises the encoder: the value of a state must not hinge on the exact pixel
where an edge falls, which matters when a few hundred successful transitions are all the
critic has to fit (see ``SACConfig.image_shift``). Offsets come from torch's global generator,
which training checkpoints save, so a resumed run draws the same shifts.
"""
from __future__ import annotations

import torch


def random_shift(images: torch.Tensor, pad: int,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Randomly shifted copies of ``images`` ``(B, C, S, S)`` (any dtype; returned as float32
    on the same 0-255 scale), each by up to ``pad`` pixels along each image axis.

    ``pad = 0`` returns the images unchanged (as float32).
    """
    if images.ndim != 4:
        raise ValueError(f"random_shift expects images (B, C, H, W), got shape "
                         f"{tuple(images.shape)}")
    pad = int(pad)
    if pad < 0:
        raise ValueError(f"the shift must be >= 0 pixels, got {pad}")
    if pad == 0:
        return images.to(torch.float32)
    b, c, h, w = images.shape
    # cropping the edge-padded image at offset o is reading the image at o - pad + i, clamped
    # to the image (edge replication), so no padded copy is needed
    off = torch.randint(-pad, pad + 1, (b, 2), generator=generator, device=images.device)
    rows = (off[:, 0:1] + torch.arange(h, device=images.device)).clamp_(0, h - 1)   # (B, H)
    cols = (off[:, 1:2] + torch.arange(w, device=images.device)).clamp_(0, w - 1)   # (B, W)
    flat = (rows[:, :, None] * w + cols[:, None, :]).reshape(b, 1, h * w).expand(b, c, h * w)
    out = torch.gather(images.reshape(b, c, h * w), 2, flat)
    return out.reshape(b, c, h, w).to(torch.float32)
