"""Random-shift image augmentation (DrQ) and its use in the SAC updates."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from sacgmm.rl.augment import random_shift  # noqa: E402
from sacgmm.rl.replay import ReplayBuffer  # noqa: E402
from sacgmm.rl.sac import SACAgent, SACConfig  # noqa: E402


def shifted_reference(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``img`` (C, H, W) edge-padded and read at an offset (dy, dx) in pixels."""
    c, h, w = img.shape
    rows = np.clip(np.arange(h) + dy, 0, h - 1)
    cols = np.clip(np.arange(w) + dx, 0, w - 1)
    return img[:, rows][:, :, cols]


def test_each_image_is_an_edge_padded_shift_within_the_pad():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (40, 3, 16, 16), dtype=np.uint8)
    torch.manual_seed(1)
    out = random_shift(torch.as_tensor(imgs), 3).numpy()
    assert out.shape == imgs.shape and out.dtype == np.float32
    seen = set()
    for img, shifted in zip(imgs, out):
        matches = [(dy, dx) for dy in range(-3, 4) for dx in range(-3, 4)
                   if np.array_equal(shifted, shifted_reference(img, dy, dx))]
        assert matches, "an output is no shift of its input within 3 pixels"
        seen.add(matches[0])
    # images are shifted independently: 40 draws from 49 offsets are not all alike
    assert len(seen) > 10


def test_shift_zero_is_the_identity_and_draws_follow_the_torch_seed():
    imgs = torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8)
    assert torch.equal(random_shift(imgs, 0), imgs.float())
    torch.manual_seed(5)
    a = random_shift(imgs, 2)
    torch.manual_seed(5)
    b = random_shift(imgs, 2)
    assert torch.equal(a, b)


def test_bad_input_is_rejected_with_the_problem_named():
    with pytest.raises(ValueError, match="shape"):
        random_shift(torch.zeros(3, 8, 8), 2)
    with pytest.raises(ValueError, match=">= 0"):
        random_shift(torch.zeros(1, 3, 8, 8), -1)
    with pytest.raises(ValueError, match="image_shift"):
        SACAgent({"cam": (1, 16, 16)}, 2, SACConfig(hidden=(8,), image_shift=-2))


def small_image_agent(shift: int):
    torch.manual_seed(0)
    shapes = {"pos": (3,), "cam": (1, 32, 32)}
    config = SACConfig(hidden=(16,), latent_dim=4, encoder_channels=8, image_shift=shift)
    agent = SACAgent(shapes, 2, config)
    rb = ReplayBuffer(32, shapes, 2, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(32):
        o = {"pos": rng.normal(size=3), "cam": rng.integers(0, 256, (1, 32, 32), dtype=np.uint8)}
        o2 = {"pos": rng.normal(size=3), "cam": rng.integers(0, 256, (1, 32, 32), dtype=np.uint8)}
        rb.add(o, rng.uniform(-1, 1, 2), rng.normal(), o2, False)
    return agent, rb


def test_the_agent_shifts_images_only_and_trains_on_the_shifted_batch(monkeypatch):
    agent, rb = small_image_agent(shift=4)
    batch = rb.sample(16)
    aug = agent.augmented(batch)
    assert not torch.equal(aug.obs["cam"], batch.obs["cam"].float())
    assert not torch.equal(aug.next_obs["cam"], batch.next_obs["cam"].float())
    for name in ("action", "reward", "done"):
        assert torch.equal(getattr(aug, name), getattr(batch, name))
    assert torch.equal(aug.obs["pos"], batch.obs["pos"])
    # the critics' loss sees the shifted images, not the stored ones
    seen = {}
    original = agent.critic_losses

    def spy(b):
        seen["cam"] = b.obs["cam"].clone()
        return original(b)
    monkeypatch.setattr(agent, "critic_losses", spy)
    info = agent.update(batch)
    assert np.isfinite(info["critic_loss"])
    assert seen["cam"].shape == batch.obs["cam"].shape
    assert not torch.equal(seen["cam"], batch.obs["cam"].float())
    # without the option the batch goes through untouched
    plain, _ = small_image_agent(shift=0)
    assert plain.augmented(batch) is batch
