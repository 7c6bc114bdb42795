"""The networks both signals are built from: observations to a vector of ``encoding_size``."""

from __future__ import annotations

import torch
from torch import nn

from mlx_core.config.settings import NetworkSettings
from mlx_core.env.base import BehaviorSpec
from mlx_core.networks.encoders import ACTIVATION_FUNCTIONS, ObservationEncoder


class Activation(nn.Module):
    """One of core's activation functions (``network_settings.activation``) as a module."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.function = ACTIVATION_FUNCTIONS[name]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.function(x)


def mlp(in_size: int, hidden: int, layers: int, out_size: int, activation: str) -> nn.Sequential:
    """``layers`` dense layers of ``hidden`` units with ``activation``, then a linear output."""
    modules: list[nn.Module] = []
    size = in_size
    for _ in range(layers):
        modules += [nn.Linear(size, hidden), Activation(activation)]
        size = hidden
    modules.append(nn.Linear(size, out_size))
    return nn.Sequential(*modules)


class StateEncoder(nn.Module):
    """Observations to (n, ``encoding_size``): core's :class:`ObservationEncoder` (vectors
    flattened and, with ``normalize``, normalised; images through its CNN), then an MLP whose
    linear output is squashed into (-1, 1) by tanh when ``bounded``."""

    def __init__(
        self, spec: BehaviorSpec, settings: NetworkSettings, encoding_size: int, bounded: bool = False
    ) -> None:
        super().__init__()
        self.observations = ObservationEncoder(spec.observation_specs, settings)
        self.mlp = mlp(
            self.observations.out_size, settings.hidden_units, settings.num_layers, encoding_size, settings.activation
        )
        self.bounded = bounded

    def forward(self, obs: list[torch.Tensor]) -> torch.Tensor:
        return self.head(self.observations(obs))

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """The encoding of ``self.observations``' output: the trained part of a vector-only
        encoder, whose observation part (a normaliser) is fixed within an update."""
        encoding = self.mlp(features)
        return torch.tanh(encoding) if self.bounded else encoding

    @property
    def fixed_features(self) -> bool:
        """True when ``self.observations`` has nothing to train (no images), so an update can
        compute its output once for the whole batch and train :meth:`head` on its rows."""
        return not any(p.requires_grad for p in self.observations.parameters())

    def update_normalizer(self, obs: list[torch.Tensor]) -> None:
        """Feed new observations into the running statistics (no-op without ``normalize``)."""
        self.observations.update_normalizer(obs)
