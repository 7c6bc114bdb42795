"""The ghost trainer: one team learns with the wrapped trainer, the other teams play past policies.

The controller drives the ghost like any trainer. Its policy acts for every agent of the
behavior in one call, split by team: the learning team's agents through the wrapped
trainer's policy, the others through a copy of the network holding an opponent's weights.
Only the learning team's trajectories reach the wrapped trainer; their episode ends are the
games that move the ELO rating (``Self-play/ELO``).

Which team learns is shared by every ghost of a run (:class:`TeamRota`): in a game with one
behavior per team (asymmetric), the behavior of the learning team learns while the others
play their own snapshots, and the learning behavior hands the turn on after ``team_change``
of its steps.
"""

from __future__ import annotations

import copy
import weakref
from typing import Any

import numpy as np

from mlx_core.env.base import ActionTuple, DecisionSteps
from mlx_core.errors import MlxError
from mlx_core.logs import get_logger
from mlx_core.training.objectives import UpdateObjective
from mlx_core.training.policy import ActionInfo, Policy
from mlx_core.training.trainer import Trainer, TrainerContext
from mlx_core.training.trajectory import Trajectory
from mlx_self_play.elo import game_score
from mlx_self_play.opponents import OpponentPool, frozen_weights
from mlx_self_play.settings import SelfPlaySettings

log = get_logger()

ELO_KEY = "Self-play/ELO"


class TeamRota:
    """The team that learns now, shared by the ghosts of one run; ``changes`` counts turns."""

    def __init__(self) -> None:
        self.learning_team = 0
        self.changes = 0

    def advance(self, num_teams: int) -> None:
        """Give the turn to the next team."""
        self.learning_team = (self.learning_team + 1) % num_teams
        self.changes += 1


# one rota per run: the ghosts of a run share its stats reporter
_ROTAS: weakref.WeakKeyDictionary[object, TeamRota] = weakref.WeakKeyDictionary()


def team_rota(context: TrainerContext) -> TeamRota:
    """The rota of the run ``context`` belongs to."""
    return _ROTAS.setdefault(context.stats, TeamRota())


