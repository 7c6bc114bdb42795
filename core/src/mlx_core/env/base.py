"""The environment API: specs, decision and terminal steps, actions.

An environment holds one or more *behaviors*; each behavior has many *agents*. A call to
``reset()`` or ``step(actions)`` returns, per behavior, the agents that need a decision now
(:class:`DecisionSteps`) and the agents whose episode ended since the last call
(:class:`TerminalSteps`). An agent can appear in both in the same call: it ended one episode
and asks for the first decision of the next. Everything is batched: one array row per agent.
"""

from __future__ import annotations

import abc
import functools
from typing import Any

import attrs
import numpy as np


@attrs.define(frozen=True)
class ObservationSpec:
    """One observation of a behavior: its shape (without the agent axis) and a name.

    Shapes of length 3 are images (height, width, channels); everything else is a vector.
    """

    shape: tuple[int, ...]
    name: str = "obs"

    @property
    def is_visual(self) -> bool:
        """True for (height, width, channels) image observations."""
        return len(self.shape) == 3


@attrs.define(frozen=True)
class ActionSpec:
    """The actions of a behavior: a continuous vector and/or discrete branches.

    Continuous actions are in [-1, 1]; adapters rescale them to the simulator's bounds.
    """

    continuous_size: int = 0
    discrete_branches: tuple[int, ...] = ()

    @property
    def discrete_size(self) -> int:
        """Number of discrete branches."""
        return len(self.discrete_branches)

    @property
    def is_continuous(self) -> bool:
        """True when the behavior has continuous actions."""
        return self.continuous_size > 0

    @property
    def is_discrete(self) -> bool:
        """True when the behavior has discrete branches."""
        return len(self.discrete_branches) > 0

    def empty(self, n_agents: int) -> ActionTuple:
        """An all-zero action batch for ``n_agents`` agents."""
        return ActionTuple(
            continuous=np.zeros((n_agents, self.continuous_size), dtype=np.float32),
            discrete=np.zeros((n_agents, self.discrete_size), dtype=np.int64),
        )


@attrs.define(frozen=True)
class BehaviorSpec:
    """What the trainer needs to know about a behavior to build its policy.

    ``num_teams`` says into how many teams the behavior's agents are split (competitive games
    played by self-play); each step's ``team_id`` says which team an agent plays for.
    """

    observation_specs: tuple[ObservationSpec, ...]
    action_spec: ActionSpec
    num_teams: int = 1


@attrs.define
class ActionTuple:
    """Actions for a batch of agents: ``continuous`` (n, size) float32, ``discrete`` (n, branches) int64."""

    continuous: np.ndarray
    discrete: np.ndarray

    def __len__(self) -> int:
        return max(len(self.continuous), len(self.discrete))


@attrs.define
class DecisionSteps:
    """Agents of one behavior that need an action now.

    ``obs`` holds one array per observation spec, each (n_agents, *shape); ``reward`` is the
    reward earned since the agent's previous decision; ``action_mask`` is a boolean array
    (n_agents, sum(branches)) where True means *allowed*, or None when nothing is masked.
    ``team_id`` is an (n_agents,) int64 array of each agent's team, or None when every agent
    plays for team 0 (behaviors whose spec has one team).
    """

    obs: list[np.ndarray]
    reward: np.ndarray
    agent_id: np.ndarray
    action_mask: np.ndarray | None = None
    team_id: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.agent_id)

    def teams(self) -> np.ndarray:
        """Each agent's team as an (n_agents,) int64 array (zeros where ``team_id`` is None)."""
        return team_ids(self.team_id, len(self))

    @classmethod
    def empty(cls, spec: BehaviorSpec) -> DecisionSteps:
        """No agent needs a decision."""
        return cls(
            obs=[np.zeros((0, *o.shape), np.float32) for o in spec.observation_specs],
            reward=np.zeros(0, np.float32),
            agent_id=np.zeros(0, np.int64),
        )


