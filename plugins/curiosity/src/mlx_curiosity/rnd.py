"""The ``rnd`` reward signal: random network distillation (Burda et al. 2018).

A target network with fixed random weights maps observations to ``encoding_size`` outputs; a
predictor of the same shape learns to reproduce them on the states the agent visits. The
reward of a step is the predictor's mean squared error on the state it reached, times
``strength``: large on states unlike any seen before, shrinking as they become familiar.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from mlx_core.env.base import BehaviorSpec
from mlx_curiosity.intrinsic import IntrinsicSignal
from mlx_curiosity.networks import StateEncoder
from mlx_curiosity.settings import RNDSettings


class RNDSignal(IntrinsicSignal):
    """Random target and trained predictor; only the predictor has an optimizer. With
    ``network_settings.normalize`` both see the observations normalised by the same statistics."""

    label = "RND"  # tags read Policy/RND Reward, not Rnd

    def __init__(self, spec: BehaviorSpec, settings: RNDSettings, device: torch.device | None = None) -> None:
        super().__init__(spec, settings, device)
        net, size = settings.network_settings, settings.encoding_size
        self.target = StateEncoder(spec, net, size).requires_grad_(False)
        self.predictor = StateEncoder(spec, net, size)
        self.networks = nn.ModuleDict({"target": self.target, "predictor": self.predictor})
        self.setup()

    def _errors(self, obs: list[torch.Tensor]) -> torch.Tensor:
        """The predictor's mean squared error on each state (T,)."""
        with torch.no_grad():
            target = self.target(obs)
        return (self.predictor(obs) - target).square().mean(dim=1)

    def evaluate(self, batch: dict[str, Any]) -> np.ndarray:
        """``strength`` times the prediction error on each step's next state (T,)."""
        with torch.inference_mode():
            errors = self._errors(self.tensors(batch["next_obs"]))
        return errors.cpu().numpy().astype(np.float32) * self.strength

    def update(self, batch: dict[str, Any]) -> dict[str, float]:
        """One pass of the predictor over the batch's next states; returns its mean loss."""
        next_obs = self.tensors(batch["next_obs"])
        for network in (self.target, self.predictor):
            network.update_normalizer(next_obs)
        # the target and its normaliser are fixed for the whole pass: its outputs are read once
        # for the batch, not once per minibatch (half the forward passes of an update)
        with torch.no_grad():
            targets = self.target(next_obs)
        losses = []
        for idx in self.minibatches(len(targets)):
            loss = (self.predictor([o[idx] for o in next_obs]) - targets[idx]).square().mean(dim=1).mean()
            self.step(loss)
            losses.append(loss.detach())
        return {"Loss": torch.stack(losses).mean().item()}  # trainers record it as Losses/RND Loss


def make_rnd(spec: BehaviorSpec, settings: RNDSettings, device: torch.device | None = None, **_: Any) -> RNDSignal:
    """Factory registered under the name ``rnd``."""
    return RNDSignal(spec, settings, device)
