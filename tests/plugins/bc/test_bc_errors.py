"""Bad input to mlx-bc: demonstrations for another spec, missing paths, empty folders, a missing teacher."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlx_core.config.loader import load_run_options
from mlx_core.demos import spec_summary
from mlx_core.env.builtin.goal import Goal1DContinuous, Goal1DDiscrete
from mlx_core.errors import ConfigError, DemoError, MlxError
from mlx_core.plugins.manager import get_plugins
from mlx_core.training.controller import TrainerController
from tests.plugins.bc.conftest import record_demos, write_config


@pytest.fixture(scope="module")
def continuous_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Goal1DContinuous demonstrations: the wrong spec for Goal1DDiscrete."""
    return record_demos(tmp_path_factory.mktemp("demos"), "Goal1DContinuous", "goal_continuous", 4)


def prepare(tmp_path: Path, section: str) -> None:
    """Load a Goal1DDiscrete configuration with ``section`` under the behavior and build its trainer."""
    config = write_config(
        tmp_path, f"behaviors:\n  Goal1DDiscrete:\n{section}env_settings: {{env: Goal1DDiscrete}}\n", "c.yaml"
    )
    TrainerController(load_run_options(config), tmp_path / "run", get_plugins()).prepare()


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            "    trainer: bc\n    hyperparameters: {demo_path: expert.demo}\n",
            ["behaviors.Goal1DDiscrete.hyperparameters.demo_path", "expert.demo"],
        ),
        (
            "    trainer: ppo\n    behavioral_cloning: {demo_path: expert.demo, strength: 0.5}\n",
            ["behaviors.Goal1DDiscrete.behavioral_cloning.demo_path", "expert.demo"],
        ),
    ],
)
def test_demo_for_another_spec_shows_both_specs_through_mlx_run(
    tmp_path: Path, mlx, continuous_demo: Path, section: str, expected: list[str]
) -> None:
    shutil.copy(continuous_demo, tmp_path / "expert.demo")
    write_config(tmp_path, f"behaviors:\n  Goal1DDiscrete:\n{section}env_settings: {{env: Goal1DDiscrete}}\n")
    proc = mlx("run", "config.yaml")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    (error,) = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    for text in [*expected, spec_summary(Goal1DContinuous.spec), spec_summary(Goal1DDiscrete.spec)]:
        assert text in error, error
    assert not (tmp_path / "results").exists()


def test_missing_demo_path_names_key_and_path_through_mlx_run(tmp_path: Path, mlx) -> None:
    write_config(
        tmp_path,
        "behaviors:\n  Goal1DDiscrete:\n    trainer: bc\n    hyperparameters: {demo_path: demos/expert.demo}\n"
        "env_settings: {env: Goal1DDiscrete}\n",
    )
    proc = mlx("run", "config.yaml")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "behaviors.Goal1DDiscrete.hyperparameters.demo_path" in proc.stderr
    assert "demos/expert.demo does not exist" in proc.stderr


def test_missing_seed_demos_of_online_bc_name_key_and_path(tmp_path: Path) -> None:
    teacher = Path(__file__).parent / "heuristics.py"
    with pytest.raises(DemoError) as caught:
        prepare(
            tmp_path,
            f'    trainer: online_bc\n    hyperparameters: {{teacher: "{teacher}:goal_discrete", demo_path: {tmp_path / "seed"}}}\n',
        )
    assert "behaviors.Goal1DDiscrete.hyperparameters.demo_path" in str(caught.value)
    assert f"{tmp_path / 'seed'} does not exist" in str(caught.value)


def test_empty_demo_folder_says_so(tmp_path: Path) -> None:
    (tmp_path / "demos").mkdir()
    with pytest.raises(DemoError, match="holds no .demo files"):
        prepare(tmp_path, f"    trainer: ppo\n    behavioral_cloning: {{demo_path: {tmp_path / 'demos'}}}\n")


def test_teacher_that_cannot_be_loaded_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(MlxError) as caught:
        prepare(tmp_path, "    trainer: online_bc\n    hyperparameters: {teacher: nowhere/Goal.onnx, dagger: true}\n")
    assert "behaviors.Goal1DDiscrete.hyperparameters.teacher" in str(caught.value)
    assert "nowhere/Goal.onnx" in str(caught.value)


def test_bc_without_demo_path_is_a_config_error_with_its_line(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, "behaviors:\n  Goal1DDiscrete:\n    trainer: bc\n    hyperparameters: {batch_size: 8}\n"
    )
    with pytest.raises(ConfigError, match=r"behaviors\.Goal1DDiscrete\.hyperparameters\.demo_path \(line 4\): missing"):
        load_run_options(config)
