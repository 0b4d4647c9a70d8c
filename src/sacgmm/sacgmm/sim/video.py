"""Videos of simulated episodes: frames kept while a task steps, written as GIF or MP4."""
from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np

from sacgmm.fileio import atomic_write_bytes

#: control rate of the tasks (Hz) and the frames kept per second of a video by default
CONTROL_HZ = 30


class FrameRecorder(gym.Wrapper):
    """Keeps ``env.render()`` (an ``rgb_array`` task) after reset and every ``every``-th step
    in ``frames``; ``reset`` starts a new list."""

    def __init__(self, env: gym.Env, every: int = 2):
        super().__init__(env)
        if every < 1:
            raise ValueError(f"every must be >= 1 control step, got {every}")
        self.every = int(every)
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


def save_video(frames: list[np.ndarray], path: str | Path, every: int = 2) -> Path:
    """Write ``frames`` (kept every ``every`` control steps) to ``path`` (.gif or .mp4) at the
    episode's real pace, atomically. ``ValueError`` for another extension or no frames."""
    import imageio.v3 as iio

    path = Path(path)
    ext = path.suffix.lower()
    if ext not in (".gif", ".mp4"):
        raise ValueError(f"{path}: video must end in .gif or .mp4")
    if not frames:
        raise ValueError(f"{path}: no frames to write")
    fps = CONTROL_HZ / every
    options = {"duration": 1000.0 / fps, "loop": 0} if ext == ".gif" else {"fps": fps}
    return atomic_write_bytes(path, iio.imwrite("<bytes>", np.stack(frames), extension=ext,
                                                **options))
