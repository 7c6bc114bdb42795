"""The three dialects load into the same canonical options, and canonical files round-trip."""

from __future__ import annotations

import textwrap
from pathlib import Path

import attrs
import pytest

from mlx_core.config.dialects import CANONICAL, MLAGENTS, SEED, detect_dialect, to_canonical
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


SEED_PPO_DEFAULT = """\
default:
  trainer: ppo
  beta: 5.0e-3
  buffer_size: 2048
  hidden_units: 64
  normalize: true
  summary_freq: 2000
"""
SEED_OFFLINE_BC = """\
Crawler:
  trainer: offline_bc
  demo_path: demos/crawler.demo
  batch_size: 32
  batches_per_epoch: 8
  num_epoch: 4
  learning_rate: 1.0e-3
  max_steps: 2.0e4
  num_layers: 3
  vis_encode_type: nature_cnn
  use_recurrent: true
  memory_size: 64
  sequence_length: 8
"""
SEED_PRETRAINING = """\
Walker:
  pretraining:
    demo_path: demos/walker.demo
    strength: 0.5
    steps: 1.0e4
"""


def test_seed_offline_bc_section_nests_like_a_ppo_section(tmp_path: Path) -> None:
    upgraded, _ = parse_yaml(upgrade(write(tmp_path, SEED_PPO_DEFAULT + SEED_OFFLINE_BC + SEED_PRETRAINING)))

    # The ppo default's own hyperparameters (beta, buffer_size) are not inherited by an
    # offline_bc behavior; its network keys and summary_freq are.
    assert upgraded["behaviors"]["Crawler"] == {
        "trainer": "offline_bc",
        "hyperparameters": {
            "demo_path": "demos/crawler.demo",
            "batch_size": 32,
            "batches_per_epoch": 8,
            "num_epoch": 4,
            "learning_rate": 1.0e-3,
        },
        "network_settings": {
            "hidden_units": 64,
            "normalize": True,
            "num_layers": 3,
            "vis_encode_type": "nature_cnn",
            "memory": {"memory_size": 64, "sequence_length": 8},
        },
        "max_steps": 2.0e4,
        "summary_freq": 2000,
    }


def test_seed_pretraining_becomes_behavioral_cloning_and_keeps_default_hyperparameters(tmp_path: Path) -> None:
    upgraded, _ = parse_yaml(upgrade(write(tmp_path, SEED_PPO_DEFAULT + SEED_PRETRAINING)))

    assert upgraded["behaviors"]["Walker"] == {
        "trainer": "ppo",
        "hyperparameters": {"beta": 5.0e-3, "buffer_size": 2048},
        "network_settings": {"hidden_units": 64, "normalize": True},
        # structured later by the plugin that offers the behavioral_cloning objective (mlx-bc)
        "behavioral_cloning": {"demo_path": "demos/walker.demo", "strength": 0.5, "steps": 1.0e4},
        "summary_freq": 2000,
    }


BEHAVIORAL_CLONING = {
    "demo_path": "demos/walker.demo",
    "strength": 0.5,
    "steps": 150000,
    "batch_size": 512,
    "num_epoch": 3,
    "samples_per_update": 0,
}
MLAGENTS_WITH_CLONING = "behaviors:\n  Walker:\n    trainer_type: ppo\n    behavioral_cloning:\n" + "".join(
    f"      {key}: {value}\n" for key, value in BEHAVIORAL_CLONING.items()
)


def test_mlagents_behavioral_cloning_section_passes_through_unchanged(tmp_path: Path) -> None:
    data, lines = parse_yaml(MLAGENTS_WITH_CLONING)

    canonical, new_lines, problems = to_canonical(data, lines)

    assert problems == []
    assert canonical["behaviors"]["Walker"]["behavioral_cloning"] == BEHAVIORAL_CLONING
    assert new_lines[("behaviors", "Walker", "behavioral_cloning", "steps")] == 7


def test_behavioral_cloning_sections_load_into_the_bc_plugins_settings(tmp_path: Path) -> None:
    pytest.importorskip("mlx_bc", reason="mlx-bc provides the behavioral_cloning objective")
    seed = load_run_options(write(tmp_path, SEED_PPO_DEFAULT + SEED_PRETRAINING, "seed.yaml"))
    mlagents = load_run_options(write(tmp_path, MLAGENTS_WITH_CLONING, "mlagents.yaml"))

    assert seed.behaviors["Walker"].behavioral_cloning.steps == 10_000
    assert mlagents.behaviors["Walker"].behavioral_cloning.samples_per_update == 0
    for key, value in BEHAVIORAL_CLONING.items():
        assert getattr(mlagents.behaviors["Walker"].behavioral_cloning, key) == value


def test_seed_offline_bc_loads_into_the_bc_plugins_settings(tmp_path: Path) -> None:
    pytest.importorskip("mlx_bc", reason="mlx-bc provides the offline_bc trainer")
    text = SEED_PPO_DEFAULT + SEED_OFFLINE_BC.replace("memory_size: 64", "memory_size: 6.4e1")

    behavior = load_run_options(write(tmp_path, text)).behaviors["Crawler"]

    hyperparameters = behavior.hyperparameters
    assert (hyperparameters.demo_path, hyperparameters.batch_size, hyperparameters.batches_per_epoch) == (
        "demos/crawler.demo",
        32,
        8,
    )
    assert (hyperparameters.num_epoch, hyperparameters.learning_rate) == (4, 1.0e-3)
    assert behavior.max_steps == 20_000 and behavior.summary_freq == 2000
    assert behavior.network_settings.memory == MemorySettings(memory_size=64, sequence_length=8)
    assert behavior.network_settings.num_layers == 3 and behavior.network_settings.normalize is True


def test_seed_online_bc_section_routes_teacher_and_dagger_to_hyperparameters(tmp_path: Path) -> None:
    text = "Pusher:\n  trainer: online_bc\n  teacher: runs/expert/Pusher.onnx\n  dagger: true\n  time_horizon: 32\n"

    upgraded, _ = parse_yaml(upgrade(write(tmp_path, text)))

    assert upgraded["behaviors"]["Pusher"] == {
        "trainer": "online_bc",
        "hyperparameters": {"teacher": "runs/expert/Pusher.onnx", "dagger": True},
        "time_horizon": 32,
    }


def test_seed_behaviors_do_not_share_sections_inherited_from_default(tmp_path: Path) -> None:
    text = "default:\n  reward_signals: {extrinsic: {strength: 1.0}}\nA:\n  gamma: 0.9\nB:\n  batch_size: 8\n"

    written = upgrade(write(tmp_path, text))
    upgraded, _ = parse_yaml(written)

    assert upgraded["behaviors"]["A"]["reward_signals"] == {"extrinsic": {"strength": 1.0, "gamma": 0.9}}
    assert upgraded["behaviors"]["B"]["reward_signals"] == {"extrinsic": {"strength": 1.0}}
    assert "&" not in written  # no YAML anchors for shared mappings
