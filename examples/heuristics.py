"""Scripted experts for ``mlx record --policy examples/heuristics.py:<function>``.

A heuristic receives one (n, *shape) float32 array per observation of the behavior (batched
over the n agents that decide now) and the behavior's spec, and returns the actions: an
``ActionTuple``, or one array, (n, size) floats for continuous actions or (n, branches)
integers for discrete ones ((n,) where there is a single action or branch).

    mlx record examples/goal1d.yaml --policy examples/heuristics.py:goal1d_discrete \\
        --episodes 100 --output demos/goal1d.demo
"""

from __future__ import annotations

import numpy as np

from mlx_core.env.base import BehaviorSpec


def goal1d_discrete(observations: list[np.ndarray], spec: BehaviorSpec) -> np.ndarray:
    """Goal1DDiscrete: step toward the goal sign (observation [x, goal]; 0 = left, 2 = right)."""
    goal = observations[0][:, 1]
    return np.where(goal > 0, 2, 0)


def goal1d_continuous(observations: list[np.ndarray], spec: BehaviorSpec) -> np.ndarray:
    """Goal1DContinuous: a full step (+1 or -1) toward the goal sign."""
    goal = observations[0][:, 1]
    return np.sign(goal).astype(np.float32)


def cartpole(observations: list[np.ndarray], spec: BehaviorSpec) -> np.ndarray:
    """CartPole-v1: push the cart under the pole (observation [x, x_dot, angle, angle_dot];
    0 = push left, 1 = push right). The angle and its rate say where the pole is falling; the
    small cart terms keep the cart from drifting off the track over 500 steps."""
    x, x_dot, angle, angle_dot = observations[0].T
    return (angle + 0.5 * angle_dot + 0.01 * x + 0.1 * x_dot > 0).astype(np.int64)


def masked_grid(observations: list[np.ndarray], spec: BehaviorSpec) -> np.ndarray:
    """MaskedGrid: walk to the goal, across first, then up or down (observation [agent x, agent y,
    goal x, goal y]; 0 up, 1 down, 2 right, 3 left). Moves toward the goal never leave the grid,
    so the mask never forbids them."""
    ax, ay, gx, gy = observations[0].T
    across = np.where(gx > ax, 2, 3)
    vertical = np.where(gy > ay, 0, 1)
    return np.where(np.isclose(ax, gx), vertical, across)
