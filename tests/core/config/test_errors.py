"""An invalid configuration fails once, listing every problem with its YAML path and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import attrs
import pytest

from mlx_core.config.converter import structure
from mlx_core.config.loader import load_run_options, upgrade
from mlx_core.errors import ConfigError


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(tmp_path: Path, text: str, overrides: dict | None = None) -> list[str]:
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_run_options(path, overrides)
    assert caught.value.source == str(path)
    return caught.value.problems


def test_wrong_type_names_yaml_path_and_line(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        """\
        behaviors:
          CartPole:
            trainer: ppo
            max_steps: 1000
            network_settings:
              normalize: true
            hyperparameters:
              batch_size: big
        """,
    )
    assert problems == ["behaviors.CartPole.hyperparameters.batch_size (line 8): expected an integer, got 'big'"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("max_steps: 2.5", "max_steps (line 3): expected an integer, got 2.5"),
        ("max_steps: '1e7'", "max_steps (line 3): expected an integer, got '1e7'"),
        ("max_steps: true", "max_steps (line 3): expected an integer, got true"),
        ("init_path: 12", "init_path (line 3): expected a string, got 12 (quote it: '12')"),
        ("network_settings: {normalize: 'yes'}", "normalize (line 3): expected true or false"),
        ("network_settings: [1]", "network_settings (line 3): expected a mapping, got a list"),
        ("reward_signals: {extrinsic: {strength: high}}", "strength (line 3): expected a number"),
    ],
)
def test_canonical_dialect_is_strict_about_scalar_types(tmp_path: Path, line: str, expected: str) -> None:
    problems = problems_of(tmp_path, f"behaviors:\n  A:\n    {line}\n")
    assert len(problems) == 1
    assert expected in problems[0]


def test_unknown_key_suggests_close_match(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        """\
        behaviors:
          CartPole:
            hyperparameters:
              bach_size: 64
        """,
    )
    assert problems == [
        ("behaviors.CartPole.hyperparameters.bach_size (line 4): unknown key 'bach_size'; did you mean 'batch_size'?")
    ]


def test_unknown_key_without_close_match_lists_valid_keys(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "engine_settings:\n  zzz: 1\n")
    assert problems == [
        (
            "engine_settings.zzz (line 2): unknown key 'zzz'; valid keys are: width, height, "
            "quality_level, time_scale, target_frame_rate, capture_frame_rate, no_graphics"
        )
    ]


def test_unknown_top_level_key_suggests_section(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "behaviours:\n  CartPole:\n    trainer: ppo\n")
    assert problems == ["behaviours (line 1): unknown key 'behaviours'; did you mean 'behaviors'?"]


def test_several_problems_reported_at_once_in_line_order(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        """\
        env_settings:
          num_envs: many
        behaviors:
          CartPole:
            hyperparameters:
              learning_rat: 0.1
              num_epoch: 2.5
            reward_signals:
              extrinsic: {gamma: 1.5}
        torch_settings: {device: 0}
        """,
    )
    assert problems == [
        "env_settings.num_envs (line 2): expected an integer, got 'many'",
        (
            "behaviors.CartPole.hyperparameters.learning_rat (line 6): unknown key 'learning_rat'; "
            "did you mean 'learning_rate'?"
        ),
        "behaviors.CartPole.hyperparameters.num_epoch (line 7): expected an integer, got 2.5",
        "behaviors.CartPole.reward_signals.extrinsic.gamma (line 9): must be <= 1, got 1.5",
        "torch_settings.device (line 10): expected a string, got 0 (quote it: '0')",
    ]


def test_several_problems_print_a_header_then_one_line_each(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, "behaviors:\n  A:\n    max_steps: 1.5\n    time_horizn: 5\nenv_settings:\n  num_envs: 0\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_run_options(path)
    assert str(caught.value).splitlines() == [
        f"{path}: 3 problems:",
        "  - behaviors.A.max_steps (line 3): expected an integer, got 1.5",
        "  - behaviors.A.time_horizn (line 4): unknown key 'time_horizn'; did you mean 'time_horizon'?",
        "  - env_settings.num_envs (line 6): must be > 0, got 0",
    ]


def test_one_problem_stays_one_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, "behaviors:\n  A:\n    max_steps: 1.5\n")
    with pytest.raises(ConfigError) as caught:
        load_run_options(path)
    assert str(caught.value) == f"{path}: behaviors.A.max_steps (line 3): expected an integer, got 1.5"


def test_unknown_trainer_lists_installed_names_and_what_to_use_instead(
    tmp_path: Path,
) -> None:
    # poca: an ML-Agents trainer that no mlx distribution provides (none to pip-install)
    problems = problems_of(tmp_path, "behaviors:\n  Walker:\n    trainer: poca\n")
    assert len(problems) == 1
    assert "trainer 'poca' (behaviors.Walker.trainer (line 3))" in problems[0]
    assert "is not part of mlx" in problems[0] and "pip install" not in problems[0]
    assert "Installed trainer names: " in problems[0]
    assert "ppo, sac" in problems[0].split("Installed trainer names: ")[1]


def test_misspelt_trainer_suggests_installed_name(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "behaviors:\n  Walker:\n    trainer_type: ppp\n")
    assert "Did you mean 'ppo'?" in problems[0]
    assert "(line 3)" in problems[0]


def test_unknown_reward_signal_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    from mlx_core.plugins.manager import Plugins

    installed = metadata.entry_points

    def without_curiosity(**selection):  # mlx-curiosity as if it were not installed
        return metadata.EntryPoints(
            ep for ep in installed(**selection) if ep.dist is None or ep.dist.name != "mlx-curiosity"
        )

    monkeypatch.setattr(metadata, "entry_points", without_curiosity)
    path = write_config(tmp_path, "behaviors:\n  A:\n    reward_signals:\n      curiosity: {strength: 0.1}\n")
    with pytest.raises(ConfigError) as caught:
        load_run_options(path, plugins=Plugins())
    problems = caught.value.problems
    assert "reward signal 'curiosity' (behaviors.A.reward_signals.curiosity (line 4))" in problems[0]
    assert "pip install mlx-curiosity" in problems[0]
    assert "Installed reward signal names: extrinsic" in problems[0]


def test_negative_batch_size_fails_its_validator(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "behaviors:\n  A:\n    hyperparameters:\n      batch_size: -4\n")
    assert problems == ["behaviors.A.hyperparameters.batch_size (line 4): must be > 0, got -4"]


def test_batch_size_above_buffer_size_fails_cross_field_check(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        """\
        behaviors:
          A:
            hyperparameters:
              buffer_size: 100
              batch_size: 200
        """,
    )
    assert problems == [
        ("behaviors.A.hyperparameters.batch_size (line 5): batch_size (200) must not exceed buffer_size (100)")
    ]


def test_choice_validator_names_the_choices(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "behaviors:\n  A:\n    network_settings:\n      activation: elu\n")
    assert problems[0].startswith("behaviors.A.network_settings.activation (line 4): must be in [")
    assert "(got 'elu')" in problems[0]


def test_problem_inherited_from_default_settings_is_reported_once(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        """\
        default_settings:
          time_horizon: -1
        behaviors:
          A: {}
          B: {}
        """,
    )
    assert problems == ["default_settings.time_horizon (line 2): must be > 0, got -1"]


def test_command_line_problem_says_command_line(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        "behaviors:\n  A: {}\n  B: {}\n",
        {"env_settings": {"num_envs": 0}, "behaviors_all": {"keep_checkpoints": "x"}},
    )
    assert sorted(problems) == [
        "default_settings.keep_checkpoints (command line): expected an integer, got 'x'",
        "env_settings.num_envs (command line): must be > 0, got 0",
    ]


def test_seed_format_problems_point_at_the_users_lines(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        """\
        default:
          trainer: ppo
          batch_size: 64
          hidden_units: wide
        Walker:
          use_recurrent: true
          memory_size: -8
          num_epohc: 3
        """,
    )
    assert problems == [
        "default_settings.network_settings.hidden_units (line 4): expected an integer, got 'wide'",
        "behaviors.Walker.network_settings.memory.memory_size (line 7): must be > 0, got -8",
        ("behaviors.Walker.hyperparameters.num_epohc (line 8): unknown key 'num_epohc'; did you mean 'num_epoch'?"),
    ]


def test_seed_use_recurrent_must_be_boolean(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "default:\n  use_recurrent: 'yes'\nA: {batch_size: 8}\n")
    assert "use_recurrent must be true or false, got 'yes'" in problems[0]
    assert "(line 2)" in problems[0]


def test_missing_file_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file") as caught:
        load_run_options(tmp_path / "nope.yaml")
    assert str(tmp_path) in str(caught.value)


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "behaviors:\n  A:\n    max_steps: [1, 2\n    trainer: ppo\n")
    assert len(problems) == 1
    assert "YAML syntax error at line 4, column" in problems[0]


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "behaviors: {}\nbehaviors: {}\n")
    assert "line 2" in problems[0] and "only once" in problems[0]


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "# nothing but a comment\n")
    assert problems[0].startswith("the file is empty")


def test_upgrade_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        upgrade(tmp_path / "nope.yaml")


@attrs.define(frozen=True)
class _Required:
    name: str


def test_missing_required_key_is_reported() -> None:
    obj, problems = structure({}, _Required, ("section",))
    assert obj is None
    assert [p.render("line 1") for p in problems] == ["section.name (line 1): missing; this key is required"]


def test_keep_freed_memory_takes_true_or_false(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "torch_settings: {keep_freed_memory: maybe}\n")
    assert problems == ["torch_settings.keep_freed_memory (line 1): expected true or false, got 'maybe'"]


def test_seed_brain_to_imitate_says_to_name_a_teacher_model(tmp_path: Path) -> None:
    text = "default:\n  trainer: online_bc\n  brain_to_imitate: PlayerBrain\n  batch_size: 16\nPusher: {}\nPuller: {}\n"
    with pytest.raises(ConfigError) as caught:
        upgrade(write_config(tmp_path, text))
    # inherited by both behaviors, reported once, at the user's line
    assert caught.value.problems == [
        "default_settings.hyperparameters.brain_to_imitate (line 3): brain_to_imitate is not used: mlx's "
        "online_bc learns from a teacher model, not from a player; replace it with 'teacher: MODEL' (an "
        "exported .onnx, a checkpoint, a run folder, or module:function for a scripted heuristic)"
    ]


def test_seed_pretraining_beside_behavioral_cloning_is_an_error(tmp_path: Path) -> None:
    text = "A:\n  trainer: ppo\n  pretraining: {demo_path: a.demo}\n  behavioral_cloning: {demo_path: b.demo}\n"
    with pytest.raises(ConfigError) as caught:
        upgrade(write_config(tmp_path, text))
    assert caught.value.problems == [
        "behaviors.A.pretraining (line 3): pretraining is the old name of behavioral_cloning; keep only one of the two"
    ]
