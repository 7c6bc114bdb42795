"""Recurrent memory (``network_settings.memory``): LSTMs between the encoder and the bodies.

An LSTM's memory is one float32 vector of ``memory_size`` values, its hidden state and cell
state side by side ([h, c], ``memory_size / 2`` each). With a separate critic the critic has an
LSTM of its own (as ML-Agents gives it), and an agent's stored memory is the actor's memory
followed by the critic's. A policy, a trajectory and an exported model each hold an agent's
memory as a single array row.
"""

from __future__ import annotations

import torch
from torch import nn

from mlx_core.errors import MlxError


def _state(memories: torch.Tensor, hidden: int) -> tuple[torch.Tensor, torch.Tensor]:
    h, c = memories.split(hidden, dim=-1)
    return h.unsqueeze(0).contiguous(), c.unsqueeze(0).contiguous()


def _step(lstm: nn.LSTM, features: torch.Tensor, memories: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    out, (h, c) = lstm(features.unsqueeze(1), _state(memories, lstm.hidden_size))
    return out[:, 0], torch.cat([h[0], c[0]], dim=-1)


def _sequences(lstm: nn.LSTM, features: torch.Tensor, memories: torch.Tensor) -> torch.Tensor:
    out, _ = lstm(features.reshape(memories.shape[0], -1, features.shape[-1]), _state(memories, lstm.hidden_size))
    return out.reshape(-1, lstm.hidden_size)


class MemoryLSTM(nn.Module):
    """The actor's LSTM over encoded observations and, with ``separate_critic``, the critic's.

    ``out_size`` = ``memory_size / 2``; ``stored_size`` is the length of an agent's whole memory
    (``memory_size``, twice that with a separate critic). Outputs are (n, out_size) for one
    LSTM and (2, n, out_size) (actor's, critic's) for two, as :class:`Towers` reads them.
    :meth:`step` advances a batch of agents by one step (acting); :meth:`sequences` runs
    batches of fixed-length sequences from their stored first memories (training).
    """

    def __init__(self, in_size: int, memory_size: int, separate_critic: bool = False) -> None:
        super().__init__()
        self.memory_size = memory_size
        self.out_size = memory_size // 2
        self.lstm = nn.LSTM(in_size, self.out_size, batch_first=True)
        self.critic_lstm = nn.LSTM(in_size, self.out_size, batch_first=True) if separate_critic else None
        self.stored_size = memory_size * (2 if separate_critic else 1)

    def step(self, features: torch.Tensor, memories: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """features (n, in), memories (n, stored_size) -> outputs, new memories (n, stored_size)."""
        if self.critic_lstm is None:
            return _step(self.lstm, features, memories)
        actor, critic = memories.split(self.memory_size, dim=-1)
        actor_out, actor_next = _step(self.lstm, features, actor)
        critic_out, critic_next = _step(self.critic_lstm, features, critic)
        return torch.stack([actor_out, critic_out]), torch.cat([actor_next, critic_next], dim=-1)

    def step_actor(self, features: torch.Tensor, memories: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The actor's LSTM only: memories (n, memory_size) -> output (n, out_size), new memories."""
        return _step(self.lstm, features, memories)

    def step_critic(self, features: torch.Tensor, memories: torch.Tensor) -> torch.Tensor:
        """The critic's output (n, out_size) from whole memories (n, stored_size)."""
        if self.critic_lstm is None:
            return _step(self.lstm, features, memories)[0]
        return _step(self.critic_lstm, features, memories[:, self.memory_size :])[0]

    def sequences(self, features: torch.Tensor, memories: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """features (S * L, in) as S sequences of L steps, each starting from its row of
        memories (S, stored_size) -> the outputs at the steps ``valid`` (S * L,) marks."""
        if self.critic_lstm is None:
            return _sequences(self.lstm, features, memories)[valid]
        actor, critic = memories.split(self.memory_size, dim=-1)
        return torch.stack(
            [_sequences(self.lstm, features, actor)[valid], _sequences(self.critic_lstm, features, critic)[valid]]
        )


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
