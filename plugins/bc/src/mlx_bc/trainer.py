"""The ``bc`` trainer (also ``offline_bc``): learns from demonstrations alone.

The policy is core's actor-critic network (its critic is unused), so checkpoints and the ONNX
export are those of any trainer. The student acts in the environment while it learns: its
episodes are the behavior's steps and give ``Environment/Cumulative Reward`` every
``summary_freq`` steps, and every ``steps_per_update`` steps it makes one update
(``num_epoch`` passes of up to ``batches_per_epoch`` minibatches of ``batch_size``
demonstrated steps). ``max_steps`` therefore sets both how long it acts and how often it learns.
"""

from __future__ import annotations

import abc
from typing import Any

import torch

from mlx_bc.cloning import Cloner, DemoBatch
from mlx_bc.demonstrations import load_demo_batch
from mlx_bc.settings import BCSettings, CloningUpdates
from mlx_core.networks.actor_critic import ActorCritic
from mlx_core.training.policy import Policy
from mlx_core.training.schedules import scheduled
from mlx_core.training.trainer import Trainer, TrainerContext
from mlx_core.training.trajectory import Trajectory, stack_observations


class CloningTrainer(Trainer):
    """What ``bc`` and ``online_bc`` share: the network, the update cadence, the update and checkpoints.

    Subclasses provide :meth:`training_data`, the demonstrated steps an update learns from.
    """

    def __init__(self, context: TrainerContext) -> None:
        super().__init__(context)
        self.hyperparameters: CloningUpdates = context.settings.hyperparameters
        self.network = ActorCritic(context.spec, context.settings.network_settings, list(context.reward_signals)).to(
            context.device
        )
        self.cloner = Cloner(self.network, context.spec, self.hyperparameters.learning_rate)
        self._steps_at_last_update = 0

    def _fit_normalizer(self, obs: list[torch.Tensor]) -> None:
        if self.network.encoder.normalizer is not None and len(obs[0]):
            self.network.encoder.update_normalizer(obs)

    @abc.abstractmethod
    def training_data(self) -> DemoBatch | None:
        """The demonstrated steps to learn from now (None: nothing yet)."""

    def process_trajectories(self, trajectories: list[Trajectory]) -> None:
        """Only the observation normalizer learns from the student's own steps."""
        if self.network.encoder.normalizer is not None:
            self._fit_normalizer(self.policy.obs_tensors(stack_observations(trajectories)))

    def ready_to_update(self) -> bool:
        """True every ``steps_per_update`` steps of the behavior."""
        return self.step - self._steps_at_last_update >= self.hyperparameters.steps_per_update

    def update(self) -> None:
        """One update: ``num_epoch`` passes of up to ``batches_per_epoch`` minibatches."""
        self._steps_at_last_update = self.step
        data = self.training_data()
        if data is None or len(data) == 0:
            return
        hp = self.hyperparameters
        learning_rate = scheduled(
            hp.learning_rate, hp.learning_rate_schedule, self.step, self.settings.max_steps, 1e-10
        )
        loss = self.cloner.train(
            data,
            num_epoch=hp.num_epoch,
            batch_size=hp.batch_size,
            batches_per_epoch=hp.batches_per_epoch,
            learning_rate=learning_rate,
        )
        self.update_count += 1
        self.last_update_size = min(len(data), hp.batch_size * hp.batches_per_epoch) * hp.num_epoch
        self.context.record("Losses/Cloning Loss", loss)
        self.context.record("Policy/Learning Rate", learning_rate)
        self.update_objectives()

    def state_dict(self) -> dict[str, Any]:
        """Counters, network (with normalizer) and optimizer state."""
        return {
            **super().state_dict(),
            "network": self.network.state_dict(),
            "optimizer": self.cloner.state_dict(),
            "steps_at_last_update": self._steps_at_last_update,
        }

    def load_weights(self, state: dict[str, Any]) -> None:
        """Only the network (and its normalizer): a new run starts its own optimizer and counters."""
        self.network.load_state_dict(state["network"])

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        super().load_state_dict(state)
        self.network.load_state_dict(state["network"])
        self.cloner.load_state_dict(state["optimizer"])
        self._steps_at_last_update = int(state["steps_at_last_update"])


class BCTrainer(CloningTrainer):
    """Offline behavioral cloning from the demonstrations at ``hyperparameters.demo_path``."""

    def __init__(self, context: TrainerContext) -> None:
        super().__init__(context)
        settings: BCSettings = context.settings.hyperparameters
        key = f"behaviors.{context.behavior_name}.hyperparameters.demo_path"
        self.demos = load_demo_batch(settings.demo_path, context.spec, key, context.device)
        self._fit_normalizer(self.demos.obs)
        self._policy = Policy(context.spec, self.network, context.device)

    @property
    def policy(self) -> Policy:
        """The student's policy."""
        return self._policy

    def training_data(self) -> DemoBatch:
        """Every demonstrated step."""
        return self.demos
