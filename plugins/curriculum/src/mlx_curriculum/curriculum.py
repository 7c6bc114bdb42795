"""The ``curriculum`` schedule: move to the next lesson when the current one's criteria are met."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlx_core.config.parameters import SamplerSettings
from mlx_core.training.parameters import ParameterSchedule
from mlx_curriculum.settings import CompletionCriteria, CurriculumSettings

SMOOTHING = 0.25  # weight of the previous measurement when signal_smoothing is on


class Curriculum(ParameterSchedule):
    """Lessons of one environment parameter, advanced one at a time."""

    def __init__(self, parameter: str, settings: CurriculumSettings, lesson: int = 0) -> None:
        self.parameter = parameter
        self.lessons = settings.curriculum
        self._lesson = min(max(lesson, 0), len(self.lessons) - 1)
        self._start_lesson()

    def _start_lesson(self) -> None:
        criteria = self._criteria()
        self._episodes = 0  # of the measured behavior, finished during this lesson
        self._recent: deque[float] = deque(maxlen=max(criteria.min_lesson_length, 1) if criteria else 1)
        self._smoothed: float | None = None

    def _criteria(self) -> CompletionCriteria | None:
        return self.lessons[self._lesson].completion_criteria

    @property
    def lesson(self) -> int:
        """The current lesson, from 0."""
        return self._lesson

    @property
    def lesson_count(self) -> int:
        """How many lessons there are."""
        return len(self.lessons)

    def value(self) -> float | SamplerSettings:
        """The current lesson's constant or sampler."""
        return self.lessons[self._lesson].value

    def behaviors(self) -> set[str]:
        """Every behavior a lesson measures."""
        return {c.behavior for lesson in self.lessons if (c := lesson.completion_criteria) is not None}

    def require_reset(self) -> bool:
        """Whether the lesson just left asked for the episodes in flight to end."""
        previous = self.lessons[self._lesson - 1].completion_criteria if self._lesson else None
        return previous is not None and previous.require_reset

    def update(self, progress: Mapping[str, float], returns: Mapping[str, Sequence[float]]) -> bool:
        """Measure the current lesson after a step; move to the next one when it is complete."""
        criteria = self._criteria()
        if criteria is None:  # the last lesson
            return False
        new = returns.get(criteria.behavior, ())
        if not len(new):
            return False  # measurements change only as episodes end
        self._episodes += len(new)
        self._recent.extend(new)
        if criteria.measure == "progress":
            measured = float(progress.get(criteria.behavior, 0.0))
        else:
            measured = float(np.mean(self._recent))
        if criteria.signal_smoothing and self._smoothed is not None:
            measured = SMOOTHING * self._smoothed + (1 - SMOOTHING) * measured
        self._smoothed = measured
        if self._episodes < criteria.min_lesson_length or measured < criteria.threshold:
            return False
        self._lesson += 1
        self._start_lesson()
        return True

    def state_dict(self) -> dict[str, Any]:
        """The lesson and its measurements so far."""
        return {
            "lesson": self._lesson,
            "episodes": self._episodes,
            "recent": list(self._recent),
            "smoothed": self._smoothed,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue a saved lesson (clipped to this curriculum's lessons if it has fewer now)."""
        self._lesson = min(int(state.get("lesson", 0)), len(self.lessons) - 1)
        self._start_lesson()
        if int(state.get("lesson", 0)) == self._lesson:
            self._episodes = int(state.get("episodes", 0))
            self._recent.extend(float(x) for x in state.get("recent", ()))
            smoothed = state.get("smoothed")
            self._smoothed = None if smoothed is None else float(smoothed)
