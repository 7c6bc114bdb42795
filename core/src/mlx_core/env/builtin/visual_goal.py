"""1-D goal seeking where the goal is seen, not told: ``VisualGoal``.

Like :class:`~mlx_core.env.builtin.goal.Goal1DDiscrete` (walk left or right to the goal end,
+1 there, -1 at the other end, -0.01 per step), but the goal sign is not in the vector
observation: it is drawn as a bright half of a small grey-scale image (the left half for the
left goal). The agent observes its position ``[x]`` and the ``size`` x ``size`` x 1 image, so
it must learn to read the image through a visual encoder. A learned policy scores above 0.8,
one that ignores the image about 0.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mlx_core.env.base import ActionSpec, BehaviorSpec, ObservationSpec
from mlx_core.env.builtin.goal import Goal1DDiscrete


class VisualGoal(Goal1DDiscrete):
    """The visual goal task; parameters ``size`` (image side, 8), ``step_size`` (0.2) and
    ``max_steps`` (30). The image size is fixed when the task is created."""

    name = "VisualGoal"
    defaults: ClassVar[dict[str, float]] = {"size": 8, "step_size": 0.2, "max_steps": 30}

    def __init__(self, num_envs: int, seed: int = -1, params: dict[str, float] | None = None) -> None:
        super().__init__(num_envs, seed, params)
        self.size = max(int(self._parameters["size"]), 2)
        self.spec = BehaviorSpec(
            (ObservationSpec((1,)), ObservationSpec((self.size, self.size, 1))), ActionSpec(discrete_branches=(3,))
        )
        columns = np.arange(self.size)
        half = self.size // 2
        # the two possible images, indexed by (goal + 1) // 2: 0 = left goal, 1 = right goal
        self._images = np.zeros((2, self.size, self.size, 1), np.float32)
        self._images[0, :, columns < half] = 1.0
        self._images[1, :, columns >= half] = 1.0

    def _observe(self) -> list[np.ndarray]:
        side = (self._goal > 0).astype(np.int64)
        return [self._x[:, None].copy(), self._images[side]]
