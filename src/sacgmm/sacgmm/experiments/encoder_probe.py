"""Does an agent's image encoder keep what its sensor shows?

On peg insertion under perception noise the peg lands beside the hole, and the side on which
the board bears shows in the fingertip images (the gel's markers, :mod:`sacgmm.sim.probe`). A
policy can only use that if the SAC agent's latent code of the images carries it too. This
probe presses the held peg onto the board in ``n`` random directions at random distances from
the hole (no noise, no learning), keeps each press's last pair of images, and asks how well a
linear map recovers the press's direction (the unit vector ``(cos a, sin a)`` in the target
frame's xy plane) from

- the images' pixels (what the sensor shows), and
- each checkpoint's latent code of the same images (what its agent sees),

scored by cross-validated ridge regression on standardised features (``folds`` folds, the ridge
penalty chosen inside each fold): the median angle between the true and the predicted
direction (deg; 90 is chance) and the R^2 of the two components pooled. A latent far behind the pixels has lost the information.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

#: m from the hole's axis: the presses land at uniform distances in this range (beyond the
#: 3 mm clearance, up to 3 standard deviations of the 1 cm per-axis perception noise)
OFFSETS = (0.005, 0.03)
#: m/s: the press's descent (fast enough to reach the board well within the press's steps)
SPEED = 0.06


def random_presses(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` presses in uniformly random directions at distances uniform in :data:`OFFSETS`:
    ``(images (n, 2, 64, 64) uint8, angles (n,) rad)``, the images at each press's end."""
    from sacgmm.sim import make_env
    from sacgmm.sim.probe import press

    if n < 2:
        raise ValueError(f"the probe needs at least 2 presses, got {n}")
    rng = np.random.default_rng(seed)
    angles = rng.uniform(0.0, 2 * np.pi, n)
    offsets = rng.uniform(*OFFSETS, n)
    env = make_env("peg", sensor=True, noise=False)
    try:
        images = np.stack([press(env, float(a), float(r), speed=SPEED, max_steps=90,
                                 seed=seed + i).images[-1]
                           for i, (a, r) in enumerate(zip(angles, offsets))])
    finally:
        env.close()
    return images, angles


def check_folds(presses: int, folds: int) -> None:
    """``ValueError`` unless there are at least 2 folds and 2 presses per fold."""
    if presses < 2 * folds or folds < 2:
        raise ValueError(f"{presses} presses for {folds} folds: at least 2 folds and 2 "
                         "presses per fold are needed")


def direction_error(features: np.ndarray, angles: np.ndarray, folds: int = 6) -> dict:
    """How well ridge regression on ``features`` ``(n, F)`` recovers ``(cos, sin)`` of
    ``angles`` ``(n,)`` (rad) under ``folds``-fold cross-validation: ``{"median_angle_error_deg",
    "r2"}`` (R^2 pooled over the two components). ``ValueError`` when the rows do not match
    the angles or there are fewer than 2 presses per fold."""
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    angles = np.asarray(angles, dtype=np.float64)
    x = np.asarray(features, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or len(x) != len(angles):
        raise ValueError(f"features {x.shape}: expected one row per angle ({len(angles)})")
    check_folds(len(angles), folds)
    y = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 6, 19)))
    pred = cross_val_predict(model, x, y, cv=KFold(folds, shuffle=True, random_state=0))
    err = np.angle(np.exp(1j * (np.arctan2(pred[:, 1], pred[:, 0]) - angles)))
    r2 = 1.0 - float(((pred - y) ** 2).sum()) / float(((y - y.mean(0)) ** 2).sum())
    return {"median_angle_error_deg": round(float(np.degrees(np.median(np.abs(err)))), 1),
            "r2": round(r2, 3)}


def encoder_agent(path: str | Path):
    """The SAC agent of checkpoint ``path``. Raises ``ValueError`` naming the checkpoint when
    it cannot be read or its agent has no image part."""
    from sacgmm.rl.checkpoint import load_checkpoint
    from sacgmm.rl.sac import SACAgent

    agent = SACAgent.from_state_dict(load_checkpoint(path)["agent"])
    if "image" not in agent.image_keys:
        raise ValueError(f"checkpoint {path}: its agent sees no image (parts "
                         f"{sorted(agent.obs_shapes)}); train with the sensor on")
    return agent


def latents(agent, images: np.ndarray, name: str = "the agent") -> np.ndarray:
    """The latent codes ``(n, latent_dim)`` ``agent`` gives the image part of its observation
    for ``images`` ``(n, C, 64, 64)``; ``ValueError`` naming ``name`` when it expects other
    images."""
    shape = tuple(agent.obs_shapes["image"])
    if tuple(images.shape[1:]) != shape:
        raise ValueError(f"{name}: its agent sees images of shape {shape}, the "
                         f"probe's are {tuple(images.shape[1:])} (a peg-task agent is needed)")
    obs = {k: np.zeros((len(images), *v), np.float32) for k, v in agent.obs_shapes.items()}
    obs["image"] = images
    return np.asarray(agent.encode(obs)["image"])


def probe_encoders(checkpoints, n: int = 144, seed: int = 0, folds: int = 6) -> dict:
    """The module's probe: the pixels' and each checkpoint's direction error. The checkpoints
    are read and the folds checked before any press."""
    check_folds(n, folds)
    agents = [encoder_agent(path) for path in checkpoints]
    images, angles = random_presses(n, seed)
    rows = [{"features": "pixels", "dims": int(np.prod(images.shape[1:])),
             **direction_error(images.reshape(n, -1) / 255.0, angles, folds)}]
    for path, agent in zip(checkpoints, agents):
        z = latents(agent, images, f"checkpoint {path}")
        rows.append({"features": str(path), "dims": int(z.shape[1]),
                     **direction_error(z, angles, folds)})
    return {"presses": n, "seed": seed, "folds": folds, "offsets_m": list(OFFSETS),
            "rows": rows}
