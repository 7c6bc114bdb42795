"""The three dialects load into the same canonical options, and canonical files round-trip."""

from __future__ import annotations

import textwrap
from pathlib import Path

import attrs
import pytest

from mlx_core.config.dialects import CANONICAL, MLAGENTS, SEED, detect_dialect
from mlx_core.config.loader import (
    canonical_dict,
    default_behavior_settings,
    load_run_options,
    upgrade,
    write_canonical,
)
from mlx_core.config.settings import MemorySettings, RunOptions
from mlx_core.config.yaml_io import parse_yaml
from mlx_core.rewards.base import RewardSignalSettings
from mlx_ppo.settings import PPOSettings

SEED_FILE = """\
default:
  trainer: ppo
  batch_size: 64
  buffer_size: 2048
  learning_rate: 3.0e-4
  hidden_units: 64
  num_layers: 2
  normalize: false
  max_steps: 5.0e5
  time_horizon: 128
  summary_freq: 1000
  use_recurrent: false
  memory_size: 8
  gamma: 0.98

CartPole-v1:
  num_epoch: 5
  use_recurrent: true
  memory_size: 32
  sequence_length: 16
"""

MLAGENTS_FILE = """\
default_settings:
  trainer_type: ppo
  hyperparameters: {batch_size: 64, buffer_size: 2048, learning_rate: 0.0003}
  network_settings: {hidden_units: 64, num_layers: 2, normalize: false}
  reward_signals:
    extrinsic: {gamma: 0.98}
  max_steps: 500000
  time_horizon: 128
  summary_freq: 1000
behaviors:
  CartPole-v1:
    trainer_type: ppo
    threaded: true
    hyperparameters: {num_epoch: 5}
    network_settings:
      memory: {memory_size: 32, sequence_length: 16}
"""

CANONICAL_FILE = MLAGENTS_FILE.replace("trainer_type", "trainer").replace("    threaded: true\n", "")


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize(
    ("text", "dialect"), [(SEED_FILE, SEED), (MLAGENTS_FILE, MLAGENTS), (CANONICAL_FILE, CANONICAL)]
)
def test_detect_dialect_names_each_dialect(text: str, dialect: str) -> None:
    data, _ = parse_yaml(text)
    assert detect_dialect(data) == dialect


def test_misspelt_canonical_section_is_not_taken_for_a_seed_behavior() -> None:
    data, _ = parse_yaml("behaviours:\n  CartPole:\n    trainer: ppo\n")
    assert detect_dialect(data) == CANONICAL


def test_all_three_dialects_load_to_equal_options(tmp_path: Path) -> None:
    seed = load_run_options(write(tmp_path, SEED_FILE, "seed.yaml"))
    mlagents = load_run_options(write(tmp_path, MLAGENTS_FILE, "mlagents.yaml"))
    canonical = load_run_options(write(tmp_path, CANONICAL_FILE, "canonical.yaml"))

    assert seed == mlagents == canonical
    cartpole = canonical.behaviors["CartPole-v1"]
    assert cartpole.hyperparameters == PPOSettings(batch_size=64, buffer_size=2048, num_epoch=5)
    assert cartpole.network_settings.memory == MemorySettings(memory_size=32, sequence_length=16)
    assert cartpole.network_settings.hidden_units == 64
    assert cartpole.reward_signals == {"extrinsic": RewardSignalSettings(gamma=0.98)}
    assert cartpole.max_steps == 500_000 and type(cartpole.max_steps) is int
    assert canonical.default_settings is not None
    assert canonical.default_settings.network_settings.memory is None


def test_behavior_inherits_default_settings_and_its_own_keys_win(tmp_path: Path) -> None:
    options = load_run_options(
        write(
            tmp_path,
            """\
            default_settings:
              hyperparameters: {batch_size: 32, buffer_size: 320}
              time_horizon: 7
            behaviors:
              A:
                hyperparameters: {batch_size: 16}
            """,
        )
    )
    assert options.behaviors["A"].hyperparameters == PPOSettings(batch_size=16, buffer_size=320)
    assert options.behaviors["A"].time_horizon == 7
    assert options.behavior("not listed") == options.default_settings


def test_seed_use_recurrent_false_in_behavior_drops_recurrent_default(tmp_path: Path) -> None:
    options = load_run_options(
        write(
            tmp_path,
            """\
            default:
              use_recurrent: true
              memory_size: 16
            A:
              use_recurrent: false
            B:
              sequence_length: 4
            """,
        )
    )
    assert options.behaviors["A"].network_settings.memory is None
    assert options.behaviors["B"].network_settings.memory == MemorySettings(16, 4)


def test_overrides_replace_file_values_and_behaviors_all_sets_every_behavior(
    tmp_path: Path,
) -> None:
    overrides = {
        "env_settings": {"env": "CartPole-v1", "num_envs": 4},
        "checkpoint_settings": {"run_id": "r"},
        "behaviors_all": {"keep_checkpoints": 3},
    }
    options = load_run_options(write(tmp_path, MLAGENTS_FILE), overrides)

    assert options.env_settings.env == "CartPole-v1"
    assert options.env_settings.num_envs == 4
    assert options.checkpoint_settings.run_id == "r"
    assert options.behaviors["CartPole-v1"].keep_checkpoints == 3
    assert options.default_settings is not None
    assert options.default_settings.keep_checkpoints == 3


def test_no_file_gives_default_options() -> None:
    assert load_run_options(None) == RunOptions()


def test_default_behavior_settings_equal_an_empty_behavior_section() -> None:
    options = load_run_options(None, {"behaviors": {"A": {}}})
    assert default_behavior_settings() == options.behaviors["A"]
    assert default_behavior_settings().hyperparameters == PPOSettings()


@pytest.mark.parametrize("text", [SEED_FILE, MLAGENTS_FILE, CANONICAL_FILE])
def test_written_canonical_file_loads_to_equal_options(tmp_path: Path, text: str) -> None:
    options = load_run_options(write(tmp_path, text), {"env_settings": {"env_args": ["--x"]}})
    written = tmp_path / "results" / "configuration.yaml"

    write_canonical(options, written)

    assert load_run_options(written) == options
    assert "trainer_type" not in written.read_text()


def test_canonical_dict_fills_every_default_as_plain_data() -> None:
    data = canonical_dict(load_run_options(None, {"behaviors": {"CartPole-v1": {}}}))
    cartpole = data["behaviors"]["CartPole-v1"]
    assert cartpole["hyperparameters"] == attrs.asdict(PPOSettings())
    assert cartpole["reward_signals"] == {"extrinsic": {"gamma": 0.99, "strength": 1.0}}
    assert data["env_settings"]["base_port"] == 5005


@pytest.mark.parametrize("text", [SEED_FILE, MLAGENTS_FILE])
def test_upgrade_writes_canonical_text_that_loads_to_equal_options(tmp_path: Path, text: str) -> None:
    original = write(tmp_path, text)

    upgraded = write(tmp_path, upgrade(original), "upgraded.yaml")

    data, _ = parse_yaml(upgraded.read_text())
    assert detect_dialect(data) == CANONICAL
    assert "5.0e5" not in upgraded.read_text()
    assert load_run_options(upgraded) == load_run_options(original)


def test_mlagents_env_path_becomes_env(tmp_path: Path) -> None:
    options = load_run_options(write(tmp_path, "env_settings:\n  env_path: CartPole-v1\nbehaviors: {}\n"))
    assert options.env_settings.env == "CartPole-v1"
