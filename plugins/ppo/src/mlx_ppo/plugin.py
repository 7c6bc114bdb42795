"""Registers the ``ppo`` trainer with mlx."""

from __future__ import annotations

from mlx_core.hookspecs import hookimpl
from mlx_core.plugins.types import TrainerType
from mlx_ppo.settings import PPOSettings


def _make_trainer(context):  # imported lazily: torch-heavy modules load only when training
    from mlx_ppo.trainer import PPOTrainer

    return PPOTrainer(context)


@hookimpl
def mlx_trainer_types() -> list[TrainerType]:
    """Offer the ``ppo`` trainer."""
    return [
        TrainerType(
            name="ppo",
            settings=PPOSettings,
            factory=_make_trainer,
            description="Proximal Policy Optimization (clipped surrogate, GAE)",
        )
    ]
