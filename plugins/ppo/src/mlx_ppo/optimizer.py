"""The PPO update: clipped surrogate, value loss, entropy bonus, read top to bottom."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import numpy as np
import torch

from mlx_core.networks.actor_critic import ActorCritic
from mlx_core.training.adam import make_adam
from mlx_core.training.schedules import scheduled
from mlx_ppo.settings import PPOSettings


@attrs.define
class RolloutBatch:
    """Every queued experience as tensors with a leading axis of N steps.

    For a recurrent network the trajectories are cut into S sequences of ``sequence_length``
    steps, the last one of each trajectory padded at its end: ``obs`` then holds the padded
    sequences, ``valid`` marks their real steps, ``memories`` holds each sequence's first
    memory, and every other field holds the N real steps only, in the same order.
    """

    obs: list[torch.Tensor]  # each (N, *shape); recurrent: (S * sequence_length, *shape)
    continuous: torch.Tensor  # (N, continuous_size)
    discrete: torch.Tensor  # (N, n_branches)
    masks: torch.Tensor | None  # (N, sum(branches))
    old_log_probs: torch.Tensor  # (N,)
    old_values: torch.Tensor  # (N, heads)
    advantages: torch.Tensor  # (N,)
    returns: torch.Tensor  # (N, heads)
    memories: torch.Tensor | None = None  # (S, memory_size)
    valid: torch.Tensor | None = None  # (S * sequence_length,) bool
    sequence_length: int = 1

    def __len__(self) -> int:
        return len(self.advantages)

    def minibatches(self, size: int) -> Iterator[RolloutBatch]:
        """Shuffled minibatches of ``size`` (a remainder smaller than ``size`` is skipped).

        When one minibatch is the whole batch, order does not matter to the losses, so the
        batch itself is returned without gathering a copy.
        """
        n = len(self)
        if size >= n:
            yield self
            return
        if self.memories is not None:
            yield from self._sequence_minibatches(size)
            return
        order = torch.randperm(n, device=self.advantages.device)
        for start in range(0, n - size + 1, size):
            idx = order[start : start + size]
            yield self._take(idx, obs=[o[idx] for o in self.obs])

    def _sequence_minibatches(self, size: int) -> Iterator[RolloutBatch]:
        """Shuffled minibatches of whole sequences, ``size // sequence_length`` of them (at least one)."""
        assert self.memories is not None and self.valid is not None
        length, n_sequences = self.sequence_length, len(self.memories)
        per_batch = max(1, size // length)
        if per_batch >= n_sequences:
            yield self
            return
        device = self.advantages.device
        # the index of each padded row's step among the real steps
        step_of_row = torch.cumsum(self.valid.long(), 0) - 1
        order = torch.randperm(n_sequences, device=device)
        offsets = torch.arange(length, device=device)
        for start in range(0, n_sequences - per_batch + 1, per_batch):
            sequences = order[start : start + per_batch]
            rows = (sequences[:, None] * length + offsets).reshape(-1)
            valid = self.valid[rows]
            idx = step_of_row[rows][valid]
            yield self._take(
                idx,
                obs=[o[rows] for o in self.obs],
                memories=self.memories[sequences],
                valid=valid,
                sequence_length=length,
            )

    def _take(self, idx: torch.Tensor, **extra: Any) -> RolloutBatch:
        """A batch of the real steps at ``idx``; ``extra`` gives ``obs`` and any sequence fields."""
        return RolloutBatch(
            continuous=self.continuous[idx],
            discrete=self.discrete[idx],
            masks=None if self.masks is None else self.masks[idx],
            old_log_probs=self.old_log_probs[idx],
            old_values=self.old_values[idx],
            advantages=self.advantages[idx],
            returns=self.returns[idx],
            **extra,
        )

    @classmethod
    def from_pending(cls, pending: list[dict[str, Any]], device: torch.device, sequence_length: int = 0) -> RolloutBatch:
        """Concatenate the queued trajectories once and move them to ``device`` once; with a
        ``sequence_length``, cut them into padded sequences (see the class)."""
        trajs = [p["traj"] for p in pending]

        def cat(arrays: list[np.ndarray]) -> torch.Tensor:
            return torch.from_numpy(np.concatenate(arrays)).to(device)

        sequences: dict[str, Any] = {}
        obs = [cat([t.obs[i] for t in trajs]) for i in range(len(trajs[0].obs))]
        if sequence_length:
            rows, valid = _sequence_rows([len(t) for t in trajs], sequence_length)
            rows_t = torch.from_numpy(rows).to(device)
            padded = [o.new_zeros((len(valid), *o.shape[1:])) for o in obs]
            for full, real in zip(padded, obs):
                full[rows_t] = real
            obs = padded
            sequences = {
                "memories": cat([t.memories[::sequence_length] for t in trajs]),
                "valid": torch.from_numpy(valid).to(device),
                "sequence_length": sequence_length,
            }
        return cls(
            **sequences,
            obs=obs,
            continuous=cat([t.continuous_actions for t in trajs]),
            discrete=cat([t.discrete_actions for t in trajs]),
            masks=None if trajs[0].action_masks is None else cat([t.action_masks for t in trajs]),
            old_log_probs=cat([t.log_probs for t in trajs]),
            old_values=cat([t.values for t in trajs]),
            advantages=cat([p["advantages"] for p in pending]),
            returns=cat([p["returns"] for p in pending]),
        )


def _sequence_rows(lengths: list[int], sequence_length: int) -> tuple[np.ndarray, np.ndarray]:
    """For trajectories of ``lengths`` cut into sequences of ``sequence_length`` padded at their
    ends: the padded row of every real step (N,) and the mask of real rows (S * sequence_length,)."""
    lengths_a = np.asarray(lengths, np.int64)
    padded = -(-lengths_a // sequence_length) * sequence_length  # each trajectory rounded up
    starts = np.concatenate([[0], np.cumsum(padded)[:-1]])
    steps = np.arange(lengths_a.sum()) - np.repeat(np.cumsum(lengths_a) - lengths_a, lengths_a)
    rows = np.repeat(starts, lengths_a) + steps
    valid = np.zeros(int(padded.sum()), np.bool_)
    valid[rows] = True
    return rows, valid


class ClippedLosses(torch.autograd.Function):
    """PPO's clipped surrogate and value losses as one autograd node, gradients in closed form.

    ``apply(log_probs (n,), values (n, heads), old_log_probs, advantages, returns, old_values,
    epsilon, value_clip or None, value_coef)`` returns ``(policy_loss + value_coef *
    value_loss, policy_loss, value_loss, ratio)``; only the first output has a gradient.

    The losses are the textbook ones, ``-mean(min(r A, clip(r, 1 - eps, 1 + eps) A))`` and
    ``mean(max((R - V)^2, (R - V_clipped)^2))`` (or ``mean((R - V)^2)`` without value clipping),
    and the gradients are what autograd gives them, ties of ``min``/``max`` included. Written
    out they cost a few elementwise operations in the forward pass instead of about fifteen
    autograd nodes in the backward pass: on the 256-sample minibatches of the CartPole
    benchmark about 0.2 ms of a 2 ms gradient step.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        log_probs: torch.Tensor,
        values: torch.Tensor,
        old_log_probs: torch.Tensor,
        advantages: torch.Tensor,
        returns: torch.Tensor,
        old_values: torch.Tensor,
        epsilon: float,
        value_clip: float | None,
        value_coef: float,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        ratio = torch.exp(log_probs - old_log_probs)
        surrogate = ratio * advantages
        clipped_surrogate = torch.clamp(ratio, 1.0 - epsilon, 1.0 + epsilon) * advantages
        policy_loss = -torch.min(surrogate, clipped_surrogate).mean()
        # d/dlog_prob of min(r A, clip(r) A) is r A where the unclipped term is the smaller
        # one or r is inside the clip range (there the two are equal), else 0
        grad_log_probs = torch.where(surrogate <= clipped_surrogate, surrogate, 0.0).mul_(-1.0 / len(log_probs))

        error = values - returns
        scale = 2.0 * value_coef / error.numel()
        if value_clip is None:
            value_loss = error.square().mean()
            grad_values = error * scale
        else:
            change = values - old_values
            clipped_error = old_values + torch.clamp(change, -value_clip, value_clip) - returns
            squared, clipped_squared = error.square(), clipped_error.square()
            value_loss = torch.max(squared, clipped_squared).mean()
            # max() sends the gradient to the larger term (half to each on a tie); the clipped
            # term passes it only inside the clip range
            clipped_grad = clipped_error * (change.abs() <= value_clip)
            tie = torch.where(squared == clipped_squared, 0.5 * (error + clipped_grad), clipped_grad)
            grad_values = torch.where(squared > clipped_squared, error, tie).mul_(scale)

        ctx.save_for_backward(grad_log_probs, grad_values)
        ctx.mark_non_differentiable(policy_loss, value_loss, ratio)
        return policy_loss + value_coef * value_loss, policy_loss, value_loss, ratio

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor, *_unused: Any) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        grad_log_probs, grad_values = ctx.saved_tensors
        return grad_log_probs * grad, grad_values * grad, None, None, None, None, None, None, None


def _normalized(advantages: torch.Tensor) -> torch.Tensor:
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)


class PPOOptimizer:
    """Owns the Adam optimizer of an :class:`ActorCritic` and performs PPO updates."""

    def __init__(self, network: ActorCritic, hp: PPOSettings, device: torch.device) -> None:
        self.network = network
        self.hp = hp
        self.device = device
        # eps 1e-5 as in SB3/OpenAI baselines' PPO
        self.adam = make_adam([p for p in network.parameters() if p.requires_grad], hp.learning_rate, eps=1e-5)

    def update(self, batch: RolloutBatch, step: int, max_steps: int) -> dict[str, float]:
        """``num_epoch`` passes of shuffled minibatches of ``batch_size`` over ``batch``."""
        hp = self.hp
        learning_rate = scheduled(hp.learning_rate, hp.learning_rate_schedule, step, max_steps, 1e-10)
        epsilon = scheduled(hp.epsilon, hp.epsilon_schedule or hp.learning_rate_schedule, step, max_steps)
        beta = scheduled(hp.beta, hp.beta_schedule or hp.learning_rate_schedule, step, max_steps)
        for group in self.adam.param_groups:
            group["lr"] = learning_rate
        n = len(batch)
        size = min(hp.batch_size, n)
        policy_losses, value_losses, entropies = [], [], []
        whole_batch = size >= n
        if whole_batch and hp.normalize_advantage and n > 1:
            # the minibatch is the whole batch: normalise once instead of once per epoch
            batch = attrs.evolve(batch, advantages=_normalized(batch.advantages))
        # without an entropy bonus the entropy only feeds a statistic: keep it out of the
        # graph and measure it once at the end
        entropy_in_loss = hp.beta > 0
        for _epoch in range(hp.num_epoch):
            for mb in batch.minibatches(size):
                log_probs, entropy, values = self.network.evaluate(
                    mb.obs, mb.masks, mb.continuous, mb.discrete, entropy_in_loss, mb.memories, mb.valid
                )

                advantages = mb.advantages
                if hp.normalize_advantage and size > 1 and not whole_batch:
                    advantages = _normalized(advantages)
                loss, policy_loss, value_loss, ratio = ClippedLosses.apply(
                    log_probs, values, mb.old_log_probs, advantages, mb.returns, mb.old_values,
                    epsilon, hp.value_clip, hp.value_loss_coef,
                )  # fmt: skip
                if entropy is not None:
                    entropy_bonus = entropy.mean()
                    loss = loss - beta * entropy_bonus
                    entropies.append(entropy_bonus.detach())

                self.adam.clear_gradients()
                loss.backward()
                self.adam.apply_gradients(hp.max_grad_norm)

                policy_losses.append(policy_loss)
                value_losses.append(value_loss)
        if not entropies:
            with torch.no_grad():
                last_entropy = self.network.evaluate(
                    mb.obs, mb.masks, mb.continuous, mb.discrete, True, mb.memories, mb.valid
                )[1]
                assert last_entropy is not None
                entropies.append(last_entropy.mean())
        # clip fraction of the last minibatch: how far the policy moved in this update
        clip_fraction = ((ratio.detach() - 1.0).abs() > epsilon).float().mean()
        # one device sync for all statistics of the update
        means = torch.stack([torch.stack(x).mean() for x in (policy_losses, value_losses, entropies)] + [clip_fraction]).tolist()
        return {
            "Losses/Policy Loss": means[0],
            "Losses/Value Loss": means[1],
            "Policy/Entropy": means[2],
            "Policy/Clip Fraction": means[3],
            "Policy/Learning Rate": learning_rate,
            "Policy/Epsilon": epsilon,
            "Policy/Beta": beta,
        }

    def state_dict(self) -> dict[str, Any]:
        """Adam's state."""
        return self.adam.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore Adam's state."""
        self.adam.load_state_dict(state)
