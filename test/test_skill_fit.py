"""The stable GMM skill: global stability, accuracy against plain GMR, gradients, bad input."""
import numpy as np
import pytest
from scipy.optimize import approx_fprime

from sacgmm.skill import fit_skill, reproduction_error
from sacgmm.skill.demos import stack_demos
from sacgmm.skill.fit import _StableProblem
from sacgmm.skill.synthetic import make_demos

DT = 1.0 / 30.0
CASES = [(shape, dim) for shape in ("line", "curve", "s-shape") for dim in (2, 3)]
_cache = {}


def fitted(shape, dim):
    """Demos and the stable and unconstrained skills for one case (fitted once per session)."""
    if (shape, dim) not in _cache:
        demos = make_demos(shape, n=20, dim=dim, seed=3, length=300)
        _cache[shape, dim] = (demos, fit_skill(demos, DT, 3, stable=True, seed=0),
                              fit_skill(demos, DT, 3, stable=False, seed=0))
    return _cache[shape, dim]


@pytest.mark.parametrize("shape,dim", CASES)
def test_stable_fit_is_globally_stable(shape, dim):
    demos, skill, _ = fitted(shape, dim)
    assert skill.is_stable(tol=1e-9)
    assert skill.stability_margin < 0
    pts = np.concatenate(demos)
    lo, hi = pts.min(0), pts.max(0)
    centre, extent = 0.5 * (lo + hi), np.maximum(hi - lo, 0.05 * (hi - lo).max())
    rng = np.random.default_rng(0)
    starts = centre + rng.uniform(-1.5, 1.5, (200, dim)) * extent   # a box 3x the extent
    traj = skill.rollout(starts, DT, 4000)                          # (4001, 200, dim)
    final = np.linalg.norm(traj[-1], axis=1)
    assert final.max() < max(1e-3, 0.01 * np.linalg.norm(hi - lo))
    lyap = np.sum(traj ** 2, axis=-1)                               # V(x) = |x|^2
    assert np.all(np.diff(lyap, axis=0) <= 1e-15), "V must not increase along any rollout"


@pytest.mark.parametrize("shape,dim", CASES)
def test_stable_fit_reproduces_demos_as_well_as_plain_gmr(shape, dim):
    demos, stable, plain = fitted(shape, dim)
    err_stable = reproduction_error(stable, demos, DT)
    err_plain = reproduction_error(plain, demos, DT)
    assert err_stable <= 1.3 * err_plain
    # and in absolute terms it follows the demos closely (metres)
    assert err_stable < 0.03


def test_unconstrained_skill_matches_gmr_library():
    import gmr
    demos, _, plain = fitted("curve", 3)
    x = np.concatenate(demos)[::7]
    ref = gmr.GMM(plain.n_components, plain.priors, plain.means, plain.covariances)
    np.testing.assert_allclose(plain.velocity(x), ref.predict(np.arange(3), x), atol=1e-10)


@pytest.mark.parametrize("learn_metric", [False, True])
def test_analytic_gradient_matches_finite_differences(learn_metric):
    demos = make_demos("s-shape", n=4, dim=3, seed=1, length=60)
    x, v = stack_demos(demos, DT)
    from sklearn.mixture import GaussianMixture
    gm = GaussianMixture(3, covariance_type="full", random_state=0).fit(np.c_[x, v])
    problem = _StableProblem(x, v, 3, 0.05, 0.02, float(np.mean(np.sum(v ** 2, 1))),
                             learn_metric=learn_metric)
    theta = problem.initial(gm) + 0.05 * np.random.default_rng(0).normal(size=problem.initial(gm).shape)
    loss, grad = problem.loss_and_grad(theta)
    numeric = approx_fprime(theta, lambda t: problem.loss_and_grad(t)[0], 1e-7)
    np.testing.assert_allclose(grad, numeric, rtol=1e-3, atol=1e-3 * np.abs(numeric).max())


def test_free_maps_gradient_matches_finite_differences():
    """The CLF method's joint fit: gating and unconstrained A_k, b_k, weighted samples."""
    demos = make_demos("s-shape", n=4, dim=3, seed=1, length=60)
    x, v = stack_demos(demos, DT)
    rng = np.random.default_rng(0)
    problem = _StableProblem(x, v, 3, 0.0, 0.02, float(np.mean(np.sum(v ** 2, 1))),
                             free_maps=True, weights=rng.uniform(0.5, 3.0, len(x)))
    mu = x[rng.choice(len(x), 3, replace=False)]
    theta = problem.initial_free(np.full(3, 1 / 3), mu, np.stack([np.cov(x.T)] * 3),
                                 rng.normal(0, 1, (3, 3, 3)), rng.normal(0, 0.1, (3, 3)))
    loss, grad = problem.loss_and_grad(theta)
    numeric = approx_fprime(theta, lambda t: problem.loss_and_grad(t)[0], 1e-7)
    np.testing.assert_allclose(grad, numeric, rtol=1e-3, atol=1e-3 * np.abs(numeric).max())


