"""The ``extrinsic`` reward signal: the environment's own reward, scaled by ``strength``."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlx_core.rewards.base import RewardSignal, RewardSignalSettings


class ExtrinsicRewardSignal(RewardSignal):
    """Passes the environment's reward through, multiplied by ``strength``."""

    def evaluate(self, batch: dict[str, Any]) -> np.ndarray:
        """The environment rewards of the batch times ``strength``."""
        return np.asarray(batch["env_rewards"], dtype=np.float32) * self.strength


def make_extrinsic(spec: Any = None, settings: RewardSignalSettings | None = None, **_: Any) -> ExtrinsicRewardSignal:
    """Factory registered under the name ``extrinsic``."""
    return ExtrinsicRewardSignal(settings or RewardSignalSettings())
