"""Registers the ``gail`` reward signal with mlx."""

from __future__ import annotations

from typing import Any

from mlx_core.hookspecs import hookimpl
from mlx_core.plugins.types import RewardSignalType
from mlx_gail.settings import GAILSettings


def _make_gail(**kwargs: Any) -> Any:  # imported lazily: torch loads only when training
    from mlx_gail.reward import make_gail

    return make_gail(**kwargs)


@hookimpl
def mlx_reward_signal_types() -> list[RewardSignalType]:
    """Offer the ``gail`` reward signal."""
    return [
        RewardSignalType(
            name="gail",
            settings=GAILSettings,
            factory=_make_gail,
            description="adversarial imitation: a discriminator's belief that a step is demonstrated",
        )
    ]
