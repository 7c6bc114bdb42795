"""Core's own defaults, registered through the same hooks as any third-party plugin."""

from __future__ import annotations

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
    """``uniform``, ``gaussian`` and ``multirangeuniform``."""
    return [
        SamplerType("uniform", samplers.UniformSettings, samplers.UniformSampler, "uniform in [min_value, max_value)"),
        SamplerType("gaussian", samplers.GaussianSettings, samplers.GaussianSampler, "normal(mean, st_dev)"),
        SamplerType(
            "multirangeuniform",
            samplers.MultiRangeUniformSettings,
            samplers.MultiRangeUniformSampler,
            "uniform over several intervals",
        ),
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


def _accepts_builtin(target: str) -> bool:
    from mlx_core.env.builtin import accepts

    return accepts(target)


def _make_builtin(target: str, **kwargs: Any) -> Any:
    from mlx_core.env.builtin import make_builtin

    return make_builtin(target, **kwargs)


def _accepts_gymnasium(target: str) -> bool:
    from mlx_core.env.gymnasium import accepts

    return accepts(target)


def _make_gymnasium(target: str, **kwargs: Any) -> Any:
    from mlx_core.env.gymnasium import make_gymnasium

    return make_gymnasium(target, **kwargs)


@hookimpl
def mlx_environment_types() -> list[EnvironmentType]:
    """Built-in tasks first (their names never clash with gymnasium ids), then gymnasium."""
    return [
        EnvironmentType("builtin", _accepts_builtin, _make_builtin, "small numpy learning problems"),
        EnvironmentType("gymnasium", _accepts_gymnasium, _make_gymnasium, "gymnasium ids and module:Class envs"),
    ]
