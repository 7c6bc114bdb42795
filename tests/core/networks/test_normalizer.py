"""RunningNormalizer: running mean/variance over batches, clipped normalised output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlx_core.networks.normalizer import RunningNormalizer


def test_statistics_after_several_batches_match_numpy_over_all_data() -> None:
    rng = np.random.default_rng(0)
    loc, scale = np.array([3.0, -2.0, 10.0]), np.array([1.0, 5.0, 0.1])
    batches = [rng.normal(loc, scale, size=(n, 3)).astype(np.float32) for n in (17, 256, 3, 1000, 64)]
    normalizer = RunningNormalizer(3)
    for batch in batches:
        normalizer.update(torch.from_numpy(batch))
    data = np.concatenate(batches).astype(np.float64)
    np.testing.assert_allclose(normalizer.mean.numpy(), data.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(normalizer.var.numpy(), data.var(0), rtol=1e-3)
    assert normalizer.count.item() == pytest.approx(len(data))


def test_forward_standardises_with_the_running_statistics() -> None:
    normalizer = RunningNormalizer(2)
    normalizer.update(torch.tensor([[0.0, 10.0], [2.0, 30.0]]))
    out = normalizer(torch.tensor([[1.0, 20.0], [2.0, 30.0]]))
    torch.testing.assert_close(out, torch.tensor([[0.0, 0.0], [1.0, 1.0]]), rtol=1e-3, atol=1e-3)


def test_forward_clips_to_plus_minus_clip() -> None:
    normalizer = RunningNormalizer(2, clip=2.0)
    normalizer.update(torch.randn(100, 2))
    out = normalizer(torch.tensor([[1e6, -1e6], [-50.0, 50.0]]))
    torch.testing.assert_close(out, torch.tensor([[2.0, -2.0], [-2.0, 2.0]]))


def test_forward_leaves_the_statistics_unchanged() -> None:
    normalizer = RunningNormalizer(2)
    normalizer.update(torch.randn(10, 2))
    before = {k: v.clone() for k, v in normalizer.state_dict().items()}
    normalizer(torch.randn(50, 2) * 100)
    for key, value in normalizer.state_dict().items():
        torch.testing.assert_close(value, before[key])


def test_statistics_are_saved_in_the_state_dict() -> None:
    normalizer = RunningNormalizer(2)
    normalizer.update(torch.tensor([[1.0, 2.0], [3.0, 6.0]]))
    restored = RunningNormalizer(2)
    restored.load_state_dict(normalizer.state_dict())
    x = torch.tensor([[2.5, 1.0]])
    torch.testing.assert_close(restored(x), normalizer(x))
