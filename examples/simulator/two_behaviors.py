#!/usr/bin/env python3
"""A stand-alone simulator with two behaviors, served over the mlx gRPC protocol.

It plays the part of a built simulator executable (a Unity build, say): the trainer starts

    two_behaviors.py --mlx-port 5005 [engine flags] [--max-agents 4 --max-steps 20 ...]

and drives it through ``mlx_core.env.remote.serve``. The same class also loads in-process
(``--env examples/simulator/two_behaviors.py:TwoBehaviorArena``), with ``env_args`` as its
keyword arguments.

Two behaviors share the arena; each has between 1 and ``max_agents`` live agents. Every live
agent asks for a decision every step. An agent whose episode ends (terminal, or interrupted
at its step limit) appears in that call's terminal steps only and leaves; each step every free
seat is taken by a new agent with probability ``join_prob`` (and at least one agent always
stays), so the number of agents changes over time. New agents get new ids from one counter
that only counts up: an id is never used twice.

**Mover** (continuous action of size 1; observation ``[position, goal]``): an agent and a goal
on the line [-1, 1], at least 0.3 apart. The action times ``step_size`` (0.2) moves the agent
(clipped to the line). Coming within ``goal_radius`` (0.1) of the goal gives +1 and ends the
episode; every other step costs 0.01; ``max_steps`` (20) interrupts it. Measured returns
(20 000 episodes): a random policy (actions ~ N(0, 1), clipped) 0.12, reaching the goal in 29%
of episodes; walking straight to the goal 0.97.

**Picker** (one discrete branch of ``choices`` (4); observation: the one-hot target choice;
an action mask): each step shows a target; every other choice is disallowed with probability
``mask_prob`` (0.5), the target never is. Picking the target gives +0.1 and a new round,
picking another allowed choice ends the episode (terminal, reward 0), picking a disallowed
choice is a bug in the trainer and raises ``ValueError``. ``max_steps`` (20) interrupts the
episode, so the best return is 0.1 * max_steps = 2.0. A uniformly random choice among the
allowed ones is right with probability 0.47 and returns 0.09 on average.

:meth:`TwoBehaviorArena.stats` reports ``Arena/Goals Reached`` (1 or 0 per finished Mover
episode), ``Arena/Correct Picks`` (per finished Picker episode) and ``Arena/Live Agents`` (all
behaviors, per step): custom metrics that reach TensorBoard through the statistics side channel.

PPO with small settings (hidden_units 32, num_layers 2, batch_size 64, buffer_size 512,
learning_rate 1e-3, num_epoch 3, beta 5e-3, time_horizon 32, num_envs 4) reaches mean returns
of 0.88 to 0.95 (Mover) and 1.39 to 1.68 (Picker) after 10 000 steps of each behavior, over
seeds 1 to 7; see README.md next to this file.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlx_core.env import (
    ActionSpec,
    ActionTuple,
    BehaviorSpec,
    DecisionSteps,
    Environment,
    ObservationSpec,
    StepResult,
    TerminalSteps,
)

MOVER = "Mover"
PICKER = "Picker"
STEP_PENALTY = 0.01  # Mover: every step that does not reach the goal
PICK_REWARD = 0.1  # Picker: every right pick
MIN_START_DISTANCE = 0.3  # Mover: no episode starts (almost) on its goal


class _Crowd:
    """The live agents of one behavior, one array row per agent, in decision order.

    Subclasses hold the task state (more row-aligned arrays) and implement ``_join``,
    ``_advance``, ``_observe`` and ``_mask``.
    """

    name: str
    spec: BehaviorSpec

    def __init__(self, arena: TwoBehaviorArena) -> None:
        self.arena = arena
        self.ids = np.zeros(0, np.int64)
        self.steps = np.zeros(0, np.int64)
        self.max_steps = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def clear(self) -> None:
        """Drop every agent (reset starts a new population)."""
        self._keep(np.zeros(len(self), bool))

    def join(self, count: int) -> None:
        """Add ``count`` new agents with fresh ids, starting episodes with the current parameters."""
        if count <= 0:
            return
        self.ids = np.concatenate([self.ids, self.arena._new_ids(count)])
        self.steps = np.concatenate([self.steps, np.zeros(count, np.int64)])
        limit = int(self.arena.parameters["max_steps"])
        self.max_steps = np.concatenate([self.max_steps, np.full(count, limit, np.int64)])
        self._join(count)

    def step(self, actions: ActionTuple | None) -> tuple[DecisionSteps, TerminalSteps]:
        """Apply one action per live agent, let the finished ones leave and new ones join."""
        actions = self._check(actions)
        reward, terminated = self._advance(actions)
        self.steps += 1
        interrupted = ~terminated & (self.steps >= self.max_steps)
        done = terminated | interrupted
        if done.any():
            terminal = TerminalSteps(
                obs=[obs[done] for obs in self._observe()],
                reward=reward[done],
                agent_id=self.ids[done],
                interrupted=interrupted[done],
            )
            self._record(done, terminated)
            self._keep(~done)
        else:
            terminal = TerminalSteps.empty(self.spec)
        joined = self.fill()
        self._next_round()
        reward = np.concatenate([reward[~done], np.zeros(joined, np.float32)])
        return self.decisions(reward), terminal

    def fill(self) -> int:
        """Let new agents take free seats (each with ``join_prob``); keep at least one agent."""
        arena = self.arena
        count = int(arena.rng.binomial(arena.max_agents - len(self), arena.join_prob))
        if len(self) + count == 0:
            count = 1
        self.join(count)
        return count

    def decisions(self, reward: np.ndarray) -> DecisionSteps:
        """The decision requests of every live agent."""
        return DecisionSteps(
            obs=self._observe(), reward=reward.astype(np.float32), agent_id=self.ids.copy(), action_mask=self._mask()
        )

    def _check(self, actions: ActionTuple | None) -> ActionTuple:
        """Reject actions that do not match the previous decision requests."""
        n, action_spec = len(self), self.spec.action_spec
        if actions is None:
            raise ValueError(f"No actions for behavior {self.name!r}, which has {n} agents waiting for a decision.")
        continuous = np.zeros((n, 0), np.float32)
        discrete = np.zeros((n, 0), np.int64)
        # Only the parts the spec has are read: an adapter may send anything for the other one.
        if action_spec.continuous_size:
            continuous = np.asarray(actions.continuous, np.float32)
            if continuous.shape != (n, action_spec.continuous_size):
                raise ValueError(
                    f"{self.name}: continuous actions of shape {continuous.shape} for {n} agents; "
                    f"expected {(n, action_spec.continuous_size)}."
                )
            if not np.isfinite(continuous).all():
                raise ValueError(f"{self.name}: continuous actions contain NaN or infinity.")
        if action_spec.discrete_size:
            discrete = np.asarray(actions.discrete)
            if discrete.shape != (n, action_spec.discrete_size) or not np.issubdtype(discrete.dtype, np.integer):
                raise ValueError(
                    f"{self.name}: discrete actions of shape {discrete.shape} and dtype {discrete.dtype} for "
                    f"{n} agents; expected integers of shape {(n, action_spec.discrete_size)}."
                )
        return ActionTuple(continuous=continuous, discrete=discrete.astype(np.int64))

    def _keep(self, keep: np.ndarray) -> None:
        """Keep only the rows ``keep`` of every per-agent array."""
        for name, value in vars(self).items():
            if isinstance(value, np.ndarray) and value.shape[:1] == keep.shape:
                setattr(self, name, value[keep])

    def _record(self, done: np.ndarray, terminated: np.ndarray) -> None:
        """Collect the custom metrics of the episodes that ended."""

    def _next_round(self) -> None:
        """Prepare what the next decision shows (after leaving and joining)."""

    def _mask(self) -> np.ndarray | None:
        return None

    def _join(self, count: int) -> None:
        raise NotImplementedError

    def _advance(self, actions: ActionTuple) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _observe(self) -> list[np.ndarray]:
        raise NotImplementedError


class _Movers(_Crowd):
    """Mover agents: walk to a goal on the line [-1, 1] with a continuous action."""

    name = MOVER
    spec = BehaviorSpec((ObservationSpec((2,), "position_goal"),), ActionSpec(continuous_size=1))

    def __init__(self, arena: TwoBehaviorArena) -> None:
        super().__init__(arena)
        self.position = np.zeros(0, np.float32)
        self.goal = np.zeros(0, np.float32)
        self.step_size = np.zeros(0, np.float32)
        self.radius = np.zeros(0, np.float32)

    def _join(self, count: int) -> None:
        rng, parameters = self.arena.rng, self.arena.parameters
        position = rng.uniform(-1.0, 1.0, count)
        goal = rng.uniform(-1.0, 1.0, count)
        close = np.flatnonzero(np.abs(goal - position) < MIN_START_DISTANCE)
        while close.size:  # redraw the goals that start too near their agent
            goal[close] = rng.uniform(-1.0, 1.0, close.size)
            close = close[np.abs(goal[close] - position[close]) < MIN_START_DISTANCE]
        self.position = np.concatenate([self.position, position.astype(np.float32)])
        self.goal = np.concatenate([self.goal, goal.astype(np.float32)])
        self.step_size = np.concatenate([self.step_size, np.full(count, parameters["step_size"], np.float32)])
        self.radius = np.concatenate([self.radius, np.full(count, parameters["goal_radius"], np.float32)])

    def _advance(self, actions: ActionTuple) -> tuple[np.ndarray, np.ndarray]:
        move = np.clip(actions.continuous[:, 0], -1.0, 1.0) * self.step_size
        self.position = np.clip(self.position + move, -1.0, 1.0).astype(np.float32)
        reached = np.abs(self.position - self.goal) <= self.radius
        return np.where(reached, 1.0, -STEP_PENALTY).astype(np.float32), reached

    def _observe(self) -> list[np.ndarray]:
        return [np.stack([self.position, self.goal], axis=1)]

    def _record(self, done: np.ndarray, terminated: np.ndarray) -> None:
        self.arena._stats["Arena/Goals Reached"].extend(terminated[done].astype(float).tolist())


class _Pickers(_Crowd):
    """Picker agents: pick the shown target among the allowed choices."""

    name = PICKER

    def __init__(self, arena: TwoBehaviorArena) -> None:
        super().__init__(arena)
        self.spec = BehaviorSpec(
            (ObservationSpec((arena.choices,), "target"),), ActionSpec(discrete_branches=(arena.choices,))
        )
        self.target = np.zeros(0, np.int64)
        self.allowed = np.zeros((0, arena.choices), bool)
        self.mask_prob = np.zeros(0, np.float64)
        self.picks = np.zeros(0, np.int64)

    def _join(self, count: int) -> None:
        self.target = np.concatenate([self.target, np.zeros(count, np.int64)])
        self.allowed = np.concatenate([self.allowed, np.ones((count, self.arena.choices), bool)])
        self.mask_prob = np.concatenate([self.mask_prob, np.full(count, self.arena.parameters["mask_prob"])])
        self.picks = np.concatenate([self.picks, np.zeros(count, np.int64)])

    def _next_round(self) -> None:
        # Every agent that will decide gets a new target and a new mask, every step.
        rng, n = self.arena.rng, len(self)
        self.target = rng.integers(0, self.arena.choices, n)
        self.allowed = rng.random((n, self.arena.choices)) >= self.mask_prob[:, None]
        self.allowed[np.arange(n), self.target] = True

    def _advance(self, actions: ActionTuple) -> tuple[np.ndarray, np.ndarray]:
        # TwoBehaviorArena.step has already rejected out-of-range and masked picks.
        pick = actions.discrete[:, 0]
        right = pick == self.target
        self.picks += right
        return np.where(right, PICK_REWARD, 0.0).astype(np.float32), ~right

    def _observe(self) -> list[np.ndarray]:
        return [np.eye(self.arena.choices, dtype=np.float32)[self.target]]

    def _mask(self) -> np.ndarray:
        return self.allowed.copy()

    def _record(self, done: np.ndarray, terminated: np.ndarray) -> None:
        self.arena._stats["Arena/Correct Picks"].extend(self.picks[done].astype(float).tolist())


class TwoBehaviorArena(Environment):
    """Two behaviors, ``Mover`` (continuous) and ``Picker`` (discrete, masked), with a varying
    number of agents each; see the module docstring for the tasks and their returns.

    Keyword arguments: ``max_agents`` (4) live agents per behavior at most; ``max_steps`` (20)
    per episode; ``join_prob`` (0.5) that a free seat is taken at a step; ``step_size`` (0.2)
    and ``goal_radius`` (0.1) of Mover; ``choices`` (4) and ``mask_prob`` (0.5) of Picker;
    ``crash_after_steps`` (0 = never): after that many steps the *process* exits at once with
    status 3, as a crashing simulator would (for restart tests; only where the arena runs in a
    process of its own). ``max_steps``, ``step_size``, ``goal_radius`` and ``mask_prob`` can
    also be set with :meth:`set_parameters`; they apply to agents that join afterwards.
    """

    def __init__(
        self,
        *,
        max_agents: int = 4,
        max_steps: int = 20,
        join_prob: float = 0.5,
        step_size: float = 0.2,
        goal_radius: float = 0.1,
        choices: int = 4,
        mask_prob: float = 0.5,
        crash_after_steps: int = 0,
    ) -> None:
        if max_agents < 1 or max_steps < 1 or choices < 2:
            raise ValueError(
                f"Need max_agents >= 1, max_steps >= 1, choices >= 2; got {max_agents}, {max_steps}, {choices}."
            )
        if not (0.0 < join_prob <= 1.0 and 0.0 <= mask_prob <= 1.0):
            raise ValueError(f"Need 0 < join_prob <= 1 and 0 <= mask_prob <= 1; got {join_prob}, {mask_prob}.")
        self.max_agents = int(max_agents)
        self.join_prob = float(join_prob)
        self.choices = int(choices)
        self.crash_after_steps = int(crash_after_steps)
        self.parameters: dict[str, float] = {
            "max_steps": float(max_steps),
            "step_size": float(step_size),
            "goal_radius": float(goal_radius),
            "mask_prob": float(mask_prob),
        }
        self.rng = np.random.default_rng()
        self._next_id = 0  # never reset, not even by reset() or seed(): ids are never reused
        self._crowds: dict[str, _Crowd] = {MOVER: _Movers(self), PICKER: _Pickers(self)}
        self._stats: dict[str, list[float]] = self._empty_stats()
        self._started = False
        self._closed = False
        self.total_steps = 0

    @property
    def specs(self) -> dict[str, BehaviorSpec]:
        """``Mover`` and ``Picker``."""
        return {name: crowd.spec for name, crowd in self._crowds.items()}

    def seed(self, seed: int) -> None:
        """Re-seed the arena's generator; a negative seed draws a random one."""
        self.rng = np.random.default_rng(seed if seed >= 0 else None)

    def set_parameters(self, parameters: dict[str, float]) -> None:
        """Update ``max_steps``, ``step_size``, ``goal_radius``, ``mask_prob`` for agents that join later.

        Other names are ignored, as the API allows.
        """
        self.parameters.update({k: float(v) for k, v in parameters.items() if k in self.parameters})

    def reset(self) -> StepResult:
        """Replace every agent by 1 to ``max_agents`` new ones per behavior."""
        self._check_open()
        self._started = True
        result: StepResult = {}
        for name, crowd in self._crowds.items():
            crowd.clear()
            crowd.join(int(self.rng.integers(1, self.max_agents + 1)))
            crowd._next_round()
            result[name] = (crowd.decisions(np.zeros(len(crowd), np.float32)), TerminalSteps.empty(crowd.spec))
        return result

    def step(self, actions: dict[str, ActionTuple]) -> StepResult:
        """Apply one action per agent of the previous result; raises ValueError on bad actions.

        Nothing changes when the actions are rejected, so a server can report the error and
        keep going.
        """
        self._check_open()
        if not self._started:
            raise RuntimeError("TwoBehaviorArena.step() before reset().")
        unknown = sorted(set(actions) - set(self._crowds))
        if unknown:
            raise ValueError(f"Unknown behaviors {unknown}; this arena has {sorted(self._crowds)}.")
        # Check every behavior's actions before changing anything.
        checked = {name: crowd._check(actions.get(name)) for name, crowd in self._crowds.items()}
        self._check_picks(checked[PICKER])
        result = {name: crowd.step(checked[name]) for name, crowd in self._crowds.items()}
        self._stats["Arena/Live Agents"].append(float(sum(len(c) for c in self._crowds.values())))
        self.total_steps += 1
        if self.crash_after_steps > 0 and self.total_steps >= self.crash_after_steps:
            print(f"two_behaviors: crashing on purpose after {self.total_steps} steps", file=sys.stderr, flush=True)
            os._exit(3)
        return result

    def _check_picks(self, actions: ActionTuple) -> None:
        """Raise before any state changes when a Picker choice is out of range or masked."""
        pickers = self._crowds[PICKER]
        assert isinstance(pickers, _Pickers)
        pick = actions.discrete[:, 0]
        if ((pick < 0) | (pick >= self.choices)).any():
            raise ValueError(f"{PICKER}: choices must be in [0, {self.choices}); got {pick.tolist()}.")
        masked = ~pickers.allowed[np.arange(len(pickers)), pick]
        if masked.any():
            raise ValueError(
                f"{PICKER}: agents {pickers.ids[masked].tolist()} picked a choice their action mask "
                f"disallows (picks {pick[masked].tolist()}); the trainer must honour action masks."
            )

    def stats(self) -> dict[str, Any]:
        """Custom metrics since the last call, ``{name: [values...]}`` (names without values are left out)."""
        stats = {name: values for name, values in self._stats.items() if values}
        self._stats = self._empty_stats()
        return stats

    def close(self) -> None:
        """Nothing to release; later calls to reset() or step() fail."""
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("TwoBehaviorArena is closed.")

    def _new_ids(self, count: int) -> np.ndarray:
        ids = np.arange(self._next_id, self._next_id + count, dtype=np.int64)
        self._next_id += count
        return ids

    @staticmethod
    def _empty_stats() -> dict[str, list[float]]:
        return {"Arena/Goals Reached": [], "Arena/Correct Picks": [], "Arena/Live Agents": []}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the simulator's command line strictly (an unknown flag is an error, exit status 2).

    The trainer passes ``--mlx-port`` and its engine flags, then the run's ``env_args``.
    """
    parser = argparse.ArgumentParser(
        prog="two_behaviors.py", description="A two-behavior mlx simulator served over gRPC."
    )
    parser.add_argument("--mlx-port", type=int, required=True, help="port to serve the mlx protocol on")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    engine = parser.add_argument_group("engine flags (accepted and ignored: nothing is rendered)")
    engine.add_argument("--width", type=int, default=84)
    engine.add_argument("--height", type=int, default=84)
    engine.add_argument("--quality-level", type=int, default=5)
    engine.add_argument("--time-scale", type=float, default=20.0)
    engine.add_argument("--target-frame-rate", type=int, default=-1)
    engine.add_argument("--capture-frame-rate", type=int, default=60)
    engine.add_argument("--no-graphics", action="store_true")
    arena = parser.add_argument_group("arena (pass them with the trainer's --env-args)")
    arena.add_argument("--max-agents", type=int, default=4, help="live agents per behavior at most (4)")
    arena.add_argument("--max-steps", type=int, default=20, help="steps per episode before it is interrupted (20)")
    arena.add_argument("--join-prob", type=float, default=0.5, help="chance a free seat fills at a step (0.5)")
    arena.add_argument(
        "--crash-after-steps", type=int, default=0, help="exit abruptly (status 3) after N steps; 0 = never"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Build the arena from the command line and serve it until the trainer closes the session."""
    args = parse_args(argv)
    print(
        f"two_behaviors: engine settings ignored: width={args.width} height={args.height} "
        f"quality_level={args.quality_level} time_scale={args.time_scale} "
        f"target_frame_rate={args.target_frame_rate} capture_frame_rate={args.capture_frame_rate} "
        f"no_graphics={args.no_graphics}",
        file=sys.stderr,
        flush=True,
    )
    env = TwoBehaviorArena(
        max_agents=args.max_agents,
        max_steps=args.max_steps,
        join_prob=args.join_prob,
        crash_after_steps=args.crash_after_steps,
    )
    # Imported here so that loading this file as an in-process environment needs no gRPC.
    from mlx_core.env.remote import serve

    try:
        serve(env, port=args.mlx_port, host=args.host)
    finally:
        env.close()


if __name__ == "__main__":
    main()
