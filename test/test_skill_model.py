"""GMMSkill: GMR queries, safety far from the data, adaptation, persistence."""
import os

import numpy as np
import pytest
import yaml

from sacgmm.skill import GMMSkill, fit_skill, load_skill
from sacgmm.skill.projections import nearest_spd, project_simplex
from sacgmm.skill.synthetic import make_demos

DT = 1.0 / 30.0


@pytest.fixture(scope="module")
def skill():
    return fit_skill(make_demos("s-shape", n=8, dim=3, seed=0, length=120), DT, 3, seed=0)


@pytest.fixture(scope="module")
def em_skill():
    return fit_skill(make_demos("s-shape", n=8, dim=3, seed=0, length=120), DT, 3, stable=False)


def test_velocity_shapes_and_batch_consistency(skill):
    x = np.array([[0.1, 0.05, 0.02], [0.3, -0.1, 0.2], [0.0, 0.0, 0.0]])
    v = skill.velocity(x)
    assert v.shape == (3, 3)
    for i in range(3):
        np.testing.assert_allclose(skill.velocity(x[i]), v[i], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(v[2], 0.0, atol=1e-12)          # the attractor is a fixed point


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_velocity_finite_far_from_the_data(skill, em_skill):
    for s in (skill, em_skill):
        for scale in (1.0, 1e3, 1e6, 1e100, 1e150):
            x = scale * np.array([[1.0, -2.0, 0.5], [-3.0, 0.1, 4.0]])
            v = s.velocity(x)
            assert np.isfinite(v).all(), (scale, v)
            assert np.isfinite(s.velocity(x[0])).all()
    # far away, the stable skill still points home
    x = np.array([50.0, -20.0, 30.0])
    assert skill.velocity(x) @ x < 0


@pytest.mark.parametrize("bad", [np.array([np.nan, 0, 0]), np.array([0, np.inf, 0]),
                                 np.zeros(2), np.zeros((4, 2)), np.zeros((2, 2, 3))])
def test_velocity_rejects_bad_positions(skill, bad):
    with pytest.raises(ValueError, match="positions"):
        skill.velocity(bad)


def test_rollout_shapes_and_speed_clamp(skill):
    x0 = np.array([0.3, 0.1, 0.1])
    assert skill.rollout(x0, DT, 10).shape == (11, 3)
    assert skill.rollout(np.stack([x0, -x0]), DT, 10).shape == (11, 2, 3)
    clamped = skill.rollout(10 * x0, DT, 50, max_speed=0.05)
    steps = np.linalg.norm(np.diff(clamped, axis=0), axis=1)
    assert steps.max() <= 0.05 * DT + 1e-12
    with pytest.raises(ValueError, match="dt"):
        skill.rollout(x0, 0.0, 10)


def test_parameters_are_read_only(skill):
    for arr in (skill.priors, skill.means, skill.covariances):
        with pytest.raises(ValueError):
            arr[...] = 0


def test_adapted_keeps_parameters_valid_and_original_unchanged(skill):
    rng = np.random.default_rng(0)
    k, two_d = skill.means.shape
    before = (skill.priors.copy(), skill.means.copy(), skill.covariances.copy())
    for _ in range(50):
        d_pi = rng.normal(0, 0.5, k)
        d_mu = rng.normal(0, 0.05, (k, two_d))
        d_sigma = rng.normal(0, 0.05, (k, two_d, two_d))        # not symmetric, often indefinite
        new = skill.adapted(d_pi, d_mu, d_sigma)
        assert new is not skill
        assert np.all(new.priors > 0) and abs(new.priors.sum() - 1) < 1e-12
        for c in new.covariances:
            np.testing.assert_allclose(c, c.T)
            assert np.linalg.eigvalsh(c).min() >= 1e-8 * (1 - 1e-6)
        assert np.isfinite(new.velocity(np.array([0.2, 0.1, 0.0]))).all()
    np.testing.assert_array_equal(skill.priors, before[0])
    np.testing.assert_array_equal(skill.means, before[1])
    np.testing.assert_array_equal(skill.covariances, before[2])


def test_adapted_zero_delta_is_identity(skill):
    k, two_d = skill.means.shape
    same = skill.adapted(np.zeros(k), np.zeros((k, two_d)), np.zeros((k, two_d, two_d)))
    x = np.random.default_rng(1).normal(0, 0.2, (20, 3))
    np.testing.assert_allclose(same.velocity(x), skill.velocity(x), rtol=1e-9, atol=1e-12)


def test_adapted_stable_keeps_the_guarantee(skill, em_skill):
    rng = np.random.default_rng(2)
    k, two_d = skill.means.shape
    for base in (skill, em_skill):
        new = base.adapted(rng.normal(0, 0.2, k), rng.normal(0, 0.05, (k, two_d)),
                           rng.normal(0, 0.02, (k, two_d, two_d)), stable=True)
        assert new.is_stable()
        traj = new.rollout(rng.uniform(-0.5, 0.5, (20, 3)), DT, 3000)
        assert np.linalg.norm(traj[-1], axis=1).max() < 1e-3


@pytest.mark.parametrize("kwargs,message", [
    ({"d_priors": np.array([np.nan, 0, 0])}, "d_priors contains NaN"),
    ({"d_means": np.full((3, 6), np.inf)}, "d_means contains NaN"),
    ({"d_covariances": np.zeros((3, 6, 5))}, "d_covariances has shape"),
    ({"d_priors": np.zeros(4)}, "d_priors has shape"),
])
def test_adapted_rejects_bad_deltas(skill, kwargs, message):
    with pytest.raises(ValueError, match=message):
        skill.adapted(**kwargs)


def test_project_simplex_properties():
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = rng.normal(0, 2, rng.integers(1, 7))
        q = project_simplex(p, floor=1e-6)
        assert abs(q.sum() - 1) < 1e-12 and q.min() >= 1e-6 - 1e-15
        # a point already on the (floored) simplex is a fixed point
        np.testing.assert_allclose(project_simplex(q, 1e-6), q, atol=1e-12)
    np.testing.assert_allclose(project_simplex(np.array([2.0, 0.0, 0.0]), 0.0), [1, 0, 0])


def test_nearest_spd_properties():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(5, 4, 4))
    out = nearest_spd(m, 1e-3)
    assert np.allclose(out, np.swapaxes(out, -1, -2))
    assert np.linalg.eigvalsh(out).min() >= 1e-3 - 1e-12
    spd = m @ np.swapaxes(m, -1, -2) + np.eye(4)
    np.testing.assert_allclose(nearest_spd(spd, 1e-3), spd)


