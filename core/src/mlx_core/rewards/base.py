"""The contract of a reward signal plugin."""

from __future__ import annotations

import abc
from typing import Any

import attrs
import numpy as np
from attrs import validators as v


@attrs.define(frozen=True)
class RewardSignalSettings:
    """Fields every reward signal section has: discount ``gamma`` and weight ``strength``."""

    gamma: float = attrs.field(default=0.99, validator=[v.ge(0), v.le(1)])
    strength: float = 1.0


class RewardSignal(abc.ABC):
    """Turns a batch of experience into a reward per step, with its own discount.

    Trainers call :meth:`evaluate` on every trajectory batch and :meth:`update` once per
    trainer update; each signal gets its own value head and its advantages are summed.
    """

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.gamma: float = settings.gamma
        self.strength: float = settings.strength

    @abc.abstractmethod
    def evaluate(self, batch: dict[str, Any]) -> np.ndarray:
        """Rewards (T,) for a batch of T steps; ``batch`` holds ``env_rewards``, ``obs``, ``actions``...."""

    def update(self, batch: dict[str, Any]) -> dict[str, float]:
        """Train the signal's own model on a batch; return stats to report (none by default)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """State to checkpoint (none by default)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
