"""The ``self_play`` section: every dialect loads it (ML-Agents' Tennis and Soccer files too), bad
values and a missing plugin are one clear error each, and a single-team environment is refused."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mlx_core.config.loader import canonical_yaml, load_run_options
from mlx_core.errors import ConfigError
from mlx_self_play.settings import SelfPlaySettings

# ML-Agents' flat trainer_config.yaml of its Tennis and Soccer examples
FLAT = """
default:
    trainer: ppo
    batch_size: 1024
    beta: 5.0e-3
    buffer_size: 10240
    hidden_units: 128
    learning_rate: 3.0e-4
    max_steps: 5.0e5
    normalize: false
    num_layers: 2
    time_horizon: 64

Tennis:
    normalize: true
    max_steps: 5.0e7
    learning_rate_schedule: constant
    batch_size: 1024
    buffer_size: 10240
    hidden_units: 256
    time_horizon: 1000
    self_play:
        window: 10
        play_against_latest_model_ratio: 0.5
        save_steps: 50000
        swap_steps: 50000
        team_change: 100000

SoccerTwos:
    normalize: false
    max_steps: 5.0e7
    learning_rate_schedule: constant
    batch_size: 2048
    buffer_size: 20480
    hidden_units: 512
    time_horizon: 1000
    num_layers: 2
    self_play:
        window: 10
        play_against_latest_model_ratio: 0.5
        save_steps: 50000
        swap_steps: 200000
        team_change: 200000
"""

MLAGENTS = """
behaviors:
  Tennis:
    trainer_type: ppo
    hyperparameters: {batch_size: 1024, buffer_size: 10240}
    max_steps: 50000000
    self_play:
      save_steps: 50000
      team_change: 100000
      swap_steps: 2000
      window: 10
      play_against_latest_model_ratio: 0.5
      initial_elo: 1200.0
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_tennis_and_soccer_sections_in_the_flat_format_load(tmp_path: Path) -> None:
    options = load_run_options(write(tmp_path, FLAT))
    tennis, soccer = options.behaviors["Tennis"].self_play, options.behaviors["SoccerTwos"].self_play
    assert tennis == SelfPlaySettings(save_steps=50000, team_change=100000, swap_steps=50000, window=10)
    assert soccer == SelfPlaySettings(save_steps=50000, team_change=200000, swap_steps=200000, window=10)
    assert options.behaviors["Tennis"].hyperparameters.batch_size == 1024
    assert options.default_settings is not None and options.default_settings.self_play is None


def test_an_mlagents_file_loads_and_writes_canonical_self_play(tmp_path: Path) -> None:
    options = load_run_options(write(tmp_path, MLAGENTS))
    assert options.behaviors["Tennis"].self_play.swap_steps == 2000
    canonical = canonical_yaml(options)
    assert "self_play:" in canonical and "play_against_latest_model_ratio: 0.5" in canonical
    again = write(tmp_path, canonical)
    assert load_run_options(again).behaviors["Tennis"] == options.behaviors["Tennis"]


def test_a_behavior_without_the_section_has_no_self_play(tmp_path: Path) -> None:
    options = load_run_options(write(tmp_path, "behaviors:\n  Walker: {trainer: ppo}\n"))
    assert options.behaviors["Walker"].self_play is None


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("window", 0, "behaviors.Tennis.self_play.window (line 5)"),
        ("play_against_latest_model_ratio", 1.5, "behaviors.Tennis.self_play.play_against_latest_model_ratio (line 5)"),
        (
            "play_against_latest_model_ratio",
            -0.1,
            "behaviors.Tennis.self_play.play_against_latest_model_ratio (line 5)",
        ),
        ("save_steps", -5, "behaviors.Tennis.self_play.save_steps (line 5)"),
    ],
)
def test_an_invalid_value_names_its_key_and_line(tmp_path: Path, key: str, value: float, expected: str) -> None:
    text = f"behaviors:\n  Tennis:\n    trainer: ppo\n    self_play:\n      {key}: {value}\n"
    with pytest.raises(ConfigError) as caught:
        load_run_options(write(tmp_path, text))
    problems = str(caught.value)
    assert expected in problems
    assert problems.count("self_play") == 1  # one problem, one message


def test_a_misspelt_key_suggests_the_right_one(tmp_path: Path) -> None:
    text = "behaviors:\n  Tennis:\n    self_play:\n      swap_step: 10\n"
    with pytest.raises(ConfigError, match="swap_steps"):
        load_run_options(write(tmp_path, text))


def test_bad_values_fail_on_the_command_line_without_a_traceback(tmp_path: Path, mlx) -> None:
    write(
        tmp_path,
        "behaviors:\n  Pong:\n    self_play: {play_against_latest_model_ratio: 2}\nenv_settings: {env: Pong}\n",
    )
    result = mlx("config", "check", "config.yaml")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "behaviors.Pong.self_play.play_against_latest_model_ratio (line 3): must be <= 1.0, got 2" in result.stderr


def test_without_the_plugin_the_section_names_the_distribution_to_install(tmp_path: Path, mlx) -> None:
    write(tmp_path, "behaviors:\n  Pong:\n    self_play: {window: 5}\nenv_settings: {env: Pong}\n")
    result = mlx("config", "check", "config.yaml", without=("mlx-self-play",))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "behaviors.Pong.self_play (line 3)" in result.stderr
    assert "pip install mlx-self-play" in result.stderr


def test_self_play_on_a_single_team_environment_is_refused_before_anything_is_written(tmp_path: Path, mlx) -> None:
    write(
        tmp_path,
        "behaviors:\n  Goal1DDiscrete:\n    max_steps: 100\n    self_play: {}\nenv_settings: {env: Goal1DDiscrete}\n",
    )
    result = mlx("run", "config.yaml", "--run-id", "solo")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "behaviors.Goal1DDiscrete.self_play" in result.stderr and "single team" in result.stderr
    assert not (tmp_path / "results" / "solo").exists()


def test_mlx_plugins_lists_the_section_and_its_distribution(tmp_path: Path, mlx) -> None:
    result = mlx("plugins")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("mlx-self-play"))
    assert lines[at + 1].strip() == "trainer wrapper: self_play"
