"""Environment parameters during a run: constants, samplers and schedules, delivered between episodes.

The :class:`EnvironmentParameterManager` turns ``environment_parameters`` into values for
``Environment.set_parameters``. The controller asks it, after every environment step, for the
values to send; the environment applies them from each agent's next episode.

* constants are sent once, before the first reset;
* samplers draw a new value after every step in which an episode ended (so each episode
  starts with a fresh draw), or every ``env_settings.resampling_interval`` steps when that is
  set; one generator, seeded from the run's seed, draws every value, and its state is kept in
  ``training_status.json`` so that ``--resume`` continues the same sequence;
* schedules (``mlx_parameter_schedule_types``, e.g. mlx-curriculum's lessons) are told each
  behavior's progress and finished episodes, and decide when their lesson changes; the current
  lesson's value (a constant or a sampler) is then used as above.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlx_core.config.parameters import SamplerSettings
from mlx_core.errors import MlxError
from mlx_core.logs import get_logger
from mlx_core.plugins.manager import Plugins
from mlx_core.samplers import ConstantSampler, Sampler
from mlx_core.stats.reporter import StatsReporter

log = get_logger()

LESSON_KEY = "Environment/Lesson Number/"
VALUE_KEY = "Environment/Parameters/"
LIVE_LESSON_KEY = "Environment/Lesson"


class ParameterSchedule(abc.ABC):
    """A parameter whose value changes over training in numbered lessons.

    A schedule type's ``factory(parameter=str, settings=<its settings object>, lesson=int)``
    returns one, starting at lesson ``lesson`` (``--lesson``, clipped to the last lesson).
    """

    @property
    @abc.abstractmethod
    def lesson(self) -> int:
        """The current lesson, from 0."""

    @property
    @abc.abstractmethod
    def lesson_count(self) -> int:
        """How many lessons there are."""

    @abc.abstractmethod
    def value(self) -> float | SamplerSettings:
        """The current lesson's value: a constant or a sampler."""

    @abc.abstractmethod
    def behaviors(self) -> set[str]:
        """The behaviors whose progress or reward the schedule measures (checked against the environment)."""

    @abc.abstractmethod
    def update(self, progress: Mapping[str, float], returns: Mapping[str, Sequence[float]]) -> bool:
        """Called after each environment step with each behavior's training progress (step /
        max_steps) and the returns of its episodes that ended since the last call. Returns True
        when the lesson changed."""

    def require_reset(self) -> bool:
        """Whether the lesson just reached asks for every episode in flight to end now."""
        return False

    @abc.abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """What ``--resume`` needs to continue the schedule (JSON-ready)."""

    @abc.abstractmethod
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`state_dict`'s output."""