class GhostTrainer(Trainer):
    """Self-play around ``trainer``: snapshots every ``save_steps``, a new opponent every
    ``swap_steps``, the next team learning every ``team_change`` steps (see
    :class:`~mlx_self_play.settings.SelfPlaySettings`). Counters, updates and checkpoints are
    the wrapped trainer's, with the snapshot window and ratings added under ``self_play``.

    Teams play against each other once the controller drives the ghost (its first
    :meth:`ready_to_update` call); a trainer rebuilt from a checkpoint to act (``mlx eval``,
    ``mlx record``, a teacher) acts with the learning policy for every agent, as in inference.
    """

    def __init__(self, trainer: Trainer, context: TrainerContext, settings: SelfPlaySettings) -> None:
        spec = context.spec
        if spec.num_teams < 2:
            raise MlxError(
                f"behaviors.{context.behavior_name}.self_play: the environment's behavior "
                f"{context.behavior_name} has a single team, so there is no opponent to play. Self-play "
                f"needs a competitive environment whose agents of one behavior are split into two or more "
                f"teams (e.g. the built-in Pong); remove the self_play section for this behavior."
            )
        self.inner = trainer
        super().__init__(context)
        self.self_play = settings
        self.rota = team_rota(context)
        self._seen_changes = self.rota.changes
        self._teams_seen: set[int] = set()  # the teams this behavior's agents play for
        self.pool = OpponentPool(
            settings.window, settings.initial_elo, settings.play_against_latest_model_ratio, context.seed + 7919
        )
        self._opponent_network = copy.deepcopy(trainer.policy.network)
        self._policy = GhostPolicy(self)
        self._opponent = Policy(spec, self._opponent_network, context.device)
        self._team_of: dict[int, int] = {}
        self._last_ids: np.ndarray | None = None
        self._stale: set[int] = set()  # agents whose next trajectory began under the previous learning team
        self._next_save = self._next_swap = self._next_team_change = 0
        self._driven = False  # set by the controller's first ready_to_update call
        self._schedule(start=True)

    # -- the wrapped trainer's counters are the ghost's ----------------------------------------
    @property  # type: ignore[override]
    def step(self) -> int:
        """Decisions of the behavior so far (the wrapped trainer's count)."""
        return self.inner.step

    @step.setter
    def step(self, value: int) -> None:
        self.inner.step = value

    @property  # type: ignore[override]
    def update_count(self) -> int:
        """Updates of the wrapped trainer."""
        return self.inner.update_count

    @update_count.setter
    def update_count(self, value: int) -> None:
        self.inner.update_count = value

    @property  # type: ignore[override]
    def last_update_size(self) -> int:
        """Experiences of the wrapped trainer's latest update."""
        return self.inner.last_update_size

    @last_update_size.setter
    def last_update_size(self, value: int) -> None:
        self.inner.last_update_size = value

    @property  # type: ignore[override]
    def objectives(self) -> dict[str, UpdateObjective]:
        """The wrapped trainer's extra objectives."""
        return self.inner.objectives

    @objectives.setter
    def objectives(self, value: dict[str, UpdateObjective]) -> None:
        if value:  # Trainer.__init__ sets an empty dict: the wrapped trainer's stay
            self.inner.objectives = value

    @property
    def policy(self) -> Policy:
        """Acts for every team: the learning policy for one, an opponent for the others."""
        return self._policy

    @property
    def learning_team(self) -> int:
        """The team whose agents learn now (the same for every behavior of the run)."""
        return self.rota.learning_team

    @property
    def learning_policy(self) -> Policy:
        """The wrapped trainer's policy (the one that learns and is exported)."""
        return self.inner.policy

    # -- the trainer contract ---------------------------------------------------------------
    def process_trajectories(self, trajectories: list[Trajectory]) -> None:
        """Score the learning team's finished games and hand its trajectories to the wrapped trainer."""
        learning = []
        for trajectory in trajectories:
            agent = trajectory.agent_id
            if self._team_of.get(agent, 0) != self.learning_team:
                continue
            if trajectory.done:
                self._score(trajectory)
            if agent in self._stale:  # acted for by an opponent's policy in part
                self._stale.discard(agent)
                continue
            learning.append(trajectory)
        if learning:
            self.inner.process_trajectories(learning)

    def ready_to_update(self) -> bool:
        """When the wrapped trainer is (the first call also starts the teams' split)."""
        self._driven = True
        return self.inner.ready_to_update()

    def update(self) -> None:
        """The wrapped trainer's update."""
        self.inner.update()

    def state_dict(self) -> dict[str, Any]:
        """The wrapped trainer's state plus the learning team, snapshot window and ratings."""
        return {
            **self.inner.state_dict(),
            "self_play": {
                "pool": self.pool.state_dict(),
                "learning_team": self.learning_team,
                "next": [self._next_save, self._next_swap, self._next_team_change],
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output (a checkpoint without self-play restores the wrapped trainer only)."""
        self.inner.load_state_dict({k: v for k, v in state.items() if k != "self_play"})
        saved = state.get("self_play")
        if saved is not None:
            self.pool.load_state_dict(saved["pool"])
            self.rota.learning_team = int(saved["learning_team"])
            self._next_save, self._next_swap, self._next_team_change = (int(n) for n in saved["next"])
            self._swap()
            log.info(
                "self_play_restored",
                behavior=self.context.behavior_name,
                elo=round(self.pool.elo, 1),
                snapshots=len(self.pool.snapshots),
                learning_team=self.learning_team,
            )

    def load_weights(self, state: dict[str, Any]) -> None:
        """The wrapped trainer's weights (``--initialize-from``); snapshots and ratings start afresh."""
        self.inner.load_weights({k: v for k, v in state.items() if k != "self_play"})

    # -- self-play --------------------------------------------------------------------------
    def _schedule(self, start: bool = False) -> None:
        """Take snapshots, draw opponents and change the learning team when their steps come."""
        step, settings = self.step, self.self_play
        changed = self._seen_changes != self.rota.changes  # another behavior handed the turn on
        if not changed and not start and step >= self._next_team_change and self.learning_team in self._teams_seen:
            self.rota.advance(self.context.spec.num_teams)
            changed = True
        if changed:
            self._seen_changes = self.rota.changes
            self._team_changed()
        if step >= self._next_save:
            self.pool.save(frozen_weights(self.learning_policy.network))
            self._next_save = _next_multiple(step, settings.save_steps)
        if step >= self._next_swap or changed:
            self._swap()
            self._next_swap = _next_multiple(step, settings.swap_steps)
        if step >= self._next_team_change or changed:
            self._next_team_change = _next_multiple(step, settings.team_change)

    def _swap(self) -> None:
        weights = self.pool.draw(frozen_weights(self.learning_policy.network))
        self._opponent_network.load_state_dict(weights)  # in place: the numpy actor's views stay valid

    def _team_changed(self) -> None:
        self._stale = {agent for agent, team in self._team_of.items() if team == self.learning_team}
        log.info("learning_team_changed", behavior=self.context.behavior_name, team=self.learning_team, step=self.step)

    def _score(self, trajectory: Trajectory) -> None:
        final = float(trajectory.env_rewards[-1]) if len(trajectory.env_rewards) else 0.0
        self.pool.record(game_score(final, trajectory.interrupted))
        self.context.record(ELO_KEY, self.pool.elo)

    def _act(self, steps: DecisionSteps) -> ActionInfo:
        """Actions for every agent: the learning team's from the learning policy, the others' from the opponent."""
        learner = self.learning_policy
        inference = self.context.options.checkpoint_settings.inference
        if inference or not len(steps):
            return learner.act(steps)
        teams = steps.teams()
        ids = steps.agent_id
        if self._last_ids is None or not np.array_equal(ids, self._last_ids):  # per agent only when the batch changes
            self._team_of.update(zip(ids.tolist(), teams.tolist()))
            self._teams_seen.update(teams.tolist())
            self._last_ids = ids.copy()
        if not self._driven:
            return learner.act(steps)
        self._schedule()
        learning = teams == self.learning_team
        if learning.all():
            return learner.act(steps)
        if not learning.any():
            return self._opponent.act(steps)
        return _merge(learning, learner.act(_subset(steps, learning)), self._opponent.act(_subset(steps, ~learning)))


class GhostPolicy(Policy):
    """The policy the controller sees: the learning network (what exporters write), acting for
    every team through :meth:`GhostTrainer._act`."""

    def __init__(self, ghost: GhostTrainer) -> None:  # no numpy actor of its own: the parts have theirs
        self._ghost = ghost
        learner = ghost.learning_policy
        self.spec, self.network, self.device = learner.spec, learner.network, learner.device
        self.memory_size = getattr(learner, "memory_size", 0)  # exporters read it
        self.memories = None  # each part keeps the memories of the agents it acts for
        self._numpy_act = None

    @property  # type: ignore[override]
    def deterministic(self) -> bool:
        """Whether the learning policy and the opponent pick their most likely actions."""
        return self._ghost.learning_policy.deterministic

    @deterministic.setter
    def deterministic(self, value: bool) -> None:
        self._ghost.learning_policy.deterministic = value
        self._ghost._opponent.deterministic = value

    def act(self, steps: DecisionSteps) -> ActionInfo:
        """Actions for every agent in ``steps``, each from its team's policy."""
        return self._ghost._act(steps)

    def end_episodes(self, agent_ids: np.ndarray) -> None:
        """Both parts forget the memories of agents whose episode ended."""
        self._ghost.learning_policy.end_episodes(agent_ids)
        self._ghost._opponent.end_episodes(agent_ids)


def _subset(steps: DecisionSteps, rows: np.ndarray) -> DecisionSteps:
    return DecisionSteps(
        obs=[o[rows] for o in steps.obs],
        reward=steps.reward[rows],
        agent_id=steps.agent_id[rows],
        action_mask=None if steps.action_mask is None else steps.action_mask[rows],
        team_id=None if steps.team_id is None else steps.team_id[rows],
    )


def _merge(first: np.ndarray, a: ActionInfo, b: ActionInfo) -> ActionInfo:
    """One ActionInfo with ``a``'s rows where ``first`` is True and ``b``'s elsewhere."""

    def join(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = np.empty((len(first), *x.shape[1:]), dtype=x.dtype)
        out[first], out[~first] = x, y
        return out

    def actions(x: ActionTuple, y: ActionTuple) -> ActionTuple:
        return ActionTuple(continuous=join(x.continuous, y.continuous), discrete=join(x.discrete, y.discrete))

    def optional(x: np.ndarray | None, y: np.ndarray | None) -> np.ndarray | None:
        return None if x is None or y is None else join(x, y)

    return ActionInfo(
        action=actions(a.action, b.action),
        env_action=actions(a.env_action, b.env_action),
        log_probs=join(a.log_probs, b.log_probs),
        values=optional(a.values, b.values),
        memories=optional(a.memories, b.memories),
        next_memories=optional(a.next_memories, b.next_memories),
    )


def _next_multiple(step: int, every: int) -> int:
    return (step // every + 1) * every
