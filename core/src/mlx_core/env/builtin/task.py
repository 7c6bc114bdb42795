"""The shared bookkeeping of built-in tasks: ``num_envs`` copies stepped together with numpy."""

from __future__ import annotations

import abc
from typing import ClassVar

import numpy as np

from mlx_core.env.base import (
    ActionTuple,
    BehaviorSpec,
    DecisionSteps,
    Environment,
    StepResult,
    TerminalSteps,
)
from mlx_core.errors import EnvError


class BuiltinEnvironment(Environment):
    """What every built-in task shares: one behavior named after the task, a numpy generator,
    and named parameters (``defaults``) that apply to each copy's next episode.

    Subclasses set ``name``, ``spec`` and ``defaults``.
    """

    name: str
    spec: BehaviorSpec
    defaults: ClassVar[dict[str, float]] = {"max_steps": 30}

    def __init__(self, num_envs: int, seed: int = -1, params: dict[str, float] | None = None) -> None:
        self.num_envs = num_envs
        self._parameters = dict(self.defaults)
        self.set_parameters(params or {})
        self.seed(seed)

    @property
    def specs(self) -> dict[str, BehaviorSpec]:
        """One behavior, named after the task."""
        return {self.name: self.spec}

    def seed(self, seed: int) -> None:
        """Re-seed the task's generator; a negative seed draws a random one."""
        self.rng = np.random.default_rng(seed if seed >= 0 else None)

    def set_parameters(self, parameters: dict[str, float]) -> None:
        """Update the task's parameters (the names in ``defaults``) for each copy's next episode;
        a name the task does not have is an :class:`EnvError`, never silently ignored."""
        unknown = sorted(set(parameters) - set(self.defaults))
        if unknown:
            raise EnvError(
                f"The built-in environment {self.name!r} has no parameter {', '.join(unknown)}; its parameters "
                f"are {', '.join(self.defaults)}. Rename or remove it in environment_parameters."
            )
        self._parameters.update({k: float(v) for k, v in parameters.items()})


class BatchedTask(BuiltinEnvironment):
    """One behavior whose agents are ``num_envs`` independent copies of a numpy task.

    Every agent asks for a decision at every step. A copy that ends its episode (terminal,
    or interrupted at ``max_steps``) is reported in the terminal steps and restarted in the
    same call. Agent ``i`` keeps id ``i`` from one episode to the next. Parameters (including
    ``max_steps``) set with :meth:`set_parameters` apply to each copy's next episode.
    Subclasses set ``name`` and ``spec`` and implement ``_start``, ``_advance`` and ``_observe``.
    """

    def __init__(self, num_envs: int, seed: int = -1, params: dict[str, float] | None = None) -> None:
        super().__init__(num_envs, seed, params)
        self._agent_id = np.arange(num_envs, dtype=np.int64)
        self._agent_id.flags.writeable = False  # shared by every result: read-only
        self._steps = np.zeros(num_envs, np.int64)
        self._max_steps = np.zeros(num_envs, np.int64)

    def reset(self) -> StepResult:
        """Start a new episode in every copy."""
        self._begin(np.arange(self.num_envs))
        decisions = self._decisions(np.zeros(self.num_envs, np.float32))
        return {self.name: (decisions, TerminalSteps.empty(self.spec))}

    def step(self, actions: dict[str, ActionTuple]) -> StepResult:
        """Advance every copy by one action; report and restart the copies that finished."""
        reward, terminated = self._advance(actions[self.name])
        self._steps += 1
        interrupted = ~terminated & (self._steps >= self._max_steps)
        done = terminated | interrupted
        ended = np.flatnonzero(done)
        if ended.size:
            terminal = TerminalSteps(
                obs=[obs[ended] for obs in self._observe()],
                reward=reward[ended],
                agent_id=self._agent_id[ended],
                interrupted=interrupted[ended],
            )
            self._begin(ended)
        else:
            terminal = TerminalSteps.empty(self.spec)
        return {self.name: (self._decisions(np.where(done, np.float32(0), reward)), terminal)}

    def _begin(self, agents: np.ndarray) -> None:
        """Start new episodes for the copies ``agents`` with the current parameters."""
        self._steps[agents] = 0
        self._max_steps[agents] = int(self._parameters["max_steps"])
        self._start(agents)

    def _decisions(self, reward: np.ndarray) -> DecisionSteps:
        return DecisionSteps(obs=self._observe(), reward=reward, agent_id=self._agent_id, action_mask=self._mask())

    def _mask(self) -> np.ndarray | None:
        """The (num_envs, sum(branches)) action mask, True = allowed; None: nothing masked."""
        return None

    @abc.abstractmethod
    def _start(self, agents: np.ndarray) -> None:
        """Draw the initial state of the copies ``agents`` (an index array)."""

    @abc.abstractmethod
    def _advance(self, actions: ActionTuple) -> tuple[np.ndarray, np.ndarray]:
        """Apply one action per copy; return (num_envs,) float32 rewards and bool ``terminated``."""

    @abc.abstractmethod
    def _observe(self) -> list[np.ndarray]:
        """The float32 observations of every copy, one array per observation spec."""
