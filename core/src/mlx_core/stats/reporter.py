"""Aggregates statistics per behavior over a summary period and hands them to writers."""

from __future__ import annotations

import abc
import time
from collections import defaultdict

import attrs
import numpy as np


@attrs.define(frozen=True)
class StatSummary:
    """Mean, standard deviation and count of one statistic over a summary period."""

    mean: float
    std: float
    count: int


class StatsWriter(abc.ABC):
    """A destination for summaries (TensorBoard, console, ...), offered by ``mlx_stats_writer_types``."""

    @abc.abstractmethod
    def write(self, behavior: str, step: int, summary: dict[str, StatSummary], state: dict[str, object]) -> None:
        """Write one period's summary of ``behavior`` at ``step``.

        ``state`` holds context for human-facing writers: ``elapsed`` seconds, ``max_steps``,
        ``training`` (bool), ``steps_per_second``.
        """

    def progress(self, behavior: str, step: int, max_steps: int, state: str) -> None:  # noqa: B027 - optional
        """Between summaries: the behavior's step and state (training / inference / finished),
        about twice a second, for live views."""

    def close(self) -> None:  # noqa: B027 - optional
        """Flush and release files."""


class StatsReporter:
    """Collects values per behavior and key; :meth:`flush` writes their summaries everywhere."""

    def __init__(self, writers: list[StatsWriter]) -> None:
        self.writers = writers
        self.values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        self.start = time.perf_counter()
        self._last_flush: dict[str, tuple[float, int]] = {}

    def add(self, behavior: str, key: str, value: float) -> None:
        """Record one value."""
        self.values[behavior][key].append(float(value))

    def extend(self, behavior: str, key: str, values: np.ndarray | list[float]) -> None:
        """Record many values at once."""
        self.values[behavior][key].extend(np.asarray(values, dtype=np.float64).tolist())

    def flush(self, behavior: str, step: int, max_steps: int, training: bool = True) -> dict[str, StatSummary]:
        """Summarise and clear the values of ``behavior``; write them to every writer."""
        now = time.perf_counter()
        last_time, last_step = self._last_flush.get(behavior, (self.start, 0))
        self._last_flush[behavior] = (now, step)
        summary = {
            key: StatSummary(float(np.mean(vals)), float(np.std(vals)), len(vals))
            for key, vals in self.values.pop(behavior, {}).items()
            if vals
        }
        state: dict[str, object] = {
            "elapsed": now - self.start,
            "max_steps": max_steps,
            "training": training,
            "steps_per_second": (step - last_step) / max(now - last_time, 1e-9),
        }
        for writer in self.writers:
            writer.write(behavior, step, summary, state)
        return summary

    def progress(self, behavior: str, step: int, max_steps: int, state: str) -> None:
        """Tell every writer a behavior's step between summaries."""
        for writer in self.writers:
            writer.progress(behavior, step, max_steps, state)

    def close(self) -> None:
        """Close every writer."""
        for writer in self.writers:
            writer.close()