@attrs.define
class TerminalSteps:
    """Agents of one behavior whose episode ended since the last call.

    ``obs`` is each agent's last observation. ``interrupted`` is True where the episode was
    cut by a step limit rather than reaching a terminal state: the trainer then bootstraps
    the value of that last observation. ``team_id`` is as in :class:`DecisionSteps`.
    """

    obs: list[np.ndarray]
    reward: np.ndarray
    agent_id: np.ndarray
    interrupted: np.ndarray
    team_id: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.agent_id)

    def teams(self) -> np.ndarray:
        """Each agent's team as an (n_agents,) int64 array (zeros where ``team_id`` is None)."""
        return team_ids(self.team_id, len(self))

    @classmethod
    def empty(cls, spec: BehaviorSpec) -> TerminalSteps:
        """No agent finished (one shared, read-only instance per spec: most steps have none)."""
        return _empty_terminal_steps(spec)


@functools.lru_cache(maxsize=64)
def _empty_terminal_steps(spec: BehaviorSpec) -> TerminalSteps:
    arrays = [np.zeros((0, *o.shape), np.float32) for o in spec.observation_specs]
    for array in arrays:
        array.flags.writeable = False
    return TerminalSteps(
        obs=arrays,
        reward=np.zeros(0, np.float32),
        agent_id=np.zeros(0, np.int64),
        interrupted=np.zeros(0, bool),
    )


def closed_mask_branch(mask: np.ndarray, branches: tuple[int, ...]) -> tuple[int, int] | None:
    """The first ``(row, branch)`` of an action mask (n, sum(branches)), True = allowed, where
    every choice of the branch is forbidden; None when each row leaves a choice in each branch.

    A policy has nothing to pick from there: it would sample a forbidden choice (all equally
    unlikely) and learn from it, so environments and simulators must never send such a row.
    """
    if not mask.size:
        return None
    starts = np.cumsum((0, *branches[:-1]))
    open_branches = np.logical_or.reduceat(mask.astype(bool, copy=False), starts, axis=1)
    if open_branches.all():
        return None
    row, branch = np.argwhere(~open_branches)[0].tolist()
    return int(row), int(branch)


def team_ids(team_id: np.ndarray | None, n_agents: int) -> np.ndarray:
    """``team_id`` as an int64 array, or ``n_agents`` zeros when it is None (one team)."""
    if team_id is None:
        return np.zeros(n_agents, np.int64)
    return np.asarray(team_id, dtype=np.int64)


StepResult = dict[str, tuple[DecisionSteps, TerminalSteps]]
"""Per behavior name: (agents needing a decision, agents that just finished)."""


class Environment(abc.ABC):
    """A simulator with one or more behaviors, each with a batch of agents.

    Adapters (gymnasium, PettingZoo, gRPC executables, built-in tasks) implement this class.
    """

    @property
    @abc.abstractmethod
    def specs(self) -> dict[str, BehaviorSpec]:
        """The behaviors of this environment, by name."""

    @abc.abstractmethod
    def reset(self) -> StepResult:
        """Start new episodes for every agent and return their first decision requests."""

    @abc.abstractmethod
    def step(self, actions: dict[str, ActionTuple]) -> StepResult:
        """Apply actions to the agents that asked in the previous result, in the same order.

        ``actions`` holds, per behavior, one row per agent of the previous
        :class:`DecisionSteps`. Behaviors with no waiting agents may be missing.
        """

    def set_parameters(self, parameters: dict[str, float]) -> None:
        """Set environment parameters; they take effect at the next episode of each agent.

        The default ignores them: environments that have none need not override this.
        """

    def seed(self, seed: int) -> None:  # noqa: B027 - optional hook, empty by design
        """Seed the environment's random generators before the first reset."""

    def close(self) -> None:  # noqa: B027 - optional hook, empty by design
        """Release the environment's resources."""

    def stats(self) -> dict[str, Any]:
        """Custom metrics the simulator reports since the last call (name -> a value or a list
        of values; :func:`metric_values` reads either)."""
        return {}


def metric_values(value: Any) -> list[float]:
    """A custom metric's value(s) as a list of floats (a number or any sequence of numbers)."""
    return np.atleast_1d(np.asarray(value, dtype=np.float64)).tolist()  # type: ignore[no-any-return]
