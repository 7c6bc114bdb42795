"""Environments for benchmarks/env_workers.py (loaded as ``benchmarks/bench_envs.py:Class``)."""

from __future__ import annotations

import time

import numpy as np

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


class Busy(Environment):
    """One agent whose every step burns ``work_us`` microseconds of CPU, like a physics or
    rendering simulator; episodes last ``length`` steps. Observations: 8 floats."""

    def __init__(self, work_us: int = 1000, length: int = 200) -> None:
        self.work_s, self.length = work_us / 1e6, length
        self._spec = BehaviorSpec((ObservationSpec((8,)),), ActionSpec(continuous_size=2))
        self._rng = np.random.default_rng(0)
        self._t = 0

    @property
    def specs(self) -> dict[str, BehaviorSpec]:
        return {"Busy": self._spec}

    def seed(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)

    def reset(self) -> StepResult:
        self._t = 0
        return {"Busy": (self._decision(0.0), TerminalSteps.empty(self._spec))}

    def step(self, actions: dict[str, ActionTuple]) -> StepResult:
        end = time.perf_counter() + self.work_s
        while time.perf_counter() < end:  # the simulator's own work: CPU, not sleep
            pass
        self._t += 1
        if self._t < self.length:
            return {"Busy": (self._decision(1.0), TerminalSteps.empty(self._spec))}
        self._t = 0
        obs = self._rng.normal(size=(1, 8)).astype(np.float32)
        ended = TerminalSteps([obs], np.ones(1, np.float32), np.zeros(1, np.int64), np.ones(1, bool))
        return {"Busy": (self._decision(0.0), ended)}

    def _decision(self, reward: float) -> DecisionSteps:
        obs = self._rng.normal(size=(1, 8)).astype(np.float32)
        return DecisionSteps([obs], np.full(1, reward, np.float32), np.zeros(1, np.int64))


class Probe(Environment):
    """``agents`` agents with ``size``-float observations and nothing to compute: what a step
    costs beyond the environment's own work is the transport's."""

    def __init__(self, agents: int = 64, size: int = 8) -> None:
        self._spec = BehaviorSpec((ObservationSpec((size,)),), ActionSpec(continuous_size=2))
        rng = np.random.default_rng(0)
        self._decisions = DecisionSteps(
            [rng.normal(size=(agents, size)).astype(np.float32)], np.zeros(agents, np.float32), np.arange(agents)
        )

    @property
    def specs(self) -> dict[str, BehaviorSpec]:
        return {"Probe": self._spec}

    def reset(self) -> StepResult:
        return {"Probe": (self._decisions, TerminalSteps.empty(self._spec))}

    def step(self, actions: dict[str, ActionTuple]) -> StepResult:
        return self.reset()
