"""Registers the ``reinforce`` trainer with mlx.

This module is what the ``mlx`` entry point in ``pyproject.toml`` names. mlx imports it at
start-up (``mlx plugins`` lists what it offers), so it stays light: the torch-heavy trainer
module is imported only when a run actually builds a trainer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlx_core.hookspecs import hookimpl
from mlx_core.plugins.types import TrainerType
from mlx_template_trainer.settings import ReinforceSettings

if TYPE_CHECKING:
    from mlx_core.training.trainer import Trainer, TrainerContext


def _make_trainer(context: TrainerContext) -> Trainer:
    from mlx_template_trainer.trainer import ReinforceTrainer

    return ReinforceTrainer(context)


@hookimpl
def mlx_trainer_types() -> list[TrainerType]:
    """Offer the ``reinforce`` trainer (``behaviors.<B>.trainer: reinforce``)."""
    return [
        TrainerType(
            name="reinforce",
            settings=ReinforceSettings,
            factory=_make_trainer,
            description="REINFORCE: vanilla policy gradient with the critic as a baseline",
        )
    ]
