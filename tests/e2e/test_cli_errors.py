"""User mistakes through the real ``mlx`` command: one paragraph, exit status 1, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest


def assert_one_paragraph_error(proc, *fragments: str) -> None:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    text = proc.stderr.strip()
    assert text.startswith("Error: ")
    assert "\n\n" not in text, "the error must be a single paragraph"
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"


def write(tmp_path: Path, text: str) -> str:
    (tmp_path / "config.yaml").write_text(text)
    return "config.yaml"


def test_missing_file(mlx) -> None:
    assert_one_paragraph_error(mlx("run", "nowhere.yaml"), "nowhere.yaml")


def test_yaml_syntax_error_names_line(tmp_path: Path, mlx) -> None:
    name = write(tmp_path, "behaviors:\n  A:\n    trainer: [ppo\n")
    assert_one_paragraph_error(mlx("run", name), "config.yaml", "line")


def test_wrong_type_names_path_and_line(tmp_path: Path, mlx) -> None:
    name = write(tmp_path, "behaviors:\n  CartPole:\n    trainer: ppo\n    hyperparameters:\n      batch_size: big\n")
    assert_one_paragraph_error(
        mlx("run", name, "--env", "CartPole-v1"),
        "behaviors.CartPole.hyperparameters.batch_size (line 5): expected an integer, got 'big'",
    )


def test_unknown_key_suggests_the_close_match(tmp_path: Path, mlx) -> None:
    name = write(tmp_path, "behaviors:\n  CartPole:\n    trainer: ppo\n    hyperparameters:\n      bach_size: 64\n")
    assert_one_paragraph_error(mlx("run", name), "bach_size", "did you mean 'batch_size'")


@pytest.mark.parametrize("command", [("run",), ("config", "check")])
def test_every_problem_is_listed_at_once_one_line_each(tmp_path: Path, mlx, command: tuple[str, ...]) -> None:
    name = write(tmp_path, "behaviors:\n  A:\n    max_steps: lots\n    time_horizn: 5\nenv_settings:\n  num_envs: 0\n")
    proc = mlx(*command, name)
    assert_one_paragraph_error(proc)
    assert proc.stderr.strip().splitlines() == [
        "Error: config.yaml: 3 problems:",
        "  - behaviors.A.max_steps (line 3): expected an integer, got 'lots'",
        "  - behaviors.A.time_horizn (line 4): unknown key 'time_horizn'; did you mean 'time_horizon'?",
        "  - env_settings.num_envs (line 6): must be > 0, got 0",
    ]


def test_mlagents_config_with_counts_written_as_floats_loads(tmp_path: Path, mlx) -> None:
    name = write(
        tmp_path,
        "behaviors:\n  A:\n    trainer_type: ppo\n    max_steps: 1.0e7\n"
        "    hyperparameters: {batch_size: 1.024e3, buffer_size: 1.024e4}\n",
    )
    proc = mlx("config", "check", name)
    assert proc.returncode == 0, proc.stderr
    assert "max_steps: 10000000\n" in proc.stdout and "batch_size: 1024\n" in proc.stdout


def test_fraction_where_an_integer_is_expected_is_one_line(tmp_path: Path, mlx) -> None:
    name = write(tmp_path, "behaviors:\n  A:\n    trainer_type: ppo\n    max_steps: 1.5\n")
    proc = mlx("config", "check", name)
    assert_one_paragraph_error(proc)
    assert proc.stderr.strip() == "Error: config.yaml: behaviors.A.max_steps (line 4): expected an integer, got 1.5"


@pytest.mark.parametrize(("trainer", "hint"), [("poca", "is not part of mlx"), ("pppo", "Did you mean 'ppo'")])
def test_unknown_trainer_fails_before_the_environment_starts(tmp_path: Path, mlx, trainer: str, hint: str) -> None:
    # the env does not exist either: the trainer error must come first, before any env is made
    name = write(tmp_path, f"behaviors:\n  X:\n    trainer: {trainer}\nenv_settings:\n  env: NoSuchEnv-v0\n")
    proc = mlx("run", name)
    assert_one_paragraph_error(proc, f"'{trainer}'", "Installed trainer names: ", "ppo, sac", hint)
    assert not (tmp_path / "results").exists()


def test_unknown_reward_signal_lists_installed_names(tmp_path: Path, mlx) -> None:
    name = write(tmp_path, "behaviors:\n  X:\n    reward_signals:\n      curiosity: {strength: 0.1}\n")
    proc = mlx("run", name, "--env", "Goal1DDiscrete", without=("mlx-curiosity",))
    assert_one_paragraph_error(proc, "curiosity", "pip install mlx-curiosity", "extrinsic")


def test_unknown_environment_suggests_a_gymnasium_id(mlx) -> None:
    assert_one_paragraph_error(mlx("run", "--env", "CartPol-v1", "--run-id", "e"), "CartPole-v1")


def test_curriculum_without_its_plugin_says_what_to_install(tmp_path: Path, mlx) -> None:
    (tmp_path / "c.json").write_text(
        '{"measure": "reward", "thresholds": [0.5], "min_lesson_length": 100, "signal_smoothing": true,'
        ' "parameters": {"step_size": [0.5, 0.2]}}'
    )
    proc = mlx("run", "--env", "Goal1DDiscrete", "--curriculum", "c.json", without=("mlx-curriculum",))
    assert_one_paragraph_error(proc, "pip install mlx-curriculum")


def test_inference_without_a_run_to_load_says_what_to_add(mlx) -> None:
    assert_one_paragraph_error(mlx("run", "--env", "Goal1DDiscrete", "--inference"), "--inference")


def test_config_check_prints_the_canonical_form(tmp_path: Path, mlx) -> None:
    name = write(tmp_path, "default:\n  trainer: ppo\n  batch_size: 32\n  buffer_size: 64\n  max_steps: 5.0e4\n")
    proc = mlx("config", "check", name)
    assert proc.returncode == 0, proc.stderr
    assert "default_settings:" in proc.stdout and "batch_size: 32" in proc.stdout and "max_steps: 50000" in proc.stdout


def test_config_upgrade_writes_a_file_that_loads_the_same(tmp_path: Path, mlx) -> None:
    from mlx_core.config.loader import load_run_options

    old = write(
        tmp_path,
        "behaviors:\n  A:\n    trainer_type: ppo\n    hyperparameters: {batch_size: 32, buffer_size: 64}\n    threaded: true\n",
    )
    proc = mlx("config", "upgrade", old, "-o", "new.yaml")
    assert proc.returncode == 0, proc.stderr
    new_text = (tmp_path / "new.yaml").read_text()
    assert "trainer: ppo" in new_text and "trainer_type" not in new_text
    assert load_run_options(tmp_path / "new.yaml") == load_run_options(tmp_path / old)
