"""A whole number written as a float (``1.0e7``, as ML-Agents' configs write counts) is an
integer in every dialect and in plugins' settings; a fraction is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlx_core.config.loader import load_run_options
from mlx_core.errors import ConfigError

CANONICAL = """\
behaviors:
  A:
    trainer: {trainer}
    max_steps: {max_steps}
    hyperparameters: {{batch_size: {batch_size}, buffer_size: 1.024e4}}
    network_settings: {{hidden_units: 6.4e1}}
"""
MLAGENTS = CANONICAL.replace("trainer:", "trainer_type:")
SEED = """\
default:
  trainer: {trainer}
  max_steps: {max_steps}
  batch_size: {batch_size}
  buffer_size: 1.024e4
  hidden_units: 6.4e1
A:
  summary_freq: 1.0e3
"""


def load(tmp_path: Path, template: str, trainer: str = "ppo", max_steps: str = "1.0e7", batch_size: str = "1.024e3"):
    path = tmp_path / "config.yaml"
    path.write_text(template.format(trainer=trainer, max_steps=max_steps, batch_size=batch_size))
    return load_run_options(path)


@pytest.mark.parametrize("template", [CANONICAL, MLAGENTS, SEED], ids=["canonical", "mlagents", "seed"])
@pytest.mark.parametrize("trainer", ["ppo", "sac"])
def test_whole_float_loads_as_int_in_every_dialect_and_trainer(tmp_path: Path, template: str, trainer: str) -> None:
    behavior = load(tmp_path, template, trainer).behaviors["A"]

    assert behavior.max_steps == 10_000_000 and type(behavior.max_steps) is int
    assert behavior.hyperparameters.batch_size == 1024 and type(behavior.hyperparameters.batch_size) is int
    assert behavior.hyperparameters.buffer_size == 10240 and type(behavior.hyperparameters.buffer_size) is int
    assert behavior.network_settings.hidden_units == 64 and type(behavior.network_settings.hidden_units) is int


def test_whole_float_from_yaml_without_a_dot_loads(tmp_path: Path) -> None:
    # YAML 1.2 reads 1e7 as a float too; only a quoted '1e7' stays a string (and an error).
    assert load(tmp_path, CANONICAL, max_steps="1e7").behaviors["A"].max_steps == 10_000_000


@pytest.mark.parametrize("template", [CANONICAL, MLAGENTS, SEED], ids=["canonical", "mlagents", "seed"])
def test_fraction_is_still_refused_where_an_integer_is_expected(tmp_path: Path, template: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, template, max_steps="1.5", batch_size="64.5")

    problems = caught.value.problems
    assert len(problems) == 2
    assert "max_steps (line " in problems[0] and problems[0].endswith("expected an integer, got 1.5")
    assert "hyperparameters.batch_size (line " in problems[1]
    assert problems[1].endswith("expected an integer, got 64.5")


def test_infinity_is_not_an_integer(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected an integer, got inf"):
        load(tmp_path, CANONICAL, max_steps=".inf")
