"""``behaviors.<B>.behavioral_cloning``: a cloning loss trained after each update of any trainer.

After the trainer's own update (PPO's epochs, SAC's gradient steps), the objective draws
``samples_per_update`` demonstrated steps (0: all), makes ``num_epoch`` passes of minibatches
of ``batch_size`` over them and steps an Adam of its own over the policy's parameters, with
the loss weighted by the current strength: ``strength`` decaying linearly to 0 at ``steps``
behavior steps (constant when ``steps`` is 0). Once the strength is 0 it costs nothing.
"""

from __future__ import annotations

from typing import Any

import torch

from mlx_bc.cloning import Cloner
from mlx_bc.demonstrations import load_demo_batch
from mlx_bc.settings import BehavioralCloningSettings
from mlx_core.training.objectives import UpdateObjective
from mlx_core.training.policy import Policy
from mlx_core.training.trainer import TrainerContext

# when the trainer's hyperparameters have no such key
DEFAULT_BATCH_SIZE = 512
DEFAULT_NUM_EPOCH = 3
DEFAULT_LEARNING_RATE = 3.0e-4


class BehavioralCloning(UpdateObjective):
    """The ``behavioral_cloning`` objective of one behavior."""

    def __init__(self, context: TrainerContext, policy: Policy, settings: BehavioralCloningSettings) -> None:
        hp = context.settings.hyperparameters
        self.settings = settings
        self.batch_size = settings.batch_size or int(getattr(hp, "batch_size", DEFAULT_BATCH_SIZE))
        self.num_epoch = settings.num_epoch or int(getattr(hp, "num_epoch", DEFAULT_NUM_EPOCH))
        key = f"behaviors.{context.behavior_name}.behavioral_cloning.demo_path"
        self.demos = load_demo_batch(settings.demo_path, context.spec, key, context.device)
        self.cloner = Cloner(policy.network, context.spec, getattr(hp, "learning_rate", DEFAULT_LEARNING_RATE))

    def strength(self, step: int) -> float:
        """The loss weight at behavior step ``step``."""
        if self.settings.steps == 0:
            return self.settings.strength
        return self.settings.strength * max(0.0, 1.0 - step / self.settings.steps)

    def update(self, step: int, max_steps: int) -> dict[str, float]:
        """Cloning steps on the policy after the trainer's update at ``step``."""
        strength = self.strength(step)
        if strength <= 0.0 or len(self.demos) == 0:
            return {}
        data = self.demos
        n = self.settings.samples_per_update
        if 0 < n < len(data):
            data = data.rows(torch.randperm(len(data), device=data.continuous.device)[:n])
        loss = self.cloner.train(data, num_epoch=self.num_epoch, batch_size=self.batch_size, weight=strength)
        return {"Losses/Cloning Loss": loss, "Policy/Cloning Strength": strength}

    def state_dict(self) -> dict[str, Any]:
        """The objective's Adam state."""
        return {"optimizer": self.cloner.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        self.cloner.load_state_dict(state["optimizer"])
