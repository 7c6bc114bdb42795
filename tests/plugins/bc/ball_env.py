"""A stand-in with 3DBall's spec (ML-Agents' ``test.demo``): 8 observations, 2 continuous actions.

``bc`` needs an environment whose spec matches the demonstrations; this one only has to run
the student (observations drawn at random, 0.1 reward per step, 50-step episodes).
"""

from __future__ import annotations

import numpy as np

from mlx_core.env.base import ActionSpec, ActionTuple, BehaviorSpec, ObservationSpec
from mlx_core.env.builtin.task import BatchedTask


class Ball3DSpec(BatchedTask):
    """One agent of 3DBall's shape."""

    name = "3DBall"
    spec = BehaviorSpec((ObservationSpec((8,)),), ActionSpec(continuous_size=2))

    def __init__(self) -> None:
        super().__init__(1, 0, {"max_steps": 50})
        self._obs = np.zeros((1, 8), np.float32)

    def _start(self, agents: np.ndarray) -> None:
        self._obs[agents] = self.rng.normal(size=(len(agents), 8)).astype(np.float32)

    def _advance(self, actions: ActionTuple) -> tuple[np.ndarray, np.ndarray]:
        self._obs = self.rng.normal(size=(1, 8)).astype(np.float32)
        return np.full(1, 0.1, np.float32), np.zeros(1, bool)

    def _observe(self) -> list[np.ndarray]:
        return [self._obs.copy()]
