"""Pong on a small grid: a two-player, symmetric, competitive task for self-play.

Each copy is a court ``length`` cells long and ``height`` cells high. Team 0's paddle stands at
the left end (x = 0), team 1's at the right end (x = length); each moves one cell down or up
per step, or stays. The ball starts in the middle, flying diagonally one cell per step and
bouncing off the top and bottom walls. A ball that reaches an end within ``reach`` cells of
that end's paddle bounces back (``hit_reward`` for the hitter); otherwise the point ends the
episode: +1 for the team that scored, -1 for the one that missed. ``max_steps`` interrupts a
rally that nobody loses (a draw).

Every copy holds two agents of the behavior ``Pong``, ids ``2 i`` (team 0) and ``2 i + 1``
(team 1), both asking for a decision at every step. Each observes the court from its own
side, so one policy plays either team: [own paddle y, opponent paddle y, ball y, ball
distance to its own end, ball moving towards it (+1) or away (-1), ball vertical direction],
all scaled to [-1, 1]. A paddle that follows the ball never misses; a random one misses
about two thirds of the balls it receives.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from mlx_core.env.base import (
    ActionSpec,
    ActionTuple,
    BehaviorSpec,
    DecisionSteps,
    ObservationSpec,
    StepResult,
    TerminalSteps,
)
from mlx_core.env.builtin.task import BuiltinEnvironment


class Pong(BuiltinEnvironment):
    """``num_envs`` copies of grid pong, two agents (teams 0 and 1) in each.

    Parameters: ``height`` (9), ``length`` (6), ``reach`` (1), ``hit_reward`` (0.1) and
    ``max_steps`` (100); changes apply from each copy's next episode, except the court size,
    which is fixed at creation.
    """

    name = "Pong"
    spec = BehaviorSpec((ObservationSpec((6,)),), ActionSpec(discrete_branches=(3,)), num_teams=2)
    defaults: ClassVar[dict[str, float]] = {
        "height": 9,
        "length": 6,
        "reach": 1,
        "hit_reward": 0.1,
        "max_steps": 100,
    }

    def __init__(self, num_envs: int, seed: int = -1, params: dict[str, float] | None = None) -> None:
        super().__init__(num_envs, seed, params)
        self.height = int(self._parameters["height"])
        self.length = int(self._parameters["length"])
        n = num_envs
        self._agent_id = np.arange(2 * n, dtype=np.int64)
        self._team_id = np.tile(np.array([0, 1], np.int64), n)
        for fixed in (self._agent_id, self._team_id):
            fixed.flags.writeable = False  # shared by every result
        self._paddles = np.zeros((n, 2), np.int64)  # (copy, team) paddle rows
        self._ball = np.zeros((n, 2), np.int64)  # (copy, [x, y])
        self._velocity = np.zeros((n, 2), np.int64)  # (copy, [vx, vy]), each -1 or +1
        self._steps = np.zeros(n, np.int64)
        self._max_steps = np.zeros(n, np.int64)
        self._reach = np.zeros(n, np.int64)
        self._hit_reward = np.zeros(n, np.float32)

    def reset(self) -> StepResult:
        """Serve a new ball in every copy."""
        self._serve(np.arange(self.num_envs))
        reward = np.zeros(2 * self.num_envs, np.float32)
        return {self.name: (self._decisions(reward), TerminalSteps.empty(self.spec))}

    def step(self, actions: dict[str, ActionTuple]) -> StepResult:
        """Move paddles and ball one step; report and re-serve the copies whose point ended."""
        moves = actions[self.name].discrete[:, 0].reshape(self.num_envs, 2) - 1
        self._paddles = np.clip(self._paddles + moves, 0, self.height - 1)
        ball, velocity = self._ball, self._velocity
        ball += velocity
        top = self.height - 1
        bounced = (ball[:, 1] < 0) | (ball[:, 1] > top)  # reflect off the walls
        ball[bounced, 1] = np.where(ball[bounced, 1] < 0, 1, top - 1)
        velocity[bounced, 1] *= -1
        reward = np.zeros((self.num_envs, 2), np.float32)
        at_end = (ball[:, 0] <= 0) | (ball[:, 0] >= self.length)
        receiver = (ball[:, 0] >= self.length).astype(np.int64)  # the team whose end the ball reached
        rows = np.arange(self.num_envs)
        hit = at_end & (np.abs(self._paddles[rows, receiver] - ball[:, 1]) <= self._reach)
        missed = at_end & ~hit
        velocity[hit, 0] *= -1
        reward[rows[hit], receiver[hit]] = self._hit_reward[hit]
        reward[rows[missed], receiver[missed]] = -1.0
        reward[rows[missed], 1 - receiver[missed]] = 1.0
        self._steps += 1
        interrupted = ~missed & (self._steps >= self._max_steps)
        ended = np.flatnonzero(missed | interrupted)
        flat = reward.reshape(-1)
        if ended.size:
            agents = np.stack([2 * ended, 2 * ended + 1], axis=1).reshape(-1)
            terminal = TerminalSteps(
                obs=[self._observe()[agents]],
                reward=flat[agents],
                agent_id=self._agent_id[agents],
                interrupted=np.repeat(interrupted[ended], 2),
                team_id=self._team_id[agents],
            )
            self._serve(ended)
            flat = flat.copy()
            flat[agents] = 0.0  # their next episode has earned nothing yet
        else:
            terminal = TerminalSteps.empty(self.spec)
        return {self.name: (self._decisions(flat), terminal)}

    def _serve(self, copies: np.ndarray) -> None:
        """Start a new point in ``copies``: centred paddles, the ball mid-court in a random direction."""
        n = len(copies)
        self._paddles[copies] = self.height // 2
        self._ball[copies, 0] = self.length // 2
        self._ball[copies, 1] = self.rng.integers(0, self.height, size=n)
        self._velocity[copies] = self.rng.choice(np.array([-1, 1]), size=(n, 2))
        self._steps[copies] = 0
        self._max_steps[copies] = int(self._parameters["max_steps"])
        self._reach[copies] = int(self._parameters["reach"])
        self._hit_reward[copies] = self._parameters["hit_reward"]

    def _decisions(self, reward: np.ndarray) -> DecisionSteps:
        return DecisionSteps(obs=[self._observe()], reward=reward, agent_id=self._agent_id, team_id=self._team_id)

    def _observe(self) -> np.ndarray:
        """(2 * num_envs, 6) float32 observations, each from its own team's side."""
        top = max(self.height - 1, 1)
        own = self._paddles  # (copy, team)
        other = own[:, ::-1]
        ball_y = np.repeat(self._ball[:, 1:2], 2, axis=1)
        x = self._ball[:, 0:1]
        distance = np.concatenate([x, self.length - x], axis=1)  # to team 0's end, to team 1's end
        towards = np.concatenate([-self._velocity[:, 0:1], self._velocity[:, 0:1]], axis=1)
        vertical = np.repeat(self._velocity[:, 1:2], 2, axis=1)
        features = np.stack(
            [
                2 * own / top - 1,
                2 * other / top - 1,
                2 * ball_y / top - 1,
                2 * distance / self.length - 1,
                towards,
                vertical,
            ],
            axis=2,
        )  # (copy, team, 6)
        return features.reshape(-1, 6).astype(np.float32)
