"""Environment parameters: the configuration's three forms, and the manager that delivers them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlx_core.config.loader import canonical_yaml, load_run_options
from mlx_core.config.parameters import SamplerSettings
from mlx_core.env.base import ActionTuple
from mlx_core.env.builtin import Goal1DDiscrete, SparseCorridor
from mlx_core.errors import ConfigError, EnvError
from mlx_core.plugins.manager import get_plugins
from mlx_core.samplers import UniformSettings
from mlx_core.stats.reporter import StatsReporter
from mlx_core.training.parameters import VALUE_KEY, EnvironmentParameterManager


def load(tmp_path: Path, text: str):  # noqa: ANN201 - RunOptions
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_run_options(path)


def test_constants_and_samplers_structure_with_their_plugin_settings(tmp_path: Path) -> None:
    options = load(
        tmp_path,
        "environment_parameters:\n"
        "  step_size: 0.3\n"
        "  max_steps:\n"
        "    sampler_type: uniform\n"
        "    sampler_parameters: {min_value: 10, max_value: 20}\n",
    )
    assert options.environment_parameters == {
        "step_size": 0.3,
        "max_steps": SamplerSettings("uniform", UniformSettings(10.0, 20.0)),
    }


def test_canonical_yaml_loads_back_to_the_same_parameters(tmp_path: Path) -> None:
    options = load(
        tmp_path,
        "environment_parameters:\n"
        "  a: 1\n"
        "  b: {sampler_type: gaussian, sampler_parameters: {mean: 2}}\n"
        "  c: {sampler_type: multirange_uniform, sampler_parameters: {intervals: [[0, 1], [2, 4]]}}\n",
    )
    again = load(tmp_path, canonical_yaml(options))
    assert again.environment_parameters == options.environment_parameters


@pytest.mark.parametrize(
    ("section", "where", "says"),
    [
        ("{sampler_type: uniform, sampler_parameters: {min_value: 3, max_value: 1}}", "p.sampler_parameters.min_value", "must not exceed"),
        ("{sampler_type: gaussian, sampler_parameters: {st_dev: -1}}", "p.sampler_parameters.st_dev", "must be >= 0"),
        ("{sampler_type: multirange_uniform, sampler_parameters: {intervals: [[0, 2], [1, 3]]}}", "p.sampler_parameters.intervals", "overlap"),
        ("{sampler_type: multirange_uniform, sampler_parameters: {intervals: []}}", "p.sampler_parameters.intervals", "empty"),
        ("{sampler_type: unifrom}", "p.sampler_type", "Did you mean 'uniform'?"),
        ("{sampler_type: uniform, sampler_parameters: {low: 1}}", "p.sampler_parameters.low", "unknown key 'low'"),
        ("[1, 2]", "p", "expected a number or a sampler"),
    ],
)
def test_bad_parameters_name_their_yaml_path_and_line(tmp_path: Path, section: str, where: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f"environment_parameters:\n  p: {section}\n")
    assert f"environment_parameters.{where} (line 2)" in str(caught.value)
    assert says in str(caught.value)


def manager(parameters: dict, interval: int | None = None, seed: int = 0) -> EnvironmentParameterManager:
    return EnvironmentParameterManager(parameters, get_plugins(), seed, interval)


UNIFORM = SamplerSettings("uniform", UniformSettings(0.0, 1.0))


def test_constants_are_sent_once_and_samplers_after_each_step_with_an_ended_episode() -> None:
    params = manager({"c": 2.0, "u": UNIFORM})
    first = params.first_values()
    assert first["c"] == 2.0 and 0.0 <= first["u"] < 1.0
    assert params.after_step({}) is None  # no episode ended: nothing to send
    params.episodes_ended("B", np.array([1.0]))
    sent = params.after_step({})
    assert sent is not None and set(sent) == {"u"} and sent["u"] != first["u"]
    assert params.after_step({}) is None


def test_a_resampling_interval_draws_every_n_steps_whatever_the_episodes() -> None:
    params = manager({"u": UNIFORM}, interval=3)
    params.first_values()
    params.episodes_ended("B", np.array([1.0]))
    sent = [params.after_step({}) is not None for _ in range(9)]
    assert sent == [False, False, True] * 3


def test_every_draw_goes_to_each_behaviors_summary_with_the_distribution_used() -> None:
    stats = StatsReporter([])
    params = manager({"u": UNIFORM, "c": 4.0})
    params.bind(["A", "B"], stats)
    params.first_values()
    for _ in range(2000):
        params.episodes_ended("A", np.array([0.0]))
        params.after_step({})
    params.record(stats, "A")
    drawn = np.array(stats.values["A"][VALUE_KEY + "u"])
    assert len(drawn) == 2001 and stats.values["B"][VALUE_KEY + "u"] == stats.values["A"][VALUE_KEY + "u"]
    assert drawn.mean() == pytest.approx(0.5, abs=0.03) and drawn.var() == pytest.approx(1 / 12, rel=0.1)
    assert stats.values["A"][VALUE_KEY + "c"] == [4.0]


def test_state_dict_continues_the_same_sequence_of_draws() -> None:
    params = manager({"u": UNIFORM}, seed=7)
    params.first_values()
    for _ in range(5):
        params.episodes_ended("B", np.array([0.0]))
        params.after_step({})
    state = params.state_dict()
    expected = []
    for _ in range(5):
        params.episodes_ended("B", np.array([0.0]))
        expected.append(params.after_step({}))
    resumed = manager({"u": UNIFORM}, seed=123)
    resumed.load_state_dict(state)
    got = []
    for _ in range(5):
        resumed.episodes_ended("B", np.array([0.0]))
        got.append(resumed.after_step({}))
    assert got == expected


def test_builtin_tasks_apply_parameters_by_name_from_the_next_episode() -> None:
    env = SparseCorridor(2, seed=0)
    env.reset()
    env.set_parameters({"distance": 1})  # the episodes in flight keep the goal at 24
    right = ActionTuple(np.zeros((2, 0), np.float32), np.ones((2, 1), np.int64))
    steps = 0
    while True:
        steps += 1
        _, ended = env.step({"SparseCorridor": right})["SparseCorridor"]
        if len(ended):
            break
    assert steps > 20  # the episodes in flight kept their far goal; the next ones use distance 1
    _, ended = env.step({"SparseCorridor": right})["SparseCorridor"]
    assert len(ended) == 2 and ended.reward.tolist() == [1.0, 1.0]


def test_builtin_tasks_refuse_an_unknown_parameter_name() -> None:
    with pytest.raises(EnvError, match="has no parameter gravity; its parameters are step_size, max_steps"):
        Goal1DDiscrete(1).set_parameters({"gravity": 9.8})
