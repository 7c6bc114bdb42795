"""SAC's forward passes and losses as functions of the weights, in TorchScript's subset of Python.

The networks (:mod:`mlx_sac.networks`) call these functions as they are; the update
(:mod:`mlx_sac.optimizer`) calls their TorchScript compilations (:func:`compiled`), so each
half of an update runs from its first product to the end of its backward pass in C++,
without coming back to the Python interpreter.

Why: the two halves of an update run on two threads, and in Python each of their 100-odd small
tensor operations takes the GIL and gives it back. With both threads doing that, a small
operation measured 15-20 us instead of 5 on this project's 2-vCPU benchmark machine, and an
update with both halves compiled measured ~9% faster than the same update in Python (A/B
runs in one process; see the README's SAC section). The compiled functions run with the
graph executor's optimizations off: they perform the operations eager mode performs, in the
same order, and give the same numbers (``tests/plugins/sac/test_sac_functional.py``). Where
TorchScript cannot compile them, the update runs them as plain Python.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Iterator
from types import SimpleNamespace
from typing import NamedTuple, Optional

import torch
from torch import Tensor

from mlx_core.logs import get_logger
from mlx_core.networks.heads import branch_log_probs
from mlx_core.networks.towers import stacked_forward, tower_forward

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)

log = get_logger()


class Actor(NamedTuple):
    """The actor's weights: its MLP, the continuous head layer (means and log standard
    deviations, ``nn.Linear`` layout) and the discrete head layer (all branches' logits)."""

    weights: list[Tensor]
    biases: list[Tensor]
    activation: str
    continuous_weight: Optional[Tensor]  # noqa: UP045 - TorchScript reads Optional, not "X | None"
    continuous_bias: Optional[Tensor]  # noqa: UP045
    discrete_weight: Optional[Tensor]  # noqa: UP045
    discrete_bias: Optional[Tensor]  # noqa: UP045
    branches: list[int]


class Critics(NamedTuple):
    """Twin Q networks' weights: stacked MLP layers (2, in, hidden) and the output layer
    (2, hidden, signals x choices) with its bias (2, 1, signals x choices)."""

    weights: list[Tensor]
    biases: list[Tensor]
    activation: str
    q_weight: Tensor
    q_bias: Tensor
    signals: int
    choices: int


# -- forward passes -------------------------------------------------------------------------
def squashed_gaussian(mu_log_std: Tensor, noise: Tensor) -> tuple[Tensor, Tensor]:
    """Actions tanh(mu + noise * std) in [-1, 1] (n, c) and their log-probability (n,), from the
    head layer's output (n, 2c) and a standard normal draw (n, c)."""
    mu, log_std = mu_log_std.chunk(2, dim=-1)
    log_std = log_std.clamp(-20.0, 2.0)  # LOG_STD_MIN, LOG_STD_MAX (TorchScript reads no global floats)
    pre_tanh = mu + noise * log_std.exp()
    action = torch.tanh(pre_tanh)
    # Gaussian log-density minus the log-determinant of tanh (stable form: 2(log2 - u - softplus(-2u)))
    log_prob = (-0.5 * noise.square() - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
    log_prob = log_prob - (2.0 * (math.log(2.0) - pre_tanh - torch.nn.functional.softplus(-2.0 * pre_tanh))).sum(-1)
    return action, log_prob


def policy_terms(
    features: Tensor, actor: Actor, mask: Optional[Tensor], noise: Tensor  # noqa: UP045
) -> tuple[Tensor, Tensor, list[Tensor]]:
    """The actor on ``features``: reparameterised continuous actions (n, c) and their
    log-probability (n,), and each discrete branch's log-probabilities (n, size)."""
    h = tower_forward(features, actor.weights, actor.biases, actor.activation)
    n = h.shape[0]
    continuous, log_prob = h.new_zeros(n, 0), h.new_zeros(n)
    continuous_weight, discrete_weight = actor.continuous_weight, actor.discrete_weight  # locals: TorchScript
    if continuous_weight is not None:  # narrows Optional types only on them
        continuous, log_prob = squashed_gaussian(torch.nn.functional.linear(h, continuous_weight, actor.continuous_bias), noise)
    branch_terms: list[Tensor] = []
    if discrete_weight is not None:
        logits = torch.nn.functional.linear(h, discrete_weight, actor.discrete_bias)
        branch_terms = branch_log_probs(logits, mask, actor.branches)
    return continuous, log_prob, branch_terms


def twin_q(features: Tensor, continuous: Tensor, critics: Critics, detach: bool) -> tuple[Tensor, Tensor]:
    """(Q1, Q2), each (n, signals, choices). ``detach`` uses the weights as constants: gradients
    reach ``continuous`` (the actor's actions) but not the critics."""
    x = torch.cat([features, continuous], 1) if continuous.shape[1] > 0 else features
    h = stacked_forward(x, critics.weights, critics.biases, critics.activation, 2, detach)
    weight, bias = critics.q_weight, critics.q_bias
    if detach:
        weight, bias = weight.detach(), bias.detach()
    if weight.shape[2] == 1:
        # one output (one reward signal, continuous actions): a weighted sum over the hidden
        # units. torch's batched product of a one-column matrix takes a slow path on the
        # CPU (forward and both backward products measured 5-10x slower than this).
        q = (h * weight.transpose(1, 2)).sum(-1, keepdim=True) + bias  # (2, n, 1)
    else:
        q = torch.baddbmm(bias, h, weight)  # (2, n, outputs)
    shape = [x.shape[0], critics.signals, critics.choices]
    return q[0].view(shape), q[1].view(shape)


# -- losses ------------------------------------------------------------------------------------
def soft_value(
    q: Tensor, log_prob: Tensor, branch_terms: list[Tensor], alpha_c: Tensor, alpha_d: Tensor, branches: list[int], continuous: bool
) -> Tensor:
    """V = E_pi[Q - alpha log pi] per signal (n, signals); q is (n, signals, choices)."""
    if len(branch_terms) == 0:
        return q[:, :, 0] - alpha_c * log_prob.unsqueeze(1)
    value = q.new_zeros(q.shape[0], q.shape[1])
    parts = torch.split(q, branches, dim=2)
    for b in range(len(branch_terms)):
        logp = branch_terms[b]
        value = value + (logp.exp().unsqueeze(1) * (parts[b] - alpha_d[b] * logp.unsqueeze(1))).sum(-1)
    if continuous:
        value = value - alpha_c * log_prob.unsqueeze(1)
    return value


def taken(q: Tensor, discrete: Tensor, offsets: Tensor) -> Tensor:
    """Q of the actions in the batch (n, signals): one column, or the sum over branches of the
    chosen choice's column (``offsets``: each branch's first column)."""
    if discrete.shape[1] == 0:
        return q[:, :, 0]
    index = (discrete + offsets).unsqueeze(1).expand(-1, q.shape[1], -1)  # (n, signals, branches)
    return q.gather(2, index).sum(-1)


def critic_targets(
    next_features: Tensor,
    next_mask: Optional[Tensor],  # noqa: UP045
    next_noise: Tensor,
    actor: Actor,
    target: Critics,
    alpha_c: Tensor,
    alpha_d: Tensor,
    rewards: Tensor,
    done: Tensor,
    gammas: Tensor,
) -> Tensor:
    """Soft Bellman targets r + gamma (1 - done) V_target(s') per signal (n, signals)."""
    with torch.no_grad():
        next_continuous, next_log_prob, next_branch_terms = policy_terms(next_features, actor, next_mask, next_noise)
        target_q1, target_q2 = twin_q(next_features, next_continuous, target, False)
        next_value = soft_value(
            torch.min(target_q1, target_q2), next_log_prob, next_branch_terms, alpha_c, alpha_d,
            actor.branches, actor.continuous_weight is not None,
        )  # fmt: skip
        not_done = (1.0 - done).unsqueeze(1)
        return rewards + gammas * not_done * next_value


def critic_losses(
    features: Tensor, continuous: Tensor, discrete: Tensor, q_target: Tensor, critics: Critics, offsets: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Both critics' squared errors against the targets, back-propagated; returns the two
    losses and the mean of the two critics' Q of the batch's actions per signal (signals,),
    the value estimate of each reward signal (all detached)."""
    q1, q2 = twin_q(features, continuous, critics, False)
    q1_taken, q2_taken = taken(q1, discrete, offsets), taken(q2, discrete, offsets)
    q1_loss = 0.5 * (q1_taken - q_target).square().mean()
    q2_loss = 0.5 * (q2_taken - q_target).square().mean()
    torch.autograd.backward([q1_loss + q2_loss])
    q_means = (0.5 * (q1_taken + q2_taken)).detach().mean(0)
    return q1_loss.detach(), q2_loss.detach(), q_means


def actor_losses(
    features: Tensor,
    mask: Optional[Tensor],  # noqa: UP045
    noise: Tensor,
    actor: Actor,
    critics: Critics,
    alpha_c: Tensor,
    alpha_d: Tensor,
    log_alpha_c: Tensor,
    log_alpha_d: Tensor,
    target_entropy_c: float,
    target_entropy_d: list[float],
) -> tuple[Tensor, Tensor, list[Tensor]]:
    """The policy loss -E[min Q(s, pi(s)) - alpha log pi(s)] through the critics' weights as
    constants (the backward pass then skips their weight gradients, about a third of it), and
    the entropy coefficients' losses, which move each policy entropy towards its target;
    back-propagated. Returns the policy loss, the continuous log-probabilities and the branches'
    log-probabilities (all detached)."""
    continuous, log_prob, branch_terms = policy_terms(features, actor, mask, noise)
    pi_q1, pi_q2 = twin_q(features, continuous, critics, True)
    has_continuous = actor.continuous_weight is not None
    policy_value = soft_value(torch.min(pi_q1, pi_q2), log_prob, branch_terms, alpha_c, alpha_d, actor.branches, has_continuous)
    policy_loss = -policy_value.sum(1).mean()
    loss = policy_loss
    if has_continuous:
        loss = loss - (log_alpha_c * (log_prob.detach() + target_entropy_c)).mean()
    for b in range(len(branch_terms)):
        logp = branch_terms[b]
        entropy = -(logp.exp() * logp).sum(-1).detach()
        loss = loss + (log_alpha_d[b] * (entropy - target_entropy_d[b])).mean()
    torch.autograd.backward([loss])
    return policy_loss.detach(), log_prob.detach(), [t.detach() for t in branch_terms]


# -- compilation -----------------------------------------------------------------------------
_UPDATE_FUNCTIONS = (critic_targets, critic_losses, actor_losses)


@functools.cache
def compiled() -> SimpleNamespace:
    """:func:`critic_targets`, :func:`critic_losses` and :func:`actor_losses` compiled by
    TorchScript (made once per process), or the functions themselves where that fails."""
    try:
        with warnings.catch_warnings():
            # torch 2.x marks TorchScript deprecated in favour of torch.compile, which traces
            # graphs but still calls its kernels from Python (with the GIL)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            return SimpleNamespace(**{f.__name__: torch.jit.script(f) for f in _UPDATE_FUNCTIONS})
    except Exception as error:  # noqa: BLE001 - any failure leaves the plain functions
        log.warning("sac_update_not_compiled", reason=f"{type(error).__name__}: {error}".splitlines()[0])
        return plain()


def plain() -> SimpleNamespace:
    """The update functions as plain Python (what :func:`compiled` falls back to)."""
    return SimpleNamespace(**{f.__name__: f for f in _UPDATE_FUNCTIONS})


@contextlib.contextmanager
def eager_semantics() -> Iterator[None]:
    """Run compiled functions in this thread without the graph executor's optimizations
    (profiling, fused differentiable subgraphs): the same operations as eager mode."""
    with torch.jit.optimized_execution(False):
        yield
