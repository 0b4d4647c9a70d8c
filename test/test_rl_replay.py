"""The replay buffer: compact uint8 images, ring overwrite, sampling and save/load."""
import numpy as np
import pytest

import torch
torch.set_num_threads(1)   # 2-core machine: more threads only contend with other workers

from sacgmm.rl.replay import ReplayBuffer  # noqa: E402

SHAPES = {"pos": (3,), "tactile": (2, 64, 64)}


def obs(i: int) -> dict:
    return {"pos": np.full(3, i, np.float64),
            "tactile": np.full((2, 64, 64), i % 256, np.uint8)}


def test_images_are_uint8_and_transitions_round_trip():
    rb = ReplayBuffer(8, SHAPES, 2, seed=0)
    assert rb.obs["tactile"].dtype == np.uint8 and rb.obs["pos"].dtype == np.float32
    # 8 slots of (2x64x64 uint8) x2 + small vectors: well under float32 storage
    assert rb.nbytes < 8 * 2 * (2 * 64 * 64 + 16) + 8 * 16
    for i in range(5):
        rb.add(obs(i), np.array([0.1 * i, -0.1 * i]), float(i), obs(i + 1), i == 4)
    assert len(rb) == 5
    b = rb.sample(64)
    assert b.obs["tactile"].dtype == torch.uint8 and b.obs["tactile"].shape == (64, 2, 64, 64)
    assert b.obs["pos"].dtype == torch.float32 and b.action.shape == (64, 2)
    i = b.obs["pos"][:, 0].long()   # the transition index is stored in the observation
    assert torch.all(b.next_obs["pos"][:, 0] == i + 1)
    assert torch.all(b.obs["tactile"][:, 0, 0, 0] == i)
    assert torch.allclose(b.reward, i.float())
    assert torch.allclose(b.action[:, 0], 0.1 * i.float())
    assert torch.all(b.done == (i == 4).float())


def test_ring_overwrites_oldest_and_rejects_bad_input():
    rb = ReplayBuffer(4, SHAPES, 1, seed=0)
    for i in range(10):
        rb.add(obs(i), [0.0], 0.0, obs(i), False)
    assert len(rb) == 4 and sorted(rb.obs["pos"][:, 0]) == [6, 7, 8, 9]
    with pytest.raises(ValueError, match="shape"):
        rb.add({"pos": np.zeros(4), "tactile": obs(0)["tactile"]}, [0.0], 0, obs(0), False)
    with pytest.raises(ValueError, match="outside"):
        rb.add({"pos": np.zeros(3), "tactile": np.full((2, 64, 64), 300.0)}, [0.0], 0, obs(0), False)
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(4, SHAPES, 1).sample(2)


def test_state_dict_round_trip_reproduces_future_samples():
    rb = ReplayBuffer(16, SHAPES, 1, seed=3)
    for i in range(20):
        rb.add(obs(i), [i / 20], i, obs(i + 1), False)
    rb.sample(4)
    state = rb.state_dict()
    rb2 = ReplayBuffer(16, SHAPES, 1, seed=99)
    rb2.load_state_dict(state)
    assert rb2.pos == rb.pos and len(rb2) == len(rb)
    b1, b2 = rb.sample(32), rb2.sample(32)
    assert torch.equal(b1.obs["tactile"], b2.obs["tactile"]) and torch.equal(b1.reward, b2.reward)
    with pytest.raises(ValueError, match="layout"):
        ReplayBuffer(8, SHAPES, 1).load_state_dict(state)


def test_steps_are_stored_sampled_and_saved_and_old_buffers_load_as_one_step():
    rb = ReplayBuffer(8, SHAPES, 1, seed=0)
    for i in range(6):
        rb.add(obs(i), [0.0], 0.0, obs(i + 1), False, steps=1 + i % 3)
    b = rb.sample(64)
    i = b.obs["pos"][:, 0].long()
    assert torch.all(b.steps == (1 + i % 3).float())
    with pytest.raises(ValueError, match="steps"):
        rb.add(obs(0), [0.0], 0.0, obs(1), False, steps=0)
    state = rb.state_dict()
    again = ReplayBuffer(8, SHAPES, 1, seed=0)
    again.load_state_dict(state)
    assert np.array_equal(again.steps[:6], rb.steps[:6])
    del state["steps"]                       # a buffer saved before n-step transitions
    old = ReplayBuffer(8, SHAPES, 1, seed=0)
    old.load_state_dict(state)
    assert np.all(old.steps[:6] == 1.0)


