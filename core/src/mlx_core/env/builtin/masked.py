"""A grid world whose action mask matters: moving off the grid is masked, and fatal if taken.

Each copy puts an agent and a goal on distinct random cells of a ``grid_size`` x
``grid_size`` grid (5) and observes [agent x, agent y, goal x, goal y], each scaled to
[0, 1]. One branch of four moves (0 up, 1 down, 2 right, 3 left); the moves that would leave
the grid are masked. Taking a masked move anyway ends the episode with -1, so a policy that
ignores the mask fails. Reaching the goal gives +1 and ends the episode, every other step
costs 0.01, and ``max_steps`` (20) interrupts it. Optimal returns are 0.93 to 1.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mlx_core.env.base import ActionSpec, ActionTuple, BehaviorSpec, ObservationSpec
from mlx_core.env.builtin.task import BatchedTask

_MOVES = np.array(
    [[0, 1], [0, -1], [1, 0], [-1, 0]], np.int64
)  # (action, xy): up, down, right, left


class MaskedGrid(BatchedTask):
    """The masked grid task; parameters ``grid_size`` (5) and ``max_steps`` (20)."""

    name = "MaskedGrid"
    spec = BehaviorSpec((ObservationSpec((4,)),), ActionSpec(discrete_branches=(4,)))
    defaults: ClassVar[dict[str, float]] = {"grid_size": 5, "max_steps": 20}
    step_penalty = 0.01

    def __init__(
        self, num_envs: int, seed: int = -1, params: dict[str, float] | None = None
    ) -> None:
        super().__init__(num_envs, seed, params)
        self._size = np.full(num_envs, 2, np.int64)
        self._agent = np.zeros((num_envs, 2), np.int64)
        self._goal = np.ones((num_envs, 2), np.int64)

    def _start(self, agents: np.ndarray) -> None:
        size = max(2, int(self._parameters["grid_size"]))
        self._size[agents] = size
        self._agent[agents] = self.rng.integers(0, size, (len(agents), 2))
        # Redraw the goals that landed on their agent until none do.
        clash = agents
        while clash.size:
            self._goal[clash] = self.rng.integers(0, size, (len(clash), 2))
            clash = clash[(self._goal[clash] == self._agent[clash]).all(axis=1)]

    def _mask(self) -> np.ndarray:
        last = (self._size - 1)[:, None]
        x, y = self._agent[:, 0:1], self._agent[:, 1:2]
        return np.concatenate([y < last, y > 0, x < last, x > 0], axis=1)

    def _advance(self, actions: ActionTuple) -> tuple[np.ndarray, np.ndarray]:
        move = actions.discrete[:, 0]
        allowed = self._mask()[np.arange(self.num_envs), move]
        self._agent = np.where(allowed[:, None], self._agent + _MOVES[move], self._agent)
        reached = allowed & (self._agent == self._goal).all(axis=1)
        reward = np.where(reached, 1.0, np.where(allowed, -self.step_penalty, -1.0)).astype(
            np.float32
        )
        return reward, reached | ~allowed

    def _observe(self) -> list[np.ndarray]:
        scale = (self._size - 1)[:, None].astype(np.float32)
        return [
            np.concatenate([self._agent / scale, self._goal / scale], axis=1).astype(np.float32)
        ]
