"""Every agent's recurrent memory for one behavior, as one array indexed by agent slot."""

from __future__ import annotations

import numpy as np


class AgentMemories:
    """Memories (capacity, memory_size) float32, one row per agent, zero at an episode's start.

    :meth:`slots` maps a decision batch's agent ids to rows; a batch with the same ids as the
    previous one (vector environments) is answered without per-agent work, so reading and
    writing a step's memories are one gather and one scatter. Per-agent Python work happens
    only for new agents and in :meth:`end_episodes`.
    """

    def __init__(self, memory_size: int, capacity: int = 8) -> None:
        self.memory_size = memory_size
        self.memories = np.zeros((capacity, memory_size), np.float32)
        self.slot_of: dict[int, int] = {}
        self.free = list(range(capacity - 1, -1, -1))
        self._last_ids: np.ndarray | None = None
        self._last_slots: np.ndarray | None = None
        self._ended: set[int] = set()

    def slots(self, agent_ids: np.ndarray) -> np.ndarray:
        """The row of each agent, assigning zeroed rows to agents seen for the first time."""
        if self._last_slots is not None and np.array_equal(agent_ids, self._last_ids):  # type: ignore[arg-type]
            slots = self._last_slots
            self._release_gone(agent_ids)
            return slots
        slots = np.empty(len(agent_ids), np.int64)
        for i, agent in enumerate(agent_ids.tolist()):
            slot = self.slot_of.get(agent)
            if slot is None:
                if not self.free:
                    self._grow()
                slot = self.free.pop()
                self.memories[slot] = 0.0
                self.slot_of[agent] = slot
            slots[i] = slot
        self._last_ids, self._last_slots = agent_ids.copy(), slots
        self._release_gone(agent_ids)
        return slots

    def end_episodes(self, agent_ids: np.ndarray) -> None:
        """Forget the memories of agents whose episode ended: their next episode starts at zero.

        An agent keeps its row (vector environments reuse its id for the next episode); one
        that does not ask for a decision in the next batch gives its row back then.
        """
        for agent in agent_ids.tolist():
            slot = self.slot_of.get(agent)
            if slot is not None:
                self.memories[slot] = 0.0
                self._ended.add(agent)

    def _release_gone(self, decided: np.ndarray) -> None:
        if self._ended:
            for agent in self._ended.difference(decided.tolist()):
                self.free.append(self.slot_of.pop(agent))
                self._last_ids = self._last_slots = None
            self._ended.clear()

    def _grow(self) -> None:
        old = len(self.memories)
        self.memories = np.concatenate([self.memories, np.zeros_like(self.memories)])
        self.free.extend(range(2 * old - 1, old - 1, -1))
