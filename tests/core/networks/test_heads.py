"""ActionHead: masked categoricals for discrete branches and a Gaussian for continuous actions."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mlx_core.env.base import ActionSpec
from mlx_core.networks.heads import ActionHead

IN_SIZE = 6
SPECS = {
    "discrete": ActionSpec(discrete_branches=(3, 2)),
    "continuous": ActionSpec(continuous_size=2),
    "mixed": ActionSpec(continuous_size=2, discrete_branches=(3, 2)),
}


def make_head(spec: ActionSpec, seed: int = 0) -> ActionHead:
    """A head with weights large enough that the distribution is far from uniform."""
    torch.manual_seed(seed)
    head = ActionHead(IN_SIZE, spec)
    with torch.no_grad():
        for p in head.parameters():
            p.copy_(torch.randn_like(p))
    return head


def random_mask(n: int, branches: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """A random (n, sum(branches)) mask that allows at least one action per branch."""
    parts = []
    for size in branches:
        part = torch.rand(n, size, generator=generator) < 0.5
        keep = torch.randint(size, (n,), generator=generator)
        part[torch.arange(n), keep] = True
        parts.append(part)
    return torch.cat(parts, dim=1)


def test_masked_discrete_actions_are_never_sampled() -> None:
    branches = (3, 2)
    head = make_head(ActionSpec(discrete_branches=branches))
    generator = torch.Generator().manual_seed(1)
    n = 4000
    features = torch.randn(n, IN_SIZE, generator=generator)
    mask = random_mask(n, branches, generator)
    with torch.no_grad():
        _, discrete, _ = head.sample(features, mask)
    offsets = [0, branches[0]]
    for b, offset in enumerate(offsets):
        chosen = mask[torch.arange(n), offset + discrete[:, b]]
        assert chosen.all(), f"branch {b} sampled a masked action"
        # every action of the branch is drawn somewhere, so sampling is really random
        assert set(discrete[:, b].tolist()) == set(range(branches[b]))


def test_branch_with_one_allowed_action_always_samples_it_with_log_prob_zero() -> None:
    head = make_head(ActionSpec(discrete_branches=(4,)))
    mask = torch.tensor([[False, False, True, False]]).repeat(500, 1)
    with torch.no_grad():
        _, discrete, log_prob = head.sample(torch.randn(500, IN_SIZE), mask)
    assert (discrete[:, 0] == 2).all()
    torch.testing.assert_close(log_prob, torch.zeros(500), atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_sample_log_prob_equals_evaluate_log_prob_of_the_same_actions(kind: str) -> None:
    spec = SPECS[kind]
    head = make_head(spec)
    generator = torch.Generator().manual_seed(2)
    features = torch.randn(256, IN_SIZE, generator=generator)
    mask = random_mask(256, spec.discrete_branches, generator) if spec.discrete_branches else None
    with torch.no_grad():
        continuous, discrete, sampled = head.sample(features, mask)
        evaluated, _ = head.evaluate(features, mask, continuous, discrete)
    torch.testing.assert_close(sampled, evaluated, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("branches", [(5,), (3, 2)])
def test_entropy_of_uniform_categorical_is_log_n_per_branch(branches: tuple[int, ...]) -> None:
    head = ActionHead(IN_SIZE, ActionSpec(discrete_branches=branches))
    with torch.no_grad():
        head.logits.weight.zero_()
        head.logits.bias.zero_()
    features = torch.randn(8, IN_SIZE)
    discrete = torch.zeros(8, len(branches), dtype=torch.long)
    _, entropy = head.evaluate(features, None, torch.zeros(8, 0), discrete)
    expected = sum(math.log(n) for n in branches)
    torch.testing.assert_close(entropy, torch.full((8,), expected), rtol=1e-6, atol=1e-6)


def test_masking_reduces_uniform_entropy_to_log_of_allowed_count() -> None:
    head = ActionHead(IN_SIZE, ActionSpec(discrete_branches=(5,)))
    with torch.no_grad():
        head.logits.weight.zero_()
        head.logits.bias.zero_()
    mask = torch.tensor([[True, False, True, False, False]])
    _, entropy = head.evaluate(torch.randn(1, IN_SIZE), mask, torch.zeros(1, 0), torch.zeros(1, 1, dtype=torch.long))
    torch.testing.assert_close(entropy, torch.tensor([math.log(2)]), rtol=1e-6, atol=1e-6)


def test_continuous_log_prob_and_entropy_match_torch_normal() -> None:
    head = make_head(SPECS["continuous"])
    with torch.no_grad():
        head.log_std.copy_(torch.tensor([-0.7, 0.4]))
    features = torch.randn(64, IN_SIZE)
    actions = torch.randn(64, 2) * 2
    with torch.no_grad():
        log_prob, entropy = head.evaluate(features, None, actions, torch.zeros(64, 0, dtype=torch.long))
        normal = torch.distributions.Normal(head.mu(features), head.log_std.exp())
    torch.testing.assert_close(log_prob, normal.log_prob(actions).sum(-1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(entropy, normal.entropy().sum(-1), rtol=1e-5, atol=1e-5)


def test_continuous_samples_follow_mean_and_std() -> None:
    head = make_head(SPECS["continuous"])
    with torch.no_grad():
        head.log_std.copy_(torch.tensor([-1.0, 0.5]))
    features = torch.randn(1, IN_SIZE).repeat(20000, 1)
    torch.manual_seed(3)
    with torch.no_grad():
        continuous, _, _ = head.sample(features, None)
        mu = head.mu(features[:1])[0]
    torch.testing.assert_close(continuous.mean(0), mu, atol=0.05, rtol=0)
    torch.testing.assert_close(continuous.std(0), head.log_std.exp().detach(), atol=0.05, rtol=0)


def test_deterministic_continuous_sample_is_the_mean() -> None:
    head = make_head(SPECS["continuous"])
    features = torch.randn(16, IN_SIZE)
    with torch.no_grad():
        continuous, _, _ = head.sample(features, None, deterministic=True)
        torch.testing.assert_close(continuous, head.mu(features))


def test_deterministic_discrete_sample_is_the_argmax_of_allowed_actions() -> None:
    branches = (3, 2)
    head = make_head(ActionSpec(discrete_branches=branches))
    generator = torch.Generator().manual_seed(4)
    features = torch.randn(200, IN_SIZE, generator=generator)
    mask = random_mask(200, branches, generator)
    with torch.no_grad():
        _, discrete, _ = head.sample(features, mask, deterministic=True)
        logits = head.logits(features).masked_fill(~mask, -math.inf)
    expected = torch.stack([part.argmax(-1) for part in torch.split(logits, branches, dim=-1)], dim=-1)
    torch.testing.assert_close(discrete, expected)


def test_evaluate_gradients_reach_the_head_parameters() -> None:
    head = make_head(SPECS["mixed"])
    features = torch.randn(8, IN_SIZE)
    log_prob, entropy = head.evaluate(features, None, torch.randn(8, 2), torch.zeros(8, 2, dtype=torch.long))
    (log_prob.sum() + entropy.sum()).backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_head_is_a_module_with_only_the_layers_its_spec_needs() -> None:
    assert not hasattr(ActionHead(IN_SIZE, SPECS["discrete"]), "mu")
    assert not hasattr(ActionHead(IN_SIZE, SPECS["continuous"]), "logits")
    assert isinstance(ActionHead(IN_SIZE, SPECS["mixed"]).logits, nn.Linear)


def test_without_entropy_the_log_probs_are_the_same_and_no_entropy_is_built() -> None:
    torch.manual_seed(0)
    head = ActionHead(IN_SIZE, ActionSpec(continuous_size=2, discrete_branches=(3, 2)))
    features = torch.randn(6, IN_SIZE)
    continuous, discrete = torch.randn(6, 2), torch.randint(0, 2, (6, 2))
    with_entropy, entropy = head.evaluate(features, None, continuous, discrete)
    without, none = head.evaluate(features, None, continuous, discrete, with_entropy=False)
    assert entropy is not None and none is None
    torch.testing.assert_close(with_entropy, without)
