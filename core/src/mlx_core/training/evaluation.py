"""Runs a policy without learning and collects episode returns."""

from __future__ import annotations

import numpy as np

from mlx_core.env.base import Environment
from mlx_core.training.policy import Policy


def evaluate(env: Environment, policies: dict[str, Policy], episodes: int, max_steps: int = 1_000_000) -> dict[str, np.ndarray]:
    """Step ``env`` with ``policies`` until each behavior finished ``episodes`` episodes.

    Returns the episode returns per behavior (the first ``episodes`` to finish).
    """
    returns: dict[str, list[float]] = {name: [] for name in policies}
    running: dict[str, dict[int, float]] = {name: {} for name in policies}
    result = env.reset()
    for _ in range(max_steps):
        actions = {}
        for name, (decisions, terminals) in result.items():
            totals = running[name]
            for agent, reward in zip(terminals.agent_id.tolist(), terminals.reward.tolist()):
                returns[name].append(totals.pop(agent, 0.0) + reward)
            if len(terminals) and hasattr(policies[name], "end_episodes"):  # recurrent policies forget
                policies[name].end_episodes(terminals.agent_id)
            for agent, reward in zip(decisions.agent_id.tolist(), decisions.reward.tolist()):
                totals[agent] = totals.get(agent, 0.0) + reward
            if len(decisions):
                actions[name] = policies[name].act(decisions).env_action
        if all(len(r) >= episodes for r in returns.values()):
            break
        result = env.step(actions)
    return {name: np.asarray(r[:episodes]) for name, r in returns.items()}
