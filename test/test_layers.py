"""The package's import contracts (``.importlinter`` at the repository root) hold.

``lint-imports`` (import-linter) checks that no layer imports a layer above it
(cli > ros > experiments > rl > sim > skill | robot > helpers), that nothing below
``sacgmm.ros`` reaches rclpy or a ROS message package and that ``sacgmm.skill`` imports no
torch or pybullet.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONTRACTS = REPO / ".importlinter"
PACKAGE_PARENT = REPO / "src" / "sacgmm"

# the console script's body, run by this interpreter (works whatever bin/ it lives in)
_LINT = "import sys; from importlinter.cli import lint_imports_command; " \
        "sys.exit(lint_imports_command())"


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess:
    """Run ``lint-imports`` on the ``sacgmm`` package found in ``package_parent``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(package_parent)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return subprocess.run([sys.executable, "-c", _LINT, "--config", str(CONTRACTS), "--no-cache"],
                          cwd=package_parent, env=env, capture_output=True, text=True,
                          timeout=300)


def test_import_contracts_hold():
    result = lint_imports(PACKAGE_PARENT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout


def test_an_upward_import_breaks_the_layers(tmp_path):
    """The contracts are not vacuous: skill importing from rl (upward) is reported."""
    shutil.copytree(PACKAGE_PARENT / "sacgmm", tmp_path / "sacgmm",
                    ignore=shutil.ignore_patterns("__pycache__"))
    model = tmp_path / "sacgmm" / "skill" / "model.py"
    model.write_text(model.read_text() + "\n\ndef _upward():\n"
                     "    from sacgmm.rl.task_env import GMMWindowEnv  # noqa: F401\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "sacgmm.skill.model -> sacgmm.rl.task_env" in result.stdout, result.stdout
