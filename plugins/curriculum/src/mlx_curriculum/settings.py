"""The ``curriculum`` section of an environment parameter: its lessons and when each is complete."""

from __future__ import annotations

import attrs
from attrs import validators as v

from mlx_core.config.parameters import ParameterValue

MEASURES = ("reward", "progress")


@attrs.define(frozen=True)
class CompletionCriteria:
    """When a lesson is complete (``completion_criteria``).

    ``measure: reward`` compares the mean return of ``behavior``'s last ``min_lesson_length``
    episodes with ``threshold``; ``measure: progress`` compares its step / max_steps (0 to 1).
    At least ``min_lesson_length`` episodes of the behavior finish in a lesson before it can end.
    ``signal_smoothing`` blends each new measurement with the previous one (weights 0.75 and
    0.25), so one lucky batch of episodes does not end a lesson. ``require_reset`` ends every
    episode in flight when the next lesson starts, instead of letting them finish.
    """

    behavior: str
    measure: str = attrs.field(default="reward", validator=v.in_(MEASURES))
    threshold: float = 0.0
    min_lesson_length: int = attrs.field(default=0, validator=v.ge(0))
    signal_smoothing: bool = True
    require_reset: bool = False

    def __attrs_post_init__(self) -> None:
        if self.measure == "progress" and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold of a progress measure is a fraction of max_steps from 0 to 1, got {self.threshold:g}")


@attrs.define(frozen=True)
class Lesson:
    """One lesson: the parameter's ``value`` (a constant or a sampler) until ``completion_criteria``
    are met. The last lesson needs no criteria: it lasts until the end of training."""

    value: ParameterValue
    name: str = ""
    completion_criteria: CompletionCriteria | None = None


@attrs.define(frozen=True)
class CurriculumSettings:
    """``environment_parameters.<param>.curriculum``: the lessons in order."""

    curriculum: list[Lesson] = attrs.field(validator=v.min_len(1))

    def __attrs_post_init__(self) -> None:
        for index, lesson in enumerate(self.curriculum[:-1]):
            if lesson.completion_criteria is None:
                raise ValueError(
                    f"curriculum: lesson {index} ({lesson.name or 'unnamed'}) has no completion_criteria; every "
                    f"lesson but the last needs them"
                )
        # Progress only grows, so a later lesson with a lower progress threshold than an earlier
        # one would end at once: that order is a mistake. A reward threshold may fall, because a
        # harder lesson can earn less.
        criteria = [lesson.completion_criteria for lesson in self.curriculum[:-1]]
        for index, (before, after) in enumerate(zip(criteria, criteria[1:])):
            assert before is not None and after is not None
            same_signal = before.behavior == after.behavior and before.measure == after.measure == "progress"
            if same_signal and after.threshold < before.threshold:
                raise ValueError(
                    f"curriculum: thresholds are out of order: lesson {index + 1}'s threshold {after.threshold:g} is "
                    f"below lesson {index}'s {before.threshold:g} for the progress of {before.behavior}; "
                    f"a later lesson must ask for at least as much"
                )
