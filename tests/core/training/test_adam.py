"""LeanAdam's short path gives what torch's Adam with clip_grad_norm_ gives, and its states load."""

from __future__ import annotations

import io

import pytest
import torch

from mlx_core.training.adam import LeanAdam, clip_grad_norm, make_adam

SHAPES = [(4, 16), (16,), (2, 16, 16), (2, 1, 16), (16, 3), (3,)]


def _params(seed: int) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(*s, generator=g)) for s in SHAPES]


@pytest.mark.parametrize("max_norm", [None, 0.5])
def test_short_path_matches_torch_adam_with_clipping(max_norm: float | None) -> None:
    ours, theirs = _params(0), _params(0)
    lean = make_adam(ours, lr=1e-2, eps=1e-5)
    reference = torch.optim.Adam(theirs, lr=1e-2, eps=1e-5)
    g = torch.Generator().manual_seed(1)
    for step in range(12):
        # gradients alternately above and below the clip norm; one parameter sometimes without one
        scale = 5.0 if step % 2 else 0.01
        grads = [torch.randn(*s, generator=g) * scale for s in SHAPES]
        skip = 4 if step % 3 == 2 else None
        for i, (a, b, grad) in enumerate(zip(ours, theirs, grads, strict=True)):
            a.grad = None if i == skip else grad.clone()
            b.grad = None if i == skip else grad.clone()
        norm = lean.apply_gradients(max_norm)
        if max_norm is not None:
            expected = torch.nn.utils.clip_grad_norm_([p for p in theirs if p.grad is not None], max_norm)
            assert norm is not None
            torch.testing.assert_close(norm, expected)
        reference.step()
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_state_dict_round_trip_continues_the_same_way() -> None:
    ours, copy = _params(0), _params(0)
    lean = LeanAdam(ours, lr=1e-2)
    for _ in range(3):
        for p in ours:
            p.grad = torch.ones_like(p)
        lean.apply_gradients(1.0)
    buffer = io.BytesIO()  # through a file, as a checkpoint is
    torch.save(lean.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer)
    with torch.no_grad():
        for a, b in zip(copy, ours, strict=True):
            a.copy_(b)
    restored = LeanAdam(copy, lr=1e-2)
    restored.load_state_dict(state)
    for a, b in zip(ours, copy, strict=True):
        a.grad = torch.full_like(a, 0.3)
        b.grad = torch.full_like(b, 0.3)
    lean.apply_gradients(1.0)
    restored.apply_gradients(1.0)
    for a, b in zip(ours, copy, strict=True):
        torch.testing.assert_close(a, b)
    assert all(float(restored.state[p]["step"]) == 4 for p in copy)


def test_clip_grad_norm_matches_torch() -> None:
    ours, theirs = _params(2), _params(2)
    for a, b in zip(ours, theirs, strict=True):
        a.grad = torch.full_like(a, 2.0)
        b.grad = torch.full_like(b, 2.0)
    torch.testing.assert_close(clip_grad_norm(ours, 1.0), torch.nn.utils.clip_grad_norm_(theirs, 1.0))
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a.grad, b.grad)


@pytest.mark.parametrize("missing", ["_fused_adam_", "_foreach_norm"])
def test_without_torchs_private_ops_the_public_adam_and_clipping_give_the_same(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    """The short paths call private torch ops; a torch without them gets the public API."""
    monkeypatch.delattr(torch, missing)
    ours, theirs = _params(0), _params(0)
    lean = make_adam(ours, lr=1e-2, eps=1e-5)
    assert not lean._short_path and not lean.param_groups[0]["fused"]
    reference = torch.optim.Adam(theirs, lr=1e-2, eps=1e-5)
    g = torch.Generator().manual_seed(1)
    for _ in range(6):
        grads = [torch.randn(*s, generator=g) * 5.0 for s in SHAPES]
        for a, b, grad in zip(ours, theirs, grads, strict=True):
            a.grad, b.grad = grad.clone(), grad.clone()
        norm = lean.apply_gradients(0.5)
        torch.testing.assert_close(norm, torch.nn.utils.clip_grad_norm_(theirs, 0.5, foreach=False))
        reference.step()
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_clear_gradients_leaves_every_parameter_without_a_gradient() -> None:
    params = _params(0)
    lean = make_adam(params, lr=1e-2)
    sum((p * p).sum() for p in params).backward()
    assert all(p.grad is not None for p in params)
    lean.clear_gradients()
    assert all(p.grad is None for p in params)
