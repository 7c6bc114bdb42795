"""Registers the ``faulty`` trainer with mlx."""

from __future__ import annotations

from typing import Any

import attrs

from mlx_core.hookspecs import hookimpl
from mlx_core.plugins.types import TrainerType
from mlx_ppo.settings import PPOSettings


@attrs.define(frozen=True)
class FaultySettings(PPOSettings):
    """PPO's hyperparameters plus what the tests ask of the trainer.

    ``fail_on_update``: the update (counted over the whole run, resumes included) that moves
    every weight and then raises; 0 never fails. ``update_seconds``: time each update takes
    on top of PPO's work, after writing ``in-update`` in the behavior's folder.
    ``unsaveable_from_update``: from that update on, the state holds a value that
    ``torch.save`` cannot write (every save fails); 0 never.
    """

    fail_on_update: int = 0
    update_seconds: float = 0.0
    unsaveable_from_update: int = 0


def _make_trainer(context: Any) -> Any:
    from mlx_faulty_trainer.trainer import FaultyTrainer

    return FaultyTrainer(context)


@hookimpl
def mlx_trainer_types() -> list[TrainerType]:
    """Offer the ``faulty`` trainer."""
    return [
        TrainerType(name="faulty", settings=FaultySettings, factory=_make_trainer, description="PPO for failure tests")
    ]
