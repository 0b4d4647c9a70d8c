"""Documented layouts of the ``std_msgs/Float64MultiArray`` messages of the node graph.

Both messages are *segmented* flat vectors: ``layout.dim`` lists the segments in the order
their values appear in ``data`` (``layout.data_offset`` is 0). For every segment,
``dim[i].label`` is its name, ``dim[i].size`` its number of values and ``dim[i].stride`` the
length of one row of it (the segment is a row-major ``(size // stride, stride)`` array).

``/sacgmm/window`` (gmm_controller -> sac_refiner), one message at the end of every window of
``window_steps`` (N = 32) control steps; ``d`` is the skill's dimension (3)::

    position      d   end-effector position in the perceived target frame (m)
    velocity      d   last velocity command, clamped (m/s, world axes)
    target        3   perceived target origin in the world frame (m)
    window_index  1   index of the window that just ended, 0-based, within the episode
    step          1   control steps since the start of the episode
    episode       1   episode index last received on /sacgmm/episode (-1 before any)
    stamp         1   ROS time of the pose used in the last step (s)
    gripper       1   optional: the gripper's opening (m) last received (gripper_topic)
    grasp_position d  optional: position (m, perceived target frame) at the step in which the
                      gripper's opening first fell below held_below in this window (a grasp)

With the controller's ``sync_windows`` (lock-step training through ROS) the message is sent at
the *boundary*, before the first step of the next window: ``position`` is then the state the
next window starts from (what :class:`sacgmm.rl.task_env.GMMWindowEnv` returns as the
observation), ``velocity`` the last command, and the episode's start is announced too, with
``window_index`` -1 and ``step`` 0; the controller holds that step until the delta-theta
answering it arrives (or ``delta_wait`` s pass).

``/sacgmm/episode_end`` (sim_bridge or iiwa_bridge -> sac_refiner), once when an episode ends (before the
next episode's ``/sacgmm/episode``)::

    episode       1   index of the episode that ended
    steps         1   control steps it lasted
    terminated    1   1: ended by the task (success or leaving the safety box), 0: time limit
    success       1   1 on success
    return        1   sum of its rewards
    position      3   final end-effector position in the perceived target frame (m)
    stamp         1   ROS time of the final state (its pose and sensor image carry it) (s)
    gripper       1   optional: the gripper's opening in the final state (m)

``/sacgmm/delta_theta`` (sac_refiner -> gmm_controller): a change of the skill's parameters
theta = {pi_k, mu_k, Sigma_k} over the joint ``[x, x_dot]`` (K components, dimension d).
Every segment is optional, but at least one of the three ``d_*`` must be present::

    d_priors       K             stride 1       change of the mixing weights
    d_means        K * 2d        stride 2d      change of the means, rows [dx (m), dx_dot (m/s)]
    d_covariances  K * 2d * 2d   stride 2d      change of the covariances (row-major, K blocks)
    window_index   1             stride 1       the window this action answers (for latency)

The controller applies a delta to the skill it loaded (not to the previously adapted one, as
the authors' code does): ``skill = base.adapted(d_priors, d_means, d_covariances)``, with the
simplex / nearest-SPD projections of :meth:`sacgmm.skill.GMMSkill.adapted` (and the SEDS
projection when its ``stable_adaptation`` parameter is true). A message with an unknown or
repeated label, a wrong size, a size mismatch with ``data`` or a NaN/inf value is rejected.

This module imports no ROS package: it works on ``(labels, sizes, strides, data)`` tuples, and
:mod:`sacgmm.ros.convert` turns them into messages.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPISODE_END_SEGMENTS = ("episode", "steps", "terminated", "success", "return", "position", "stamp")
#: the joint name of the gripper's opening (m) on ``/sacgmm/gripper_state`` (sim_bridge), the
#: default of gmm_controller's ``gripper_joints``
GRIPPER_JOINT = "sacgmm_gripper_opening"

WINDOW_SEGMENTS = ("position", "velocity", "target", "window_index", "step", "episode", "stamp")
WINDOW_OPTIONAL = ("gripper", "grasp_position")
DELTA_SEGMENTS = ("d_priors", "d_means", "d_covariances", "window_index")


@dataclass(frozen=True)
class Segmented:
    """A segmented flat vector: ``labels[i]`` has ``sizes[i]`` values of row length ``strides[i]``."""

    labels: tuple[str, ...]
    sizes: tuple[int, ...]
    strides: tuple[int, ...]
    data: np.ndarray

    def segments(self) -> dict[str, np.ndarray]:
        """Label -> the segment's values (flat float64 copies)."""
        out, start = {}, 0
        for label, size in zip(self.labels, self.sizes):
            out[label] = np.array(self.data[start:start + size], dtype=np.float64)
            start += size
        return out


