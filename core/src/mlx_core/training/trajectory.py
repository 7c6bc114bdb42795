"""A trajectory: consecutive steps of one agent, cut at an episode end or at ``time_horizon``."""

from __future__ import annotations

import attrs
import numpy as np


@attrs.define
class Trajectory:
    """Arrays with a leading time axis T, for one agent of one behavior.

    ``next_obs`` is the observation after the last step (batch of one): trainers bootstrap
    its value unless the episode truly ended (``done`` and not ``interrupted``). A recurrent
    policy's trajectories hold each step's memory before acting and the memory after the last
    step (``next_memory``), from which that bootstrap value is estimated.
    """

    obs: list[np.ndarray]  # each (T, *shape)
    next_obs: list[np.ndarray]  # each (1, *shape)
    continuous_actions: np.ndarray  # (T, continuous_size)
    discrete_actions: np.ndarray  # (T, n_branches)
    action_masks: np.ndarray | None  # (T, sum(branches))
    log_probs: np.ndarray  # (T,)
    values: np.ndarray | None  # (T, n_value_heads)
    env_rewards: np.ndarray  # (T,)
    done: bool
    interrupted: bool
    agent_id: int
    memories: np.ndarray | None = None  # (T, memory_size)
    next_memory: np.ndarray | None = None  # (1, memory_size)

    def __len__(self) -> int:
        return len(self.env_rewards)

    @property
    def bootstrap(self) -> bool:
        """True when the value after the last step must be estimated (cut or interrupted)."""
        return (not self.done) or self.interrupted


def stack_observations(trajectories: list[Trajectory], next_obs: bool = False) -> list[np.ndarray]:
    """The observations (or ``next_obs``) of several trajectories, one concatenated array per
    observation spec."""
    parts = [t.next_obs if next_obs else t.obs for t in trajectories]
    return [np.concatenate([p[i] for p in parts]) for i in range(len(parts[0]))]
