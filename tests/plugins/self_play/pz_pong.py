"""The built-in Pong as a PettingZoo parallel env that declares its teams (``mlx_teams``).

``parallel_env(asymmetric=False)`` names the paddles ``paddle_0`` and ``paddle_1``: one behavior
split into two teams. ``asymmetric=True`` names them ``left_0`` and ``right_0``: one behavior
per team, as in games whose teams play different roles.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from mlx_core.env.base import ActionTuple
from mlx_core.env.builtin import Pong


class ParallelPong(ParallelEnv):
    """One court of the built-in Pong, agent ``i`` playing for team ``i``."""

    metadata = {"name": "parallel_pong_v0"}

    def __init__(self, asymmetric: bool = False, max_steps: int = 100) -> None:
        self.possible_agents = ["left_0", "right_0"] if asymmetric else ["paddle_0", "paddle_1"]
        self.agents: list[str] = []
        self.mlx_teams = {agent: team for team, agent in enumerate(self.possible_agents)}
        self._pong = Pong(1, params={"max_steps": max_steps})
        self._observation_space = spaces.Box(-1.0, 1.0, (6,), np.float32)
        self._action_space = spaces.Discrete(3)

    def observation_space(self, agent: str) -> spaces.Space:
        return self._observation_space

    def action_space(self, agent: str) -> spaces.Space:
        return self._action_space

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        if seed is not None:
            self._pong.seed(seed)
        self.agents = list(self.possible_agents)
        decisions, _ = self._pong.reset()["Pong"]
        return dict(zip(self.agents, decisions.obs[0])), {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        choices = np.array([[int(actions[a])] for a in self.possible_agents], np.int64)
        decisions, terminals = self._pong.step({"Pong": ActionTuple(np.zeros((2, 0), np.float32), choices)})["Pong"]
        if len(terminals):  # the point ended: report it; the wrapper resets for the next one
            obs, rewards = terminals.obs[0], terminals.reward
            ended, cut = not terminals.interrupted[0], bool(terminals.interrupted[0])
        else:
            obs, rewards, ended, cut = decisions.obs[0], decisions.reward, False, False
        agents = self.possible_agents
        result = (
            dict(zip(agents, obs)),
            {a: float(r) for a, r in zip(agents, rewards)},
            {a: ended for a in agents},
            {a: cut for a in agents},
            {a: {} for a in agents},
        )
        if ended or cut:
            self.agents = []
        return result


def parallel_env(asymmetric: bool = False, max_steps: int = 100) -> ParallelPong:
    """The env for ``pettingzoo:tests.plugins.self_play.pz_pong``."""
    return ParallelPong(asymmetric=asymmetric, max_steps=max_steps)