def _pack(parts: list[tuple[str, np.ndarray, int]]) -> Segmented:
    labels, sizes, strides, chunks = [], [], [], []
    for label, values, stride in parts:
        flat = np.asarray(values, dtype=np.float64).ravel()
        labels.append(label)
        sizes.append(int(flat.size))
        strides.append(int(stride))
        chunks.append(flat)
    data = np.concatenate(chunks) if chunks else np.zeros(0)
    return Segmented(tuple(labels), tuple(sizes), tuple(strides), data)


def _check_structure(msg: Segmented, known: tuple[str, ...], what: str) -> dict[str, np.ndarray]:
    if len(set(msg.labels)) != len(msg.labels):
        raise ValueError(f"{what}: repeated segment label in {list(msg.labels)}")
    unknown = [l for l in msg.labels if l not in known]
    if unknown:
        raise ValueError(f"{what}: unknown segment label(s) {unknown}; expected some of {list(known)}")
    if any(s < 0 for s in msg.sizes) or sum(msg.sizes) != len(msg.data):
        raise ValueError(f"{what}: segment sizes {list(msg.sizes)} (sum {sum(msg.sizes)}) do not "
                         f"match the {len(msg.data)} data values")
    data = np.asarray(msg.data, dtype=np.float64)
    if not np.isfinite(data).all():
        raise ValueError(f"{what}: data contains NaN or inf")
    return Segmented(msg.labels, msg.sizes, msg.strides, data).segments()


# -- window end -------------------------------------------------------------------------
@dataclass(frozen=True)
class WindowEnd:
    """The state at the end of a window (see the module docstring for units)."""

    position: np.ndarray
    velocity: np.ndarray
    target: np.ndarray
    window_index: int
    step: int
    episode: int
    stamp: float
    gripper: float | None = None               # m; None: no gripper topic
    grasp_position: np.ndarray | None = None   # m; None: no grasp in this window


def encode_window(w: WindowEnd) -> Segmented:
    d = len(np.ravel(w.position))
    parts = [("position", w.position, d), ("velocity", w.velocity, d),
             ("target", w.target, 3), ("window_index", [w.window_index], 1),
             ("step", [w.step], 1), ("episode", [w.episode], 1), ("stamp", [w.stamp], 1)]
    if w.gripper is not None:
        parts.append(("gripper", [w.gripper], 1))
    if w.grasp_position is not None:
        parts.append(("grasp_position", w.grasp_position, d))
    return _pack(parts)


def decode_window(msg: Segmented) -> WindowEnd:
    seg = _check_structure(msg, WINDOW_SEGMENTS + WINDOW_OPTIONAL, "window message")
    missing = [l for l in WINDOW_SEGMENTS if l not in seg]
    if missing:
        raise ValueError(f"window message: missing segment(s) {missing}")
    if seg["target"].size != 3 or seg["position"].size != seg["velocity"].size:
        raise ValueError("window message: position/velocity sizes differ or target is not 3-D")
    if "gripper" in seg and seg["gripper"].size != 1:
        raise ValueError(f"window message: gripper has {seg['gripper'].size} values, expected 1")
    if "grasp_position" in seg and seg["grasp_position"].size != seg["position"].size:
        raise ValueError("window message: grasp_position and position sizes differ")
    return WindowEnd(seg["position"], seg["velocity"], seg["target"],
                     int(seg["window_index"][0]), int(seg["step"][0]), int(seg["episode"][0]),
                     float(seg["stamp"][0]),
                     float(seg["gripper"][0]) if "gripper" in seg else None,
                     seg.get("grasp_position"))


