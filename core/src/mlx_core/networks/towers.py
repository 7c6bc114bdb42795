"""Several same-shaped MLPs ("towers") over one input, computed together.

An actor and a critic body (or SAC's twin Q networks) have the same shape. Their first layers read
the same input, so they run as one wide matrix product (one kernel and one backward node
instead of one per tower); deeper layers stay per tower, where plain matrix products measured
faster on a CPU than a batched product over towers.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mlx_core.networks.encoders import ACTIVATION_FUNCTIONS


class Towers(nn.Module):
    """``n`` independent MLPs of ``layers`` x ``hidden`` units on the same input.

    :meth:`forward` returns n tensors of (batch, hidden); :meth:`tower` computes only tower ``i``.
    Each tower is initialised like a separate orthogonally initialised MLP.
    """

    def __init__(self, in_size: int, hidden: int, layers: int, activation: str, n: int = 2) -> None:
        super().__init__()
        self.n, self.hidden, self.layers = n, hidden, layers
        self.out_size = hidden if layers else in_size
        self.activation = ACTIVATION_FUNCTIONS[activation]  # a function: no Module call overhead
        if layers == 0:
            return
        gain = math.sqrt(2)
        self.w_in = nn.Parameter(torch.cat([nn.init.orthogonal_(torch.empty(hidden, in_size), gain).T for _ in range(n)], 1))
        self.b_in = nn.Parameter(torch.zeros(n * hidden))
        # Tower i's deeper layers, as plain lists of the registered parameters: indexing an
        # nn.ParameterList costs more than the matrix product on small networks. Module.to()
        # and load_state_dict() update parameters in place, so the lists stay valid.
        self._deep: list[list[tuple[nn.Parameter, nn.Parameter]]] = []
        for i in range(n):
            layers_of_tower = []
            for layer in range(1, layers):
                weight = nn.Parameter(nn.init.orthogonal_(torch.empty(hidden, hidden), gain).T.contiguous())
                bias = nn.Parameter(torch.zeros(hidden))
                self.register_parameter(f"w{layer}_{i}", weight)
                self.register_parameter(f"b{layer}_{i}", bias)
                layers_of_tower.append((weight, bias))
            self._deep.append(layers_of_tower)

    def _tower_deep(self, h: torch.Tensor, i: int) -> torch.Tensor:
        for weight, bias in self._deep[i]:
            h = self.activation(torch.addmm(bias, h, weight))
        return h

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every tower's output, each (batch, hidden)."""
        if self.layers == 0:
            return [x] * self.n
        first = self.activation(torch.addmm(self.b_in, x, self.w_in))  # (batch, n * hidden)
        # contiguous copies: strided column slices slow every later kernel and its backward
        return [self._tower_deep(h.contiguous(), i) for i, h in enumerate(first.split(self.hidden, dim=1))]

    def tower(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """Only tower ``i``'s output, (batch, hidden)."""
        if self.layers == 0:
            return x
        cols = slice(i * self.hidden, (i + 1) * self.hidden)
        return self._tower_deep(self.activation(torch.addmm(self.b_in[cols], x, self.w_in[:, cols])), i)
