"""A third-party trainer plugin, really pip-installed: listed, trains, and is missed when removed.

The plugin is ``examples/plugin-template`` (distribution ``mlx-template-trainer``, trainer
``reinforce``). It is installed into this interpreter's environment for the module's tests and
uninstalled afterwards, whatever happens.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import run_mlx

pytestmark = pytest.mark.slow

TEMPLATE = Path(__file__).resolve().parents[2] / "examples" / "plugin-template"
DISTRIBUTION = "mlx-template-trainer"

CONFIG = """\
behaviors:
  Goal1DDiscrete:
    trainer: reinforce
    hyperparameters: {learning_rate: 0.003, buffer_size: 1024}
    max_steps: 4000
    summary_freq: 2000
env_settings:
  env: Goal1DDiscrete
  num_envs: 8
  seed: 1
"""


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    """Run pip of this interpreter, offline."""
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory):
    """Install a copy of the template (so no build files land in the repository); uninstall after."""
    source = tmp_path_factory.mktemp("src") / "plugin-template"
    shutil.copytree(TEMPLATE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    proc = pip("install", "--no-deps", "--no-build-isolation", "--no-index", str(source))
    try:
        assert proc.returncode == 0, f"pip install failed:\n{proc.stdout}\n{proc.stderr}"
        yield
    finally:
        pip("uninstall", "-y", DISTRIBUTION)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the run's configuration file; results go to its ``results/``."""
    folder = tmp_path_factory.mktemp("runs")
    (folder / "reinforce.yaml").write_text(textwrap.dedent(CONFIG))
    return folder


def mlx_run(workdir: Path, run_id: str) -> subprocess.CompletedProcess[str]:
    return run_mlx(
        "run", str(workdir / "reinforce.yaml"), "--run-id", run_id,
        "--results-dir", str(workdir / "results"), "--cpu",
        cwd=workdir,
    )  # fmt: skip


def test_installed_plugin_is_listed_with_its_trainer(installed, workdir: Path) -> None:
    proc = run_mlx("plugins", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    (header,) = [i for i, line in enumerate(lines) if line.startswith(f"{DISTRIBUTION} 0.1.0 ")]
    provided = []
    for line in lines[header + 1 :]:
        if not line.startswith("  "):
            break
        provided.append(line.strip())
    assert "trainer: reinforce" in provided


def test_installed_trainer_runs_and_exports_onnx(installed, workdir: Path) -> None:
    proc = mlx_run(workdir, "with-plugin")
    assert proc.returncode == 0, proc.stderr
    behavior_dir = workdir / "results" / "with-plugin" / "Goal1DDiscrete"
    assert (behavior_dir / "Goal1DDiscrete.onnx").stat().st_size > 0
    assert "Goal1DDiscrete. Step: 4000." in proc.stdout


def test_uninstalled_trainer_fails_listing_installed_names(installed, workdir: Path) -> None:
    # Runs after the tests above (file order): remove the plugin, then ask for its trainer.
    proc = pip("uninstall", "-y", DISTRIBUTION)
    assert proc.returncode == 0, proc.stderr
    proc = mlx_run(workdir, "without-plugin")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "'reinforce'" in proc.stderr
    assert "Installed trainer names:" in proc.stderr and "ppo" in proc.stderr