# -- episode end ------------------------------------------------------------------------
@dataclass(frozen=True)
class EpisodeEnd:
    """The end of an episode (see the module docstring for units)."""

    episode: int
    steps: int
    terminated: bool
    success: bool
    ret: float
    position: np.ndarray
    stamp: float
    gripper: float | None = None              # m; None: no gripper reported


def encode_episode_end(e: EpisodeEnd) -> Segmented:
    parts = [("episode", [e.episode], 1), ("steps", [e.steps], 1),
             ("terminated", [float(e.terminated)], 1), ("success", [float(e.success)], 1),
             ("return", [e.ret], 1), ("position", e.position, 3), ("stamp", [e.stamp], 1)]
    if e.gripper is not None:
        parts.append(("gripper", [e.gripper], 1))
    return _pack(parts)


def decode_episode_end(msg: Segmented) -> EpisodeEnd:
    seg = _check_structure(msg, EPISODE_END_SEGMENTS + ("gripper",), "episode_end message")
    missing = [l for l in EPISODE_END_SEGMENTS if l not in seg]
    if missing:
        raise ValueError(f"episode_end message: missing segment(s) {missing}")
    if seg["position"].size != 3:
        raise ValueError("episode_end message: position is not 3-D")
    if "gripper" in seg and seg["gripper"].size != 1:
        raise ValueError(f"episode_end message: gripper has {seg['gripper'].size} values, "
                         "expected 1")
    return EpisodeEnd(int(seg["episode"][0]), int(seg["steps"][0]), bool(seg["terminated"][0]),
                      bool(seg["success"][0]), float(seg["return"][0]), seg["position"],
                      float(seg["stamp"][0]),
                      float(seg["gripper"][0]) if "gripper" in seg else None)


# -- delta-theta ------------------------------------------------------------------------
@dataclass(frozen=True)
class DeltaThetaMessage:
    """The payload of a delta-theta message: a parameter change for a skill with K components
    over positions of dimension d (the action's layout is :mod:`sacgmm.skill.delta_theta`)."""

    d_priors: np.ndarray | None = None        # (K,)
    d_means: np.ndarray | None = None         # (K, 2d)
    d_covariances: np.ndarray | None = None   # (K, 2d, 2d)
    window_index: int | None = None


def encode_delta(delta: DeltaThetaMessage) -> Segmented:
    parts = []
    if delta.d_priors is not None:
        parts.append(("d_priors", delta.d_priors, 1))
    if delta.d_means is not None:
        parts.append(("d_means", delta.d_means, np.shape(delta.d_means)[-1]))
    if delta.d_covariances is not None:
        parts.append(("d_covariances", delta.d_covariances, np.shape(delta.d_covariances)[-1]))
    if delta.window_index is not None:
        parts.append(("window_index", [delta.window_index], 1))
    return _pack(parts)


def decode_delta(msg: Segmented, n_components: int, dim: int) -> DeltaThetaMessage:
    """Check a delta-theta message against a skill with ``n_components`` K and dimension ``dim``.

    Raises ``ValueError`` explaining what is wrong (the caller logs it and keeps its skill).
    """
    seg = _check_structure(msg, DELTA_SEGMENTS, "delta_theta")
    k, two_d = n_components, 2 * dim
    expected = {"d_priors": k, "d_means": k * two_d, "d_covariances": k * two_d * two_d,
                "window_index": 1}
    for label, values in seg.items():
        if values.size != expected[label]:
            raise ValueError(f"delta_theta: segment {label!r} has {values.size} values, expected "
                             f"{expected[label]} for a skill with K={k}, d={dim}")
    if not any(l in seg for l in ("d_priors", "d_means", "d_covariances")):
        raise ValueError("delta_theta: no d_priors, d_means or d_covariances segment")
    return DeltaThetaMessage(
        seg.get("d_priors"),
        seg["d_means"].reshape(k, two_d) if "d_means" in seg else None,
        seg["d_covariances"].reshape(k, two_d, two_d) if "d_covariances" in seg else None,
        int(seg["window_index"][0]) if "window_index" in seg else None)
