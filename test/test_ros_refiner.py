"""sac_refiner with real processes over DDS (sim_bridge + gmm_controller + sac_refiner, each
test on its own ROS_DOMAIN_ID): one delta-theta per window of 32 controller steps, applied by
the controller; /sacgmm/save_policy writes a checkpoint that ``sacgmm eval`` loads; a killed
refiner leaves the controller running on its last skill; eval mode never learns."""
from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_ros_nodes import make_skill, ros, twist_vec  # noqa: E402,F401  (ros: fixture)
from proc_helpers import call_trigger  # noqa: E402

from geometry_msgs.msg import TwistStamped  # noqa: E402
from std_msgs.msg import Float64MultiArray  # noqa: E402

from sacgmm.ros import convert  # noqa: E402
from sacgmm.ros.layouts import decode_delta, decode_window  # noqa: E402

SMALL_SAC = {"hidden": [32, 32], "latent_dim": 8, "encoder_channels": 8}


def _params(path: Path, skill: Path, mode: str, save: Path, **refiner) -> Path:
    """One parameter file for the three nodes (small networks so that updates are quick).

    ``delta_wait`` is generous (5 s): the refiner's first gradient updates (torch start-up)
    can take over a second on a loaded 2-core machine, and a timed-out wait would let the
    controller step a boundary on the previous skill, which this test counts as a failure.
    """
    r = {"mode": mode, "task": "peg", "skill_path": str(skill), "save_path": str(save),
         "agent_config": "attractor-shift",
         "seed": 0, "noise": False, "agent": {"batch_size": 8, "learning_starts": 3,
                                             "updates_per_step": 1.0, "sac": SMALL_SAC},
         **refiner}
    lines = ["sim_bridge:", "  ros__parameters:", "    task: peg", "    noise: false",
             "    seed: 1000000", "gmm_controller:", "  ros__parameters:",
             f"    skill_path: {skill}", "    stable_adaptation: false", "    sync_windows: true",
             "    delta_wait: 5.0", "    marker_rate_hz: 0.0", "sac_refiner:", "  ros__parameters:"]
    lines += [f"    {k}: {json.dumps(v)}" for k, v in r.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _graph(ros, tmp_path, mode: str, **refiner):
    node, env, start, spin_until = ros
    skill = tmp_path / "skill.yaml"
    make_skill().save(skill)
    save = tmp_path / "policy.pt"
    pf = _params(tmp_path / "params.yaml", skill, mode, save, **refiner)
    cmds: dict[tuple[int, int], np.ndarray] = {}
    windows, deltas, events = [], [], []
    node.create_subscription(TwistStamped, "/sacgmm/cmd_vel", lambda m: cmds.__setitem__(
        (m.header.stamp.sec, m.header.stamp.nanosec), twist_vec(m)), 1000)
    node.create_subscription(Float64MultiArray, "/sacgmm/window",
                             lambda m: (windows.append(decode_window(convert.from_multiarray(m))),
                                        events.append(windows[-1])), 100)
    node.create_subscription(Float64MultiArray, "/sacgmm/delta_theta",
                             lambda m: (deltas.append(decode_delta(convert.from_multiarray(m), 3, 3)),
                                        events.append(deltas[-1])), 100)
    procs = {n: start(f"sacgmm.ros.{n}", "--params-file", str(pf))
             for n in ("sac_refiner", "gmm_controller", "sim_bridge")}
    _graph.events = events
    return node, spin_until, procs, cmds, windows, deltas, skill, save


def _answered_window(events: list, i: int):
    """The window message that the delta-theta ``events[i]`` answers: the latest window with its
    index among the few events around it. The two topics come from two processes and are not
    ordered with respect to each other, so the window may arrive after its answer, or before
    the answer to the previous window; None if there is none."""
    d = events[i]
    for ev in reversed(events[max(0, i - 4):i]):
        if not hasattr(ev, "d_means") and ev.window_index == d.window_index:
            return ev
    for ev in events[i + 1:i + 3]:
        if not hasattr(ev, "d_means") and ev.window_index == d.window_index:
            return ev
    return None


def _save(node, spin_until, procs) -> str:
    result = call_trigger(node, spin_until, "/sacgmm/save_policy")
    assert result.success, result.message
    return result.message


def test_refiner_trains_saves_and_the_controller_survives_its_death(ros, tmp_path):
    t0 = time.monotonic()
    node, spin_until, procs, cmds, windows, deltas, skill, save = _graph(ros, tmp_path, "train")
    out = lambda: "".join(p.output for p in procs.values())  # noqa: E731
    # past the warm-up (3 decisions) and into the updates
    assert spin_until(lambda: len(deltas) >= 8, 120.0), out()
    # start a new episode mid-way: its first step must already use the reset skill
    assert call_trigger(node, spin_until, "/sacgmm/reset_episode").success, out()
    n = len(deltas)
    assert spin_until(lambda: len(deltas) >= n + 3, 120.0), out()
    assert spin_until(lambda: False, 0.5) is False            # let in-flight messages land
    base = make_skill()
    cmd_t = {k[0] + 1e-9 * k[1]: v for k, v in cmds.items()}
    checked, starts, ok, seen = 0, 0, [], []
    prev_d = None

    def prev_v(x):
        if prev_d is None:
            return None
        return base.adapted(prev_d.d_priors, prev_d.d_means, prev_d.d_covariances,
                            stable=False).velocity(x)
    events = list(_graph.events)
    for i, ev in enumerate(events):
        if not hasattr(ev, "d_means"):
            continue
        d, w = ev, _answered_window(events, i)
        if w is None and not any(not hasattr(e, "d_means") for e in events[:i]):
            continue     # the probe's window subscription matched after the first window
        # each delta answers the window announced just before it
        assert w is not None, (d.window_index, events[max(0, i - 3):i + 3])
        near = [t for t in cmd_t if abs(t - w.stamp) < 1e-6]
        if len(near) != 1:
            continue
        # episode starts (window -1) included: the sim_bridge holds an episode's first state
        # until the controller acknowledges /sacgmm/episode (no step with the old skill)
        starts += w.window_index < 0
        key = near[0]
        # the command answering the boundary's pose is the delta-adapted skill's velocity
        v = base.adapted(d.d_priors, d.d_means, d.d_covariances, stable=False).velocity(w.position)
        v = np.clip(v, -0.15, 0.15)
        ok.append(bool(np.allclose(cmd_t[key], v, atol=1e-9)))
        seen.append((w.episode, w.window_index, ok[-1]))
        if not ok[-1]:
            seen.append(("cmd", cmd_t[key], "want", v, "base", base.velocity(w.position),
                         "prev", prev_v(w.position)))
        prev_d = d
        checked += 1
    # the controller may step the refiner's very first window before it discovered the
    # refiner (no hold yet); from then on every boundary waits for its delta
    assert checked >= 4 and True in ok and all(ok[ok.index(True):]), (str([e for e in seen if len(e) > 3 or not e[2]]), out()[-3000:])
    assert starts >= 1, "no episode start was checked"
    ep = [w for w in windows if w.episode == windows[-1].episode]
    steps = [w.step for w in ep]
    assert steps == list(range(steps[0], steps[0] + 32 * len(steps), 32)), steps
    assert len({(d.window_index) for d in deltas}) >= 3
    assert len(deltas) <= len(windows) + 1
    assert any(np.abs(d.d_means).max() > 0 for d in deltas)           # warm-up: non-zero
    # save and load back with sacgmm eval
    msg = _save(node, spin_until, procs)
    assert save.is_file() and "updates" in msg
    from sacgmm.cli.main import main
    assert main(["eval", "--agent", "sac-gmm", "--checkpoint", str(save), "--episodes", "1",
                 "--json"]) == 0
    # kill the refiner mid-episode: the controller goes on with its last skill
    procs["sac_refiner"].p.send_signal(signal.SIGKILL)
    procs["sac_refiner"].p.wait(10)
    n0 = len(cmds)
    assert spin_until(lambda: len(cmds) >= n0 + 100, 60.0), out()
    v = np.array(list(cmds.values()))
    assert np.isfinite(v).all() and (np.abs(v) <= 0.15 + 1e-9).all()
    # (if DDS still lists the dead refiner, one boundary waits delta_wait, then no more)
    assert "control stopped" not in procs["gmm_controller"].output.split("episode")[-1]
    assert procs["gmm_controller"].p.poll() is None and procs["sim_bridge"].p.poll() is None
    print(f"refiner train test: {time.monotonic() - t0:.1f} s, {len(deltas)} deltas")


def _learner(train: bool, **settings):
    """The refiner's learner and adaptation for a small ``attractor-shift`` configuration
    (windows of 32 steps, no gripper observation, the graph of :func:`_params`)."""
    from sacgmm.rl.config import TrainConfig
    from sacgmm.rl.learner import Learner
    from sacgmm.skill.adaptation import SkillAdaptation
    cfg = TrainConfig.named("attractor-shift", task="peg", seed=5, batch_size=8,
                            **{"sac": SMALL_SAC, **settings})
    adaptation = SkillAdaptation.from_settings(make_skill(), cfg.delta_theta, cfg.via_point,
                                               cfg.window, 1.0 / 30.0, 0.15)
    shapes = {"position": (3,), **({"gripper": (1,)} if cfg.gripper_obs else {}),
              **({"image": (2, 64, 64)} if cfg.sensor else {})}
    return Learner(cfg, shapes, adaptation.size, train=train,
                   steering=adaptation.steering), adaptation


def test_refiner_eval_mode_does_not_learn(ros, tmp_path):
    import torch

    from sacgmm.rl.checkpoint import load_checkpoint

    learner, _ = _learner(train=False)
    with torch.no_grad():                     # a non-trivial policy: the actor acts
        for p in learner.agent.actor.parameters():
            p.add_(0.05 * torch.randn_like(p))
    start_pt = tmp_path / "start.pt"
    learner.save(start_pt, {}, replay=False)
    node, spin_until, procs, cmds, windows, deltas, _, save = _graph(
        ros, tmp_path, "eval", policy_path=str(start_pt))
    out = lambda: "".join(p.output for p in procs.values())  # noqa: E731
    assert spin_until(lambda: len(deltas) >= 6, 120.0), out()
    assert any(np.abs(d.d_means).max() > 0 for d in deltas)
    _save(node, spin_until, procs)
    before, after = load_checkpoint(start_pt), load_checkpoint(save)
    assert after["extra"]["updates"] == 0 and after["extra"]["decisions"] == 0

    def flat(state, prefix=""):
        if isinstance(state, torch.Tensor):
            yield prefix, state
        elif isinstance(state, dict):
            for k, v in state.items():
                yield from flat(v, f"{prefix}/{k}")

    a, b = dict(flat(before["agent"])), dict(flat(after["agent"]))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


VIA = {"sensor": False, "gripper_obs": True, "delta_theta": {"attractor_scale": 0.1},
       "via_point": {"enabled": True}, "sac": {**SMALL_SAC, "success_bc_weight": 1.0}}


def test_a_policy_is_refused_where_its_actions_would_be_misread(tmp_path):
    """A checkpoint loads only into a learner whose actions mean what they meant in training
    (window, gripper observation, via-point steering, delta-theta layout); one trained with a
    removed option loads only if that option was off."""
    plain, _ = _learner(train=False)
    via, _ = _learner(train=False, **VIA)
    via_pt = via.save(tmp_path / "via.pt", {}, replay=False)
    plain_pt = plain.save(tmp_path / "plain.pt", {}, replay=False)
    with pytest.raises(ValueError, match=r"via.pt: trained with window=32, but this configuration has window=16"):
        _learner(train=False, **VIA, window=16)[0].load(via_pt)
    with pytest.raises(ValueError, match=r"trained with gripper_obs=True"):
        plain.load(via_pt)
    with pytest.raises(ValueError, match=r"trained with gripper_obs=False"):
        via.load(plain_pt)
    plain.load(plain_pt)
    extra = via.load(via_pt)
    assert extra["config"]["via_point"]["enabled"] is True
    from sacgmm.rl.checkpoint import save_checkpoint
    old = dict(via.cfg.to_dict(), grasp_ends_window=False, lookahead=False)
    via.load(save_checkpoint(tmp_path / "old.pt", via.agent, None, extra={"config": old}))
    old["grasp_ends_window"] = True
    path = save_checkpoint(tmp_path / "gew.pt", via.agent, None, extra={"config": old})
    with pytest.raises(ValueError, match="grasp_ends_window=True: this option was removed"):
        via.load(path)


def test_the_refiners_core_steers_and_labels_like_the_trainer():
    """Via-point actions become the look-ahead's attractor shift while the gripper is open,
    stay shifts while it holds, and a reported grasp labels the approach decisions."""
    learner, adaptation = _learner(train=True, hindsight_grasp=True, **VIA)
    x, a = np.array([0.05, 0.02, 0.1]), np.array([0.3, -0.6, 0.2])
    open_ = adaptation.decide(a, x, 0.108)
    np.testing.assert_array_equal(open_.action, adaptation.steering.shift_action(x, a))
    assert open_.via and not open_.held
    held = adaptation.decide(a, x, 0.05)
    np.testing.assert_array_equal(held.action, a)            # holding: the shift itself
    assert held.held and not held.via
    with pytest.raises(ValueError, match="gripper's opening"):
        adaptation.decide(a, x, None)

    def obs(p, g):
        return {"position": np.asarray(p, np.float32), "gripper": np.array([g], np.float32)}

    grasp = np.array([0.0, 0.01, 0.02])
    o0, o1, o2 = obs([0.1, 0.1, 0.1], 0.108), obs([0.06, 0.05, 0.05], 0.108), obs(grasp, 0.05)
    learner.start_episode()
    learner.store(o0, a, 0.0, o1, False, report={"via_point": True, "held": False,
                                                  "grasp_position": None})
    assert len(learner.experience.successes) == 0
    learner.store(o1, a, 0.0, o2, False, report={"via_point": True, "held": False,
                                                  "grasp_position": grasp})
    labels = learner.experience.successes.action[:2]
    want = [adaptation.steering.hindsight_label(o["position"], grasp) for o in (o0, o1)]
    np.testing.assert_allclose(labels, want, atol=1e-6)
    learner.end_episode(False)
    assert len(learner.experience.successes) == 2 and learner.hindsight.grasp_position is None


def test_door_graph_steers_by_via_points_with_the_gripper_in_the_windows(ros, tmp_path):
    """sim_bridge (door) -> gmm_controller (gripper_topic) -> sac_refiner (via_point): every
    window reports the gripper's opening, and the refiner publishes attractor shifts from the
    look-ahead's grid (multiples of attractor_scale / 2 with 5 levels), not its raw actions."""
    node, env, start, spin_until = ros
    skill = tmp_path / "skill.yaml"
    make_skill().save(skill)
    refiner = {"mode": "train", "task": "door", "sensor": False, "skill_path": str(skill),
               "seed": 0, "noise": False,
               "agent": {"batch_size": 8, "learning_starts": 1000, "warmup_std": 0.3,
                         "hindsight_grasp": True, "window": 8,
                         **{k: v for k, v in VIA.items() if k != "sensor"}}}
    lines = ["sim_bridge:", "  ros__parameters:", "    task: door", "    noise: false",
             "    sensor: false", "gmm_controller:", "  ros__parameters:",
             f"    skill_path: {skill}", "    sync_windows: true", "    delta_wait: 5.0",
             "    window_steps: 8", "    marker_rate_hz: 0.0",
             "    gripper_topic: /sacgmm/gripper_state", "sac_refiner:", "  ros__parameters:"]
    lines += [f"    {k}: {json.dumps(v)}" for k, v in refiner.items()]
    pf = tmp_path / "params.yaml"
    pf.write_text("\n".join(lines) + "\n")
    windows, deltas = [], []
    node.create_subscription(Float64MultiArray, "/sacgmm/window", lambda m: windows.append(
        decode_window(convert.from_multiarray(m))), 100)
    node.create_subscription(Float64MultiArray, "/sacgmm/delta_theta", lambda m: deltas.append(
        decode_delta(convert.from_multiarray(m), 3, 3)), 100)
    procs = {n: start(f"sacgmm.ros.{n}", "--params-file", str(pf))
             for n in ("sac_refiner", "gmm_controller", "sim_bridge")}
    assert spin_until(lambda: len(deltas) >= 4, 90.0), procs["sac_refiner"].output
    assert all(w.gripper is not None and 0.09 < w.gripper < 0.12 for w in windows)  # open
    grid = np.array([-0.1, -0.05, 0.0, 0.05, 0.1])
    moved = 0
    for d in deltas:
        shift = d.d_means[:, :3]
        assert np.allclose(shift, shift[0]) and np.allclose(d.d_means[:, 3:], 0.0)
        assert np.abs(shift[0][:, None] - grid).min(axis=1).max() < 1e-9, shift[0]
        moved += int(np.abs(shift[0]).max() > 0)
    assert moved >= 1                     # the warm-up's via-points moved the attractor
