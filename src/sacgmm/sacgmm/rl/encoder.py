"""Convolutional autoencoder for square sensor images (SAC-AE style).

Images are ``(B, C, H, W)`` with ``H == W == image_size`` (64 by default, divisible by 8) and
``C`` channels: 1 for depth, 3 for RGB, or stacked sensors (two tactile images -> 2). They are
given as ``uint8`` in ``[0, 255]`` (or floats on the same scale) and normalised inside to
``x / 255 - 0.5``; the decoder reconstructs that normalised image, in the patch layout of
:func:`patchify` that the encoder reads (the loss is a mean over pixels, so the layout does
not change it).

The encoder maps an image to a latent ``z`` of ``latent_dim`` features (e.g. 8-50). Its loss is
``MSE(decoder(z), x) + lambda_z * mean_b |z_b|^2`` (the L2 penalty on the latent of SAC-AE and
of the SAC-GMM paper). Three encoder bodies:

- ``"conv"`` (default): 4x4 stride-4 and 2x2 stride-2 convolutions (kernel = stride, computed
  as matrix products on a patch layout) -> linear -> LayerNorm -> tanh (``z`` in (-1, 1)).
- ``"patch"``: one 8x8 stride-8 convolution (a patch embedding, as in vision transformers)
  -> linear -> LayerNorm -> tanh; its decoder mirrors it. Without the 1/4-resolution layer
  of ``"conv"`` an update touches about half as much memory, which is what bounds the
  autoencoder step on a CPU (``sacgmm bench-rl``).
- ``"spatial_softmax"``: 8x8 stride-4 and 4x4 stride-2 convolutions -> spatial softmax
  (expected image coordinates of each feature map, in [-1, 1]) -> linear -> tanh.
  As in the authors' tactile encoder; the y-coordinate grid here is built from the rows.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def normalize_image(img: torch.Tensor) -> torch.Tensor:
    """``uint8``/float image on the 0-255 scale -> float32 ``img / 255 - 0.5``, same shape.

    One new tensor, normalised in place (a uint8 input is never modified; a float32 input
    is copied first).
    """
    out = img.to(torch.float32, copy=True)
    return out.div_(255.0).sub_(0.5)


class SpatialSoftmax(nn.Module):
    """Feature maps ``(B, C, H, W)`` -> expected keypoints ``(B, 2C)`` as ``(x_1..x_C, y_1..y_C)``.

    ``x`` is the expected column coordinate and ``y`` the expected row coordinate, both in
    ``[-1, 1]`` (left/top = -1). A learnable temperature scales the logits.
    """

    def __init__(self, height: int, width: int):
        super().__init__()
        ys = torch.linspace(-1.0, 1.0, height)   # one value per row
        xs = torch.linspace(-1.0, 1.0, width)    # one value per column
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        self.register_buffer("grid_x", grid_x.reshape(1, 1, -1))
        self.register_buffer("grid_y", grid_y.reshape(1, 1, -1))
        self.log_temperature = nn.Parameter(torch.zeros(()))

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        b, c, h, w = feat.shape
        p = torch.softmax(feat.reshape(b, c, h * w) / torch.exp(self.log_temperature), dim=-1)
        x = (p * self.grid_x).sum(-1)
        y = (p * self.grid_y).sum(-1)
        return torch.cat([x, y], dim=-1)


def patch_grid(kind: str) -> tuple[int, int]:
    """``(cell, patch)`` of the :func:`patchify` layout of encoder/decoder ``kind`` (its
    decoder's output layout for ``"spatial_softmax"``)."""
    return (1, 8) if kind == "patch" else (2, 4)


def patchify(img: torch.Tensor, cell: int = 2, patch: int = 4,
             dtype: torch.dtype | None = None) -> torch.Tensor:
    """Images ``(B, C, S, S)`` -> patches ``(B, n, n, cell * cell, C * patch * patch)``.

    ``n = S / (cell * patch)``: the image is cut into ``n x n`` cells of ``cell x cell``
    patches of ``patch x patch`` pixels. Pure re-indexing (works on uint8; one copy), and
    with ``dtype`` the conversion happens in the same copy.
    """
    b, c, h, w = img.shape
    k = cell * patch
    if h != w or h % k:
        raise ValueError(f"image size {h}x{w} is not square or not divisible by {k}")
    n = h // k
    x = img.reshape(b, c, n, cell, patch, n, cell, patch).permute(0, 2, 5, 3, 6, 1, 4, 7)
    if dtype is not None and dtype != img.dtype:
        out = torch.empty((b, n, n, cell, cell, c, patch, patch), dtype=dtype,
                          device=img.device)
        x = out.copy_(x)
    return x.reshape(b, n, n, cell * cell, c * patch * patch)


def unpatchify(x: torch.Tensor, channels: int, cell: int = 2, patch: int = 4) -> torch.Tensor:
    """Inverse of :func:`patchify`: ``(B, n, n, cell^2, C patch^2)`` -> ``(B, C, S, S)``."""
    b, n = x.shape[0], x.shape[1]
    x = x.reshape(b, n, n, cell, cell, channels, patch, patch).permute(0, 5, 1, 3, 6, 2, 4, 7)
    s = n * cell * patch
    return x.reshape(b, channels, s, s)


class ConvEncoder(nn.Module):
    """Image ``(B, C, S, S)`` (0-255 scale) -> latent ``(B, latent_dim)`` in ``(-1, 1)``.

    ``"conv"`` body, sized for a 2-core CPU where oneDNN convolutions on 256 few-channel
    64x64 images are slow and erratic: a 4x4 stride-4 convolution (-> S/4, ``channels / 2``
    maps) and a 2x2 stride-2 convolution (-> S/8, ``channels`` maps). With kernel = stride
    these are matrix products on the :func:`patchify` layout, with no copy between layers.
    Each latent sees the whole image through the linear head.
    """

    def __init__(self, in_channels: int, latent_dim: int = 50, image_size: int = 64,
                 kind: str = "conv", channels: int = 32):
        super().__init__()
        if image_size % 8:
            raise ValueError(f"image_size must be divisible by 8, got {image_size}")
        self.in_channels, self.latent_dim, self.image_size, self.kind = (
            in_channels, latent_dim, image_size, kind)
        c = channels
        # the patch layout of the input (kind "spatial_softmax": of the reconstruction only)
        self.cell, self.patch = patch_grid(kind)
        if kind == "patch":
            self.conv1 = nn.Linear(in_channels * 64, c)          # 8x8 stride 8
            feat = c * (image_size // 8) ** 2
            self.head = nn.Sequential(nn.Linear(feat, latent_dim), nn.LayerNorm(latent_dim))
        elif kind == "conv":
            self.conv1 = nn.Linear(in_channels * 16, c // 2)     # 4x4 stride 4
            self.conv2 = nn.Linear(4 * (c // 2), c)              # 2x2 stride 2
            feat = c * (image_size // 8) ** 2
            self.head = nn.Sequential(nn.Linear(feat, latent_dim), nn.LayerNorm(latent_dim))
        elif kind == "spatial_softmax":
            s1 = (image_size - 8) // 4 + 1
            s2 = (s1 - 4) // 2 + 1
            self.body = nn.Sequential(
                nn.Conv2d(in_channels, c // 2, 8, 4), nn.ReLU(),
                nn.Conv2d(c // 2, c, 4, 2), SpatialSoftmax(s2, s2))
            self.head = nn.Linear(2 * c, latent_dim)
        else:
            raise ValueError(f"unknown encoder kind {kind!r}; use 'conv', 'patch' or "
                             "'spatial_softmax'")

    @property
    def layout(self) -> tuple[int, int] | None:
        """``(cell, patch)`` of the :func:`patchify` layout this encoder reads (a replay buffer
        may store images in it, ``ReplayBuffer(image_layout=...)``); None: the image layout."""
        return None if self.kind == "spatial_softmax" else (self.cell, self.patch)

    def prepare(self, img: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, S, S)`` on the 0-255 scale, or for ``"conv"`` and ``"patch"`` the
        same already in :attr:`layout` (``(B, n, n, cell^2, C patch^2)``, as a replay buffer
        with that layout stores them) -> this encoder's input as float32.

        ``"conv"`` and ``"patch"``: the 0-255 values in :attr:`layout` (the first layer folds
        the normalisation ``x / 255 - 0.5`` into its weights, which saves two passes over the
        images); ``"spatial_softmax"``: the normalised image. An update that encodes the same
        images more than once (encoder, reconstruction target) prepares them once and passes
        the result to :meth:`encode_prepared` and :meth:`reconstruction_target`.
        """
        layout = self.layout
        if layout is not None and img.dim() == 5:       # already in the patch layout
            cell, patch = layout
            n = self.image_size // (cell * patch)
            shape = (n, n, cell * cell, self.in_channels * patch * patch)
            if tuple(img.shape[1:]) != shape:
                raise ValueError(f"expected patches (B, {', '.join(map(str, shape))}), got "
                                 f"{tuple(img.shape)}")
            return img.to(torch.float32)
        if img.dim() != 4 or img.shape[1:] != (self.in_channels, self.image_size, self.image_size):
            raise ValueError(f"expected images (B, {self.in_channels}, {self.image_size}, "
                             f"{self.image_size}), got {tuple(img.shape)}")
        if layout is None:
            return normalize_image(img)
        return patchify(img, self.cell, self.patch, torch.float32)

    def _first_layer(self, x: torch.Tensor) -> torch.Tensor:
        """``relu(conv1(x / 255 - 0.5))`` for 0-255 inputs, without a pass to normalise them."""
        w = self.conv1.weight
        bias = self.conv1.bias - 0.5 * w.sum(dim=1)
        return F.relu(F.linear(x, w * (1.0 / 255.0), bias))

    def encode_prepared(self, x: torch.Tensor) -> torch.Tensor:
        """The latent ``(B, latent_dim)`` of images already passed through :meth:`prepare`."""
        if self.kind == "patch":                                 # x: (B, n, n, 1, C*64)
            x = self._first_layer(x)                             # (B, n, n, 1, c)
            return torch.tanh(self.head(x.flatten(1)))
        if self.kind == "conv":                                  # x: (B, n, n, 4, C*16)
            x = self._first_layer(x)                             # (B, n, n, 4, c/2)
            x = F.relu(self.conv2(x.flatten(3)))                 # (B, n, n, c)
            return torch.tanh(self.head(x.flatten(1)))
        return torch.tanh(self.head(self.body(x)))

    def reconstruction_target(self, x: torch.Tensor) -> torch.Tensor:
        """The decoder's target, the normalised image in the :func:`patchify` layout of the
        decoder, from :meth:`prepare`'s output ``x`` (a new tensor for ``"conv"`` and
        ``"patch"``; pass only the images the reconstruction loss uses)."""
        if self.kind == "spatial_softmax":
            return patchify(x)
        return normalize_image(x)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.encode_prepared(self.prepare(img))


class ConvDecoder(nn.Module):
    """Latent ``(B, latent_dim)`` -> reconstruction of the normalised image in the
    :func:`patchify` layout its encoder reads: ``(B, n, n, 4, C * 16)`` (``kind`` "conv" and
    "spatial_softmax") or ``(B, n, n, 1, C * 64)`` ("patch"); :func:`unpatchify` with
    ``cell``/``patch`` gives the image.

    Mirror of the encoder: linear -> ``(n, n, channels)`` -> 2x2 stride-2 and 4x4 stride-4
    transposed convolutions, or one 8x8 stride-8 one for "patch" (kernel = stride, as
    matrix products).
    """

    def __init__(self, out_channels: int, latent_dim: int = 50, image_size: int = 64,
                 channels: int = 32, kind: str = "conv"):
        super().__init__()
        c = channels
        self.n = image_size // 8
        self.out_channels = out_channels
        self.cell, self.patch = patch_grid(kind)
        self.fc = nn.Linear(latent_dim, c * self.n ** 2)
        if kind == "patch":
            self.deconv1 = None
            self.deconv2 = nn.Linear(c, out_channels * 64)       # 8x8 stride 8
        else:
            self.deconv1 = nn.Linear(c, 4 * (c // 2))            # 2x2 stride 2
            self.deconv2 = nn.Linear(c // 2, out_channels * 16)  # 4x4 stride 4
        self._c = c

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b, n = z.shape[0], self.n
        if self.deconv1 is None:
            x = F.relu(self.fc(z)).reshape(b, n, n, 1, self._c)
            return self.deconv2(x)
        x = F.relu(self.fc(z)).reshape(b, n, n, self._c)
        x = F.relu(self.deconv1(x)).reshape(b, n, n, 4, self._c // 2)
        return self.deconv2(x)


class ConvAutoencoder(nn.Module):
    """Encoder + decoder for one sensor; ``loss(img)`` is the SAC-AE reconstruction objective."""

    def __init__(self, in_channels: int, latent_dim: int = 50, image_size: int = 64,
                 kind: str = "conv", channels: int = 32, lambda_z: float = 1e-6):
        super().__init__()
        self.lambda_z = lambda_z
        self.encoder = ConvEncoder(in_channels, latent_dim, image_size, kind, channels)
        self.decoder = ConvDecoder(in_channels, latent_dim, image_size, channels,
                                   "patch" if kind == "patch" else "conv")

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """The latent ``(B, latent_dim)`` of ``img``."""
        return self.encoder(img)

    def reconstruct(self, img: torch.Tensor) -> torch.Tensor:
        """Reconstructed images ``(B, C, S, S)`` on the 0-255 scale (for inspection)."""
        rec = unpatchify(self.decoder(self.encoder(img)), self.decoder.out_channels,
                         self.decoder.cell, self.decoder.patch)
        return ((rec + 0.5) * 255.0).clamp(0.0, 255.0)

    def loss(self, img: torch.Tensor, z: torch.Tensor | None = None,
             prepared: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        """Reconstruction MSE (per pixel) + ``lambda_z`` * mean squared latent norm.

        ``z`` may be passed when it was already computed from ``img`` (to share the forward
        pass with the critic), and ``prepared``, ``encoder.prepare(img)``, when it was already
        computed (``img`` is then not read). Returns ``(loss, {"recon": float,
        "latent_l2": float})``.
        """
        if prepared is None:
            prepared = self.encoder.prepare(img)
        if z is None:
            z = self.encoder.encode_prepared(prepared)
        recon = F.mse_loss(self.decoder(z), self.encoder.reconstruction_target(prepared))
        l2 = z.pow(2).sum(-1).mean()
        return recon + self.lambda_z * l2, {"recon": recon.detach(), "latent_l2": l2.detach()}
