"""Environment-parameter samplers: uniform, gaussian and multi-range uniform."""

from __future__ import annotations

import numpy as np
import pytest

from mlx_core.samplers import (
    ConstantSampler,
    GaussianSampler,
    GaussianSettings,
    MultiRangeUniformSampler,
    MultiRangeUniformSettings,
    UniformSampler,
    UniformSettings,
)

N = 5000


def draws(sampler: UniformSampler | GaussianSampler | MultiRangeUniformSampler, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([sampler.sample(rng) for _ in range(N)])


def test_uniform_draws_stay_in_range_and_cover_it() -> None:
    values = draws(UniformSampler(UniformSettings(min_value=-2.0, max_value=3.0)))
    assert values.min() >= -2.0
    assert values.max() < 3.0
    assert values.min() < -1.9 and values.max() > 2.9
    assert values.mean() == pytest.approx(0.5, abs=0.1)


def test_uniform_with_equal_bounds_returns_that_value() -> None:
    assert set(draws(UniformSampler(UniformSettings(min_value=4.0, max_value=4.0)))) == {4.0}


def test_gaussian_draws_have_the_configured_mean_and_std() -> None:
    values = draws(GaussianSampler(GaussianSettings(mean=10.0, st_dev=2.0)))
    assert values.mean() == pytest.approx(10.0, abs=0.1)
    assert values.std() == pytest.approx(2.0, rel=0.05)


def test_seeded_rng_gives_the_same_draws() -> None:
    sampler = GaussianSampler(GaussianSettings())
    np.testing.assert_array_equal(draws(sampler, seed=5), draws(sampler, seed=5))


def test_multirangeuniform_draws_only_inside_the_intervals() -> None:
    intervals = [[-5.0, -4.0], [0.0, 3.0], [10.0, 10.5]]
    values = draws(MultiRangeUniformSampler(MultiRangeUniformSettings(intervals=intervals)))
    inside = np.zeros(N, bool)
    for low, high in intervals:
        inside |= (values >= low) & (values <= high)
    assert inside.all()


def test_multirangeuniform_picks_intervals_in_proportion_to_their_width() -> None:
    intervals = [[0.0, 1.0], [10.0, 13.0]]
    values = draws(MultiRangeUniformSampler(MultiRangeUniformSettings(intervals=intervals)))
    assert (values >= 10.0).mean() == pytest.approx(0.75, abs=0.03)


def test_uniform_with_min_above_max_raises_value_error() -> None:
    with pytest.raises(ValueError, match="min_value"):
        UniformSettings(min_value=2.0, max_value=1.0)


def test_multirangeuniform_with_reversed_interval_raises_value_error() -> None:
    with pytest.raises(ValueError, match=r"\[3.0, 1.0\]"):
        MultiRangeUniformSettings(intervals=[[0.0, 1.0], [3.0, 1.0]])


def test_multirangeuniform_interval_without_two_bounds_raises_value_error() -> None:
    with pytest.raises(ValueError):
        MultiRangeUniformSettings(intervals=[[0.0, 1.0, 2.0]])


def test_gaussian_with_negative_st_dev_raises_value_error() -> None:
    with pytest.raises(ValueError):
        GaussianSettings(mean=0.0, st_dev=-1.0)


def test_multirange_uniform_with_overlapping_intervals_names_both() -> None:
    with pytest.raises(ValueError, match=r"\[0.0, 2.0\] and \[1.0, 3.0\] overlap"):
        MultiRangeUniformSettings(intervals=[[1.0, 3.0], [0.0, 2.0]])


def test_multirange_uniform_without_intervals_or_with_an_empty_one_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        MultiRangeUniformSettings(intervals=[])
    with pytest.raises(ValueError, match="min below max"):
        MultiRangeUniformSettings(intervals=[[0.0, 1.0], [2.0, 2.0]])


def test_uniform_variance_matches_the_interval() -> None:
    values = draws(UniformSampler(UniformSettings(min_value=0.0, max_value=6.0)))
    assert values.var() == pytest.approx(36.0 / 12.0, rel=0.05)


def test_multirange_uniform_mean_is_the_length_weighted_mean_of_the_midpoints() -> None:
    values = draws(MultiRangeUniformSampler(MultiRangeUniformSettings(intervals=[[0.0, 1.0], [10.0, 13.0]])))
    assert values.mean() == pytest.approx(0.25 * 0.5 + 0.75 * 11.5, abs=0.15)


def test_constant_sampler_returns_its_value_and_leaves_the_generator_alone() -> None:
    rng = np.random.default_rng(3)
    before = rng.bit_generator.state
    assert ConstantSampler(2.5).sample(rng) == 2.5
    assert rng.bit_generator.state == before
