"""ControllerCore, the ROS-free heart of gmm_controller: safety, windows, delta latency."""
import os
import sys

import numpy as np
import pytest

from sacgmm.ros.controller_core import ControllerCore
from sacgmm.ros.layouts import DeltaThetaMessage

sys.path.insert(0, os.path.dirname(__file__))
from skill_helpers import make_skill  # noqa: E402


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def core_at(x, clock, **kw):
    core = ControllerCore(make_skill(), window_steps=4, stable_adaptation=False, clock=clock, **kw)
    core.set_target(np.zeros(3), clock())
    core.set_pose(np.asarray(x, float), clock())
    return core


def test_velocity_is_clamped_and_zero_on_stale_or_bad_state():
    clock = Clock()
    core = core_at([0.3, -0.2, 0.4], clock, max_speed=0.15)
    res = core.step(clock())
    # each component within +-max_speed, as the task and the in-process training clip it
    assert res.active and np.abs(res.velocity).max() == pytest.approx(0.15)
    assert np.array_equal(res.velocity, np.clip(core.skill.velocity(
        core.position_in_target()), -0.15, 0.15))
    core.set_pose(np.array([np.nan, 0.0, 0.0]), clock())      # ignored: the last pose stays
    assert np.isfinite(core.step(clock()).velocity).all()
    clock.t += 1.0                                              # pose older than pose_timeout
    res = core.step(clock())
    assert not res.active and np.all(res.velocity == 0.0)


def test_windows_and_latency_of_current_and_late_deltas():
    clock = Clock()
    core = core_at([0.05, 0.0, 0.1], clock)
    windows = []
    for _ in range(8):
        clock.t += 0.001
        core.set_pose(np.array([0.05, 0.0, 0.1]), clock())
        res = core.step(clock())
        if res.window is not None:
            windows.append((res.window.window_index, clock()))
    assert [w for w, _ in windows] == [0, 1]                  # every 4 steps
    shift = np.zeros((3, 6))
    shift[:, 2] = 0.01
    clock.t += 0.005                                           # answer to the latest window
    core.apply_delta(DeltaThetaMessage(d_means=shift, window_index=1), core.episode)
    clock.t += 0.020                                           # a late answer to window 0
    core.apply_delta(DeltaThetaMessage(d_means=shift, window_index=0), core.episode)
    assert core.deltas_applied == 2 and core.stale_deltas == 1
    np.testing.assert_allclose(core.apply_latencies,
                               [clock.t - 0.020 - windows[1][1], clock.t - windows[0][1]])
    # a new episode forgets the old windows: an answer to one is applied without a latency
    core.new_episode(1)
    core.apply_delta(DeltaThetaMessage(d_means=shift, window_index=0), 1)
    assert len(core.apply_latencies) == 2 and core.deltas_applied == 3
    # a delta received for an episode that has ended is not applied
    core.apply_delta(DeltaThetaMessage(d_means=shift, window_index=0), 0)
    assert core.deltas_applied == 3
