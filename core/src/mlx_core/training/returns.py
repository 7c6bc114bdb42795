"""Discounted returns and generalised advantage estimation over one trajectory."""

from __future__ import annotations

import numpy as np


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
