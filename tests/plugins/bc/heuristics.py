"""Scripted experts for the built-in tasks, and a recorder that writes their demonstrations.

The functions follow ``mlx record``'s heuristic form, ``function(observations, spec)``, so the
same file serves ``--policy tests/plugins/bc/heuristics.py:goal_discrete`` and online_bc's
``teacher``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from mlx_core.demos import DemoInfo, DemoWriter
from mlx_core.env.base import ActionTuple, BehaviorSpec
from mlx_core.env.builtin import BUILTIN_ENVS


def goal_discrete(observations: list[np.ndarray], spec: BehaviorSpec) -> np.ndarray:
    """Goal1DDiscrete: step toward the goal sign (0 = left, 2 = right)."""
    return np.where(observations[0][:, 1] > 0, 2, 0).reshape(-1, 1).astype(np.int64)


def goal_continuous(observations: list[np.ndarray], spec: BehaviorSpec) -> np.ndarray:
    """Goal1DContinuous: a full step toward the goal sign."""
    return np.sign(observations[0][:, 1:2]).astype(np.float32)


def goal_wrong_way(observations: list[np.ndarray], spec: BehaviorSpec) -> np.ndarray:
    """Goal1DDiscrete: step away from the goal (a teacher nobody should learn from)."""
    return np.where(observations[0][:, 1] > 0, 0, 2).reshape(-1, 1).astype(np.int64)


def record_builtin(
    path: Path, task: str, expert: Callable[[list[np.ndarray], BehaviorSpec], np.ndarray], episodes: int, seed: int = 0
) -> DemoInfo:
    """Run ``expert`` on ``num_envs=4`` copies of the built-in ``task`` until ``episodes`` episodes
    ended, writing every decision and episode end with :class:`DemoWriter`."""
    env = BUILTIN_ENVS[task](4, seed, {})
    spec = env.specs[task]
    ended = 0
    with DemoWriter(path, task, spec) as writer:
        result = env.reset()
        while ended < episodes:
            decisions, terminals = result[task]
            if len(terminals):
                n = len(terminals)
                empty = spec.action_spec.empty(n)
                writer.add(
                    terminals.obs, empty.continuous, empty.discrete, terminals.reward, np.ones(n, bool),
                    terminals.interrupted, agent_ids=terminals.agent_id,
                )  # fmt: skip
                ended += n
            action = expert(decisions.obs, spec)
            actions = (
                ActionTuple(action, spec.action_spec.empty(len(decisions)).discrete)
                if spec.action_spec.is_continuous
                else ActionTuple(spec.action_spec.empty(len(decisions)).continuous, action)
            )
            n = len(decisions)
            writer.add(
                decisions.obs, actions.continuous, actions.discrete, decisions.reward, np.zeros(n, bool),
                np.zeros(n, bool), decisions.action_mask, decisions.agent_id,
            )  # fmt: skip
            result = env.step({task: actions})
    return writer.close()
