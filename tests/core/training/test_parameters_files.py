"""The reference's --sampler and --curriculum files load to the same settings as the canonical
sections they stand for; mlx config check/upgrade recognise them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlx_core.config.loader import load_run_options
from mlx_core.config.parameter_files import load_parameter_file
from mlx_core.errors import ConfigError
from tests.conftest import run_mlx

SAMPLER_FILE = """
resampling-interval: 500
mass:
  sampler-type: uniform
  min_value: 0.5
  max_value: 10
gravity:
  sampler-type: multirange_uniform
  intervals: [[7, 10], [15, 20]]
scale:
  sampler-type: gaussian
  mean: 2
  st_dev: 0.3
"""
SAMPLER_CANONICAL = """
env_settings: {resampling_interval: 500}
environment_parameters:
  mass: {sampler_type: uniform, sampler_parameters: {min_value: 0.5, max_value: 10}}
  gravity: {sampler_type: multirange_uniform, sampler_parameters: {intervals: [[7, 10], [15, 20]]}}
  scale: {sampler_type: gaussian, sampler_parameters: {mean: 2, st_dev: 0.3}}
"""
CURRICULUM_FILE = {
    "Jumper": {
        "measure": "progress",
        "thresholds": [0.1, 0.3],
        "min_lesson_length": 100,
        "signal_smoothing": True,
        "parameters": {"wall_height": [1.5, 2.0, 4.0], "gap": [0.0, 1.0, 2.0]},
    }
}
CURRICULUM_CANONICAL = """
environment_parameters:
  wall_height:
    curriculum:
      - name: Lesson0
        value: 1.5
        completion_criteria: {behavior: Jumper, measure: progress, threshold: 0.1, min_lesson_length: 100}
      - name: Lesson1
        value: 2.0
        completion_criteria: {behavior: Jumper, measure: progress, threshold: 0.3, min_lesson_length: 100}
      - {name: Lesson2, value: 4.0}
  gap:
    curriculum:
      - name: Lesson0
        value: 0
        completion_criteria: {behavior: Jumper, measure: progress, threshold: 0.1, min_lesson_length: 100}
      - name: Lesson1
        value: 1
        completion_criteria: {behavior: Jumper, measure: progress, threshold: 0.3, min_lesson_length: 100}
      - {name: Lesson2, value: 2}
"""


def canonical(tmp_path: Path, text: str):  # noqa: ANN201 - RunOptions
    path = tmp_path / "canonical.yaml"
    path.write_text(text)
    return load_run_options(path)


def test_a_sampler_file_loads_to_the_same_settings_as_its_canonical_section(tmp_path: Path) -> None:
    path = tmp_path / "sampler.yaml"
    path.write_text(SAMPLER_FILE)
    from_file = load_run_options(None, load_parameter_file(path, "sampler"))
    assert from_file == canonical(tmp_path, SAMPLER_CANONICAL)


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_curriculum_file_loads_to_the_same_settings_as_its_canonical_section(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"curriculum{suffix}"
    path.write_text(json.dumps(CURRICULUM_FILE))  # JSON is YAML too
    from_file = load_run_options(None, load_parameter_file(path, "curriculum"))
    assert from_file == canonical(tmp_path, CURRICULUM_CANONICAL)


def test_a_single_curriculum_file_is_for_the_behavior_its_name_names(tmp_path: Path) -> None:
    path = tmp_path / "Jumper.json"
    path.write_text(json.dumps(CURRICULUM_FILE["Jumper"]))
    from_file = load_run_options(None, load_parameter_file(path, "curriculum"))
    assert from_file == canonical(tmp_path, CURRICULUM_CANONICAL)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"thresholds": [0.3, 0.1]}, "thresholds are out of order"),
        ({"parameters": {"gap": [0, 1]}}, "expected a list of 3 values"),
        ({"measure": "height"}, "measure"),
    ],
)
def test_bad_curriculum_files_name_the_file_and_the_problem(tmp_path: Path, change: dict, says: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"Jumper": {**CURRICULUM_FILE["Jumper"], **change}}))
    with pytest.raises(ConfigError) as caught:
        load_parameter_file(path, "curriculum")
    assert str(path) in str(caught.value) and says in str(caught.value)


def test_a_file_given_to_the_wrong_flag_says_which_flag_takes_it(tmp_path: Path) -> None:
    path = tmp_path / "sampler.yaml"
    path.write_text(SAMPLER_FILE)
    with pytest.raises(ConfigError, match="this is a sampler file, for --sampler"):
        load_parameter_file(path, "curriculum")


def test_config_check_and_upgrade_recognise_the_files_and_name_their_flag(tmp_path: Path) -> None:
    (tmp_path / "sampler.yaml").write_text(SAMPLER_FILE)
    (tmp_path / "lessons.json").write_text(json.dumps(CURRICULUM_FILE))
    checked = run_mlx("config", "check", "sampler.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "--sampler sampler.yaml" in checked.stderr and "resampling_interval: 500" in checked.stdout
    upgraded = run_mlx("config", "upgrade", "lessons.json", "-o", "canonical.yaml", cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "--curriculum" in upgraded.stderr
    assert load_run_options(tmp_path / "canonical.yaml") == canonical(tmp_path, CURRICULUM_CANONICAL)
