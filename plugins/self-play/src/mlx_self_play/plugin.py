"""Registers the ``self_play`` behavior section with mlx."""

from __future__ import annotations

from typing import Any

from mlx_core.hookspecs import hookimpl
from mlx_core.plugins.types import TrainerWrapperType
from mlx_self_play.settings import SelfPlaySettings


def _make_ghost(*, trainer: Any, context: Any, settings: SelfPlaySettings) -> Any:
    # imported lazily: torch-heavy modules load only when training
    from mlx_self_play.ghost import GhostTrainer

    return GhostTrainer(trainer, context, settings)


@hookimpl
def mlx_trainer_wrapper_types() -> list[TrainerWrapperType]:
    """Offer the ``self_play`` section."""
    return [
        TrainerWrapperType(
            name="self_play",
            settings=SelfPlaySettings,
            factory=_make_ghost,
            description="self-play: one team learns against snapshots of past policies, rated by ELO",
        )
    ]
