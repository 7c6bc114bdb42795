"""The SAC trainer: trajectories go to a replay buffer; updates every ``train_interval`` steps."""

from __future__ import annotations

from typing import Any

from mlx_core.logs import get_logger
from mlx_core.rewards.base import evaluate_signals, signal_label, trajectory_batch
from mlx_core.training.policy import Policy
from mlx_core.training.trainer import Trainer, TrainerContext
from mlx_core.training.trajectory import Trajectory, stack_observations
from mlx_sac.networks import SACNetwork
from mlx_sac.optimizer import SACOptimizer
from mlx_sac.replay import ReplayBuffer
from mlx_sac.settings import SACSettings

log = get_logger()


class SACTrainer(Trainer):
    """Off-policy trainer with twin Q critics and automatic entropy tuning."""

    def __init__(self, context: TrainerContext) -> None:
        super().__init__(context)
        self.hyperparameters: SACSettings = context.settings.hyperparameters
        signals = context.reward_signals
        self.network = SACNetwork(context.spec, context.settings.network_settings, list(signals)).to(context.device)
        self._policy = Policy(context.spec, self.network, context.device)
        self.optimizer = SACOptimizer(
            self.network,
            self.hyperparameters,
            [s.gamma for s in signals.values()],
            labels=[signal_label(name, s) for name, s in signals.items()],
        )
        memory = (self.network.memory_size, self.network.sequence_length) if self.network.memory_size else None
        self.replay = ReplayBuffer(self.hyperparameters.buffer_size, context.spec, len(signals), memory)
        self.interval, self.updates_per_interval = self.hyperparameters.interval_and_updates
        self._steps_at_last_update = 0
        self._signal_batches: list[dict[str, Any]] = []  # trajectories since the last update, for reward signals

    @property
    def policy(self) -> Policy:
        """The squashed-Gaussian / categorical actor."""
        return self._policy

    def process_trajectories(self, trajectories: list[Trajectory]) -> None:
        """Rewards per signal, then every transition into the replay buffer."""
        if self.network.encoder.normalizer is not None:
            self.network.encoder.update_normalizer(self.policy.obs_tensors(stack_observations(trajectories)))
        batches = [trajectory_batch(traj) for traj in trajectories]
        if self.learning_signals:  # kept only for signals that learn from them
            self._signal_batches.extend(batches)
        for traj, batch, rewards in zip(trajectories, batches, evaluate_signals(batches, self.context.reward_signals)):
            for (name, signal), column in zip(self.context.reward_signals.items(), rewards.T):
                self.context.record(f"Policy/{signal_label(name, signal)} Reward", float(column.sum()))
            self.replay.add_trajectory(traj, batch, rewards)

    def ready_to_update(self) -> bool:
        """True every ``train_interval`` steps once the buffer holds enough to sample from."""
        hp = self.hyperparameters
        if len(self.replay) < max(hp.batch_size, hp.buffer_init_steps):
            # steps taken before the buffer can be sampled do not owe updates later
            self._steps_at_last_update = self.step
            return False
        return self.step - self._steps_at_last_update >= self.interval

    def update(self) -> None:
        """``num_update`` gradient steps per elapsed ``train_interval`` (several agents add
        several steps per environment step, so the ratio of steps to updates is kept)."""
        self.update_reward_signals(self._signal_batches)
        self._signal_batches = []
        intervals = (self.step - self._steps_at_last_update) // self.interval
        self._steps_at_last_update += intervals * self.interval
        hp = self.hyperparameters
        stats: dict[str, float] = {}
        for _ in range(intervals * self.updates_per_interval):
            batch = self.replay.sample(hp.batch_size, self.context.device)
            stats = self.optimizer.update(batch, self.step, self.settings.max_steps)
        self.update_count += 1
        self.last_update_size = intervals * self.updates_per_interval * hp.batch_size
        for key, value in stats.items():
            self.context.record(key, value)
        self.update_objectives()

    def state_dict(self) -> dict[str, Any]:
        """Counters, networks, optimizers and, with ``save_replay_buffer``, the replay buffer."""
        state = {
            **super().state_dict(),
            "network": self.network.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "steps_at_last_update": self._steps_at_last_update,
        }
        if self.hyperparameters.save_replay_buffer:
            state["replay"] = self.replay.state_dict()
            log.info("replay_buffer_saved", behavior=self.context.behavior_name, size=len(self.replay))
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        super().load_state_dict(state)
        self.network.load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._steps_at_last_update = int(state["steps_at_last_update"])
        if "replay" in state:
            self.replay.load_state_dict(state["replay"])
            log.info("replay_buffer_loaded", behavior=self.context.behavior_name, size=len(self.replay))

    def load_weights(self, state: dict[str, Any]) -> None:
        """Only the networks: a new run keeps its own optimizer, buffer and counters."""
        self.network.load_state_dict(state["network"])
