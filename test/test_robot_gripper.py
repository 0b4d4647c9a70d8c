"""The gripper rule of the real-robot path (sacgmm.robot.gripper), without ROS."""
import numpy as np
import pytest

from sacgmm.robot.gripper import GripperConfig, GripperCore, distance_to_segment

TARGET = np.array([0.6, 0.0, 0.3])


def _core(**kw):
    base = dict(open_positions=[0.108], closed_positions=[0.0],
                handle_offset=[0.0, 0.1, 0.0], handle_half=[0.0, 0.0, 0.05],
                capture_radius=0.02, resend=1.0)
    base.update(kw)
    return GripperCore(GripperConfig(**base))


def test_closes_within_the_capture_radius_of_the_handle_and_opens_at_the_episode_end():
    g = _core()
    handle = TARGET + [0.0, 0.1, 0.0]
    cmd, change = g.step(0.0, running=False, halted=False, tcp=handle, target=TARGET)
    assert cmd.tolist() == [0.108] and change is None           # open before an episode
    far = handle + [0.05, 0.0, 0.0]
    cmd, change = g.step(0.1, True, False, far, TARGET)
    assert cmd is None and change is None                       # still open, already sent
    # on the bar, 4 cm above its centre (half-extent 5 cm) and 1.5 cm in front: captured
    cmd, change = g.step(0.2, True, False, handle + [0.015, 0.0, 0.04], TARGET)
    assert cmd.tolist() == [0.0] and change == "closed"
    cmd, change = g.step(0.3, True, False, far, TARGET)        # held while the episode runs
    assert cmd is None and change is None and g.wanted == "closed"
    cmd, _ = g.step(1.3, True, False, far, TARGET)              # re-sent after `resend` s
    assert cmd.tolist() == [0.0]
    cmd, change = g.step(1.4, False, False, far, TARGET)       # the episode ended
    assert cmd.tolist() == [0.108] and change == "open"


def test_halted_commands_nothing_and_unknown_target_never_closes():
    g = _core()
    handle = TARGET + [0.0, 0.1, 0.0]
    g.step(0.0, True, False, handle, TARGET)
    assert g.wanted == "closed"
    assert g.step(5.0, False, True, None, None) == (None, None)   # stop: hold what it holds
    assert g.wanted == "closed"
    g2 = _core()
    g2.step(0.0, False, False, None, None)
    cmd, change = g2.step(0.1, True, False, handle, None)
    assert cmd is None and change is None and g2.wanted == "open"


def test_state_freshness_and_bad_states():
    g = _core(state_timeout=0.2)
    assert not g.state_fresh(0.0)                   # none yet
    assert g.set_state([0.05], 1.0) and g.state_fresh(1.1) and not g.state_fresh(1.3)
    assert not g.set_state([np.nan], 2.0) and not g.set_state([0.1, 0.1], 2.0)


def test_the_hand_is_confirmed_open_only_by_a_fresh_state_near_the_open_command():
    g = _core(state_timeout=0.2, open_tolerance=0.005)
    assert not g.confirmed_open(0.0)                   # no state yet
    g.set_state([0.05], 1.0)                           # closed on the handle
    assert not g.confirmed_open(1.0)
    g.set_state([0.105], 1.1)                          # opening, 3 mm short
    assert g.confirmed_open(1.1) and not g.confirmed_open(1.5)   # ... until it goes stale


def test_bad_configuration_is_refused_with_the_setting_named():
    with pytest.raises(ValueError, match="open_positions and closed_positions"):
        _core(closed_positions=[0.0, 0.0])
    with pytest.raises(ValueError, match="handle_offset"):
        _core(handle_offset=[0.0, 0.1])
    with pytest.raises(ValueError, match="capture_radius"):
        _core(capture_radius=0.0)
    with pytest.raises(ValueError, match="max_effort"):
        _core(max_effort=[-1.0])


def test_distance_to_a_segment_and_a_point():
    c, h = np.zeros(3), np.array([0.0, 0.0, 0.1])
    assert distance_to_segment(np.array([0.03, 0.0, 0.05]), c, h) == pytest.approx(0.03)
    assert distance_to_segment(np.array([0.0, 0.0, 0.3]), c, h) == pytest.approx(0.2)
    assert distance_to_segment(np.array([0.0, 0.04, 0.0]), c, np.zeros(3)) == pytest.approx(0.04)


def test_a_grasp_that_closed_on_nothing_opens_and_retries_once_open():
    g = _core(empty_tolerance=0.002, open_tolerance=0.005, state_timeout=1.0)
    handle = TARGET + [0.0, 0.1, 0.0]
    g.set_state([0.108], 0.0)
    cmd, change = g.step(0.0, True, False, handle, TARGET)
    assert cmd.tolist() == [0.0] and change == "closed"
    g.set_state([0.012], 0.2)                            # stopped on the handle: held
    assert g.step(0.2, True, False, handle, TARGET) == (None, None) and g.wanted == "closed"
    g.set_state([0.001], 0.4)                            # slipped out: closed on nothing
    cmd, change = g.step(0.4, True, False, handle, TARGET)
    assert cmd.tolist() == [0.108] and change == "missed" and g.wanted == "open"
    g.set_state([0.05], 0.5)                             # still opening: no new close yet
    assert g.step(0.5, True, False, handle, TARGET) == (None, None)
    g.set_state([0.107], 0.6)                            # open again, on the handle: retry
    cmd, change = g.step(0.6, True, False, handle, TARGET)
    assert cmd.tolist() == [0.0] and change == "closed"
    with pytest.raises(ValueError, match="empty_tolerance"):
        _core(empty_tolerance=0.0)
