"""Core's own defaults, registered through the same hooks as any third-party plugin."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlx_core import samplers
from mlx_core.hookspecs import hookimpl
from mlx_core.plugins.types import EnvironmentType, ExporterType, RewardSignalType, SamplerType, StatsWriterType
from mlx_core.rewards.base import RewardSignalSettings
from mlx_core.rewards.extrinsic import make_extrinsic


@hookimpl
def mlx_reward_signal_types() -> list[RewardSignalType]:
    """The ``extrinsic`` reward signal."""
    return [
        RewardSignalType(
            name="extrinsic",
            settings=RewardSignalSettings,
            factory=make_extrinsic,
            description="the environment's reward times strength",
        )
    ]


@hookimpl
def mlx_sampler_types() -> list[SamplerType]:
    """``uniform``, ``gaussian`` and ``multirange_uniform`` (also spelt ``multirangeuniform``, as ML-Agents 1.x does)."""
    multirange = (samplers.MultiRangeUniformSettings, samplers.MultiRangeUniformSampler, "uniform over disjoint intervals")
    return [
        SamplerType("uniform", samplers.UniformSettings, samplers.UniformSampler, "uniform in [min_value, max_value)"),
        SamplerType("gaussian", samplers.GaussianSettings, samplers.GaussianSampler, "normal(mean, st_dev)"),
        SamplerType("multirange_uniform", *multirange),
        SamplerType("multirangeuniform", *multirange),
    ]


def _export_onnx(policy: Any, path: Path) -> Path:
    from mlx_core.export.onnx import export_onnx  # torch.onnx loads only when exporting

    return export_onnx(policy, path)


@hookimpl
def mlx_exporter_types() -> list[ExporterType]:
    """The ONNX exporter."""
    return [ExporterType("onnx", _export_onnx, "deterministic actor as <Behavior>.onnx")]


def _tensorboard(run_dir: Path, options: Any) -> Any:
    from mlx_core.stats.tensorboard import TensorBoardWriter

    return TensorBoardWriter(run_dir)


def _console(run_dir: Path, options: Any) -> Any:
    from mlx_core.stats.live import console_writer

    return console_writer()


@hookimpl
def mlx_stats_writer_types() -> list[StatsWriterType]:
    """TensorBoard event files and console summary lines."""
    return [
        StatsWriterType("tensorboard", _tensorboard, "TensorBoard scalars per behavior"),
        StatsWriterType("console", _console, "a summary line per behavior every summary_freq steps"),
    ]


def _lazy(module: str, name: str) -> Callable[..., Any]:
    """A function of ``module`` imported on first call, so ``mlx`` starts without every adapter's imports."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    return call


@hookimpl
def mlx_environment_types() -> list[EnvironmentType]:
    """The first type whose ``accepts`` says yes wins, so the order matters: built-in names,
    ``pettingzoo:`` and ``grpc://`` prefixes, executables (files), ``file.py:Class`` /
    ``module:Class`` mlx environments, then gymnasium ids and classes."""
    env = "mlx_core.env."
    return [
        EnvironmentType(
            "builtin", _lazy(env + "builtin", "accepts"), _lazy(env + "builtin", "make_builtin"), "small numpy learning problems"
        ),
        EnvironmentType(
            "pettingzoo",
            _lazy(env + "pettingzoo", "accepts"),
            _lazy(env + "pettingzoo", "make_pettingzoo"),
            "PettingZoo parallel envs (pettingzoo:module.path), agents grouped into behaviors by name",
        ),
        EnvironmentType(
            "grpc",
            lambda target: False,  # chosen by its prefix only: grpc://host:port[,host:port...]
            _lazy(env + "executable", "make_grpc"),
            "simulators already running, grpc://host:port[,host:port...]",
        ),
        EnvironmentType(
            "executable",
            _lazy(env + "executable", "accepts_executable"),
            _lazy(env + "executable", "make_executable"),
            "simulator programs launched with --mlx-port (path/to/simulator or script.py)",
        ),
        EnvironmentType(
            "python",
            _lazy(env + "python", "accepts"),
            _lazy(env + "python", "make_python"),
            "mlx Environment subclasses in this process (path/to/file.py:Class or module:Class)",
        ),
        EnvironmentType(
            "gymnasium",
            _lazy(env + "gymnasium", "accepts"),
            _lazy(env + "gymnasium", "make_gymnasium"),
            "gymnasium ids and module:Class envs",
        ),
    ]