class EnvironmentParameterManager:
    """Values of every environment parameter, and when to send them."""

    def __init__(
        self,
        parameters: Mapping[str, Any],
        plugins: Plugins,
        seed: int,
        resampling_interval: int | None = None,
        lesson: int = 0,
    ) -> None:
        self.plugins = plugins
        self.resampling_interval = resampling_interval
        self.rng = np.random.default_rng(seed)
        self.schedules: dict[str, ParameterSchedule] = {}
        self.samplers: dict[str, Sampler] = {}
        for name, value in parameters.items():
            if isinstance(value, (int, float, SamplerSettings)):
                self.samplers[name] = self._sampler(value)
            else:  # a schedule plugin's settings: the type whose settings class it is
                kind = next(t for t in plugins.all("parameter schedule") if isinstance(value, t.settings))
                schedule = kind.factory(parameter=name, settings=value, lesson=lesson)
                self.schedules[name] = schedule
                self.samplers[name] = self._sampler(schedule.value())
        self.steps = 0
        self.values: dict[str, float] = {}
        self.stats: StatsReporter | None = None
        self.behaviors: list[str] = []
        self._returns: dict[str, list[float]] = {}
        self._ended = False
        self._reset_requested = False

    # -- set-up ----------------------------------------------------------------------------
    def bind(self, behaviors: Sequence[str], stats: StatsReporter | None = None) -> None:
        """Use the environment's behaviors (every drawn value goes to each one's summary in
        ``stats``); raise :class:`MlxError` when a schedule measures a behavior the environment
        does not have."""
        self.behaviors, self.stats = list(behaviors), stats
        for name, schedule in self.schedules.items():
            missing = sorted(schedule.behaviors() - set(behaviors))
            if missing:
                raise MlxError(
                    f"environment_parameters.{name} measures behavior {', '.join(missing)}, which the environment "
                    f"does not have; its behaviors are {', '.join(sorted(behaviors))}. Set completion_criteria.behavior "
                    f"to one of them."
                )

    def first_values(self) -> dict[str, float]:
        """A value for every parameter, sent before the first reset."""
        self.values = self._draw(self.samplers)
        return dict(self.values)

    # -- during the run --------------------------------------------------------------------
    def episodes_ended(self, behavior: str, returns: np.ndarray) -> None:
        """Record the returns of episodes of ``behavior`` that just ended."""
        self._ended = True
        if self.schedules:
            self._returns.setdefault(behavior, []).extend(np.asarray(returns, np.float64).tolist())

    def after_step(self, progress: Mapping[str, float]) -> dict[str, float] | None:
        """The values to send after an environment step, or None when nothing changes."""
        self.steps += 1
        changed: set[str] = set()
        if self.schedules:
            returns, self._returns = self._returns, {}
            for name, schedule in self.schedules.items():
                if schedule.update(progress, returns):
                    self.samplers[name] = self._sampler(schedule.value())
                    self._reset_requested |= schedule.require_reset()
                    changed.add(name)
                    log.info("lesson_changed", parameter=name, lesson=schedule.lesson, of=schedule.lesson_count)
        if self.resampling_interval is None:
            due = self._ended
        else:
            due = self.steps % self.resampling_interval == 0
        self._ended = False
        if due:
            changed.update(name for name, s in self.samplers.items() if not isinstance(s, ConstantSampler))
        if not changed:
            return None
        new = self._draw(sorted(changed))
        self.values.update(new)
        return new

    def _draw(self, names: Sequence[str] | Mapping[str, Sampler]) -> dict[str, float]:
        values = {name: self.samplers[name].sample(self.rng) for name in names}
        if self.stats is not None:  # every draw, so a summary shows the distribution actually used
            for behavior in self.behaviors:
                for name, value in values.items():
                    if not isinstance(self.samplers[name], ConstantSampler):
                        self.stats.add(behavior, VALUE_KEY + name, value)
        return values

    def take_reset_request(self) -> bool:
        """True once after a lesson change that requires the episodes in flight to end."""
        requested, self._reset_requested = self._reset_requested, False
        return requested

    def record(self, stats: StatsReporter, behavior: str) -> None:
        """Put the constant values and the lessons in ``behavior``'s summary (called before each
        summary; sampled values went in as they were drawn)."""
        for name, value in self.values.items():
            if isinstance(self.samplers[name], ConstantSampler):
                stats.add(behavior, VALUE_KEY + name, value)
        lessons = self.lessons(behavior=behavior)
        for name, lesson in lessons.items():
            stats.add(behavior, LESSON_KEY + name, lesson)
        if lessons:  # the live view's lesson column (the furthest one when several curricula measure it)
            stats.add(behavior, LIVE_LESSON_KEY, max(lessons.values()))

    def lessons(self, behavior: str | None = None) -> dict[str, int]:
        """The current lesson of each scheduled parameter (those measuring ``behavior``, when given)."""
        return {
            name: schedule.lesson
            for name, schedule in self.schedules.items()
            if behavior is None or behavior in schedule.behaviors()
        }

    # -- resume ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Lessons, values and the generator's state, for ``training_status.json``."""
        return {
            "lessons": self.lessons(),
            "schedules": {name: schedule.state_dict() for name, schedule in self.schedules.items()},
            "values": dict(self.values),
            "steps": self.steps,
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue where :meth:`state_dict` left off; parameters the old run did not have keep their start."""
        for name, schedule in self.schedules.items():
            if name in state.get("schedules", {}):
                schedule.load_state_dict(state["schedules"][name])
                self.samplers[name] = self._sampler(schedule.value())
        if "rng" in state:
            self.rng.bit_generator.state = state["rng"]
        self.steps = int(state.get("steps", 0))

    def _sampler(self, value: float | SamplerSettings) -> Sampler:
        if isinstance(value, SamplerSettings):
            sampler_type = self.plugins.get("sampler", value.sampler_type)
            sampler: Sampler = sampler_type.factory(value.sampler_parameters)
            return sampler
        return ConstantSampler(float(value))
