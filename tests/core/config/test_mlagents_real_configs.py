"""Shapes found in ML-Agents' own configuration files (every release from 0.5 to 2.x), each
written here from scratch as the smallest file that shows it, checked through ``mlx config check``."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

PPO = """\
    trainer_type: ppo
    hyperparameters: {batch_size: 32, buffer_size: 320}
    max_steps: 4000
    keep_checkpoints: 4
"""


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> str:
    (tmp_path / name).write_text(textwrap.dedent(text))
    return name


def checked(mlx, name: str) -> dict[str, Any]:
    """The canonical form that ``mlx config check`` prints for ``name``, which must load."""
    proc = mlx("config", "check", name)
    assert proc.returncode == 0, proc.stderr
    return YAML(typ="safe").load(proc.stdout)


def assert_one_paragraph_error(proc, *fragments: str) -> str:
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    text = proc.stderr.strip()
    for fragment in fragments:
        assert fragment in text
    return text


def test_poca_trainer_says_mlx_has_none_and_what_to_use(tmp_path: Path, mlx) -> None:
    name = write(tmp_path, "behaviors:\n  Team:\n    trainer_type: poca\n")
    text = assert_one_paragraph_error(
        mlx("config", "check", name),
        "trainer 'poca'",
        "(line 3)",
        "not part of mlx",
        "'ppo'",
        "Installed trainer names",
    )
    assert "pip install" not in text  # no distribution provides it: nothing to install
    assert "\n" not in text


def test_keys_without_effect_in_mlx_load_as_if_absent(tmp_path: Path, mlx) -> None:
    # release 3-era output_path and threaded, 2.x's goal conditioning and deterministic: false
    plain = write(tmp_path, f"behaviors:\n  Walker:\n{PPO}", "plain.yaml")
    noisy = write(
        tmp_path,
        f"behaviors:\n  Walker:\n{PPO}"
        "    output_path: default\n    threaded: true\n"
        "    network_settings: {hidden_units: 128, goal_conditioning_type: hyper, deterministic: false}\n",
        "noisy.yaml",
    )
    assert checked(mlx, noisy) == checked(mlx, plain)


def test_configuration_yaml_written_by_mlagents_learn_loads(tmp_path: Path, mlx) -> None:
    # every key that a 2.x run writes out, nulls included
    name = write(
        tmp_path,
        """\
        default_settings: null
        behaviors:
          Roller:
            trainer_type: ppo
            hyperparameters: {batch_size: 64, buffer_size: 640, shared_critic: false, beta_schedule: linear}
            checkpoint_interval: 500000
            network_settings: {normalize: false, hidden_units: 32, memory: null, goal_conditioning_type: none, deterministic: false}
            reward_signals:
              extrinsic:
                gamma: 0.98
                strength: 1.0
                network_settings: {hidden_units: 128, memory: null, goal_conditioning_type: hyper, deterministic: false}
              curiosity:
                strength: 0.05
                encoding_size: null
                network_settings: {hidden_units: 16, memory: null, goal_conditioning_type: hyper, deterministic: false}
            init_path: null
            even_checkpoints: false
            threaded: false
            self_play: null
            behavioral_cloning: null
        env_settings: {env_path: null, env_args: null, base_port: 5005, num_envs: 1, timeout_wait: 60, seed: -1}
        engine_settings: {width: 84, height: 84, no_graphics: false}
        environment_parameters: null
        checkpoint_settings: {run_id: roller, initialize_from: null, load_model: false, resume: false, results_dir: results}
        torch_settings: {device: null}
        debug: false
        """,
    )
    options = checked(mlx, name)
    roller = options["behaviors"]["Roller"]
    assert roller["reward_signals"]["extrinsic"] == {"gamma": 0.98, "strength": 1.0}
    assert roller["reward_signals"]["curiosity"]["network_settings"]["hidden_units"] == 16
    assert roller["network_settings"]["hidden_units"] == 32 and roller["checkpoint_interval"] == 500000
    assert options["environment_parameters"] == {}


def test_even_checkpoints_spreads_the_kept_checkpoints_over_max_steps(tmp_path: Path, mlx) -> None:
    name = write(tmp_path, f"behaviors:\n  Walker:\n{PPO}    even_checkpoints: true\n    checkpoint_interval: 50\n")
    assert checked(mlx, name)["behaviors"]["Walker"]["checkpoint_interval"] == 1000


def test_deterministic_true_is_refused_with_its_path(tmp_path: Path, mlx) -> None:
    name = write(tmp_path, f"behaviors:\n  Walker:\n{PPO}    network_settings: {{deterministic: true}}\n")
    assert_one_paragraph_error(
        mlx("config", "check", name), "behaviors.Walker.network_settings.deterministic (line 7)", "set it to false"
    )


def test_release3_parameter_randomization_section_becomes_environment_parameters(tmp_path: Path, mlx) -> None:
    name = write(
        tmp_path,
        f"behaviors:\n  Ball:\n{PPO}"
        "parameter_randomization:\n"
        "  resampling-interval: 3000\n"
        "  mass: {sampler-type: uniform, min_value: 1, max_value: 4}\n"
        "  wind: {sampler-type: multirange_uniform, intervals: [[0, 1], [2, 3]]}\n",
    )
    options = checked(mlx, name)
    assert options["env_settings"]["resampling_interval"] == 3000
    assert options["environment_parameters"]["mass"] == {
        "sampler_type": "uniform",
        "sampler_parameters": {"min_value": 1.0, "max_value": 4.0},
    }
    assert options["environment_parameters"]["wind"]["sampler_type"] == "multirange_uniform"


def test_release3_curriculum_section_becomes_lessons_of_each_parameter(tmp_path: Path, mlx) -> None:
    name = write(
        tmp_path,
        f"behaviors:\n  Jumper:\n{PPO}"
        "curriculum:\n"
        "  Jumper:\n"
        "    measure: progress\n"
        "    thresholds: [0.2, 0.6]\n"
        "    min_lesson_length: 50\n"
        "    signal_smoothing: true\n"
        "    parameters: {wall: [1.0, 2.0, 3.5]}\n",
    )
    lessons = checked(mlx, name)["environment_parameters"]["wall"]["curriculum"]
    assert [lesson["value"] for lesson in lessons] == [1.0, 2.0, 3.5]
    assert [lesson["completion_criteria"]["threshold"] for lesson in lessons[:2]] == [0.2, 0.6]
    assert lessons[0]["completion_criteria"]["behavior"] == "Jumper"
    assert lessons[0]["completion_criteria"]["measure"] == "progress"


def test_parameter_set_twice_by_release3_section_and_environment_parameters_is_one_error(tmp_path: Path, mlx) -> None:
    name = write(
        tmp_path,
        "behaviors: {}\nenvironment_parameters: {mass: 2.0}\n"
        "parameter_randomization:\n  mass: {sampler-type: uniform, min_value: 1, max_value: 4}\n",
    )
    assert_one_paragraph_error(mlx("config", "check", name), "parameter_randomization (line 3)", "keep only one")


def test_seed_self_play_takes_the_old_name_of_the_latest_model_ratio(tmp_path: Path, mlx) -> None:
    name = write(
        tmp_path,
        """\
        default:
          trainer: sac
          batch_size: 64
        Racket:
          self_play: {window: 4, play_against_current_self_ratio: 0.3, save_steps: 1000, swap_steps: 500}
        """,
    )
    self_play = checked(mlx, name)["behaviors"]["Racket"]["self_play"]
    assert self_play["play_against_latest_model_ratio"] == 0.3 and self_play["window"] == 4


def test_seed_use_curiosity_becomes_a_curiosity_signal_beside_the_extrinsic_one(tmp_path: Path, mlx) -> None:
    name = write(
        tmp_path,
        """\
        default:
          trainer: ppo
          gamma: 0.97
          use_curiosity: false
          curiosity_strength: 0.01
          curiosity_enc_size: 32
        Explorer:
          use_curiosity: true
          curiosity_enc_size: 48
        Plain:
          batch_size: 64
        """,
    )
    behaviors = checked(mlx, name)["behaviors"]
    signals = behaviors["Explorer"]["reward_signals"]
    assert signals["extrinsic"]["gamma"] == 0.97
    assert signals["curiosity"]["strength"] == 0.01 and signals["curiosity"]["encoding_size"] == 48
    assert signals["curiosity"]["gamma"] == 0.97
    assert list(behaviors["Plain"]["reward_signals"]) == ["extrinsic"]


def test_seed_use_curiosity_that_is_not_a_boolean_is_one_error(tmp_path: Path, mlx) -> None:
    name = write(tmp_path, "default:\n  trainer: ppo\nExplorer:\n  use_curiosity: maybe\n")
    assert_one_paragraph_error(
        mlx("config", "check", name), "behaviors.Explorer.use_curiosity (line 4)", "true or false"
    )
