"""The actor-critic network: one encoder (and, with memory, an LSTM after it), an actor tower
with an action head, a critic tower with one value per reward signal."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from mlx_core.config.settings import NetworkSettings
from mlx_core.env.base import BehaviorSpec
from mlx_core.networks.encoders import ObservationEncoder
from mlx_core.networks.heads import ActionHead
from mlx_core.networks.numpy_acting import NumpyActionHead, NumpyEncoder, NumpyTowers, acting_generator, view
from mlx_core.networks.recurrent import MemoryLSTM, refuse_without_memories
from mlx_core.networks.towers import Towers

ACTOR = 0


class ActorCritic(nn.Module):
    """Separate actor and critic bodies (computed together, see :class:`Towers`) over one
    shared observation encoder and normalizer.

    ``values`` are (n, heads): one column per reward signal, in ``value_heads`` order. With
    ``shared=True`` the actor and the critic use one body (ML-Agents' ``shared_critic``).

    With ``settings.memory`` an LSTM (:class:`MemoryLSTM`) sits between the encoder and the
    actor's body, and the critic's body reads the same LSTM (``shared``) or one of its own;
    ``memory_size`` (all of an agent's memory, both LSTMs') is then > 0, ``actor_memory_size``
    is the actor's part (what an exported model carries), and the ``*_recurrent`` methods and
    the ``memories`` arguments carry each agent's memory (n, memory_size).
    """

    def __init__(
        self, spec: BehaviorSpec, settings: NetworkSettings, value_heads: list[str], shared: bool = False
    ) -> None:
        super().__init__()
        self.spec = spec
        self.value_heads = list(value_heads)
        self.encoder = ObservationEncoder(spec.observation_specs, settings)
        self.memory: MemoryLSTM | None = None
        self.memory_size, self.actor_memory_size, self.sequence_length = 0, 0, 1
        body_in = self.encoder.out_size
        if settings.memory is not None:
            self.memory = MemoryLSTM(body_in, settings.memory.memory_size, separate_critic=not shared)
            self.memory_size, self.actor_memory_size = self.memory.stored_size, self.memory.memory_size
            self.sequence_length = settings.memory.sequence_length
            body_in = self.memory.out_size
        n_bodies = 1 if shared else 2
        self.critic_body = 0 if shared else 1
        self.bodies = Towers(body_in, settings.hidden_units, settings.num_layers, settings.activation, n_bodies)
        self.head = ActionHead(self.bodies.out_size, spec.action_spec)
        self.values = nn.Linear(self.bodies.out_size, len(value_heads))
        nn.init.orthogonal_(self.values.weight, 1.0)
        nn.init.zeros_(self.values.bias)

    def _values(self, features: torch.Tensor) -> torch.Tensor:
        # the value layer without nn.Module's call overhead (this runs every step and minibatch)
        return nn.functional.linear(features, self.values.weight, self.values.bias)

    def actor_features(self, obs: list[torch.Tensor]) -> torch.Tensor:
        """The actor body's output (n, hidden), for the action head."""
        refuse_without_memories(self.memory)
        return self.bodies.tower(self.encoder(obs), ACTOR)

    def critic(self, obs: list[torch.Tensor], memories: torch.Tensor | None = None) -> torch.Tensor:
        """Value estimates (n, heads) only; a recurrent network needs the agents' ``memories``."""
        features = self.encoder(obs)
        if self.memory is not None:
            assert memories is not None, "a recurrent network's critic needs the memories"
            features = self.memory.step_critic(features, memories)
        return self._values(self.bodies.tower(features, self.critic_body))

    def actor_features_recurrent(
        self, obs: list[torch.Tensor], memories: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`actor_features` of a recurrent network from the actor's memories (n,
        actor_memory_size): (features, the actor's new memories)."""
        assert self.memory is not None
        features, new_memories = self.memory.step_actor(self.encoder(obs), memories)
        return self.bodies.tower(features, ACTOR), new_memories

    def evaluate(
        self,
        obs: list[torch.Tensor],
        mask: torch.Tensor | None,
        continuous: torch.Tensor,
        discrete: torch.Tensor,
        with_entropy: bool = True,
        memories: torch.Tensor | None = None,
        valid: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Log-probabilities (n,), entropies (n,) of given actions and values (n, heads);
        the entropies are None with ``with_entropy=False``.

        A recurrent network reads ``obs`` as S padded sequences (S * sequence_length rows)
        starting from ``memories`` (S, memory_size); ``valid`` (S * sequence_length,) bool marks
        the real steps, and the actions and results are those of the real steps only.
        """
        features = self.encoder.forward(obs)
        if self.memory is not None:
            assert memories is not None and valid is not None, "a recurrent network evaluates sequences"
            # padding follows the real steps of a sequence, so it never reaches their outputs
            features = self.memory.sequences(features, memories, valid)
        bodies = self.bodies.forward(features)
        log_probs, entropy = self.head.evaluate(bodies[ACTOR], mask, continuous, discrete, with_entropy)
        return log_probs, entropy, self._values(bodies[self.critic_body])

    @torch.inference_mode()
    def act(
        self, obs: list[torch.Tensor], mask: torch.Tensor | None, deterministic: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample actions and estimate values: (continuous, discrete, log_prob, values (n, heads))."""
        bodies = self.bodies.forward(self.encoder.forward(obs))
        continuous, discrete, log_prob = self.head.sample(bodies[ACTOR], mask, deterministic)
        return continuous, discrete, log_prob, self._values(bodies[self.critic_body])

    @torch.inference_mode()
    def act_recurrent(
        self, obs: list[torch.Tensor], mask: torch.Tensor | None, deterministic: bool, memories: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`act` of a recurrent network: (continuous, discrete, log_prob, values, new memories)."""
        assert self.memory is not None
        features, new_memories = self.memory.step(self.encoder.forward(obs), memories)
        bodies = self.bodies.forward(features)
        continuous, discrete, log_prob = self.head.sample(bodies[ACTOR], mask, deterministic)
        return continuous, discrete, log_prob, self._values(bodies[self.critic_body]), new_memories

    def numpy_actor(self) -> Callable[[list[np.ndarray], np.ndarray | None, bool], tuple[Any, ...]] | None:
        """:meth:`act` on numpy arrays for acting on the CPU (see
        :mod:`mlx_core.networks.numpy_acting`), or None where it does not apply (images, memory,
        an activation numpy lacks here); the parameters must be on the CPU."""
        if self.memory is not None:
            return None
        encoder, bodies = NumpyEncoder.of(self.encoder), NumpyTowers.of(self.bodies)
        if encoder is None or bodies is None:
            return None
        head = NumpyActionHead(self.head, acting_generator())
        value_weight, value_bias = view(self.values.weight).T, view(self.values.bias)
        stacked, critic = self.bodies.n > 1, self.critic_body

        def act(obs: list[np.ndarray], mask: np.ndarray | None, deterministic: bool) -> tuple[Any, ...]:
            h = bodies.stacked(encoder(obs))
            actor_h, critic_h = (h[ACTOR], h[critic]) if stacked else (h, h)
            continuous, discrete, log_prob = head.sample(actor_h, mask, deterministic)
            return continuous, discrete, log_prob, critic_h @ value_weight + value_bias

        return act


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters (for logs)."""
    return sum(math.prod(p.shape) for p in module.parameters() if p.requires_grad)
