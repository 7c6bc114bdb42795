"""1-D goal seeking (ML-Agents' ``SimpleEnvironment``): walk to the end the goal sign points at.

Each copy starts at x = 0 with a goal sign g in {-1, +1} drawn per episode and observes
[x, g]. Reaching the goal end (x * g = 1) gives +1 and ends the episode, reaching the other
end gives -1 and ends it, every other step costs 0.01, and ``max_steps`` (30) interrupts it.
With the default ``step_size`` of 0.2 the optimal return is 0.96; a learned policy scores
above 0.8, a random one below 0.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import numpy as np

from mlx_core.env.base import ActionSpec, ActionTuple, BehaviorSpec, ObservationSpec
from mlx_core.env.builtin.task import BatchedTask

_EPS = 1e-6  # x is a float sum of steps: 5 * 0.2 may land a hair short of 1


class Goal1D(BatchedTask):
    """The 1-D goal task; parameters ``step_size`` (0.2) and ``max_steps`` (30)."""

    defaults: ClassVar[dict[str, float]] = {"step_size": 0.2, "max_steps": 30}
    step_penalty = 0.01

    def __init__(
        self, num_envs: int, seed: int = -1, params: dict[str, float] | None = None
    ) -> None:
        super().__init__(num_envs, seed, params)
        self._x = np.zeros(num_envs, np.float32)
        self._goal = np.ones(num_envs, np.float32)
        self._step_size = np.zeros(num_envs, np.float32)

    @abc.abstractmethod
    def _moves(self, actions: ActionTuple) -> np.ndarray:
        """Each copy's move in [-1, 1] (in units of ``step_size``)."""

    def _start(self, agents: np.ndarray) -> None:
        self._x[agents] = 0.0
        self._goal[agents] = self.rng.choice(np.array([-1.0, 1.0], np.float32), size=len(agents))
        self._step_size[agents] = self._parameters["step_size"]

    def _advance(self, actions: ActionTuple) -> tuple[np.ndarray, np.ndarray]:
        self._x = np.clip(self._x + self._moves(actions) * self._step_size, -1.0, 1.0).astype(
            np.float32
        )
        reached = self._x * self._goal >= 1.0 - _EPS
        wrong = self._x * self._goal <= -1.0 + _EPS
        reward = np.where(reached, 1.0, np.where(wrong, -1.0, -self.step_penalty)).astype(
            np.float32
        )
        return reward, reached | wrong

    def _observe(self) -> list[np.ndarray]:
        return [np.stack([self._x, self._goal], axis=1)]


class Goal1DDiscrete(Goal1D):
    """Goal1D with one discrete branch: 0 = left, 1 = stay, 2 = right."""

    name = "Goal1DDiscrete"
    spec = BehaviorSpec((ObservationSpec((2,)),), ActionSpec(discrete_branches=(3,)))

    def _moves(self, actions: ActionTuple) -> np.ndarray:
        return actions.discrete[:, 0].astype(np.float32) - 1.0


class Goal1DContinuous(Goal1D):
    """Goal1D with one continuous action: the move, clipped to [-1, 1]."""

    name = "Goal1DContinuous"
    spec = BehaviorSpec((ObservationSpec((2,)),), ActionSpec(continuous_size=1))

    def _moves(self, actions: ActionTuple) -> np.ndarray:
        return np.clip(actions.continuous[:, 0], -1.0, 1.0)
