"""Videos of simulated episodes: frames kept while a task steps, written as GIF or MP4."""
from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np

from sacgmm.fileio import atomic_write_bytes

class FrameRecorder(gym.Wrapper):
    """Keeps ``env.render()`` (an ``rgb_array`` task) after reset and every ``every``-th step
    in ``frames``; ``reset`` starts a new list. ``fps``: the frames per second that play the
    episode at its real pace (the task's control rate / ``every``)."""

    def __init__(self, env: gym.Env, every: int = 2):
        super().__init__(env)
        if every < 1:
            raise ValueError(f"every must be >= 1 control step, got {every}")
        self.every = int(every)
        self.fps = 1.0 / (float(env.unwrapped.dt) * self.every)
        self.frames: list[np.ndarray] = []
        self._steps = 0

    def reset(self, **kwargs):
        out = self.env.reset(**kwargs)
        self.frames, self._steps = [self.env.render()], 0
        return out

    def step(self, action):
        out = self.env.step(action)
        self._steps += 1
        if self._steps % self.every == 0:
            self.frames.append(self.env.render())
        return out


def check_video_path(path: str | Path) -> Path:
    """``path`` if it names a .gif or .mp4 file, else ``ValueError`` naming it."""
    path = Path(path)
    if path.suffix.lower() not in (".gif", ".mp4"):
        raise ValueError(f"{path}: video must end in .gif or .mp4")
    return path


def save_video(frames: list[np.ndarray], path: str | Path, fps: float) -> Path:
    """Write ``frames`` to ``path`` (.gif or .mp4) at ``fps`` frames per second, atomically.
    ``ValueError`` for another extension or no frames."""
    import imageio.v3 as iio

    path = check_video_path(path)
    ext = path.suffix.lower()
    if not frames:
        raise ValueError(f"{path}: no frames to write")
    options = {"duration": 1000.0 / fps, "loop": 0} if ext == ".gif" else {"fps": fps}
    return atomic_write_bytes(path, iio.imwrite("<bytes>", np.stack(frames), extension=ext,
                                                **options))
