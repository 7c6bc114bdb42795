"""The actor (policy network) and the critic (one value head per reward signal)."""

from __future__ import annotations

import math

import torch
from torch import nn

from mlx_core.config.settings import NetworkSettings
from mlx_core.env.base import BehaviorSpec
from mlx_core.networks.encoders import ObservationEncoder, mlp
from mlx_core.networks.heads import ActionHead


class Actor(nn.Module):
    """Observations -> action distribution."""

    def __init__(self, encoder: ObservationEncoder, spec: BehaviorSpec, settings: NetworkSettings) -> None:
        super().__init__()
        self.encoder = encoder
        self.body, size = mlp(encoder.out_size, settings.hidden_units, settings.num_layers, settings.activation)
        self.head = ActionHead(size, spec.action_spec)

    def features(self, obs: list[torch.Tensor]) -> torch.Tensor:
        """The body's output for a batch of observations."""
        return self.body(self.encoder(obs))


class Critic(nn.Module):
    """Observations -> one value estimate per reward signal, shape (n, n_heads)."""

    def __init__(self, encoder: ObservationEncoder, settings: NetworkSettings, heads: list[str]) -> None:
        super().__init__()
        self.encoder = encoder
        self.head_names = list(heads)
        self.body, size = mlp(encoder.out_size, settings.hidden_units, settings.num_layers, settings.activation)
        self.values = nn.Linear(size, len(heads))
        nn.init.orthogonal_(self.values.weight, 1.0)
        nn.init.zeros_(self.values.bias)

    def forward(self, obs: list[torch.Tensor]) -> torch.Tensor:
        return self.values(self.body(self.encoder(obs)))


class ActorCritic(nn.Module):
    """Separate actor and critic bodies over one shared observation encoder (and normalizer)."""

    def __init__(self, spec: BehaviorSpec, settings: NetworkSettings, value_heads: list[str]) -> None:
        super().__init__()
        if settings.memory is not None:
            from mlx_core.errors import ConfigError

            raise ConfigError(
                "network_settings.memory",
                ["recurrent policies (network_settings.memory) are not supported yet; remove the "
                 "memory section to train a feed-forward policy"],
            )
        self.spec = spec
        self.encoder = ObservationEncoder(spec.observation_specs, settings)
        self.actor = Actor(self.encoder, spec, settings)
        self.critic = Critic(self.encoder, settings, value_heads)

    @torch.inference_mode()
    def act(
        self, obs: list[torch.Tensor], mask: torch.Tensor | None, deterministic: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample actions and estimate values: (continuous, discrete, log_prob, values (n, heads))."""
        encoded = self.encoder(obs)
        continuous, discrete, log_prob = self.actor.head.sample(self.actor.body(encoded), mask, deterministic)
        values = self.critic.values(self.critic.body(encoded))
        return continuous, discrete, log_prob, values


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters (for logs)."""
    return sum(math.prod(p.shape) for p in module.parameters() if p.requires_grad)
