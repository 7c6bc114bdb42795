"""Several same-shaped MLPs ("towers") over one input, computed together.

An actor and a critic body (or SAC's twin Q networks) have the same shape, so their weights
are stacked along a leading tower axis and every layer of all towers is one batched matrix
product: on the small networks trained here each kernel launch and autograd node costs more
than its arithmetic, and a batched product measured faster on a CPU than one product per
tower plus the slicing between them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mlx_core.networks.encoders import ACTIVATION_FUNCTIONS


# The forward passes are functions of the weights, written in TorchScript's subset of Python,
# so that a plugin can compile a whole loss around them (SAC does: mlx_sac.functional) and
# the modules and the compiled losses share one implementation.
def activate(h: torch.Tensor, activation: str) -> torch.Tensor:
    """``activation`` (a name in :data:`ACTIVATION_FUNCTIONS`) of a layer's fresh output.

    ReLU and tanh run in place (the product's backward does not need its output): one
    allocation and one pass over memory less per layer.
    """
    if activation == "relu":
        return h.relu_()
    if activation == "tanh":
        return h.tanh_()
    if activation == "swish":
        return torch.nn.functional.silu(h)
    raise ValueError("unknown activation " + activation)


def tower_forward(x: torch.Tensor, weights: list[torch.Tensor], biases: list[torch.Tensor], activation: str) -> torch.Tensor:
    """One MLP: weights (in, hidden) and biases (hidden,) per layer."""
    h = x
    for i in range(len(weights)):
        h = activate(torch.addmm(biases[i], h, weights[i]), activation)
    return h


def stacked_forward(
    x: torch.Tensor, weights: list[torch.Tensor], biases: list[torch.Tensor], activation: str, n: int, detach: bool
) -> torch.Tensor:
    """``n`` MLPs on one input (batch, in), or each on its own (n, batch, in), as batched
    products: weights (n, in, hidden) and biases (n, 1, hidden) per layer; returns (n, batch,
    hidden). ``detach`` uses the weights as constants."""
    h = x if x.dim() == 3 else x.expand(n, x.shape[0], x.shape[1])
    for i in range(len(weights)):
        weight, bias = weights[i], biases[i]
        if detach:
            weight, bias = weight.detach(), bias.detach()
        h = activate(torch.baddbmm(bias, h, weight), activation)
    return h


class Towers(nn.Module):
    """``n`` independent MLPs of ``layers`` x ``hidden`` units on the same input.

    :meth:`forward` returns n tensors of (batch, hidden); :meth:`tower` computes only tower ``i``.
    Layer ``l``'s weights are one parameter ``w{l}`` of shape (n, in, hidden) (a plain
    (in, hidden) matrix when n == 1) and its biases ``b{l}``; each tower is initialised like a
    separate MLP: ``init="orthogonal"`` (gain sqrt(2), zero biases, as PPO implementations do)
    or ``init="linear"`` (``nn.Linear``'s own initialisation, as SB3's SAC has).
    """

    def __init__(
        self, in_size: int, hidden: int, layers: int, activation: str, n: int = 2, init: str = "orthogonal"
    ) -> None:
        super().__init__()
        self.n, self.hidden, self.layers = n, hidden, layers
        self.out_size = hidden if layers else in_size
        self.activation_name = activation
        if activation not in ACTIVATION_FUNCTIONS:
            raise ValueError(f"unknown activation {activation!r}; use one of {', '.join(ACTIVATION_FUNCTIONS)}")
        gain = math.sqrt(2)
        # each layer's weights and biases, as plain lists of the registered parameters:
        # attribute lookups through nn.Module cost more than a small matrix product.
        # Module.to() and load_state_dict() update parameters in place, so the lists stay valid.
        self.weights: list[torch.Tensor] = []
        self.biases: list[torch.Tensor] = []
        for layer in range(layers):
            fan_in = in_size if layer == 0 else hidden
            if init == "orthogonal":
                weights = [nn.init.orthogonal_(torch.empty(hidden, fan_in), gain).T for _ in range(n)]
                biases = [torch.zeros(hidden) for _ in range(n)]
            else:
                linears = [nn.Linear(fan_in, hidden) for _ in range(n)]
                weights = [lin.weight.detach().T for lin in linears]
                biases = [lin.bias.detach() for lin in linears]
            weight = nn.Parameter(weights[0].contiguous() if n == 1 else torch.stack(weights))
            bias = nn.Parameter(biases[0].clone() if n == 1 else torch.stack(biases).unsqueeze(1))
            self.register_parameter(f"w{layer}", weight)
            self.register_parameter(f"b{layer}", bias)
            self.weights.append(weight)
            self.biases.append(bias)

    def stacked(self, x: torch.Tensor, detach: bool = False) -> torch.Tensor:
        """Every tower's output as one (n, batch, hidden) tensor (n > 1).

        ``detach=True`` uses the weights as constants: gradients still reach ``x`` but not the
        towers' parameters (SAC's actor loss through frozen critics).
        """
        return stacked_forward(x, self.weights, self.biases, self.activation_name, self.n, detach)

    def forward(self, x: torch.Tensor, detach: bool = False) -> list[torch.Tensor]:
        """Every tower's output, each (batch, hidden); ``x`` is one input (batch, in) for all
        towers or one per tower (n, batch, in)."""
        if self.layers == 0:
            return list(x.unbind(0)) if x.dim() == 3 else [x] * self.n
        if self.n == 1:
            return [self.tower(x, 0, detach)]
        return list(self.stacked(x, detach).unbind(0))

    def tower(self, x: torch.Tensor, i: int, detach: bool = False) -> torch.Tensor:
        """Only tower ``i``'s output, (batch, hidden)."""
        weights, biases = self.weights, self.biases
        if self.n > 1:
            weights, biases = [w[i] for w in weights], [b[i, 0] for b in biases]
        if detach:
            weights, biases = [w.detach() for w in weights], [b.detach() for b in biases]
        return tower_forward(x, weights, biases, self.activation_name)
