"""A preallocated ring buffer of transitions, written and sampled as whole arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mlx_core.env.base import BehaviorSpec
from mlx_core.training.trajectory import Trajectory


class ReplayBuffer:
    """Up to ``capacity`` transitions (obs, action, rewards per signal, next obs, done, masks).

    With a ``memory`` (memory_size, sequence_length), for a recurrent network, each trajectory
    is stored as whole sequences of ``sequence_length`` rows, the last one padded (``valid``
    marks real rows), with every step's memory before and after it; :meth:`sample` then draws
    whole sequences (see there). The capacity is rounded down to whole sequences.
    """

    def __init__(self, capacity: int, spec: BehaviorSpec, n_signals: int, memory: tuple[int, int] | None = None) -> None:
        self.sequence_length = memory[1] if memory is not None else 0
        if self.sequence_length:
            capacity = max(self.sequence_length, capacity // self.sequence_length * self.sequence_length)
        self.capacity = capacity
        self.size = 0
        self.position = 0
        n_mask = sum(spec.action_spec.discrete_branches)
        self.arrays: dict[str, np.ndarray] = {
            "continuous": np.zeros((capacity, spec.action_spec.continuous_size), np.float32),
            "discrete": np.zeros((capacity, spec.action_spec.discrete_size), np.int64),
            "rewards": np.zeros((capacity, n_signals), np.float32),
            "done": np.zeros(capacity, np.float32),
        }
        if n_mask:
            self.arrays["masks"] = np.ones((capacity, n_mask), np.bool_)
            self.arrays["next_masks"] = np.ones((capacity, n_mask), np.bool_)
        for i, o in enumerate(spec.observation_specs):
            self.arrays[f"obs_{i}"] = np.zeros((capacity, *o.shape), np.float32)
            self.arrays[f"next_obs_{i}"] = np.zeros((capacity, *o.shape), np.float32)
        self.n_obs = len(spec.observation_specs)
        if memory is not None:
            self.arrays["memories"] = np.zeros((capacity, memory[0]), np.float32)
            self.arrays["next_memories"] = np.zeros((capacity, memory[0]), np.float32)
            self.arrays["valid"] = np.zeros(capacity, np.bool_)

    def __len__(self) -> int:
        return self.size

    def add_trajectory(self, traj: Trajectory, batch: dict[str, Any], rewards: np.ndarray) -> None:
        """Store the T transitions of ``traj``; ``batch`` is its
        :func:`~mlx_core.rewards.base.trajectory_batch` (next observations, and ``done`` only at
        a true terminal state: a step limit does not stop bootstrapping); ``rewards`` is (T, signals)."""
        n = len(traj)
        rows: dict[str, np.ndarray] = {
            "continuous": traj.continuous_actions,
            "discrete": traj.discrete_actions,
            "rewards": rewards,
            "done": batch["done"],
        }
        if traj.action_masks is not None:
            rows["masks"] = traj.action_masks
            # the mask after the last step is unknown here: all choices allowed
            rows["next_masks"] = np.concatenate([traj.action_masks[1:], np.ones_like(traj.action_masks[:1])])
        for i in range(self.n_obs):
            rows[f"obs_{i}"] = traj.obs[i]
            rows[f"next_obs_{i}"] = batch["next_obs"][i]
        stored = n
        if self.sequence_length:
            assert traj.memories is not None and traj.next_memory is not None
            rows["memories"] = traj.memories
            rows["next_memories"] = np.concatenate([traj.memories[1:], traj.next_memory])
            stored = -(-n // self.sequence_length) * self.sequence_length  # whole sequences
            self.arrays["valid"][(self.position + np.arange(stored)) % self.capacity] = np.arange(stored) < n
        index = (self.position + np.arange(n)) % self.capacity
        for key, values in rows.items():
            self.arrays[key][index] = values
        self.position = int((self.position + stored) % self.capacity)
        self.size = min(self.capacity, self.size + stored)

    def sample(self, batch_size: int, device: torch.device) -> dict[str, Any]:
        """A uniformly drawn minibatch as tensors on ``device``."""
        if self.sequence_length:
            return self._sample_sequences(batch_size, device)
        index = np.random.randint(0, self.size, size=batch_size)
        out: dict[str, Any] = {key: torch.from_numpy(values[index]).to(device) for key, values in self.arrays.items()}
        out["obs"] = [out.pop(f"obs_{i}") for i in range(self.n_obs)]
        out["next_obs"] = [out.pop(f"next_obs_{i}") for i in range(self.n_obs)]
        return out

    def _sample_sequences(self, batch_size: int, device: torch.device) -> dict[str, Any]:
        """``batch_size // sequence_length`` (at least one) uniformly drawn sequences: ``obs`` and
        ``next_obs`` as padded sequences (S * sequence_length rows), ``valid`` marking their real
        rows, ``memories`` and ``next_memories`` (S, memory_size) at each sequence's first step,
        and every other field at the real steps only."""
        length = self.sequence_length
        starts = np.random.randint(0, self.size // length, size=max(1, batch_size // length)) * length
        rows = (starts[:, None] + np.arange(length)).reshape(-1)
        valid = self.arrays["valid"][rows]
        steps = rows[valid]

        def tensor(values: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(values).to(device)

        out: dict[str, Any] = {
            key: tensor(values[steps])
            for key, values in self.arrays.items()
            if not key.startswith(("obs_", "next_obs_")) and key not in ("memories", "next_memories", "valid")
        }
        out["obs"] = [tensor(self.arrays[f"obs_{i}"][rows]) for i in range(self.n_obs)]
        out["next_obs"] = [tensor(self.arrays[f"next_obs_{i}"][rows]) for i in range(self.n_obs)]
        out["memories"] = tensor(self.arrays["memories"][starts])
        out["next_memories"] = tensor(self.arrays["next_memories"][starts])
        out["valid"] = tensor(valid)
        return out

    def state_dict(self) -> dict[str, Any]:
        """The filled part as tensors (for ``save_replay_buffer``)."""
        return {
            "size": self.size,
            "position": self.position,
            "arrays": {key: torch.from_numpy(values[: self.size].copy()) for key, values in self.arrays.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output (into a buffer at least as large)."""
        size = min(int(state["size"]), self.capacity)
        for key, values in state["arrays"].items():
            self.arrays[key][:size] = values.numpy()[:size]
        self.size = size
        self.position = int(state["position"]) % self.capacity
