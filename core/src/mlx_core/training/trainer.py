"""The contract between the controller and a trainer plugin."""

from __future__ import annotations

import abc
import functools
from pathlib import Path
from typing import Any

import attrs
import torch

from mlx_core.config.settings import BehaviorSettings, RunOptions
from mlx_core.env.base import BehaviorSpec
from mlx_core.rewards.base import RewardSignal
from mlx_core.stats.reporter import StatsReporter
from mlx_core.training.objectives import UpdateObjective
from mlx_core.training.policy import Policy
from mlx_core.training.trajectory import Trajectory


@attrs.define
class TrainerContext:
    """Everything a trainer factory receives for one behavior.

    ``settings.hyperparameters`` is already the trainer plugin's settings object;
    ``reward_signals`` are built from ``settings.reward_signals`` in the same order.
    """

    behavior_name: str
    spec: BehaviorSpec
    settings: BehaviorSettings
    options: RunOptions
    reward_signals: dict[str, RewardSignal]
    device: torch.device
    seed: int
    stats: StatsReporter
    artifact_dir: Path

    def record(self, key: str, value: float) -> None:
        """Record a statistic for this behavior (summarised every ``summary_freq`` steps)."""
        self.stats.add(self.behavior_name, key, value)


class Trainer(abc.ABC):
    """Learns one behavior's policy from the trajectories its agents produce.

    The controller calls, per environment step: :meth:`process_trajectories` with the
    trajectories cut this step (possibly none), then :meth:`update` when
    :meth:`ready_to_update` is True. ``step`` counts agent decisions of this behavior and is
    advanced by the controller.
    """

    def __init__(self, context: TrainerContext) -> None:
        self.context = context
        self.settings = context.settings
        self.hyperparameters = context.settings.hyperparameters
        self.step = 0
        self.update_count = 0
        self.last_update_size = 0  # experiences used by the latest update (for --debug metrics)
        # extra objectives of the behavior's sections (behavioral_cloning), set by the controller
        self.objectives: dict[str, UpdateObjective] = {}

    @property
    @abc.abstractmethod
    def policy(self) -> Policy:
        """The policy that acts for this behavior's agents."""

    @property
    def finished(self) -> bool:
        """True once ``max_steps`` decisions were made."""
        return self.step >= self.settings.max_steps

    @abc.abstractmethod
    def process_trajectories(self, trajectories: list[Trajectory]) -> None:
        """Take in the trajectories cut this step (never an empty list; not called once the
        trainer is finished or during inference): compute rewards, advantages, store them."""

    @abc.abstractmethod
    def ready_to_update(self) -> bool:
        """True when enough experience was gathered for :meth:`update`."""

    @abc.abstractmethod
    def update(self) -> None:
        """Improve the policy; record losses with ``self.context.record``."""

    @functools.cached_property
    def learning_signals(self) -> dict[str, RewardSignal]:
        """The reward signals with a model to train (their class overrides ``update``);
        ``extrinsic`` has none, so trainers need not keep batches for it."""
        signals = self.context.reward_signals
        return {name: s for name, s in signals.items() if type(s).update is not RewardSignal.update}

    def update_reward_signals(self, batches: list[dict[str, Any]]) -> None:
        """Let every reward signal with a model learn from the trajectories since the last
        update (call from :meth:`update`)."""
        if not batches or not self.learning_signals:
            return
        from mlx_core.rewards.base import concatenate_batches, signal_label

        batch = concatenate_batches(batches)
        for name, signal in self.learning_signals.items():
            for key, value in signal.update(batch).items():
                self.context.record(f"{key}" if "/" in key else f"Losses/{signal_label(name, signal)} {key}", value)

    def update_objectives(self) -> None:
        """Let every extra objective of the behavior (e.g. ``behavioral_cloning``) train the
        policy and record its statistics (call at the end of :meth:`update`)."""
        for objective in self.objectives.values():
            for key, value in objective.update(self.step, self.settings.max_steps).items():
                self.context.record(key, value)

    def state_dict(self) -> dict[str, Any]:
        """Everything a checkpoint needs to resume this trainer (tensors and plain values only)."""
        return {
            "step": self.step,
            "update_count": self.update_count,
            "reward_signals": {name: s.state_dict() for name, s in self.context.reward_signals.items()},
            "objectives": {name: o.state_dict() for name, o in self.objectives.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        self.step = int(state["step"])
        self.update_count = int(state["update_count"])
        for name, signal_state in state.get("reward_signals", {}).items():
            if name in self.context.reward_signals:
                self.context.reward_signals[name].load_state_dict(signal_state)
        for name, objective_state in state.get("objectives", {}).items():
            if name in self.objectives:
                self.objectives[name].load_state_dict(objective_state)

    def load_weights(self, state: dict[str, Any]) -> None:
        """Take the learned weights of another run's :meth:`state_dict`, keeping step counters at 0
        (``--initialize-from``). The default restores everything, then resets the counters."""
        self.load_state_dict(state)
        self.step = 0
        self.update_count = 0
