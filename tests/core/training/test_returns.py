"""Generalised advantage estimation over one trajectory."""

from __future__ import annotations

import numpy as np

from mlx_core.training.returns import gae

REWARDS = np.array([1.0, -0.5, 2.0, 0.0, 3.0], np.float32)
VALUES = np.array([0.3, 1.2, -0.7, 0.9, 2.1], np.float32)
GAMMA = 0.9


def discounted_returns(rewards: np.ndarray, bootstrap_value: float, gamma: float) -> np.ndarray:
    out, running = np.empty(len(rewards)), bootstrap_value
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


def test_lambda_one_gives_discounted_returns_minus_values() -> None:
    advantages = gae(REWARDS, VALUES, 4.0, GAMMA, 1.0)
    np.testing.assert_allclose(advantages, discounted_returns(REWARDS, 4.0, GAMMA) - VALUES, rtol=1e-5, atol=1e-5)


def test_lambda_zero_gives_one_step_td_errors() -> None:
    advantages = gae(REWARDS, VALUES, 4.0, GAMMA, 0.0)
    next_values = np.append(VALUES[1:], 4.0)
    np.testing.assert_allclose(advantages, REWARDS + GAMMA * next_values - VALUES, rtol=1e-5, atol=1e-6)


def test_bootstrap_value_adds_its_discounted_value_to_every_advantage() -> None:
    lambd, bootstrap = 0.8, 2.5
    difference = gae(REWARDS, VALUES, bootstrap, GAMMA, lambd) - gae(REWARDS, VALUES, 0.0, GAMMA, lambd)
    steps_to_end = np.arange(len(REWARDS) - 1, -1, -1)
    np.testing.assert_allclose(difference, GAMMA * bootstrap * (GAMMA * lambd) ** steps_to_end, rtol=1e-5)


def test_single_step_trajectory_advantage_is_its_td_error() -> None:
    advantages = gae(np.array([1.0], np.float32), np.array([0.5], np.float32), 2.0, GAMMA, 0.95)
    np.testing.assert_allclose(advantages, [1.0 + GAMMA * 2.0 - 0.5], rtol=1e-6)
