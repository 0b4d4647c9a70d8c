"""The convolutional autoencoder (SAC-AE) and the spatial softmax."""
import numpy as np
import pytest

import torch
torch.set_num_threads(1)   # 2-core machine: more threads only contend with other workers

from sacgmm.rl.encoder import ConvAutoencoder, ConvEncoder, SpatialSoftmax  # noqa: E402


def blob_images(n: int, channels: int, seed: int = 0) -> torch.Tensor:
    """``n`` uint8 images ``(n, C, 64, 64)``, each a Gaussian blob at a random place."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:64, 0:64]
    imgs = np.zeros((n, channels, 64, 64), np.uint8)
    for i in range(n):
        for c in range(channels):
            cy, cx = rng.uniform(12, 52, 2)
            imgs[i, c] = (255 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 6.0 ** 2))).astype(np.uint8)
    return torch.from_numpy(imgs)


@pytest.mark.parametrize("kind", ["conv", "patch", "spatial_softmax"])
def test_autoencoder_reduces_reconstruction_loss(kind):
    torch.manual_seed(0)
    imgs = blob_images(32, 2)
    ae = ConvAutoencoder(2, latent_dim=16, kind=kind)
    opt = torch.optim.Adam(ae.parameters(), lr=3e-3)
    with torch.no_grad():
        initial = ae.loss(imgs)[1]["recon"].item()
    for _ in range(200):
        loss, _ = ae.loss(imgs)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        final = ae.loss(imgs)[1]["recon"].item()
    # the mean image alone explains part of the variance; learning must go well beyond that
    target = (imgs.float() / 255 - 0.5)
    mean_only = ((target - target.mean(0, keepdim=True)) ** 2).mean().item()
    assert final < 0.5 * initial
    assert final < mean_only, (final, mean_only)


def test_latent_shape_range_and_l2_penalty():
    ae = ConvAutoencoder(1, latent_dim=8, lambda_z=0.5)
    imgs = blob_images(4, 1)
    z = ae(imgs)
    assert z.shape == (4, 8) and torch.all(z.abs() < 1)
    loss, info = ae.loss(imgs)
    assert torch.isclose(loss, info["recon"] + 0.5 * (z ** 2).sum(-1).mean())
    with pytest.raises(ValueError, match="expected images"):
        ae(torch.zeros(2, 3, 64, 64, dtype=torch.uint8))


def test_spatial_softmax_rows_give_y_columns_give_x():
    # non-square map: 5 rows x 9 columns; a sharp peak at row 1, column 7
    ss = SpatialSoftmax(5, 9)
    feat = torch.full((1, 1, 5, 9), -50.0)
    feat[0, 0, 1, 7] = 50.0
    x, y = ss(feat)[0]
    assert x.item() == pytest.approx(-1 + 2 * 7 / 8, abs=1e-4)   # column 7 of 0..8
    assert y.item() == pytest.approx(-1 + 2 * 1 / 4, abs=1e-4)   # row 1 of 0..4


def test_encoder_accepts_uint8_and_float_on_the_same_scale():
    enc = ConvEncoder(3, latent_dim=10)
    imgs = blob_images(2, 3)
    assert torch.allclose(enc(imgs), enc(imgs.float()))


def test_patch_encoder_layers_equal_strided_convolutions_and_patchify_round_trips():
    from sacgmm.rl.encoder import patchify, unpatchify
    torch.manual_seed(0)
    img = torch.randint(0, 256, (3, 2, 64, 64), dtype=torch.uint8)
    assert torch.equal(unpatchify(patchify(img), 2), img)
    enc = ConvEncoder(2, latent_dim=8, channels=16)
    conv1 = torch.nn.Conv2d(2, 8, 4, 4)
    conv1.weight.data = enc.conv1.weight.data.reshape(8, 2, 4, 4).clone()
    conv1.bias.data = enc.conv1.bias.data.clone()
    conv2 = torch.nn.Conv2d(8, 16, 2, 2)
    # conv2's input features are ordered (sub-row, sub-col, channel)
    conv2.weight.data = enc.conv2.weight.data.reshape(16, 2, 2, 8).permute(0, 3, 1, 2).clone()
    conv2.bias.data = enc.conv2.bias.data.clone()
    x = img.float() / 255 - 0.5
    ref = torch.relu(conv2(torch.relu(conv1(x))))                     # (3, 16, 8, 8)
    ours = torch.relu(enc.conv2(torch.relu(enc.conv1(patchify(img).float() / 255 - 0.5)).flatten(3)))
    assert torch.allclose(ours.permute(0, 3, 1, 2), ref, atol=1e-5)
    ae = ConvAutoencoder(2, latent_dim=8)
    rec = ae.reconstruct(img)
    assert rec.shape == img.shape and rec.min() >= 0 and rec.max() <= 255


def test_patch_kind_is_an_8x8_stride_8_convolution_with_the_normalisation_folded_in():
    from sacgmm.rl.encoder import patchify, unpatchify
    torch.manual_seed(0)
    img = torch.randint(0, 256, (3, 2, 64, 64), dtype=torch.uint8)
    enc = ConvEncoder(2, latent_dim=8, kind="patch", channels=16)
    conv = torch.nn.Conv2d(2, 16, 8, 8)
    conv.weight.data = enc.conv1.weight.data.reshape(16, 2, 8, 8).clone()
    conv.bias.data = enc.conv1.bias.data.clone()
    ref = torch.relu(conv(img.float() / 255 - 0.5))                  # (3, 16, 8, 8)
    z_ref = torch.tanh(enc.head(ref.permute(0, 2, 3, 1).flatten(1)))
    assert torch.allclose(enc(img), z_ref, atol=1e-5)
    # the same latent from images already in the patch layout (a replay buffer's)
    patches = patchify(img, 1, 8)
    assert patches.shape == (3, 8, 8, 1, 128)
    assert torch.allclose(enc(patches), enc(img), atol=1e-6)
    assert torch.equal(unpatchify(patches, 2, 1, 8), img)
    with pytest.raises(ValueError, match="expected patches"):
        enc(torch.zeros(3, 8, 8, 1, 64, dtype=torch.uint8))
    conv = ConvEncoder(2, latent_dim=8, kind="conv", channels=16)
    assert conv.layout == (2, 4)
    assert torch.allclose(conv(patchify(img, 2, 4)), conv(img), atol=1e-6)
    # the decoder reconstructs the normalised image in the same layout
    ae = ConvAutoencoder(2, latent_dim=8, kind="patch")
    prepared = ae.encoder.prepare(img)
    assert ae.decoder(ae.encoder.encode_prepared(prepared)).shape == prepared.shape
    assert torch.allclose(ae.encoder.reconstruction_target(prepared),
                          patches.float() / 255 - 0.5)
    rec = ae.reconstruct(img)
    assert rec.shape == img.shape and rec.min() >= 0 and rec.max() <= 255


@pytest.mark.parametrize("kind", ["conv", "patch", "spatial_softmax"])
def test_loss_from_prepared_images_equals_loss_from_images(kind):
    torch.manual_seed(0)
    ae = ConvAutoencoder(1, latent_dim=8, kind=kind, lambda_z=0.1)
    img = blob_images(4, 1)
    prepared = ae.encoder.prepare(img)
    z = ae.encoder.encode_prepared(prepared)
    a, _ = ae.loss(img)
    b, _ = ae.loss(img, z, prepared)
    assert torch.allclose(a, b)
    # normalising never writes into the caller's float images
    floats = img.float()
    ConvEncoder(1, latent_dim=8, kind=kind)(floats)
    assert torch.equal(floats, img.float())
