"""Registers the ``sac`` trainer with mlx."""

from __future__ import annotations

from typing import Any

from mlx_core.hookspecs import hookimpl
from mlx_core.plugins.types import TrainerType
from mlx_sac.settings import SACSettings


def _make_trainer(context: Any) -> Any:  # imported lazily: torch-heavy modules load only when training
    from mlx_sac.trainer import SACTrainer

    return SACTrainer(context)


@hookimpl
def mlx_trainer_types() -> list[TrainerType]:
    """Offer the ``sac`` trainer."""
    return [
        TrainerType(
            name="sac",
            settings=SACSettings,
            factory=_make_trainer,
            description="Soft actor-critic (twin Q, automatic entropy tuning)",
        )
    ]
