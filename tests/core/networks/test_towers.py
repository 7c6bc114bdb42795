"""Towers: stacked MLPs equal separate per-tower MLPs, and each initialisation is what it says."""

from __future__ import annotations

import math

import pytest
import torch

from mlx_core.networks.towers import Towers


def _by_hand(towers: Towers, x: torch.Tensor, i: int, act) -> torch.Tensor:  # type: ignore[no-untyped-def]
    h = x
    for layer in range(towers.layers):
        w, b = getattr(towers, f"w{layer}"), getattr(towers, f"b{layer}")
        if towers.n > 1:
            w, b = w[i], b[i, 0]
        h = act(h @ w + b)
    return h


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("activation", ["tanh", "relu", "swish"])
def test_stacked_towers_equal_separate_mlps(n: int, activation: str) -> None:
    torch.manual_seed(0)
    towers = Towers(5, 16, 2, activation, n=n, init="linear")  # non-zero biases: they are checked too
    act = {"tanh": torch.tanh, "relu": torch.relu, "swish": torch.nn.functional.silu}[activation]
    x = torch.randn(7, 5)
    outputs = towers(x)
    assert len(outputs) == n
    for i in range(n):
        expected = _by_hand(towers, x, i, act)
        torch.testing.assert_close(outputs[i], expected)
        torch.testing.assert_close(towers.tower(x, i), expected)


def test_gradients_reach_each_tower_and_detach_stops_them() -> None:
    torch.manual_seed(0)
    towers = Towers(3, 8, 2, "relu", n=2, init="linear")
    x = torch.randn(4, 3, requires_grad=True)
    towers(x)[1].sum().backward()
    # only tower 1's slice of each stacked parameter gets a gradient
    assert towers.w1.grad is not None and towers.w1.grad[0].abs().sum() == 0 and towers.w1.grad[1].abs().sum() > 0
    towers.zero_grad(set_to_none=True)
    x.grad = None
    towers(x, detach=True)[0].sum().backward()
    assert all(p.grad is None for p in towers.parameters())
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_initialisations() -> None:
    torch.manual_seed(0)
    ortho = Towers(6, 32, 2, "tanh", n=2)
    w = ortho.w1[0]  # (in, hidden) = 32x32: orthogonal with gain sqrt(2)
    torch.testing.assert_close(w.T @ w, 2.0 * torch.eye(32), atol=1e-4, rtol=0)
    assert ortho.b0.abs().sum() == 0
    linear = Towers(6, 32, 2, "relu", n=2, init="linear")
    for layer, fan_in in ((0, 6), (1, 32)):
        bound = 1 / math.sqrt(fan_in)
        assert getattr(linear, f"w{layer}").abs().max() <= bound
        assert getattr(linear, f"b{layer}").abs().max() <= bound
        assert getattr(linear, f"b{layer}").abs().sum() > 0
