"""Samplers for ``environment_parameters.<param>``: the distributions a parameter's value is drawn from.

A sampler type (registered through ``mlx_sampler_types``) pairs a settings class, which holds
the distribution's arguments and rejects impossible ones when it is built, with a
:class:`Sampler` made from those settings. The parameter manager
(:mod:`mlx_core.training.parameters`) owns the random generator and asks for one value at a time.
"""

from __future__ import annotations

import abc

import attrs
import numpy as np


class Sampler(abc.ABC):
    """Draws one value of an environment parameter."""

    @abc.abstractmethod
    def sample(self, rng: np.random.Generator) -> float:
        """One value, drawn with ``rng`` (the only source of randomness, so runs repeat)."""


@attrs.define(frozen=True)
class UniformSettings:
    """``sampler_type: uniform``: a value in [min_value, max_value)."""

    min_value: float = 0.0
    max_value: float = 1.0

    def __attrs_post_init__(self) -> None:
        if self.min_value > self.max_value:
            raise ValueError(
                f"min_value ({self.min_value:g}) must not exceed max_value ({self.max_value:g}); swap the two bounds"
            )


@attrs.define(frozen=True)
class GaussianSettings:
    """``sampler_type: gaussian``: a normal value with ``mean`` and ``st_dev``."""

    mean: float = 0.0
    st_dev: float = attrs.field(default=1.0, validator=attrs.validators.ge(0))


@attrs.define(frozen=True)
class MultiRangeUniformSettings:
    """``sampler_type: multirange_uniform``: uniform over a union of disjoint [min, max] intervals."""

    intervals: list[list[float]] = attrs.field(factory=lambda: [[0.0, 1.0]])

    def __attrs_post_init__(self) -> None:
        if not self.intervals:
            raise ValueError("intervals is empty; give at least one [min, max] pair")
        for interval in self.intervals:
            if len(interval) != 2 or interval[0] >= interval[1]:
                raise ValueError(
                    f"intervals: each interval must be [min, max] with min below max, got {interval}"
                )
        ordered = sorted(self.intervals)
        for before, after in zip(ordered, ordered[1:]):
            if after[0] < before[1]:
                raise ValueError(f"intervals {before} and {after} overlap; make them disjoint or merge them")


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
        low, high = intervals[rng.choice(len(intervals), p=widths / widths.sum())]
        return float(rng.uniform(low, high))


@attrs.define(frozen=True)
class ConstantSampler(Sampler):
    """A fixed value (``environment_parameters.<param>: 3.0``), drawn without touching ``rng``."""

    value: float

    def sample(self, rng: np.random.Generator) -> float:
        """The value."""
        return self.value
