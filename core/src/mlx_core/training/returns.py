"""Discounted returns and generalised advantage estimation over one trajectory."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from mlx_core.rewards.base import RewardSignal, evaluate_signals, signal_label


def gae(rewards: np.ndarray, values: np.ndarray, bootstrap_value: float, gamma: float, lambd: float) -> np.ndarray:
    """GAE advantages (T,) of a trajectory with no episode end inside it.

    ``bootstrap_value`` is the value after the last step (0 when the episode truly ended).
    """
    next_values = np.append(values[1:], np.float32(bootstrap_value))
    deltas = rewards + gamma * next_values - values
    advantages = np.empty_like(deltas)
    running = 0.0
    discount = gamma * lambd
    for t in range(len(deltas) - 1, -1, -1):
        running = deltas[t] + discount * running
        advantages[t] = running
    return advantages


def signal_advantages(
    rewards: np.ndarray | Mapping[str, Any],
    values: np.ndarray,
    next_values: np.ndarray | None,
    signals: dict[str, RewardSignal],
    lambd: float,
    record: Callable[[str, float], None],
) -> tuple[np.ndarray, np.ndarray]:
    """Advantages (T,) summed over reward signals and returns (T, signals) of one trajectory.

    ``rewards`` (T, signals) holds each signal's rewards (see
    :func:`mlx_core.rewards.base.evaluate_signals`, which scores many trajectories in one call
    per signal); given the trajectory's :func:`~mlx_core.rewards.base.trajectory_batch` dict
    instead, each signal scores it here (the form trainer plugins used first, still accepted).
    Each signal gets GAE with its own gamma against its value column of ``values`` (T, signals);
    ``next_values`` (signals,) is the value after the last step, or None when the episode
    truly ended. ``record`` receives each signal's reward total and mean value estimate.
    """
    if isinstance(rewards, Mapping):
        rewards = evaluate_signals([dict(rewards)], signals)[0]
    advantages = np.zeros(len(values), np.float32)
    returns = np.zeros_like(values, dtype=np.float32)
    for h, (name, signal) in enumerate(signals.items()):
        column = values[:, h]
        adv = gae(rewards[:, h], column, 0.0 if next_values is None else float(next_values[h]), signal.gamma, lambd)
        advantages += adv
        returns[:, h] = adv + column
        label = signal_label(name, signal)
        record(f"Policy/{label} Reward", float(rewards[:, h].sum()))
        record(f"Policy/{label} Value Estimate", float(column.mean()))
    return advantages, returns
