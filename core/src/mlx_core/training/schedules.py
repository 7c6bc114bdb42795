"""Hyperparameter schedules over the training steps of a behavior."""

from __future__ import annotations


def scheduled(initial: float, schedule: str, step: int, max_steps: int, minimum: float = 0.0) -> float:
    """The value of a ``constant`` or ``linear`` (decaying to ``minimum`` at ``max_steps``) schedule."""
    if schedule == "constant":
        return initial
    remaining = max(0.0, 1.0 - step / max_steps)
    return max(minimum, initial * remaining)
