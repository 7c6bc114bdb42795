"""Registers the ``curiosity`` and ``rnd`` reward signals with mlx."""

from __future__ import annotations

from typing import Any

from mlx_core.hookspecs import hookimpl
from mlx_core.plugins.types import RewardSignalType
from mlx_curiosity.settings import CuriositySettings, RNDSettings


def _make_curiosity(**kwargs: Any) -> Any:  # imported lazily: torch loads only when training
    from mlx_curiosity.curiosity import make_curiosity

    return make_curiosity(**kwargs)


def _make_rnd(**kwargs: Any) -> Any:
    from mlx_curiosity.rnd import make_rnd

    return make_rnd(**kwargs)


@hookimpl
def mlx_reward_signal_types() -> list[RewardSignalType]:
    """Offer the ``curiosity`` and ``rnd`` reward signals."""
    return [
        RewardSignalType(
            name="curiosity",
            settings=CuriositySettings,
            factory=_make_curiosity,
            description="intrinsic curiosity module: the forward model's error in a learned encoding",
        ),
        RewardSignalType(
            name="rnd",
            settings=RNDSettings,
            factory=_make_rnd,
            description="random network distillation: a predictor's error on a fixed random network",
        ),
    ]
