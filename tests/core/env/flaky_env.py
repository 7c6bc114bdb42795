"""A built-in task that fails on purpose, for the worker-restart tests (loaded as file.py:Class).

``crash_at`` / ``hang_at`` make the copy exit abruptly / stop answering at that step, but only
in the one copy that creates ``marker`` first: the restarted copy, and the others, go on.
``raise_at`` raises an exception instead (every time, so restart limits can be tested).
``slow_start`` makes a copy created after ``marker`` exists (a restarted one) take that many
seconds to start.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from mlx_core.env.base import ActionTuple, BehaviorSpec, Environment, StepResult
from mlx_core.env.builtin.goal import Goal1DDiscrete


class FlakyGoal(Environment):
    """Goal1DDiscrete (one copy) that crashes, hangs or raises at a chosen step."""

    def __init__(
        self,
        crash_at: int = 0,
        hang_at: int = 0,
        raise_at: int = 0,
        marker: str = "",
        pid_file: str = "",
        slow_start: float = 0.0,
    ) -> None:
        if slow_start and marker and Path(marker).exists():
            time.sleep(slow_start)
        self.task = Goal1DDiscrete(1, -1, {})
        self.crash_at, self.hang_at, self.raise_at = crash_at, hang_at, raise_at
        self.marker = Path(marker) if marker else None
        self.steps = 0
        if pid_file:  # lets a test find (and check on) every worker process
            with open(pid_file, "a") as out:
                out.write(f"{os.getpid()}\n")

    @property
    def specs(self) -> dict[str, BehaviorSpec]:
        return self.task.specs

    def seed(self, seed: int) -> None:
        self.task.seed(seed)

    def reset(self) -> StepResult:
        return self.task.reset()

    def step(self, actions: dict[str, ActionTuple]) -> StepResult:
        self.steps += 1
        if self.steps in (self.crash_at, self.hang_at) and self._first_to_fail():
            if self.steps == self.crash_at:
                os._exit(3)
            time.sleep(3600)
        if self.steps == self.raise_at:
            raise RuntimeError(f"flaky environment raised at step {self.steps}")
        return self.task.step(actions)

    def _first_to_fail(self) -> bool:
        """True for the one copy that creates the marker (atomically: copies step in parallel)."""
        if self.marker is None:
            return False
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return False
        return True

    def stats(self) -> dict[str, list[float]]:
        return {"Flaky/Steps": [float(self.steps)]}