def test_concat_batches_keeps_order_parts_and_steps():
    from sacgmm.rl.replay import Batch, concat_batches

    def batch(n, value, steps=None):
        obs = {"x": torch.full((n, 2), value), "img": torch.zeros(n, 1, 4, 4, dtype=torch.uint8)}
        return Batch(obs, torch.full((n, 1), value), torch.full((n,), value), obs,
                     torch.zeros(n), steps)

    both = concat_batches(batch(3, 1.0), batch(2, 2.0, torch.full((2,), 5.0)))
    assert both.obs["x"].shape == (5, 2) and both.obs["img"].dtype == torch.uint8
    assert both.reward.tolist() == [1, 1, 1, 2, 2]
    assert both.steps.tolist() == [1, 1, 1, 5, 5]      # one-step transitions count as 1
    assert concat_batches(batch(1, 0.0), batch(1, 0.0)).steps is None
    other = batch(1, 0.0)
    other.obs = {"y": other.obs["x"]}
    with pytest.raises(ValueError, match="observation parts"):
        concat_batches(batch(1, 0.0), other)


def test_patch_layout_buffer_stores_what_the_patch_encoder_reads_and_checks_its_layout():
    import torch
    from sacgmm.rl.encoder import patchify
    from sacgmm.rl.replay import patch_layout
    rng = np.random.default_rng(0)
    shapes = {"pos": (3,), "tactile": (2, 64, 64)}
    rb = ReplayBuffer(8, shapes, 1, seed=0, image_layout=(1, 8))
    imgs = rng.integers(0, 256, (8, 2, 64, 64), dtype=np.uint8)
    for i in range(8):
        rb.add({"pos": np.zeros(3), "tactile": imgs[i]}, [0.0], 0.0,
               {"pos": np.ones(3), "tactile": imgs[(i + 1) % 8]}, False)
    expected = patchify(torch.from_numpy(imgs), 1, 8).numpy()
    assert np.array_equal(rb.obs["tactile"], expected)
    assert np.array_equal(patch_layout(imgs[3], (1, 8)), expected[3])
    assert np.array_equal(patch_layout(imgs[3], (2, 4)),
                          patchify(torch.from_numpy(imgs[3:4]), 2, 4).numpy()[0])
    batch = rb.sample(5)
    assert batch.obs["tactile"].shape == (5, 8, 8, 1, 128)
    assert batch.obs["tactile"].dtype == torch.uint8
    # a buffer saved in one layout does not load into the other
    plain = ReplayBuffer(8, shapes, 1, seed=0)
    with pytest.raises(ValueError, match=r"image layout \(1, 8\)"):
        plain.load_state_dict(rb.state_dict())
    # a buffer saved in the image layout (e.g. before layouts existed) is re-ordered on load
    as_images = ReplayBuffer(8, shapes, 1, seed=0)
    for i in range(8):
        as_images.add({"pos": np.zeros(3), "tactile": imgs[i]}, [0.0], 0.0,
                      {"pos": np.ones(3), "tactile": imgs[(i + 1) % 8]}, False)
    converted = ReplayBuffer(8, shapes, 1, seed=0, image_layout=(1, 8))
    converted.load_state_dict(as_images.state_dict())
    assert np.array_equal(converted.obs["tactile"], rb.obs["tactile"])
    again = ReplayBuffer(8, shapes, 1, seed=0, image_layout=(1, 8))
    again.load_state_dict(rb.state_dict())
    assert np.array_equal(again.next_obs["tactile"], rb.next_obs["tactile"])
