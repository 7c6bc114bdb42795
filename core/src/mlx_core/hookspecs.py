"""The whole plugin contract of mlx.

A plugin is a module with ``@hookimpl`` functions, named by an entry point in the group
``"mlx"`` of its distribution::

    [project.entry-points.mlx]
    myalgo = "mlx_myalgo.plugin"

Registry hooks (``mlx_*_types``) are called once, when the plugin manager is built; every
plugin's list is gathered, so any number of plugins may answer. Each returned type carries the
name users write in YAML. Two plugins offering the same name is an error naming both.

Event hooks (``mlx_run_*``, ``mlx_checkpoint_saved``, ``mlx_export_written``) are called with
keyword arguments while a run goes on; their return values are ignored. Core's own defaults
(extrinsic reward, samplers, ONNX exporter, stats writers, environments) register through
these same hooks, from :mod:`mlx_core.plugins.builtin`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from mlx_core.config.settings import RunOptions
    from mlx_core.plugins.types import (
        EnvironmentType,
        ExporterType,
        ObjectiveType,
        RewardSignalType,
        SamplerType,
        ScheduleType,
        StatsWriterType,
        TrainerType,
        TrainerWrapperType,
    )

PROJECT = "mlx"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def mlx_trainer_types() -> list[TrainerType]:
    """Return the training algorithms this plugin offers.

    Called once at start-up. Each :class:`~mlx_core.plugins.types.TrainerType` is selected by
    ``behaviors.<Behavior>.trainer: <name>``; its ``settings`` class validates the behavior's
    ``hyperparameters`` and its ``factory`` receives a
    :class:`~mlx_core.training.trainer.TrainerContext` and returns a
    :class:`~mlx_core.training.trainer.Trainer`.
    """


@hookspec
def mlx_reward_signal_types() -> list[RewardSignalType]:
    """Return the reward signals this plugin offers.

    Called once at start-up. Each type is selected by a key of
    ``behaviors.<Behavior>.reward_signals``; its ``settings`` class validates that section and
    must have ``gamma`` and ``strength``. The factory is called as
    ``factory(spec=BehaviorSpec, settings=..., device=torch.device)`` and returns a
    :class:`~mlx_core.rewards.base.RewardSignal`.
    """


@hookspec
def mlx_update_objective_types() -> list[ObjectiveType]:
    """Return the extra objectives this plugin adds to any trainer's updates.

    Called once at start-up. Each :class:`~mlx_core.plugins.types.ObjectiveType` is selected by
    the behavior section of its name (``behaviors.<Behavior>.behavioral_cloning``), which its
    ``settings`` class validates. Once the behavior's trainer exists, the factory is called as
    ``factory(context=TrainerContext, policy=Policy, settings=...)`` and returns an
    :class:`~mlx_core.training.objectives.UpdateObjective`; trainers call
    ``Trainer.update_objectives()`` at the end of each update, where the objective takes its
    own optimizer steps on ``policy.network``'s parameters and returns statistics to record.
    Its ``state_dict`` goes into the trainer's checkpoints.
    """


@hookspec
def mlx_trainer_wrapper_types() -> list[TrainerWrapperType]:
    """Return the behavior sections that wrap whatever trainer the behavior uses.

    Called once at start-up. Each :class:`~mlx_core.plugins.types.TrainerWrapperType` is
    selected by writing the behavior section of its name (``behaviors.<Behavior>.self_play``);
    that key must be a field of :class:`~mlx_core.config.settings.BehaviorSettings` marked
    ``metadata={"section_kind": "trainer wrapper"}``, and the type's ``settings`` class
    validates the section. Once the behavior's trainer exists (objectives attached), the
    factory is called as ``factory(trainer=Trainer, context=TrainerContext, settings=...)`` and
    returns the :class:`~mlx_core.training.trainer.Trainer` the controller drives instead: it
    may act for some agents with other policies (opponents), hand the wrapped trainer only some
    trajectories, and add its own state to checkpoints. A factory may raise
    :class:`~mlx_core.errors.MlxError` when the behavior's spec does not suit it; the run then
    stops before any file is written.
    """


@hookspec
def mlx_sampler_types() -> list[SamplerType]:
    """Return the samplers for ``environment_parameters.<param>.sampler_type``.

    Called once at start-up; ``factory(settings)`` returns a
    :class:`~mlx_core.samplers.Sampler`, whose ``sample(rng)`` draws one value.
    """


@hookspec
def mlx_exporter_types() -> list[ExporterType]:
    """Return the model exporters; every installed exporter runs when a training run ends or is
    stopped by a signal (not after inference runs), and on ``mlx export``.

    ``export(policy, path)`` receives the trained policy and a path without a suffix
    (``results/<run-id>/<Behavior>/<Behavior>``), writes its file and returns that file's path.
    """


@hookspec
def mlx_environment_types() -> list[EnvironmentType]:
    """Return the kinds of environment this plugin can create.

    ``env_settings.env: <type-name>:<target>`` picks a type by name; a target without a
    prefix goes to the first type whose ``accepts(target)`` is True. The factory is called as
    ``factory(target, options=RunOptions, num_envs=int, seed=int)`` and returns an
    :class:`~mlx_core.env.base.Environment`.
    """


@hookspec
def mlx_stats_writer_types() -> list[StatsWriterType]:
    """Return the destinations of summary statistics (TensorBoard, console, ...).

    Every installed writer is used. ``factory(run_dir=Path, options=RunOptions)`` returns a
    :class:`~mlx_core.stats.reporter.StatsWriter`, or None to stay out of this run.
    """


@hookspec
def mlx_parameter_schedule_types() -> list[ScheduleType]:
    """Return schedules that change environment parameters during training (curricula).

    Called once at start-up. A parameter written as a mapping under a schedule's ``name``
    (``environment_parameters.<p>.curriculum: [...]``) is structured by the type's ``settings``
    class; ``factory(parameter=str, settings=..., lesson=int)`` returns a
    :class:`~mlx_core.training.parameters.ParameterSchedule`, which the controller calls after
    every environment step with each behavior's progress and finished episodes, and whose current
    value (a constant or a sampler) is sent with ``Environment.set_parameters`` when its lesson
    changes. ``--curriculum``/``--lesson`` need a schedule named ``curriculum`` (mlx-curriculum).
    """


@hookspec
def mlx_run_started(options: RunOptions, run_dir: Path) -> None:
    """Called once after the environments and trainers exist, before the first step."""


@hookspec
def mlx_checkpoint_saved(behavior: str, step: int, path: Path) -> None:
    """Called after a checkpoint file is complete on disk."""


@hookspec
def mlx_export_written(behavior: str, path: Path) -> None:
    """Called after an exporter wrote a model file."""


@hookspec
def mlx_run_finished(options: RunOptions, run_dir: Path, steps: dict[str, int]) -> None:
    """Called once at the end of a run (finished, or stopped by the user), after exports.

    ``steps`` holds each behavior's final step count.
    """


