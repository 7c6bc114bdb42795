"""The *types* plugins offer through the registry hooks of :mod:`mlx_core.hookspecs`.

Each type is a name (the word users write in YAML), an attrs settings class (the YAML section
it reads, structured and validated by cattrs) and a factory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from mlx_core.env.base import Environment
    from mlx_core.rewards.base import RewardSignal
    from mlx_core.samplers import Sampler
    from mlx_core.stats.reporter import StatsWriter
    from mlx_core.training.objectives import UpdateObjective
    from mlx_core.training.trainer import Trainer, TrainerContext


@attrs.define(frozen=True)
class TrainerType:
    """A training algorithm, chosen with ``behaviors.<B>.trainer``.

    ``settings`` structures ``behaviors.<B>.hyperparameters``; ``factory(context)`` builds the
    trainer of one behavior.
    """

    name: str
    settings: type
    factory: Callable[[TrainerContext], Trainer]
    description: str = ""


@attrs.define(frozen=True)
class ObjectiveType:
    """An extra objective that a behavior section adds to any trainer's updates, chosen by
    writing that section (``name`` is the key of ``behaviors.<B>``, e.g. ``behavioral_cloning``).

    ``settings`` structures the section; the factory is called with keywords,
    ``factory(context=TrainerContext, policy=Policy, settings=<settings object>)``, once the
    behavior's trainer exists, and returns an
    :class:`~mlx_core.training.objectives.UpdateObjective` that trains ``policy``.
    """

    name: str
    settings: type
    factory: Callable[..., UpdateObjective]
    description: str = ""


@attrs.define(frozen=True)
class TrainerWrapperType:
    """A behavior section that wraps any trainer, chosen by writing that section (``name`` is
    the key of ``behaviors.<B>``, e.g. ``self_play``).

    ``settings`` structures the section; the factory is called with keywords,
    ``factory(trainer=Trainer, context=TrainerContext, settings=<settings object>)``, and
    returns the :class:`~mlx_core.training.trainer.Trainer` that the controller drives.
    """

    name: str
    settings: type
    factory: Callable[..., Trainer]
    description: str = ""


@attrs.define(frozen=True)
class RewardSignalType:
    """A reward signal, chosen by a key of ``behaviors.<B>.reward_signals``.

    ``settings`` must have ``gamma`` and ``strength`` fields; the factory is called with
    keywords, ``factory(spec=BehaviorSpec, settings=<settings object>, device=torch.device)``,
    and builds the signal for one behavior.
    """

    name: str
    settings: type
    factory: Callable[..., RewardSignal]
    description: str = ""


@attrs.define(frozen=True)
class SamplerType:
    """A distribution for ``environment_parameters.<p>.sampler_type``."""

    name: str
    settings: type
    factory: Callable[[Any], Sampler]
    description: str = ""


@attrs.define(frozen=True)
class ExporterType:
    """A model format written at the end of a run; ``export(policy, path_without_suffix)``
    writes the file and returns its path."""

    name: str
    export: Callable[..., Any]
    description: str = ""


@attrs.define(frozen=True)
class EnvironmentType:
    """A kind of environment, chosen by ``env_settings.env``.

    ``accepts(target)`` says whether a target string (without a ``name:`` prefix) is one of
    this type's; ``factory(target, options=RunOptions, num_envs=int, seed=int)`` creates it.
    """

    name: str
    accepts: Callable[[str], bool]
    factory: Callable[..., Environment]
    description: str = ""


@attrs.define(frozen=True)
class StatsWriterType:
    """A destination for summary statistics; ``factory(run_dir=Path, options=RunOptions)``
    (keywords) builds a writer, or returns None to stay out of this run."""

    name: str
    factory: Callable[..., StatsWriter]
    description: str = ""


@attrs.define(frozen=True)
class ScheduleType:
    """A schedule of environment-parameter values over training (e.g. curriculum lessons)."""

    name: str
    settings: type
    factory: Callable[..., Any]
    description: str = ""
