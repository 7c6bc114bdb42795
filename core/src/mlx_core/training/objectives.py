"""Extra objectives that a behavior section adds to any trainer's updates (``behavioral_cloning``).

A plugin offers an :class:`~mlx_core.plugins.types.ObjectiveType` through the
``mlx_update_objective_types`` hook; the controller builds one :class:`UpdateObjective` per
behavior whose section names it, after the trainer, and puts it in ``trainer.objectives``.
The trainer calls :meth:`~mlx_core.training.trainer.Trainer.update_objectives` at the end of
each of its updates: the objective then takes its own optimizer steps on the policy's
parameters (it never changes the trainer's own losses or optimizer).
"""

from __future__ import annotations

import abc
from typing import Any


class UpdateObjective(abc.ABC):
    """An objective trained on a trainer's policy after each of the trainer's updates."""

    @abc.abstractmethod
    def update(self, step: int, max_steps: int) -> dict[str, float]:
        """Train the policy after the trainer's update at behavior step ``step``; return the
        statistics to record (keys such as ``"Losses/Cloning Loss"``), possibly none."""

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps of this objective (its optimizer state), tensors and plain values only."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027 - optional hook, empty by design
        """Restore :meth:`state_dict` output."""
