"""The `sacgmm` command: demos -> fit -> summary/plot, errors, and a light-weight start-up."""
import json
import subprocess
import sys

import numpy as np

from sacgmm.cli.main import main
from sacgmm.skill import load_demos, load_skill


def test_demos_then_fit_with_plot_and_json(tmp_path, capsys):
    demo_dir = tmp_path / "demos"
    assert main(["demos", "--task", "curve", "--n", "6", "--dim", "2", "--seed", "1",
                 "--out", str(demo_dir)]) == 0
    assert len(load_demos(demo_dir)) == 6
    capsys.readouterr()
    out = tmp_path / "skill.yaml"
    plot = tmp_path / "skill.png"
    assert main(["fit", "--demos", str(demo_dir), "--out", str(out), "--components", "3",
                 "--plot", str(plot), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["globally_stable"] is True and summary["stability_margin"] < 0
    assert 0 < summary["reproduction_error_m"] < 0.02
    assert np.isfinite(summary["log_likelihood"])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    skill = load_skill(out)
    assert skill.dim == 2 and skill.n_components == 3 and skill.meta["method"] == "seds-stable"


def test_fit_text_summary_and_unstable_option(tmp_path, capsys):
    demo_dir = tmp_path / "demos"
    main(["demos", "--task", "line", "--n", "3", "--out", str(demo_dir)])
    capsys.readouterr()
    assert main(["fit", "--demos", str(demo_dir), "--out", str(tmp_path / "s.yaml"), "--unstable"]) == 0
    text = capsys.readouterr().out
    assert "reproduction error" in text and "stability margin" in text and "log-likelihood" in text
    assert load_skill(tmp_path / "s.yaml").meta["method"] == "em"


def test_fit_errors_name_the_file(tmp_path, capsys):
    assert main(["fit", "--demos", str(tmp_path / "absent"), "--out", str(tmp_path / "s.yaml")]) == 2
    assert "absent" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "d.csv").write_text("# sacgmm-demo: 1\n# dt: 0.1\nx,y\n0,0\n1,nan\n2,2\n")
    assert main(["fit", "--demos", str(bad), "--out", str(tmp_path / "s.yaml")]) == 2
    err = capsys.readouterr().err
    assert "d.csv" in err and "NaN" in err
    assert not (tmp_path / "s.yaml").exists()


def test_core_imports_no_heavy_or_ros_modules():
    code = ("import sys, sacgmm.skill, sacgmm.cli.main as m; m.build_parser(); "
            "print(sorted(x for x in ('torch', 'pybullet', 'rclpy', 'cv2', 'gymnasium') if x in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_bench_skill_shapes_compares_the_stable_fit_with_em(tmp_path):
    """``sacgmm bench-skill --shapes``: per shape and overall, the reproduction error, the
    convergence from demonstration and random starts and the fit time of each fit, with the
    targets checked in the same run."""
    import json

    from sacgmm.cli.main import main
    out = tmp_path / "shapes.json"
    assert main(["bench-skill", "--shapes", "--shape", "corner", "--components", "3",
                 "--random-starts", "5", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    row = res["shapes"]["corner"]
    assert set(res["overall"]) == {"stable", "stable-learned-P-1000it", "stable-clf", "em-gmr"}
    for fit in ("stable", "stable-learned-P-1000it", "stable-clf"):
        assert row[fit]["converged_from_demo_starts"] == 1.0
        assert row[fit]["converged_from_random_starts"] == 1.0
        assert 0.0 < row[fit]["median_error"] < 0.2 and row[fit]["fit_s"] > 0
    assert res["meets_targets"]["stable"]["convergence"] is True
    assert res["command"].startswith("sacgmm bench-skill") and "--shapes" in res["command"]
    assert main(["bench-skill", "--shapes", "--shape", "blob", "--out", str(out)]) == 2
