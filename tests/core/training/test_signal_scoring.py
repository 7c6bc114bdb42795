"""Scoring several trajectories at once: each signal is called once for all of them (or once per
trajectory when it asks to be), and every trajectory gets back its own rows."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from mlx_core.rewards.base import RewardSignal, RewardSignalSettings, evaluate_signals
from mlx_core.rewards.extrinsic import ExtrinsicRewardSignal


def trajectory(steps: int, first_reward: float) -> dict[str, Any]:
    """A batch of ``steps`` rows with rewards counting up from ``first_reward``, ending truly."""
    rewards = first_reward + np.arange(steps, dtype=np.float32)
    return {
        "obs": [rewards[:, None].copy()],
        "next_obs": [rewards[:, None] + 1],
        "continuous_actions": np.zeros((steps, 0), np.float32),
        "discrete_actions": np.zeros((steps, 0), np.int64),
        "env_rewards": rewards,
        "done": np.arange(steps) == steps - 1,
    }


class CountingSignal(RewardSignal):
    """Rewards each step with its observation; keeps the length of every batch it scored."""

    def __init__(self) -> None:
        super().__init__(RewardSignalSettings())
        self.calls: list[int] = []

    def evaluate(self, batch: dict[str, Any]) -> np.ndarray:
        self.calls.append(len(batch["done"]))
        return batch["obs"][0][:, 0] * 10


class StartSignal(CountingSignal):
    """Rewards only the first step of what it is given: right only one trajectory at a time."""

    per_trajectory: ClassVar[bool] = True

    def evaluate(self, batch: dict[str, Any]) -> np.ndarray:
        self.calls.append(len(batch["done"]))
        rewards = np.zeros(len(batch["done"]), np.float32)
        rewards[0] = 1.0
        return rewards


def test_each_signal_scores_all_trajectories_in_one_call_and_each_gets_its_rows() -> None:
    batches = [trajectory(3, 0.0), trajectory(5, 100.0), trajectory(1, 200.0)]
    counting = CountingSignal()
    signals = {"extrinsic": ExtrinsicRewardSignal(RewardSignalSettings(strength=0.5)), "counting": counting}
    rewards = evaluate_signals(batches, signals)
    assert counting.calls == [9]
    assert [r.shape for r in rewards] == [(3, 2), (5, 2), (1, 2)]
    for batch, r in zip(batches, rewards):
        np.testing.assert_array_equal(r[:, 0], 0.5 * batch["env_rewards"])
        np.testing.assert_array_equal(r[:, 1], 10 * batch["env_rewards"])
        assert r.dtype == np.float32


def test_a_per_trajectory_signal_sees_one_trajectory_per_call() -> None:
    batches = [trajectory(3, 0.0), trajectory(2, 10.0)]
    start, counting = StartSignal(), CountingSignal()
    rewards = evaluate_signals(batches, {"start": start, "counting": counting})
    assert start.calls == [3, 2] and counting.calls == [5]
    np.testing.assert_array_equal(rewards[0][:, 0], [1, 0, 0])
    np.testing.assert_array_equal(rewards[1][:, 0], [1, 0])


def test_no_trajectories_or_no_signals() -> None:
    assert evaluate_signals([], {"counting": CountingSignal()}) == []
    (only,) = evaluate_signals([trajectory(4, 0.0)], {})
    assert only.shape == (4, 0)


def test_signal_advantages_takes_scored_rewards_or_a_trajectory_batch_alike() -> None:
    """Trainer plugins written before evaluate_signals pass the batch itself; both forms agree."""
    from mlx_core.training.returns import signal_advantages

    batch = trajectory(6, 1.0)
    signals = {"extrinsic": ExtrinsicRewardSignal(RewardSignalSettings(gamma=0.9)), "counting": CountingSignal()}
    values = np.linspace(0, 1, 12, dtype=np.float32).reshape(6, 2)
    recorded: list[list[tuple[str, float]]] = [[], []]
    (rewards,) = evaluate_signals([batch], signals)
    scored = signal_advantages(
        rewards, values, np.array([0.5, 2.0]), signals, 0.95, lambda k, v: recorded[0].append((k, v))
    )
    passed = signal_advantages(
        batch, values, np.array([0.5, 2.0]), signals, 0.95, lambda k, v: recorded[1].append((k, v))
    )
    for a, b in zip(scored, passed, strict=True):
        np.testing.assert_array_equal(a, b)
    assert recorded[0] == recorded[1] and ("Policy/Counting Reward", float(rewards[:, 1].sum())) in recorded[0]