def test_fit_is_deterministic_for_a_seed():
    demos = make_demos("curve", n=5, dim=2, seed=0, length=80)
    a = fit_skill(demos, DT, 3, seed=4)
    b = fit_skill(demos, DT, 3, seed=4)
    np.testing.assert_array_equal(a.means, b.means)
    np.testing.assert_array_equal(a.covariances, b.covariances)
    a = fit_skill(demos, DT, 3, seed=4, method="clf")
    b = fit_skill(demos, DT, 3, seed=4, method="clf")
    np.testing.assert_array_equal(a.means, b.means)
    assert a.meta["clf"] == b.meta["clf"] and a.meta["em_seed"] == b.meta["em_seed"]


def test_one_dimensional_skill_converges():
    demos = make_demos("line", n=5, dim=1, seed=0, length=100)
    skill = fit_skill(demos, DT, 2, seed=0)
    traj = skill.rollout(np.array([[0.5], [-0.4]]), DT, 3000)
    assert np.abs(traj[-1]).max() < 1e-3


def _good(n=3, t=40, d=3):
    return make_demos("curve", n=n, dim=d, seed=0, length=t)


@pytest.mark.parametrize("mutate,message", [
    (lambda ds: ds[:1] + [np.where(np.arange(ds[1].size).reshape(ds[1].shape) == 7, np.nan, ds[1])] + ds[2:],
     "demo 1: contains NaN or inf"),
    (lambda ds: ds[:2] + [np.full_like(ds[2], np.inf)], "demo 2: contains NaN or inf"),
    (lambda ds: [ds[0][:, 0]] + ds[1:], "demo 0: expected a 2-D array"),
    (lambda ds: ds[:1] + [ds[1][:2]] + ds[2:], "demo 1: has 2 point(s), needs at least 3"),
    (lambda ds: ds[:2] + [ds[2][:, :2]], "demo 2: has dimension 2, but demo 0 has dimension 3"),
    (lambda ds: [], "no demonstrations"),
])
def test_bad_demos_raise_naming_the_demo(mutate, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fit_skill(mutate(_good()), DT, 3)


@pytest.mark.parametrize("dt", [0.0, -0.1, float("nan"), float("inf"), "fast"])
def test_bad_dt_raises(dt):
    with pytest.raises(ValueError, match="dt must be a positive"):
        fit_skill(_good(), dt, 3)


def test_more_components_than_samples_raises():
    demos = [np.array([[0.3, 0.2], [0.2, 0.1], [0.0, 0.0]])]
    with pytest.raises(ValueError, match="n_components=5 is more than the number of samples \\(3\\)"):
        fit_skill(demos, DT, 5)


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_bad_component_count_raises(k):
    with pytest.raises(ValueError, match="n_components must be a positive integer"):
        fit_skill(_good(), DT, k)


def test_a_learned_lyapunov_function_certifies_the_fit_and_survives_adaptation():
    """metric="learned": V = x^T P x with P fitted; A_k^T P + P A_k < 0 for every k (checked
    on the saved skill), V decreases along rollouts from far starts, stabilized() leaves the
    fitted skill as it is and brings an adapted one back under the same certificate."""
    from sacgmm.skill.shapes import shape_demos
    demos = shape_demos("overshoot", n=5, seed=0, length=90)
    skill = fit_skill(demos, DT, 4, stable=True, seed=0, metric="learned", max_iter=200)
    p = skill.lyapunov
    assert not np.allclose(p, np.eye(2)) and np.linalg.eigvalsh(p).min() > 0
    a = skill.linear_gains
    assert np.linalg.eigvalsh(np.swapaxes(a, 1, 2) @ p + p @ a).max() < 0
    assert skill.is_stable(tol=1e-9)
    starts = np.random.default_rng(0).uniform(-0.6, 0.6, (50, 2))
    traj = skill.rollout(starts, DT, 3000)
    v = np.einsum("tni,ij,tnj->tn", traj, p, traj)
    assert np.all(np.diff(v, axis=0) <= 1e-15) and np.abs(traj[-1]).max() < 1e-3
    same = skill.stabilized()
    np.testing.assert_allclose(same.velocity(starts), skill.velocity(starts), atol=1e-9)
    shoved = skill.adapted(d_means=np.tile([0.0, 0.0, 0.3, -0.3], (4, 1)))
    assert not shoved.is_stable()
    back = skill.adapted(d_means=np.tile([0.0, 0.0, 0.3, -0.3], (4, 1)), stable=True)
    a = back.linear_gains
    assert back.is_stable(tol=1e-9)
    assert np.linalg.eigvalsh(np.swapaxes(a, 1, 2) @ p + p @ a).max() < 0


# -- method="clf": EM + GMR with a control-Lyapunov-function filter -------------------------
def _clf_skill(name="acute-v", n=5, length=90, k=4):
    from sacgmm.skill.shapes import shape_demos
    demos = shape_demos(name, n=n, seed=0, length=length)
    return demos, fit_skill(demos, DT, k, stable=True, seed=0, method="clf")


@pytest.mark.parametrize("name", ["acute-v", "c-around", "helix"])
def test_clf_fit_decreases_its_lyapunov_function_along_rollouts_from_random_starts(name):
    """The certificate: V(x) = |x|^2 exp(p(x/|x|)) strictly decreases at every Euler step of the
    design period along rollouts from random starts far around the shape, and they converge."""
    demos, skill = _clf_skill(name)
    assert skill.clf is not None and skill.is_stable(tol=1e-9)
    assert skill.meta["clf"]["step"] == pytest.approx(DT)
    pts = np.concatenate(demos)
    extent = float(np.linalg.norm(pts.max(0) - pts.min(0)))
    rng = np.random.default_rng(0)
    starts = 0.5 * (pts.max(0) + pts.min(0)) + 4 * extent * rng.uniform(-0.5, 0.5, (60, pts.shape[1]))
    starts = np.concatenate([starts, [d[0] for d in demos]])
    traj = skill.rollout(starts, DT, 3000)                         # (3001, m, d)
    lyap = skill.clf.lyapunov
    v = lyap.value(traj.reshape(-1, traj.shape[-1])).reshape(traj.shape[:2])
    moving = v[:-1] > 1e-24
    assert np.all(np.diff(v, axis=0)[moving] < 0), "V must strictly decrease at every step"
    assert np.linalg.norm(traj[-1], axis=1).max() < 0.01 * extent
    # and in continuous time: grad V . f <= -c V at arbitrary points
    x = starts + rng.normal(0, 0.3 * extent, starts.shape)
    val, grad = lyap.value_and_grad(x)
    speed = skill.velocity(x)
    assert np.all(np.sum(grad * speed, 1) < 0)


def test_clf_lyapunov_gradient_and_positivity():
    """V is positive off the origin, x . grad V = 2 V (so grad V vanishes only at the origin),
    and the analytic gradient matches finite differences, for arbitrary coefficients."""
    from sacgmm.skill.clf import GaugeLyapunov, monomial_exponents
    rng = np.random.default_rng(0)
    for dim, degree in ((1, 4), (2, 4), (3, 4), (2, 2), (3, 2)):    # degree 2: the fast form
        e = monomial_exponents(dim, degree)
        lyap = GaugeLyapunov(e, rng.normal(0, 0.5, len(e)))
        x = rng.normal(size=(50, dim))
        val, grad = lyap.value_and_grad(x)
        assert (val > 0).all()
        np.testing.assert_allclose(np.sum(x * grad, 1), 2 * val, rtol=1e-10)
        num = np.stack([(lyap.value(x + h) - lyap.value(x - h)) / 2e-6
                        for h in 1e-6 * np.eye(dim)], axis=1)
        np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose([lyap.unit_value(xx) for xx in x], val, rtol=1e-12)
        u = x / np.linalg.norm(x, axis=1)[:, None]
        one = [lyap.unit_value_and_grad(uu) for uu in u]
        np.testing.assert_allclose([o[1] for o in one], lyap.value_and_grad(u)[1], rtol=1e-12)


def test_clf_velocity_single_matches_batch_and_origin_is_fixed():
    demos, skill = _clf_skill("helix")
    rng = np.random.default_rng(2)
    x = np.concatenate([np.concatenate(demos)[::9], rng.normal(0, 1.0, (40, 3)),
                        1e-9 * rng.normal(size=(5, 3)), np.zeros((1, 3)), [[1e150, -3e149, 2e149]]])
    batch = skill.velocity(x)
    assert np.isfinite(batch).all()
    np.testing.assert_allclose(np.array([skill.velocity(p) for p in x]), batch, rtol=1e-9,
                               atol=1e-15)
    np.testing.assert_array_equal(skill.velocity(np.zeros(3)), 0.0)


def test_clf_skill_survives_save_load_and_adaptation(tmp_path):
    """The filter is saved with the skill; an adapted skill keeps it (V still decreases), and
    adapted(..., stable=True) shifts the GMR back to zero velocity at the attractor."""
    from sacgmm.skill import load_skill
    demos, skill = _clf_skill("c-around")
    back = load_skill(skill.save(tmp_path / "clf.yaml"))
    x = np.concatenate(demos)[::7]
    np.testing.assert_allclose(back.velocity(x), skill.velocity(x), rtol=1e-12, atol=1e-15)
    k = skill.n_components
    shove = np.tile([0.0, 0.0, 0.05, -0.05], (k, 1))
    loose = skill.adapted(d_means=shove)
    assert loose.clf is not None and not loose.is_stable()
    fixed = skill.adapted(d_means=shove, stable=True)
    assert fixed.is_stable(tol=1e-12)
    rebuilt = load_skill(fixed.save(tmp_path / "fixed.yaml"))     # offsets moved in place
    np.testing.assert_allclose(rebuilt.velocity(x), fixed.velocity(x), rtol=1e-9, atol=1e-14)
    assert fixed.stabilized().is_stable(tol=1e-12)
    for s in (loose, fixed):
        traj = s.rollout(x[::3], DT, 2500)
        v = s.clf.lyapunov.value(traj.reshape(-1, 2)).reshape(traj.shape[:2])
        assert np.all(np.diff(v, axis=0)[v[:-1] > 1e-24] < 0)
        assert np.linalg.norm(traj[-1], axis=1).max() < 2e-3


def test_clf_single_query_fast_form_matches_the_general_filter():
    """The controller's single-query form of the filter (degree 2, position units) gives the
    general form's velocity, also where it corrects the GMR and where it shortens the step."""
    import copy
    demos, skill = _clf_skill("helix")
    general = copy.copy(skill.clf)
    general._ql = None
    rng = np.random.default_rng(3)
    x = np.concatenate([np.concatenate(demos)[::5], rng.normal(0, 0.2, (200, 3))])
    f = skill._gmr_velocity(x)
    f[::7] *= -3.0                              # uphill: needs the correction
    f[::11] *= 40.0                             # fast: capped, and the Euler step too long
    fast = np.array([skill.clf.apply_one(a, b) for a, b in zip(x, f)])
    slow = np.array([general.apply_one(a, b) for a, b in zip(x, f)])
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(skill.clf.apply(x, f), slow, rtol=1e-9, atol=1e-15)


def test_clf_fit_follows_hard_shapes_closer_than_em_gmr():
    """The path-attracting GMR under the filter reproduces shapes with corners and loops more
    closely than plain EM + GMR on the same demonstrations (DTW error of rollouts from the
    demonstrations' starts), and converges where EM + GMR does not."""
    from sacgmm.skill.metrics import reproduction_error
    from sacgmm.skill.shapes import shape_demos
    for name in ("w", "corner-3d"):
        demos = shape_demos(name, n=7, seed=0)
        clf = fit_skill(demos, DT, 6, method="clf", seed=0)
        em = fit_skill(demos, DT, 6, stable=False, seed=0)
        assert reproduction_error(clf, demos, DT) < 0.5 * reproduction_error(em, demos, DT)
        ends = clf.rollout(np.stack([d[0] for d in demos]), DT, 3000)[-1]
        assert np.linalg.norm(ends, axis=1).max() < 1e-3
        assert clf.meta["em_seed"] in (0, 1, 2) and clf.meta["n_init"] == 3


def test_clf_filter_carries_a_stalled_gmr_at_the_demonstrations_pace():
    """The filter's required decrease follows the demonstrations' own: for demonstrations that
    never slow down, a GMR that has stalled (zero velocity everywhere) is still carried most of
    the way to the target within three demonstration durations; for demonstrations that start
    and end at rest, the requirement stays at its floor."""
    from sacgmm.skill.clf import DEFAULT_RATE_FRACTION, clf_spec
    rng = np.random.default_rng(0)
    steady = []
    for _ in range(5):                                   # constant speed, 3 s, no rest
        start = rng.uniform(-1, 1, 3) * 0.1 + np.array([0.3, 0.0, 0.2])
        steady.append(np.linspace(start, np.zeros(3), 90, endpoint=False))
    x, v = stack_demos(steady, DT)
    spec = clf_spec(x, v, DT)
    gain = np.sqrt(np.mean(np.sum(v ** 2, 1)) / np.mean(np.sum(x ** 2, 1)))
    assert spec["rate"] > 5 * DEFAULT_RATE_FRACTION * gain
    from sacgmm.skill import GMMSkill
    stalled = GMMSkill([1.0], np.zeros((1, 6)), np.eye(6)[None] * 0.01, meta={"clf": spec})
    ends = stalled.rollout(np.stack([d[0] for d in steady]), DT, 3 * 90)[-1]
    assert (np.linalg.norm(ends, axis=1) < 0.35 * np.linalg.norm([d[0] for d in steady], axis=1)).all()
    from sacgmm.skill.shapes import shape_demos
    x, v = stack_demos(shape_demos("s-turn", n=5, seed=0), DT)   # minimum-jerk: from rest
    gain = np.sqrt(np.mean(np.sum(v ** 2, 1)) / np.mean(np.sum(x ** 2, 1)))
    assert clf_spec(x, v, DT)["rate"] == pytest.approx(DEFAULT_RATE_FRACTION * gain)


def test_tube_gmr_pulls_back_onto_the_demonstrated_path():
    """Beside a demonstration (3 % of the extent off it, on either side) the refitted GMR's
    velocity, minus the demonstrated one, points back to it several times harder than plain
    EM's conditional maps do on the same gating."""
    from sacgmm.skill.demos import stack_demos
    from sacgmm.skill.shapes import shape_demos
    from sacgmm.skill.tube import normal_directions, tube_gmr
    for name in ("s-turn", "spiral"):
        demos = shape_demos(name, n=5, seed=0)
        x, v = stack_demos(demos, DT)
        em = fit_skill(demos, DT, 6, stable=False, seed=0)
        d = x.shape[1]
        tube = tube_gmr(em.priors, em.means[:, :d], em.covariances[:, :d, :d], x, v, DT)
        n = normal_directions(v)[:, :, 0]
        extent = float(np.ptp(x, axis=0).max())
        for side in (-1.0, 1.0):
            delta = side * 0.03 * extent * n
            pull = {key: float(np.median(np.sum((s.velocity(x + delta) - v) * -delta, 1)))
                    for key, s in (("tube", tube), ("em", em))}
            assert pull["tube"] > 0 and pull["tube"] > 2.5 * max(pull["em"], 0.0), (name, pull)
    np.testing.assert_allclose(np.linalg.norm(normal_directions(np.zeros((2, 3))), axis=1), 1.0)


def test_clf_skill_shifted_as_a_whole_ends_at_the_shifted_attractor(tmp_path):
    """A shared shift of the position means (SAC-GMM's default action) translates a CLF skill:
    the filter moves with it, the velocity field is the same translated, rollouts end at the
    shift, and the moved attractor is saved with the skill."""
    from sacgmm.skill import load_skill
    demos, skill = _clf_skill("helix")
    delta = np.array([0.02, -0.01, 0.03])
    shift = np.zeros((skill.n_components, 6))
    shift[:, :3] = delta
    moved = skill.adapted(d_means=shift)
    x = np.concatenate(demos)[::6]
    np.testing.assert_allclose(moved.velocity(x + delta), skill.velocity(x), rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(np.array([moved.velocity(p) for p in x + delta]),
                               skill.velocity(x), rtol=1e-7, atol=1e-12)
    ends = moved.rollout(x[::4] + delta, DT, 3000)[-1]
    assert np.abs(ends - delta).max() < 1e-3
    np.testing.assert_allclose(moved.meta["clf"]["center"], delta)
    assert skill.meta["clf"].get("center") is None           # the fitted skill is unchanged
    back = load_skill(moved.save(tmp_path / "moved.yaml"))
    np.testing.assert_allclose(back.velocity(x), moved.velocity(x), rtol=1e-12, atol=1e-15)
    assert moved.adapted(d_means=-shift).clf.center is None or np.allclose(
        moved.adapted(d_means=-shift).clf.center, 0.0)


@pytest.mark.parametrize("kwargs,message", [
    ({"method": "lyapunov"}, "method must be 'seds' or 'clf'"),
    ({"method": "clf", "stable": False}, "method='clf' is a stable fit"),
    ({"method": "clf", "metric": "learned"}, "metric='learned' is for method='seds'"),
    ({"method": "clf", "n_init": 0}, "n_init must be a positive integer"),
])
def test_bad_method_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit_skill(_good(), DT, 3, **kwargs)
