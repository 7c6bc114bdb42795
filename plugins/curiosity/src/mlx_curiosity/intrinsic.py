"""What the two signals share: their optimizer, minibatch order and checkpointed state."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from mlx_core.env.base import BehaviorSpec
from mlx_core.rewards.base import RewardSignal
from mlx_core.training.adam import make_adam
from mlx_curiosity.settings import IntrinsicSettings

# steps per gradient step; one pass over the experience of each update. At these sizes an update
# costs its rows' arithmetic more than its number of steps: 128 rows per step saved about 5% of
# PPO's steps/s on MountainCar, and needed twice the learning rate to keep the novelty fading as
# fast (at the same rate the sparse corridor's goal was found and then lost again), so a
# learning_rate would no longer mean what it meant. Kept at 64; the cost is cut instead by
# core's lean fused Adam and by computing the parts that are fixed within an update once per batch.
MINIBATCH_SIZE = 64


class IntrinsicSignal(RewardSignal):
    """A reward signal with networks of its own, trained by Adam on the experience of every
    trainer update; subclasses build ``networks`` and call :meth:`setup` at the end of
    ``__init__``. Minibatches are drawn from a generator of the signal's own, seeded from torch's
    (seeded by the run), so a run is reproducible and a resumed run continues the same order."""

    networks: nn.ModuleDict

    def __init__(self, spec: BehaviorSpec, settings: IntrinsicSettings, device: torch.device | None) -> None:
        super().__init__(settings)
        self.spec = spec
        self.device = device or torch.device("cpu")

    def setup(self) -> None:
        """Move the networks to the device and create the optimizer and the generator."""
        self.networks.to(self.device)
        trainable = [p for p in self.networks.parameters() if p.requires_grad]
        # core's Adam: torch's fused kernel for every parameter at once, without the per-call
        # bookkeeping of Optimizer.step, which costs about as much as the kernel at these sizes
        self.optimizer = make_adam(trainable, self.settings.learning_rate)
        self.generator = torch.Generator().manual_seed(int(torch.randint(2**31 - 1, ()).item()))

    def tensors(self, arrays: list[np.ndarray]) -> list[torch.Tensor]:
        """Observation arrays as float32 tensors on the signal's device."""
        return [torch.as_tensor(a, dtype=torch.float32, device=self.device) for a in arrays]

    def minibatches(self, n: int) -> list[torch.Tensor]:
        """A shuffled split of ``range(n)`` into index tensors of at most ``MINIBATCH_SIZE``."""
        return list(torch.randperm(n, generator=self.generator).to(self.device).split(MINIBATCH_SIZE))

    def step(self, loss: torch.Tensor) -> None:
        """One Adam step on ``loss``."""
        self.optimizer.clear_gradients()
        loss.backward()
        self.optimizer.apply_gradients()

    def state_dict(self) -> dict[str, Any]:
        """Networks (with their normalisers), optimizer and minibatch generator."""
        return {
            "networks": self.networks.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        self.networks.load_state_dict(state["networks"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
