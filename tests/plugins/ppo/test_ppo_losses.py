"""ClippedLosses gives the losses and the gradients that autograd gives the textbook formulas."""

from __future__ import annotations

import pytest
import torch

from mlx_ppo.optimizer import ClippedLosses


def reference(log_probs, values, old_log_probs, advantages, returns, old_values, epsilon, value_clip, value_coef):  # type: ignore[no-untyped-def]
    ratio = torch.exp(log_probs - old_log_probs)
    policy_loss = -torch.min(ratio * advantages, torch.clamp(ratio, 1 - epsilon, 1 + epsilon) * advantages).mean()
    value_error = (returns - values).square()
    if value_clip is not None:
        clipped = old_values + torch.clamp(values - old_values, -value_clip, value_clip)
        value_error = torch.max(value_error, (returns - clipped).square())
    value_loss = value_error.mean()
    return policy_loss + value_coef * value_loss, policy_loss, value_loss


@pytest.mark.parametrize("value_clip", [None, 0.2])
@pytest.mark.parametrize("heads", [1, 2])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_losses_and_gradients_equal_autograds(value_clip: float | None, heads: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    n = 300
    old_log_probs = torch.randn(n, generator=g) - 1
    # ratios from well inside to far outside the clip range, and some exactly 1
    log_probs = old_log_probs + 0.4 * torch.randn(n, generator=g)
    log_probs[:20] = old_log_probs[:20]
    advantages = torch.randn(n, generator=g)
    advantages[20:25] = 0.0
    old_values = torch.randn(n, heads, generator=g)
    values = old_values + 0.5 * torch.randn(n, heads, generator=g)
    values[:10] = old_values[:10]  # unchanged values: the clipped and unclipped errors tie
    returns = old_values + torch.randn(n, heads, generator=g)
    args = (old_log_probs, advantages, returns, old_values, 0.2, value_clip, 0.7)

    lp1, v1 = log_probs.clone().requires_grad_(), values.clone().requires_grad_()
    loss, policy_loss, value_loss, ratio = ClippedLosses.apply(lp1, v1, *args)
    (3.0 * loss).backward()
    lp2, v2 = log_probs.clone().requires_grad_(), values.clone().requires_grad_()
    expected_loss, expected_policy, expected_value = reference(lp2, v2, *args)
    (3.0 * expected_loss).backward()

    torch.testing.assert_close(loss, expected_loss)
    torch.testing.assert_close(policy_loss, expected_policy)
    torch.testing.assert_close(value_loss, expected_value)
    torch.testing.assert_close(ratio, torch.exp(log_probs - old_log_probs))
    torch.testing.assert_close(lp1.grad, lp2.grad)
    torch.testing.assert_close(v1.grad, v2.grad)
    assert not policy_loss.requires_grad and not value_loss.requires_grad
