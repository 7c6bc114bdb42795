"""Several same-shaped MLPs ("towers") over one input, computed together.

An actor and a critic body (or SAC's twin Q networks) have the same shape. Running them as
one wide first layer plus batched matrix products for the deeper layers issues one kernel per
layer instead of one per tower and layer; on small networks, where the cost of each operation
is mostly dispatch overhead, this makes PPO's update about a third faster on a CPU.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mlx_core.networks.encoders import ACTIVATIONS


class Towers(nn.Module):
    """``n`` independent MLPs of ``layers`` x ``hidden`` units on the same input.

    :meth:`forward` returns (n, batch, hidden); :meth:`tower` computes only tower ``i``.
    Each tower is initialised like a separate orthogonally initialised MLP.
    """

    def __init__(self, in_size: int, hidden: int, layers: int, activation: str, n: int = 2) -> None:
        super().__init__()
        self.n, self.hidden, self.layers = n, hidden, layers
        self.out_size = hidden if layers else in_size
        self.activation = ACTIVATIONS[activation]()
        if layers == 0:
            return
        gain = math.sqrt(2)
        self.w_in = nn.Parameter(torch.cat([nn.init.orthogonal_(torch.empty(hidden, in_size), gain).T for _ in range(n)], 1))
        self.b_in = nn.Parameter(torch.zeros(n * hidden))
        deep = [
            torch.stack([nn.init.orthogonal_(torch.empty(hidden, hidden), gain).T for _ in range(n)])
            for _ in range(layers - 1)
        ]
        self.w_deep = nn.ParameterList(nn.Parameter(w) for w in deep)  # each (n, hidden, hidden)
        self.b_deep = nn.ParameterList(nn.Parameter(torch.zeros(n, 1, hidden)) for _ in deep)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Every tower's output, (n, batch, hidden)."""
        if self.layers == 0:
            return x.unsqueeze(0).expand(self.n, *x.shape)
        h = self.activation(torch.addmm(self.b_in, x, self.w_in))  # (batch, n * hidden)
        h = h.view(x.shape[0], self.n, self.hidden).transpose(0, 1)  # (n, batch, hidden)
        for w, b in zip(self.w_deep, self.b_deep):
            h = self.activation(torch.baddbmm(b, h, w))
        return h

    def tower(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """Only tower ``i``'s output, (batch, hidden)."""
        if self.layers == 0:
            return x
        cols = slice(i * self.hidden, (i + 1) * self.hidden)
        h = self.activation(torch.addmm(self.b_in[cols], x, self.w_in[:, cols]))
        for w, b in zip(self.w_deep, self.b_deep):
            h = self.activation(torch.addmm(b[i], h, w[i]))
        return h
