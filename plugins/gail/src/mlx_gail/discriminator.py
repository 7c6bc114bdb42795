"""The GAIL discriminator: a step (observations, optionally the action) to a logit of "demonstrated".

With ``use_vail`` the last hidden layer becomes a Gaussian code z (a learned mean per step and
one learned standard deviation per unit, sampled while training, its mean when rewarding) whose
KL divergence from N(0, I) the signal keeps near a target: the variational discriminator
bottleneck of VAIL (Peng et al., 2018).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mlx_core.env.base import ActionSpec, BehaviorSpec
from mlx_core.networks.encoders import ACTIVATION_FUNCTIONS, ObservationEncoder
from mlx_gail.settings import GAILSettings


def action_vector(continuous: np.ndarray, discrete: np.ndarray, spec: ActionSpec, device: torch.device) -> torch.Tensor:
    """The actions as the discriminator sees them (n, continuous_size + sum(branches)): continuous
    values clipped to [-1, 1] (what the environment receives; a Gaussian policy's raw samples may
    lie beyond, demonstrations never do), then one one-hot block per discrete branch."""
    n = len(continuous) if spec.continuous_size else len(discrete)
    parts = [torch.as_tensor(continuous, dtype=torch.float32, device=device).reshape(n, -1).clamp(-1.0, 1.0)]
    if spec.discrete_branches:
        index = torch.as_tensor(discrete, dtype=torch.int64, device=device).reshape(n, -1)
        parts += [nn.functional.one_hot(index[:, b], size).float() for b, size in enumerate(spec.discrete_branches)]
    return torch.cat(parts, dim=1)


class Discriminator(nn.Module):
    """Observations (core's encoder: vectors flattened and optionally normalised, images through
    its CNN), with ``use_actions`` the action vector beside them, then ``num_layers`` dense layers
    of ``hidden_units``, an ``encoding_size`` code (deterministic, or VAIL's Gaussian) and one logit.
    """

    def __init__(self, spec: BehaviorSpec, settings: GAILSettings) -> None:
        super().__init__()
        net = settings.network_settings
        self.use_actions = settings.use_actions
        self.use_vail = settings.use_vail
        self.activation = ACTIVATION_FUNCTIONS[net.activation]
        self.observations = ObservationEncoder(spec.observation_specs, net)
        self.action_size = spec.action_spec.continuous_size + sum(spec.action_spec.discrete_branches)
        size = self.observations.out_size + (self.action_size if self.use_actions else 0)
        self.hidden = nn.ModuleList()
        for _ in range(net.num_layers):
            self.hidden.append(nn.Linear(size, net.hidden_units))
            size = net.hidden_units
        self.code = nn.Linear(size, settings.encoding_size)
        if self.use_vail:
            # a small initial mean keeps the first KL terms near zero, before the constraint has a say
            with torch.no_grad():
                self.code.weight.mul_(0.1)
            self.log_sigma = nn.Parameter(torch.zeros(settings.encoding_size))
        self.output = nn.Linear(settings.encoding_size, 1)

    def forward(
        self, obs: list[torch.Tensor], actions: torch.Tensor, noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (n,) and, with VAIL, each step's KL divergence of its code from N(0, I) (n,).

        ``noise`` (n, encoding_size) standard normal draws sample VAIL's code (training); None
        takes its mean (rewarding). Without VAIL both are ignored and the KL is None.
        """
        h = self.observations(obs)
        if self.use_actions:
            h = torch.cat([h, actions], dim=1)
        for layer in self.hidden:
            h = self.activation(layer(h))
        if not self.use_vail:
            return self.output(self.activation(self.code(h))).squeeze(1), None
        mean = self.code(h)
        z = mean if noise is None else mean + noise * self.log_sigma.exp()
        # KL(N(mean, sigma^2) || N(0, 1)) summed over the code's units
        kl = 0.5 * (mean.square() + (2 * self.log_sigma).exp() - 1.0 - 2 * self.log_sigma).sum(dim=1)
        return self.output(z).squeeze(1), kl

    def update_normalizer(self, obs: list[torch.Tensor]) -> None:
        """Feed observations into the running statistics (no-op without ``normalize``)."""
        self.observations.update_normalizer(obs)


def gradient_penalty(
    discriminator: Discriminator,
    expert: tuple[list[torch.Tensor], torch.Tensor],
    policy: tuple[list[torch.Tensor], torch.Tensor],
    mix: torch.Tensor,
    noise: torch.Tensor | None,
) -> torch.Tensor:
    """WGAN-GP's penalty (Gulrajani et al., 2017) on D = sigmoid(logit): the mean of
    (|grad D| - 1)^2 at points mixed ``mix`` (n,) of the way from policy steps to demonstrated
    ones, the gradient taken over every input the discriminator sees (observations, and the
    action vector with ``use_actions``). It keeps D smooth between the two sets of steps, so the
    policy's reward has a slope to climb instead of a cliff."""
    (expert_obs, expert_actions), (policy_obs, policy_actions) = expert, policy
    inputs = []
    for e, p in zip(expert_obs, policy_obs):
        weight = mix.view(-1, *([1] * (e.dim() - 1)))
        inputs.append((weight * e + (1 - weight) * p).requires_grad_(True))
    actions = (mix.unsqueeze(1) * expert_actions + (1 - mix.unsqueeze(1)) * policy_actions).requires_grad_(True)
    logits, _ = discriminator(inputs, actions, noise)
    with_actions = discriminator.use_actions and actions.shape[1] > 0
    grads = torch.autograd.grad(
        torch.sigmoid(logits).sum(), inputs + ([actions] if with_actions else []), create_graph=True
    )
    squared = sum(g.reshape(len(g), -1).square().sum(dim=1) for g in grads)
    norm = torch.sqrt(torch.as_tensor(squared) + 1e-12)  # the epsilon keeps sqrt's gradient finite at 0
    return (norm - 1.0).square().mean()
