"""The demonstration file format and velocity estimation."""
import numpy as np
import pytest

from sacgmm.skill.demos import estimate_velocities, load_demos, save_demo, save_demos
from sacgmm.skill.synthetic import make_demos

DT = 1.0 / 30.0


def test_round_trip(tmp_path):
    demos = make_demos("curve", n=3, dim=3, seed=0, length=40)
    paths = save_demos(tmp_path, demos, DT)
    assert [p.name for p in paths] == ["demo_000.csv", "demo_001.csv", "demo_002.csv"]
    loaded = load_demos(tmp_path)
    assert loaded.dt == DT and loaded.frame == "target" and len(loaded) == 3 and loaded.dim == 3
    for a, b in zip(demos, loaded.positions):
        np.testing.assert_array_equal(a, b)
    header = paths[0].read_text().splitlines()[:5]
    assert header[0] == "# sacgmm-demo: 1" and header[4] == "x,y,z"
    # loadable by a plain CSV reader
    np.testing.assert_array_equal(np.loadtxt(paths[0], delimiter=",", comments="#", skiprows=5), demos[0])


def test_single_file_and_high_dimension(tmp_path):
    demo = np.random.default_rng(0).normal(size=(10, 5))
    save_demo(tmp_path / "one.csv", demo, 0.01, frame="door_handle")
    loaded = load_demos(tmp_path / "one.csv")
    assert loaded.frame == "door_handle" and loaded.dim == 5
    np.testing.assert_array_equal(loaded.positions[0], demo)


@pytest.mark.parametrize("edit,message", [
    (lambda t: t.replace("# sacgmm-demo: 1\n", ""), "missing the '# sacgmm-demo"),
    (lambda t: t.replace("# sacgmm-demo: 1", "# sacgmm-demo: 9"), "unsupported sacgmm-demo version"),
    (lambda t: t.replace("# dt: ", "# dt: -"), "field 'dt'"),
    (lambda t: t.rsplit(",", 1)[0] + "\n", "has 2 values, expected 3"),
    (lambda t: t.replace("x,y,z", "a,b,c"), "column-name row"),
    (lambda t: t + "0.1,nan,0.2\n", "contains NaN or inf"),
    (lambda t: t + "0.1,zz,0.2\n", "is not numeric"),
    (lambda t: "\n".join(t.splitlines()[:7]) + "\n", "needs at least 3"),
])
def test_corrupt_demo_files_name_the_file_and_problem(tmp_path, edit, message):
    path = save_demo(tmp_path / "bad.csv", make_demos("line", 1, 3, 0, length=20)[0], DT)
    path.write_text(edit(path.read_text()))
    with pytest.raises(ValueError, match="bad.csv") as err:
        load_demos(path)
    assert message in str(err.value)


def test_inconsistent_set_is_rejected(tmp_path):
    save_demo(tmp_path / "a.csv", np.zeros((5, 3)) + 1, DT)
    save_demo(tmp_path / "b.csv", np.zeros((5, 3)) + 1, 2 * DT)
    with pytest.raises(ValueError, match="b.csv: dt"):
        load_demos(tmp_path)


def test_missing_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_demos(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no demonstration files"):
        load_demos(tmp_path)


def test_velocity_estimate_is_exact_for_quadratics_and_smooths_noise():
    t = np.arange(50) * DT
    x = np.stack([0.3 - 0.1 * t ** 2, 0.2 * t], axis=1)
    v = estimate_velocities(x, DT)
    np.testing.assert_allclose(v, np.stack([-0.2 * t, 0.2 + 0 * t], axis=1), atol=1e-10)
    noisy = x + np.random.default_rng(0).normal(0, 1e-4, x.shape)
    err_smooth = np.abs(estimate_velocities(noisy, DT) - v).mean()
    err_raw = np.abs(np.gradient(noisy, DT, axis=0) - v).mean()
    assert err_smooth < 0.6 * err_raw
    assert estimate_velocities(x[:3], DT).shape == (3, 2)
