"""Scripted experts for the built-in tasks, in ``mlx record``'s heuristic form ``function(observations, spec)``:
the same file serves ``--policy tests/plugins/bc/heuristics.py:goal_discrete`` and online_bc's ``teacher``."""

from __future__ import annotations

import numpy as np

from mlx_core.env.base import BehaviorSpec


def goal_discrete(observations: list[np.ndarray], spec: BehaviorSpec) -> np.ndarray:
    """Goal1DDiscrete: step toward the goal sign (0 = left, 2 = right)."""
    return np.where(observations[0][:, 1] > 0, 2, 0).reshape(-1, 1).astype(np.int64)


def goal_continuous(observations: list[np.ndarray], spec: BehaviorSpec) -> np.ndarray:
    """Goal1DContinuous: a full step toward the goal sign."""
    return np.sign(observations[0][:, 1:2]).astype(np.float32)


def goal_wrong_way(observations: list[np.ndarray], spec: BehaviorSpec) -> np.ndarray:
    """Goal1DDiscrete: step away from the goal (a teacher nobody should learn from)."""
    return np.where(observations[0][:, 1] > 0, 0, 2).reshape(-1, 1).astype(np.int64)
