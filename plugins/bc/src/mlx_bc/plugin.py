"""Registers mlx-bc's trainers (``bc``, ``offline_bc``, ``online_bc``) and the ``behavioral_cloning`` objective."""

from __future__ import annotations

from typing import Any

from mlx_bc.settings import BCSettings, BehavioralCloningSettings, OnlineBCSettings
from mlx_core.hookspecs import hookimpl
from mlx_core.plugins.types import ObjectiveType, TrainerType


# the factories import lazily: torch-heavy modules load only when training
def _make_bc(context: Any) -> Any:
    from mlx_bc.trainer import BCTrainer

    return BCTrainer(context)


def _make_online_bc(context: Any) -> Any:
    from mlx_bc.online import OnlineBCTrainer

    return OnlineBCTrainer(context)


def _make_behavioral_cloning(**kwargs: Any) -> Any:
    from mlx_bc.objective import BehavioralCloning

    return BehavioralCloning(**kwargs)


@hookimpl
def mlx_trainer_types() -> list[TrainerType]:
    """Offer ``bc`` (with the reference's name ``offline_bc``) and ``online_bc``."""
    offline = "behavioral cloning from demonstrations (.demo files)"
    return [
        TrainerType(name="bc", settings=BCSettings, factory=_make_bc, description=offline),
        TrainerType(name="offline_bc", settings=BCSettings, factory=_make_bc, description=f"{offline}; same as bc"),
        TrainerType(
            name="online_bc",
            settings=OnlineBCSettings,
            factory=_make_online_bc,
            description="behavioral cloning of a teacher model while it acts, or labels the student's states (dagger)",
        ),
    ]


@hookimpl
def mlx_update_objective_types() -> list[ObjectiveType]:
    """Offer the ``behavioral_cloning`` section for any trainer."""
    return [
        ObjectiveType(
            name="behavioral_cloning",
            settings=BehavioralCloningSettings,
            factory=_make_behavioral_cloning,
            description="a cloning loss on demonstrations after each update of the behavior's trainer",
        )
    ]
