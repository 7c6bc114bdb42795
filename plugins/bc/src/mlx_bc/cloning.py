"""The cloning loss and the learner that minimises it, shared by every part of mlx-bc.

The loss of one demonstrated step, for a policy network that offers ``actor_features(obs)``
and an action ``head`` (core's actor-critic and SAC's network both do):

* continuous actions: the squared error between an action the policy samples with the
  reparameterisation trick and the demonstrated action (clipped to [-1, 1], the range the
  environment receives), averaged over the action's dimensions. Its expectation is the squared
  error of the mean plus the variance, so it fits the mean and shrinks the spread together;
* discrete branches: the cross-entropy of the demonstrated choice under the masked policy,
  summed over branches;
* both, added, for a hybrid action space.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import numpy as np
import torch
from torch import nn

from mlx_core.env.base import BehaviorSpec
from mlx_core.training.adam import make_adam


@attrs.define
class DemoBatch:
    """Demonstrated (observation, action) pairs as tensors with a leading axis of N steps."""

    obs: list[torch.Tensor]  # each (N, *shape)
    continuous: torch.Tensor  # (N, continuous_size), in [-1, 1]
    discrete: torch.Tensor  # (N, n_branches) int64
    masks: torch.Tensor | None  # (N, sum(branches)) bool, True = allowed

    def __len__(self) -> int:
        return len(self.continuous)

    def rows(self, idx: torch.Tensor) -> DemoBatch:
        """The steps at ``idx``."""
        return DemoBatch(
            obs=[o[idx] for o in self.obs],
            continuous=self.continuous[idx],
            discrete=self.discrete[idx],
            masks=None if self.masks is None else self.masks[idx],
        )

    def minibatches(self, size: int, limit: int | None = None) -> Iterator[DemoBatch]:
        """Up to ``limit`` shuffled minibatches of ``size`` (all of them when None); fewer steps
        than ``size`` make one minibatch of them all, and no steps none."""
        n = len(self)
        if n == 0:
            return
        if n <= size:
            yield self
            return
        order = torch.randperm(n, device=self.continuous.device)
        count = n // size if limit is None else min(limit, n // size)
        for k in range(count):
            yield self.rows(order[k * size : (k + 1) * size])

    @classmethod
    def from_arrays(
        cls,
        obs: list[np.ndarray],
        continuous: np.ndarray,
        discrete: np.ndarray,
        masks: np.ndarray | None,
        device: torch.device,
    ) -> DemoBatch:
        """Arrays (one per observation spec, then actions and masks) moved to ``device`` once."""

        def tensor(array: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(array), dtype=dtype, device=device)

        return cls(
            obs=[tensor(o, torch.float32) for o in obs],
            continuous=tensor(np.clip(continuous, -1.0, 1.0), torch.float32),
            discrete=tensor(discrete, torch.int64),
            masks=None if masks is None else tensor(masks, torch.bool),
        )


def _branch_log_probs(head: Any, features: torch.Tensor, mask: torch.Tensor | None) -> list[torch.Tensor]:
    # core's ActionHead offers branch_log_probs; a head that keeps its discrete branches in a
    # core ActionHead of its own (SAC's squashed head) holds it as ``discrete``
    owner = head if hasattr(head, "branch_log_probs") else getattr(head, "discrete", None)
    if owner is None:
        raise TypeError(f"{type(head).__name__} offers no branch_log_probs(features, mask) for discrete actions")
    return owner.branch_log_probs(features, mask)  # type: ignore[no-any-return]


def cloning_loss(network: Any, spec: BehaviorSpec, batch: DemoBatch) -> torch.Tensor:
    """The mean cloning loss of ``batch`` under ``network``'s policy (see the module docstring)."""
    features = network.actor_features(batch.obs)
    loss = features.new_zeros(())
    if spec.action_spec.is_continuous:
        sampled, _, _ = network.head.sample(features, batch.masks, deterministic=False)  # (N, c), differentiable
        loss = loss + (sampled - batch.continuous).square().mean()
    if spec.action_spec.is_discrete:
        for i, log_probs in enumerate(_branch_log_probs(network.head, features, batch.masks)):
            loss = loss - log_probs.gather(-1, batch.discrete[:, i : i + 1]).mean()
    return loss


class Cloner:
    """Trains a policy network to reproduce demonstrated actions, with an Adam of its own."""

    def __init__(self, network: nn.Module, spec: BehaviorSpec, learning_rate: float) -> None:
        self.network = network
        self.spec = spec
        self.adam = make_adam([p for p in network.parameters() if p.requires_grad], learning_rate)

    def train(
        self,
        data: DemoBatch,
        *,
        num_epoch: int,
        batch_size: int,
        batches_per_epoch: int | None = None,
        learning_rate: float | None = None,
        weight: float = 1.0,
    ) -> float:
        """``num_epoch`` passes of shuffled minibatches over ``data``, each loss times ``weight``;
        returns the mean (unweighted) cloning loss of the minibatches."""
        if learning_rate is not None:
            for group in self.adam.param_groups:
                group["lr"] = learning_rate
        losses = []
        for _epoch in range(num_epoch):
            for minibatch in data.minibatches(batch_size, batches_per_epoch):
                loss = cloning_loss(self.network, self.spec, minibatch)
                self.adam.clear_gradients()
                (loss * weight).backward()
                self.adam.apply_gradients()
                losses.append(loss.detach())
        return float(torch.stack(losses).mean()) if losses else float("nan")

    def state_dict(self) -> dict[str, Any]:
        """Adam's state."""
        return self.adam.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore Adam's state."""
        self.adam.load_state_dict(state)
