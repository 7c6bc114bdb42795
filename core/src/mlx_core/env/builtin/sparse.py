"""A sparse-reward corridor: the only reward waits at a far end that must be found by exploring.

Each copy starts in cell 0 of a corridor of ``CELLS`` cells and observes its cell one-hot.
One discrete branch moves it left (0) or right (1); the left wall holds it in cell 0.
Reaching cell ``distance`` (28 by default) gives +1 and ends the episode; every other step
gives 0, and ``max_steps`` (64) interrupts the episode. A uniformly random walk reaches the
goal in about 0.07% of episodes, so a policy that only follows the reward rarely finds it,
while one driven by novelty (curiosity, RND) walks to the unvisited cells and then to the goal.
An optimal policy scores 1; one that never finds the goal scores 0. Nothing in the task is
random: the seed changes nothing, and all the exploring is the policy's.

The observation is one-hot rather than a scaled position on purpose: each new cell looks new
to a learned model, as a new room would in a game, instead of lying on a line that a model
fitted to the first cells already extrapolates.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mlx_core.env.base import ActionSpec, ActionTuple, BehaviorSpec, ObservationSpec
from mlx_core.env.builtin.task import BatchedTask

CELLS = 32  # the observation's size; ``distance`` places the goal within it


class SparseCorridor(BatchedTask):
    """The sparse corridor; parameters ``distance`` (28, at most 31) and ``max_steps`` (64)."""

    name = "SparseCorridor"
    spec = BehaviorSpec((ObservationSpec((CELLS,)),), ActionSpec(discrete_branches=(2,)))
    defaults: ClassVar[dict[str, float]] = {"distance": 28, "max_steps": 64}

    def __init__(self, num_envs: int, seed: int = -1, params: dict[str, float] | None = None) -> None:
        super().__init__(num_envs, seed, params)
        self._cell = np.zeros(num_envs, np.int64)
        self._goal = np.zeros(num_envs, np.int64)
        self._rows = np.arange(num_envs)

    def set_parameters(self, parameters: dict[str, float]) -> None:
        """Update ``distance`` and ``max_steps`` for each copy's next episode; ``distance`` is
        clipped to the corridor (1 to ``CELLS - 1``)."""
        super().set_parameters(parameters)
        self._parameters["distance"] = float(np.clip(round(self._parameters["distance"]), 1, CELLS - 1))

    def _start(self, agents: np.ndarray) -> None:
        self._cell[agents] = 0
        self._goal[agents] = int(self._parameters["distance"])

    def _advance(self, actions: ActionTuple) -> tuple[np.ndarray, np.ndarray]:
        moves = np.where(actions.discrete[:, 0] == 0, -1, 1)
        self._cell = np.clip(self._cell + moves, 0, CELLS - 1)
        reached = self._cell >= self._goal
        return reached.astype(np.float32), reached

    def _observe(self) -> list[np.ndarray]:
        obs = np.zeros((self.num_envs, CELLS), np.float32)
        obs[self._rows, self._cell] = 1.0
        return [obs]
