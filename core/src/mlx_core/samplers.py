"""Samplers for ``environment_parameters.<param>``: a new value is drawn for each episode."""

from __future__ import annotations

import abc

import attrs
import numpy as np


class Sampler(abc.ABC):
    """Draws one value of an environment parameter."""

    @abc.abstractmethod
    def sample(self, rng: np.random.Generator) -> float:
        """One value."""


@attrs.define(frozen=True)
class UniformSettings:
    """``sampler_type: uniform``: a value in [min_value, max_value)."""

    min_value: float = 0.0
    max_value: float = 1.0

    def __attrs_post_init__(self) -> None:
        if self.min_value > self.max_value:
            raise ValueError(f"min_value ({self.min_value}) must not exceed max_value ({self.max_value})")


@attrs.define(frozen=True)
class GaussianSettings:
    """``sampler_type: gaussian``: a normal value with ``mean`` and ``st_dev``."""

    mean: float = 0.0
    st_dev: float = attrs.field(default=1.0, validator=attrs.validators.ge(0))


@attrs.define(frozen=True)
class MultiRangeUniformSettings:
    """``sampler_type: multirangeuniform``: uniform over a union of [min, max] intervals."""

    intervals: list[list[float]] = attrs.field(factory=lambda: [[0.0, 1.0]])

    def __attrs_post_init__(self) -> None:
        for interval in self.intervals:
            if len(interval) != 2 or interval[0] > interval[1]:
                raise ValueError(f"each interval must be [min, max] with min <= max, got {interval}")


@attrs.define(frozen=True)
class UniformSampler(Sampler):
    """Uniform over one interval."""

    settings: UniformSettings

    def sample(self, rng: np.random.Generator) -> float:
        """A uniform draw."""
        return float(rng.uniform(self.settings.min_value, self.settings.max_value))


@attrs.define(frozen=True)
class GaussianSampler(Sampler):
    """Normal distribution."""

    settings: GaussianSettings

    def sample(self, rng: np.random.Generator) -> float:
        """A normal draw."""
        return float(rng.normal(self.settings.mean, self.settings.st_dev))


@attrs.define(frozen=True)
class MultiRangeUniformSampler(Sampler):
    """Picks an interval with probability proportional to its length, then a uniform value in it."""

    settings: MultiRangeUniformSettings

    def sample(self, rng: np.random.Generator) -> float:
        """A draw from the union of intervals."""
        intervals = np.asarray(self.settings.intervals, dtype=np.float64)
        widths = intervals[:, 1] - intervals[:, 0]
        p = widths / widths.sum() if widths.sum() > 0 else None
        low, high = intervals[rng.choice(len(intervals), p=p)]
        return float(rng.uniform(low, high))
