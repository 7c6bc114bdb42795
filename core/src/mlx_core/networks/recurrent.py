"""Recurrent memory (``network_settings.memory``): an LSTM between the encoder and the bodies.

An agent's memory is one float32 vector of ``memory_size`` values, the LSTM's hidden state
and cell state side by side ([h, c], ``memory_size / 2`` each), so that a policy, a
trajectory and an exported model hold it as a single array per agent.
"""

from __future__ import annotations

import torch
from torch import nn

from mlx_core.errors import MlxError


class MemoryLSTM(nn.Module):
    """One LSTM layer over encoded observations; ``out_size`` = ``memory_size / 2``.

    :meth:`step` advances a batch of agents by one step (acting); :meth:`sequences` runs
    batches of fixed-length sequences from their stored first memories (training).
    """

    def __init__(self, in_size: int, memory_size: int) -> None:
        super().__init__()
        self.memory_size = memory_size
        self.out_size = memory_size // 2
        self.lstm = nn.LSTM(in_size, self.out_size, batch_first=True)

    def _state(self, memories: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = memories.split(self.out_size, dim=-1)
        return h.unsqueeze(0).contiguous(), c.unsqueeze(0).contiguous()

    def step(self, features: torch.Tensor, memories: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """features (n, in), memories (n, memory_size) -> output (n, out_size), new memories."""
        out, (h, c) = self.lstm(features.unsqueeze(1), self._state(memories))
        return out[:, 0], torch.cat([h[0], c[0]], dim=-1)

    def sequences(self, features: torch.Tensor, memories: torch.Tensor) -> torch.Tensor:
        """features (S * L, in) as S sequences of L steps, each starting from its row of
        memories (S, memory_size) -> outputs (S * L, out_size)."""
        n_sequences = memories.shape[0]
        out, _ = self.lstm(features.reshape(n_sequences, -1, features.shape[-1]), self._state(memories))
        return out.reshape(-1, self.out_size)


def refuse_without_memories(memory: MemoryLSTM | None) -> None:
    """Refuse a per-step use of a recurrent network that has no memories to give it (the
    single-step ``actor_features`` that behavioral cloning reads): with memory, an action
    depends on what the agent saw before."""
    if memory is not None:
        raise MlxError(
            "This behavior's network has memory (network_settings.memory), but behavioral cloning (or another "
            "objective that reads single steps) does not carry each agent's memory; remove network_settings.memory "
            "from the behavior, or train it without that objective."
        )
