"""The REINFORCE trainer: Monte-Carlo policy gradient with the critic as a baseline.

Each update follows the policy-gradient theorem directly: for every step of the gathered
episodes, raise the log-probability of the action taken in proportion to how much better its
discounted return was than the critic's estimate. The critic learns those returns by
regression. Compare with ``mlx_ppo`` for the same skeleton with a clipped surrogate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mlx_core.networks.actor_critic import ActorCritic
from mlx_core.rewards.base import evaluate_signals, trajectory_batch
from mlx_core.training.policy import Policy
from mlx_core.training.returns import signal_advantages
from mlx_core.training.trainer import Trainer, TrainerContext
from mlx_core.training.trajectory import Trajectory, stack_observations
from mlx_template_trainer.settings import ReinforceSettings

VALUE_LOSS_COEF = 0.5
MAX_GRAD_NORM = 0.5


class ReinforceTrainer(Trainer):
    """On-policy trainer: one update per ``buffer_size`` agent steps, then the data is dropped."""

    def __init__(self, context: TrainerContext) -> None:
        super().__init__(context)
        self.hyperparameters: ReinforceSettings = context.settings.hyperparameters
        # One value head per reward signal (extrinsic by default): the baseline of each.
        heads = list(context.reward_signals)
        self.network = ActorCritic(context.spec, context.settings.network_settings, heads).to(context.device)
        self._policy = Policy(context.spec, self.network, context.device)
        self.adam = torch.optim.Adam(self.network.parameters(), lr=self.hyperparameters.learning_rate)
        self._buffer: list[tuple[Trajectory, np.ndarray, np.ndarray]] = []  # (traj, advantages, returns)
        self._batches: list[dict[str, Any]] = []  # the same trajectories as reward signals see them
        self._buffer_steps = 0

    @property
    def policy(self) -> Policy:
        """The actor-critic policy that acts for every agent of the behavior."""
        return self._policy

    def process_trajectories(self, trajectories: list[Trajectory]) -> None:
        """Turn each trajectory's rewards into discounted returns and advantages; store them."""
        if trajectories and self.network.encoder.normalizer is not None:
            self.network.encoder.update_normalizer(self.policy.obs_tensors(stack_observations(trajectories)))
        batches = [trajectory_batch(traj) for traj in trajectories]  # what reward signals read
        # every signal scores all the trajectories in one call: (T_i, signals) per trajectory
        rewards = evaluate_signals(batches, self.context.reward_signals)
        for traj, batch, traj_rewards in zip(trajectories, batches, rewards):
            next_values = self._critic(traj.next_obs)[0] if traj.bootstrap else None  # (heads,)
            # lambd=1: each advantage is the discounted return minus the critic's baseline
            advantages, returns = signal_advantages(
                traj_rewards, traj.values, next_values, self.context.reward_signals, 1.0, self.context.record
            )
            self._batches.append(batch)
            self._buffer.append((traj, advantages, returns))
            self._buffer_steps += len(traj)

    def _critic(self, obs: list[np.ndarray]) -> np.ndarray:
        """Value estimates (n, heads) of a batch of observations."""
        with torch.inference_mode():
            return self.network.critic(self.policy.obs_tensors(obs)).cpu().numpy()

    def ready_to_update(self) -> bool:
        """True once ``buffer_size`` agent steps are stored."""
        return self._buffer_steps >= self.hyperparameters.buffer_size

    def update(self) -> None:
        """``num_epoch`` full-batch gradient steps on the stored steps, which are then dropped."""
        trajs = [traj for traj, _, _ in self._buffer]

        def cat(arrays: list[np.ndarray]) -> torch.Tensor:
            return torch.from_numpy(np.concatenate(arrays)).to(self.context.device)

        obs = [cat([t.obs[i] for t in trajs]) for i in range(len(trajs[0].obs))]  # each (N, *shape)
        masks = None if trajs[0].action_masks is None else cat([t.action_masks for t in trajs])
        continuous = cat([t.continuous_actions for t in trajs])  # (N, continuous_size)
        discrete = cat([t.discrete_actions for t in trajs])  # (N, n_branches)
        advantages = cat([adv for _, adv, _ in self._buffer])  # (N,)
        returns = cat([ret for _, _, ret in self._buffer])  # (N, heads)
        self._buffer, self._buffer_steps = [], 0
        self.update_reward_signals(self._batches)  # signals with a model of their own learn here
        self._batches = []
        # Normalised advantages keep the step size independent of the reward scale.
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)

        for _epoch in range(self.hyperparameters.num_epoch):
            log_probs, entropy, values = self.network.evaluate(obs, masks, continuous, discrete)  # values: (N, heads)

            policy_loss = -(log_probs * advantages).mean()
            value_loss = (returns - values).square().mean()
            loss = policy_loss + VALUE_LOSS_COEF * value_loss

            self.adam.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.network.parameters(), MAX_GRAD_NORM)
            self.adam.step()

        self.update_count += 1
        self.context.record("Losses/Policy Loss", policy_loss.item())
        self.context.record("Losses/Value Loss", value_loss.item())
        self.context.record("Policy/Entropy", entropy.mean().item())

    def state_dict(self) -> dict[str, Any]:
        """Step counters, network and optimizer state, for checkpoints and ``--resume``."""
        return {**super().state_dict(), "network": self.network.state_dict(), "optimizer": self.adam.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        super().load_state_dict(state)
        self.network.load_state_dict(state["network"])
        self.adam.load_state_dict(state["optimizer"])
