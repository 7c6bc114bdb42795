"""The environment API every adapter implements, and the adapters core ships."""

from mlx_core.env.base import (
    ActionSpec,
    ActionTuple,
    BehaviorSpec,
    DecisionSteps,
    Environment,
    ObservationSpec,
    StepResult,
    TerminalSteps,
)

__all__ = [
    "ActionSpec",
    "ActionTuple",
    "BehaviorSpec",
    "DecisionSteps",
    "Environment",
    "ObservationSpec",
    "StepResult",
    "TerminalSteps",
]
