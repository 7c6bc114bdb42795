"""The PPO trainer: gathers trajectories with advantages until ``buffer_size``, then updates."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch

from mlx_core.networks.actor_critic import ActorCritic
from mlx_core.rewards.base import evaluate_signals, trajectory_batch
from mlx_core.training.policy import Policy
from mlx_core.training.returns import signal_advantages
from mlx_core.training.trainer import Trainer, TrainerContext
from mlx_core.training.trajectory import Trajectory, stack_observations
from mlx_ppo.optimizer import PPOOptimizer, RolloutBatch
from mlx_ppo.settings import PPOSettings


class PPOTrainer(Trainer):
    """On-policy trainer: one :class:`PPOOptimizer` update per ``buffer_size`` experiences."""

    def __init__(self, context: TrainerContext) -> None:
        super().__init__(context)
        self.hyperparameters: PPOSettings = context.settings.hyperparameters
        self.signal_names = list(context.reward_signals)
        self.network = ActorCritic(
            context.spec,
            context.settings.network_settings,
            self.signal_names,
            shared=self.hyperparameters.shared_critic,
        ).to(context.device)
        self._policy = Policy(context.spec, self.network, context.device)
        self.optimizer = PPOOptimizer(self.network, self.hyperparameters, context.device)
        self._pending: list[dict[str, Any]] = []
        self._pending_steps = 0

    @property
    def policy(self) -> Policy:
        """The actor-critic policy."""
        return self._policy

    def process_trajectories(self, trajectories: list[Trajectory]) -> None:
        """Compute rewards per signal, bootstrap values and GAE; queue the result for the update."""
        if not trajectories:
            return
        bootstrap = self._bootstrap_values(trajectories)  # (n_traj, heads)
        if self.network.encoder.normalizer is not None:
            self.network.encoder.update_normalizer(self.policy.obs_tensors(stack_observations(trajectories)))
        batches = [trajectory_batch(traj) for traj in trajectories]
        rewards = evaluate_signals(batches, self.context.reward_signals)
        for k, (traj, batch) in enumerate(zip(trajectories, batches)):
            advantages, returns = signal_advantages(
                rewards[k],
                cast(np.ndarray, traj.values),
                bootstrap[k] if traj.bootstrap else None,
                self.context.reward_signals,
                self.hyperparameters.lambd,
                self.context.record,
            )
            self._pending.append({"traj": traj, "batch": batch, "advantages": advantages, "returns": returns})
            self._pending_steps += len(traj)

    def _bootstrap_values(self, trajectories: list[Trajectory]) -> np.ndarray:
        """Critic values of each trajectory's next observation, in one batched forward."""
        next_obs = stack_observations(trajectories, next_obs=True)
        memories = None
        if self.network.memory_size:  # a recurrent critic continues from the memory after the last step
            memories = torch.from_numpy(np.concatenate([cast(np.ndarray, t.next_memory) for t in trajectories]))
            memories = memories.to(self.context.device)
        with torch.inference_mode():
            return self.network.critic(self.policy.obs_tensors(next_obs), memories).cpu().numpy()

    def ready_to_update(self) -> bool:
        """True once ``buffer_size`` experiences are queued."""
        return self._pending_steps >= self.hyperparameters.buffer_size

    def update(self) -> None:
        """One PPO update over the queued experience, which is then dropped (on-policy)."""
        sequence_length = self.network.sequence_length if self.network.memory_size else 0
        batch = RolloutBatch.from_pending(self._pending, self.context.device, sequence_length)
        self.update_reward_signals([p["batch"] for p in self._pending])
        self._pending, self._pending_steps = [], 0
        self.last_update_size = len(batch)
        stats = self.optimizer.update(batch, self.step, self.settings.max_steps)
        self.update_count += 1
        for key, value in stats.items():
            self.context.record(key, value)
        self.update_objectives()

    def state_dict(self) -> dict[str, Any]:
        """Step counters, network (with normalizer) and optimizer state."""
        return {**super().state_dict(), "network": self.network.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_weights(self, state: dict[str, Any]) -> None:
        """Only the network (and its normalizer): a new run starts its own optimizer and counters."""
        self.network.load_state_dict(state["network"])

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        super().load_state_dict(state)
        self.network.load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])
