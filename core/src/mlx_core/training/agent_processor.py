"""Turns batched decision/terminal steps of one behavior into per-agent trajectories.

Experience is written as arrays into a (time, slot) store: one vectorised write per step for
all agents of the behavior. Python work per agent happens only when a trajectory is cut, at
the end of an episode or after ``time_horizon`` steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numpy as np

from mlx_core.env.base import BehaviorSpec, DecisionSteps, TerminalSteps
from mlx_core.training.policy import ActionInfo
from mlx_core.training.trajectory import Trajectory

EpisodeCallback = Callable[[np.ndarray, np.ndarray], None]


class AgentProcessor:
    """Collects the experience of every agent of one behavior.

    Per step the controller calls :meth:`add_terminal`, then :meth:`add_rewards` (both return
    the trajectories they cut), then :meth:`add_actions` after the policy acted.
    ``on_episodes(returns, lengths)`` receives the finished episodes' totals.
    """

    obs: list[np.ndarray]
    continuous: np.ndarray
    discrete: np.ndarray
    masks: np.ndarray | None
    log_probs: np.ndarray
    values: np.ndarray
    rewards: np.ndarray
    length: np.ndarray
    pending: np.ndarray
    episode_return: np.ndarray
    episode_length: np.ndarray
    # a recurrent policy's memories, allocated when the first ones arrive: before each stored
    # step (time, slot, memory_size) and after each slot's latest step (slot, memory_size)
    memories: np.ndarray | None = None
    next_memories: np.ndarray | None = None

    def __init__(self, spec: BehaviorSpec, time_horizon: int, n_values: int, on_episodes: EpisodeCallback) -> None:
        self.spec = spec
        self.horizon = time_horizon
        self.n_values = n_values
        self.on_episodes = on_episodes
        self.capacity = 0
        self.slot_of: dict[int, int] = {}
        self.free: list[int] = []
        self._last_ids: np.ndarray | None = None
        self._last_slots: np.ndarray | None = None
        self._ended: set[int] = set()  # agents whose episode ended since the last decision batch
        self._grow(8)

    # -- storage ---------------------------------------------------------------------------
    def _grow(self, capacity: int) -> None:
        """(Re)allocate the store for ``capacity`` agent slots, keeping what is there."""
        spec, old = self.spec, self.capacity
        n_mask = sum(spec.action_spec.discrete_branches)

        def alloc(shape: tuple[int, ...], dtype: type, existing: np.ndarray | None) -> np.ndarray:
            new: np.ndarray = np.zeros((self.horizon, capacity, *shape), dtype=dtype)
            if existing is not None:
                new[:, :old] = existing
            return new

        first = old == 0
        self.obs = [alloc(o.shape, np.float32, None if first else self.obs[i]) for i, o in enumerate(spec.observation_specs)]
        self.continuous = alloc((spec.action_spec.continuous_size,), np.float32, None if first else self.continuous)
        self.discrete = alloc((spec.action_spec.discrete_size,), np.int64, None if first else self.discrete)
        self.masks = alloc((n_mask,), np.bool_, None if first else self.masks) if n_mask else None
        self.log_probs = alloc((), np.float32, None if first else self.log_probs)
        self.values = alloc((self.n_values,), np.float32, None if first else self.values)
        self.rewards = alloc((), np.float32, None if first else self.rewards)
        if self.memories is not None and self.next_memories is not None:
            size = self.memories.shape[-1]
            self.memories = alloc((size,), np.float32, self.memories)
            self.next_memories = np.concatenate([self.next_memories, np.zeros((capacity - old, size), np.float32)])

        def extend(arr: np.ndarray | None, dtype: type) -> np.ndarray:
            new: np.ndarray = np.zeros(capacity, dtype=dtype)
            if arr is not None:
                new[:old] = arr
            return new

        self.length = extend(None if first else self.length, np.int64)
        self.pending = extend(None if first else self.pending, np.bool_)
        self.episode_return = extend(None if first else self.episode_return, np.float64)
        self.episode_length = extend(None if first else self.episode_length, np.int64)
        self.free.extend(range(capacity - 1, old - 1, -1))
        self.capacity = capacity

    def _slots(self, agent_ids: np.ndarray, cache: bool = False) -> np.ndarray:
        """Slot index per agent id, assigning slots to new agents.

        Decision batches usually repeat the previous batch's ids (vector envs): ``cache``
        answers those without any per-agent work.
        """
        if cache and self._last_slots is not None and np.array_equal(agent_ids, cast(np.ndarray, self._last_ids)):
            self._release_gone(agent_ids)
            return self._last_slots
        slots = np.empty(len(agent_ids), dtype=np.int64)
        for i, agent in enumerate(agent_ids.tolist()):
            slot = self.slot_of.get(agent)
            if slot is None:
                if not self.free:
                    self._grow(self.capacity * 2)
                slot = self.free.pop()
                self.slot_of[agent] = slot
            slots[i] = slot
        if cache:
            self._last_ids, self._last_slots = agent_ids.copy(), slots
            self._release_gone(agent_ids)
        return slots

    def _release_gone(self, decided: np.ndarray) -> None:
        """Free the slots of agents that ended an episode and did not ask for a decision again.

        Vector envs reuse an agent's id for its next episode: such an agent keeps its slot and
        the decision batch stays identical, so the cache above stays valid.
        """
        if self._ended:
            for agent in self._ended.difference(decided.tolist()):
                self.free.append(self.slot_of.pop(agent))
            self._ended.clear()

    # -- the three calls per step ---------------------------------------------------------
    def add_terminal(self, steps: TerminalSteps) -> list[Trajectory]:
        """Close the episodes of agents that finished; returns their final trajectories."""
        if len(steps) == 0:
            return []
        known = np.fromiter((a in self.slot_of for a in steps.agent_id.tolist()), bool, len(steps))
        if not known.all():  # an agent that ends before its first decision has no episode to report
            steps = TerminalSteps(
                obs=[o[known] for o in steps.obs],
                reward=steps.reward[known],
                agent_id=steps.agent_id[known],
                interrupted=steps.interrupted[known],
            )
            if len(steps) == 0:
                return []
        slots = self._slots(steps.agent_id)
        self._reward(slots, steps.reward)
        self.on_episodes(self.episode_return[slots].copy(), self.episode_length[slots].copy())
        cut = []
        for i, slot in enumerate(slots.tolist()):
            if self.length[slot] > 0:
                next_obs = [o[i : i + 1] for o in steps.obs]
                cut.append(self._cut(slot, next_obs, True, bool(steps.interrupted[i]), int(steps.agent_id[i])))
        self.episode_return[slots] = 0.0
        self.episode_length[slots] = 0
        self.pending[slots] = False
        self._ended.update(steps.agent_id.tolist())
        return cut

    def add_rewards(self, steps: DecisionSteps) -> list[Trajectory]:
        """Credit rewards to the agents' previous actions; cut trajectories that reached the horizon."""
        if len(steps) == 0:
            return []
        slots = self._slots(steps.agent_id, cache=True)
        self._reward(slots, steps.reward)
        full = np.flatnonzero(self.length[slots] >= self.horizon)
        return [
            self._cut(int(slots[i]), [o[i : i + 1] for o in steps.obs], False, False, int(steps.agent_id[i]))
            for i in full.tolist()
        ]

    def add_actions(self, steps: DecisionSteps, info: ActionInfo) -> None:
        """Record the observations and actions of agents that just acted."""
        slots = self._slots(steps.agent_id, cache=True)
        t = self.length[slots]
        for store, obs in zip(self.obs, steps.obs):
            store[t, slots] = obs
        self.continuous[t, slots] = info.action.continuous
        self.discrete[t, slots] = info.action.discrete
        if self.masks is not None:
            self.masks[t, slots] = True if steps.action_mask is None else steps.action_mask
        self.log_probs[t, slots] = info.log_probs
        if info.values is not None:
            self.values[t, slots] = info.values
        if info.memories is not None:
            self._add_memories(t, slots, info.memories, info.next_memories)
        self.pending[slots] = True

    # -- helpers ---------------------------------------------------------------------------
    def _add_memories(self, t: np.ndarray, slots: np.ndarray, memories: np.ndarray, after: np.ndarray | None) -> None:
        if self.memories is None or self.next_memories is None:
            size = memories.shape[-1]
            self.memories = np.zeros((self.horizon, self.capacity, size), np.float32)
            self.next_memories = np.zeros((self.capacity, size), np.float32)
        self.memories[t, slots] = memories
        if after is not None:
            self.next_memories[slots] = after

    def _reward(self, slots: np.ndarray, rewards: np.ndarray) -> None:
        waiting = self.pending[slots]
        s = slots[waiting]
        self.rewards[self.length[s], s] = rewards[waiting]
        self.length[s] += 1
        self.pending[s] = False
        self.episode_return[s] += rewards[waiting]
        self.episode_length[s] += 1

    def _cut(self, slot: int, next_obs: list[np.ndarray], done: bool, interrupted: bool, agent_id: int) -> Trajectory:
        n = int(self.length[slot])
        self.length[slot] = 0
        return Trajectory(
            obs=[o[:n, slot].copy() for o in self.obs],
            next_obs=[o.astype(np.float32, copy=True) for o in next_obs],
            continuous_actions=self.continuous[:n, slot].copy(),
            discrete_actions=self.discrete[:n, slot].copy(),
            action_masks=None if self.masks is None else self.masks[:n, slot].copy(),
            log_probs=self.log_probs[:n, slot].copy(),
            values=self.values[:n, slot].copy() if self.n_values else None,
            env_rewards=self.rewards[:n, slot].copy(),
            done=done,
            interrupted=interrupted,
            agent_id=agent_id,
            memories=None if self.memories is None else self.memories[:n, slot].copy(),
            next_memory=None if self.next_memories is None else self.next_memories[slot : slot + 1].copy(),
        )
