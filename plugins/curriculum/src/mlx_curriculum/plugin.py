"""Registers the ``curriculum`` parameter schedule with mlx."""

from __future__ import annotations

from mlx_core.hookspecs import hookimpl
from mlx_core.plugins.types import ScheduleType
from mlx_curriculum.curriculum import Curriculum
from mlx_curriculum.settings import CurriculumSettings


@hookimpl
def mlx_parameter_schedule_types() -> list[ScheduleType]:
    """Offer ``environment_parameters.<param>.curriculum``."""
    return [
        ScheduleType(
            name="curriculum",
            settings=CurriculumSettings,
            factory=Curriculum,
            description="lessons that advance when a behavior's reward or progress passes a threshold",
        )
    ]
