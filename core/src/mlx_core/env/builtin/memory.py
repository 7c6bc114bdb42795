"""A task that needs memory: ``MemoryCue``, a cue seen at the first step and acted on later.

Each copy draws a cue in {-1, +1} per episode. The agent observes ``[cue, decide]``: the cue
only at the first step (0 afterwards) and ``decide`` = 1 only at the last step, ``delay``
steps later. At that step choosing the cue's side (action 1 for +1, 0 for -1) gives +1 and
any other choice -1, and the episode ends; earlier steps give 0 whatever the action. A
policy that remembers the cue scores 1; one without memory sees the same observation for
both cues at the decision and cannot score above 0 on average.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mlx_core.env.base import ActionSpec, ActionTuple, BehaviorSpec, ObservationSpec
from mlx_core.env.builtin.task import BatchedTask


class MemoryCue(BatchedTask):
    """The cue-recall task; parameters ``delay`` (3 steps between the cue and the decision)."""

    name = "MemoryCue"
    spec = BehaviorSpec((ObservationSpec((2,)),), ActionSpec(discrete_branches=(2,)))
    defaults: ClassVar[dict[str, float]] = {"delay": 3, "max_steps": 100}

    def __init__(self, num_envs: int, seed: int = -1, params: dict[str, float] | None = None) -> None:
        super().__init__(num_envs, seed, params)
        self._cue = np.ones(num_envs, np.float32)
        self._delay = np.zeros(num_envs, np.int64)
        self._t = np.zeros(num_envs, np.int64)

    def _start(self, agents: np.ndarray) -> None:
        self._cue[agents] = self.rng.choice(np.array([-1.0, 1.0], np.float32), size=len(agents))
        self._delay[agents] = max(int(self._parameters["delay"]), 1)
        self._t[agents] = 0

    def _advance(self, actions: ActionTuple) -> tuple[np.ndarray, np.ndarray]:
        deciding = self._t >= self._delay
        right = actions.discrete[:, 0] == (self._cue > 0)
        reward = np.where(deciding, np.where(right, 1.0, -1.0), 0.0).astype(np.float32)
        self._t += 1
        return reward, deciding

    def _observe(self) -> list[np.ndarray]:
        cue = np.where(self._t == 0, self._cue, 0.0)
        decide = (self._t >= self._delay).astype(np.float32)
        return [np.stack([cue, decide], axis=1).astype(np.float32)]
