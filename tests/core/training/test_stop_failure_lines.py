"""The one line that names the plugin whose code raised: found from the traceback's frames and
the plugin registrations of the behavior's trainer and reward signals."""

from __future__ import annotations

import types

import pytest

from mlx_core.config.loader import load_run_options
from mlx_core.plugins.manager import get_plugins
from mlx_core.training.failures import TrainerFailed, culprit, describe_trainer_failure

pytest.importorskip("mlx_gail")


def raised(call, *args) -> BaseException:
    try:
        call(*args)
    except Exception as error:  # noqa: BLE001 - the exception is the subject
        return error
    raise AssertionError("nothing raised")


def behavior(tmp_path, reward_signals: str):
    config = tmp_path / "c.yaml"
    config.write_text(f"behaviors:\n  Walker:\n    trainer: ppo\n    reward_signals: {reward_signals}\n")
    return load_run_options(config, None, get_plugins()).behavior("Walker")


def test_exception_inside_the_trainer_plugin_names_its_distribution(tmp_path) -> None:
    from mlx_ppo.settings import PPOSettings

    error = raised(PPOSettings, 64, 32)  # batch_size > buffer_size: raised in mlx_ppo's own code
    settings = behavior(tmp_path, "{extrinsic: {strength: 1.0}}")
    line = describe_trainer_failure(TrainerFailed("Walker", error), get_plugins(), settings)
    assert line.startswith("Behavior Walker: the trainer 'ppo' (plugin mlx-ppo 0.1.0) raised ValueError: ")
    assert "\n" not in line


def test_exception_inside_a_reward_signal_plugin_names_that_plugin_not_the_trainer(tmp_path) -> None:
    from mlx_gail.settings import _no_memory

    error = raised(_no_memory, None, None, types.SimpleNamespace(memory=object()))
    plugins = get_plugins()
    candidates = plugins.provided("trainer") + plugins.provided("reward signal")
    blamed = culprit(error, candidates)
    assert blamed is not None and blamed.plugin.distribution == "mlx-gail"
    settings = behavior(tmp_path, "{extrinsic: {strength: 1.0}, gail: {demo_path: x.demo}}")
    line = describe_trainer_failure(TrainerFailed("Walker", error), plugins, settings)
    assert line == (
        "Behavior Walker: the reward signal 'gail' (plugin mlx-gail 0.1.0) raised ValueError: "
        "the gail discriminator has no memory; remove network_settings.memory"
    )


def test_exception_only_in_core_code_names_the_trainer(tmp_path) -> None:
    error = raised(int, "not a number")  # no plugin frame at all
    settings = behavior(tmp_path, "{extrinsic: {strength: 1.0}}")
    line = describe_trainer_failure(TrainerFailed("Walker", error), get_plugins(), settings)
    assert line.startswith(
        "Behavior Walker: the trainer 'ppo' (plugin mlx-ppo 0.1.0) raised ValueError: invalid literal"
    )