def test_save_load_round_trip(tmp_path, skill):
    path = skill.save(tmp_path / "skill.yaml")
    text = path.read_text()
    assert "format: sacgmm-skill" in text and "version: 1" in text      # human-readable
    loaded = load_skill(path)
    np.testing.assert_array_equal(loaded.priors, skill.priors)
    np.testing.assert_array_equal(loaded.means, skill.means)
    np.testing.assert_array_equal(loaded.covariances, skill.covariances)
    assert loaded.meta["method"] == "seds-stable"
    x = np.array([0.2, -0.1, 0.05])
    np.testing.assert_array_equal(loaded.velocity(x), skill.velocity(x))


def test_truncated_or_corrupt_skill_files_name_the_file(tmp_path, skill):
    good = skill.save(tmp_path / "skill.yaml").read_text()
    cases = {
        "truncated.yaml": good[: len(good) // 2],
        "garbage.yaml": "\x00\x01 not: [yaml",
        "wrong_format.yaml": "format: something-else\nversion: 1\n",
        "empty.yaml": "",
        "nan.yaml": good.replace("priors: [", "priors: [.nan, ", 1),
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(ValueError, match=name):
            load_skill(path)
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_skill(tmp_path / "missing.yaml")


def test_bad_parameters_in_file_are_named(tmp_path, skill):
    data = skill.to_dict()
    data["covariances"][1] = (-np.eye(6)).tolist()
    path = tmp_path / "indefinite.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=r"indefinite.yaml: field 'covariances'\[1\] is not positive definite"):
        load_skill(path)


def test_crash_while_saving_leaves_previous_file_intact(tmp_path, skill, monkeypatch):
    path = skill.save(tmp_path / "skill.yaml")
    before = path.read_bytes()
    other = skill.adapted(d_means=np.full((3, 6), 0.01))

    def crash(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        other.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["skill.yaml"]     # no temp file left behind


def test_constructor_validates(skill):
    with pytest.raises(ValueError, match="sum to 1"):
        GMMSkill(np.array([0.5, 0.2, 0.1]), skill.means, skill.covariances)
    with pytest.raises(ValueError, match="'means' has shape"):
        GMMSkill(skill.priors, skill.means[:, :5], skill.covariances)


def test_stabilized_attractor_is_exactly_the_origin_even_for_ill_conditioned_components():
    # one component nearly flat along one axis (cond(Sigma_xx) ~ 1e11, as EM can leave on
    # 5 demonstrations) with steep, offset dynamics: b_k re-derived from the joint
    # covariance would carry ~1e-6 m/s of round-off; the projection must leave none
    d = 3
    rng = np.random.default_rng(3)
    priors = np.array([0.5, 0.5])
    means = np.zeros((2, 2 * d))
    means[:, :d] = [[0.2, -0.3, 0.1], [-0.6, 0.4, -0.4]]
    means[:, d:] = rng.normal(size=(2, d))
    covs = np.zeros((2, 2 * d, 2 * d))
    for k, eigs in enumerate(([1e-3, 2e-3, 3e-3], [4e-12, 0.3, 1.0])):
        q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        sxx = q @ np.diag(eigs) @ q.T
        a = -25.0 * np.eye(d) + rng.normal(size=(d, d))
        svx = a @ sxx
        covs[k, :d, :d], covs[k, d:, :d], covs[k, :d, d:] = sxx, svx, svx.T
        covs[k, d:, d:] = svx @ a.T + 1e-4 * np.eye(d)
    skill = GMMSkill(priors, means, covs)
    assert skill.attractor_offset > 0.1
    stable = skill.stabilized()
    assert stable.attractor_offset == 0.0 and stable.is_stable(tol=0.0)
    assert stable.stability_margin < 0
