"""SAC's networks: a squashed-Gaussian / categorical actor and twin Q critics with targets."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from mlx_core.config.settings import NetworkSettings
from mlx_core.env.base import ActionSpec, BehaviorSpec
from mlx_core.networks.encoders import ObservationEncoder
from mlx_core.networks.heads import ActionHead
from mlx_core.networks.numpy_acting import NumpyActionHead, NumpyEncoder, NumpyTowers, acting_generator, view
from mlx_core.networks.recurrent import MemoryLSTM, refuse_without_memories
from mlx_core.networks.towers import Towers
from mlx_sac import functional
from mlx_sac.functional import LOG_SQRT_2PI, LOG_STD_MAX, LOG_STD_MIN

# hidden layers start from nn.Linear's initialisation, as in SB3's and the original SAC (the
# README's SAC benchmark compares it with orthogonal initialisation)
INIT = "linear"


class SquashedActionHead(nn.Module):
    """Continuous actions as tanh of a Gaussian with state-dependent std; discrete branches as
    masked categoricals (core's :class:`ActionHead`)."""

    def __init__(self, in_size: int, action_spec: ActionSpec) -> None:
        super().__init__()
        self.continuous_size = action_spec.continuous_size
        self.branches = tuple(action_spec.discrete_branches)
        if self.continuous_size:
            # means and log standard deviations from one layer: one product instead of two
            self.mu_log_std = nn.Linear(in_size, 2 * self.continuous_size)
        self.discrete = ActionHead(in_size, ActionSpec(0, self.branches)) if self.branches else None

    def rsample(self, features: torch.Tensor, noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterised continuous actions in [-1, 1] (n, c) and their log-probability (n,);
        ``noise`` is the standard normal draw (n, c), drawn here when not given."""
        mu_log_std = self.mu_log_std(features)
        if noise is None:
            noise = torch.randn(mu_log_std.shape[0], self.continuous_size, dtype=mu_log_std.dtype, device=mu_log_std.device)
        return functional.squashed_gaussian(mu_log_std, noise)

    def sample(
        self, features: torch.Tensor, mask: torch.Tensor | None, deterministic: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Actions to act with: (continuous (n, c), discrete (n, b), log_prob (n,))."""
        n = features.shape[0]
        continuous = features.new_zeros(n, 0)
        discrete = torch.zeros(n, 0, dtype=torch.long, device=features.device)
        log_prob = features.new_zeros(n)
        if self.continuous_size:
            if deterministic:
                continuous = torch.tanh(self.mu_log_std(features)[:, : self.continuous_size])
            else:
                continuous, log_prob = self.rsample(features)
        if self.discrete is not None:
            _, discrete, discrete_log_prob = self.discrete.sample(features, mask, deterministic)
            log_prob = log_prob + discrete_log_prob
        return continuous, discrete, log_prob


class TwinQ(nn.Module):
    """Two Q networks over (features, continuous action): per reward signal, one value, or one
    value per discrete choice when the behavior has discrete branches -> (n, signals, choices).

    Both networks, output layers included, run as batched products over a leading axis of 2
    (see :class:`Towers`).
    """

    def __init__(self, feature_size: int, spec: BehaviorSpec, settings: NetworkSettings, n_signals: int) -> None:
        super().__init__()
        self.n_signals = n_signals
        self.choices = max(1, sum(spec.action_spec.discrete_branches))
        self.towers = Towers(
            feature_size + spec.action_spec.continuous_size,
            settings.hidden_units,
            settings.num_layers,
            settings.activation,
            init=INIT,
        )
        outputs = [nn.Linear(self.towers.out_size, n_signals * self.choices) for _ in range(2)]  # nn.Linear's init
        self.q_weight = nn.Parameter(torch.stack([o.weight.detach().T for o in outputs]))  # (2, hidden, outputs)
        self.q_bias = nn.Parameter(torch.stack([o.bias.detach() for o in outputs]).unsqueeze(1))  # (2, 1, outputs)

    def forward(
        self, features: torch.Tensor, continuous: torch.Tensor, detach: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(Q1, Q2), each (n, signals, choices). ``detach=True`` treats the weights as constants:
        gradients reach ``continuous`` (the actor's actions) but not the critics."""
        return functional.twin_q(features, continuous, self.weights(), detach)

    def weights(self) -> functional.Critics:
        """The parameters as :mod:`mlx_sac.functional` takes them."""
        towers = self.towers
        return functional.Critics(
            towers.weights, towers.biases, towers.activation_name, self.q_weight, self.q_bias, self.n_signals, self.choices
        )


class SACNetwork(nn.Module):
    """Encoder, actor, twin critics and their slowly-following target copy.

    With ``settings.memory`` an LSTM (:class:`MemoryLSTM`) follows the encoder and feeds both
    the actor and the critics, trained with the encoder by the critics' loss; ``memory_size``
    is then > 0 and the ``*_recurrent`` methods carry each agent's memory.
    """

    def __init__(self, spec: BehaviorSpec, settings: NetworkSettings, signals: list[str]) -> None:
        super().__init__()
        self.spec = spec
        self.signals = list(signals)
        self.encoder = ObservationEncoder(spec.observation_specs, settings)
        self.memory: MemoryLSTM | None = None
        self.memory_size, self.actor_memory_size, self.sequence_length = 0, 0, 1
        feature_size = self.encoder.out_size
        if settings.memory is not None:
            self.memory = MemoryLSTM(feature_size, settings.memory.memory_size)
            self.memory_size = self.actor_memory_size = settings.memory.memory_size
            self.sequence_length = settings.memory.sequence_length
            feature_size = self.memory.out_size
        self.actor_body = Towers(feature_size, settings.hidden_units, settings.num_layers, settings.activation, n=1, init=INIT)
        self.head = SquashedActionHead(self.actor_body.out_size, spec.action_spec)
        self.critic = TwinQ(feature_size, spec, settings, len(signals))
        self.target = copy.deepcopy(self.critic)
        self.target.requires_grad_(False)

    def actor_weights(self) -> functional.Actor:
        """The actor's parameters (body and head) as :mod:`mlx_sac.functional` takes them."""
        body, head = self.actor_body, self.head
        continuous = head.mu_log_std if head.continuous_size else None
        discrete = head.discrete.logits if head.discrete is not None else None
        return functional.Actor(
            body.weights,
            body.biases,
            body.activation_name,
            continuous.weight if continuous is not None else None,
            continuous.bias if continuous is not None else None,
            discrete.weight if discrete is not None else None,
            discrete.bias if discrete is not None else None,
            list(head.branches),
        )

    def features(
        self, obs: list[torch.Tensor], memories: torch.Tensor | None = None, valid: torch.Tensor | None = None
    ) -> torch.Tensor:
        """What the actor body and the critics read: the encoded observations, or for a recurrent
        network the LSTM's outputs over S padded sequences (``obs`` of S * sequence_length rows,
        first ``memories`` (S, memory_size)), at the real steps that ``valid`` marks."""
        features = self.encoder(obs)
        if self.memory is None:
            return features
        assert memories is not None and valid is not None, "a recurrent network reads sequences"
        return self.memory.sequences(features, memories, valid)

    def actor_features_recurrent(
        self, obs: list[torch.Tensor], memories: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`actor_features` of a recurrent network: (features, new memories)."""
        assert self.memory is not None
        features, new_memories = self.memory.step_actor(self.encoder(obs), memories)
        return self.actor_body.tower(features, 0), new_memories

    @torch.inference_mode()
    def act_recurrent(
        self, obs: list[torch.Tensor], mask: torch.Tensor | None, deterministic: bool, memories: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, None, torch.Tensor]:
        """:meth:`act` of a recurrent network, with the new memories last."""
        features, new_memories = self.actor_features_recurrent(obs, memories)
        continuous, discrete, log_prob = self.head.sample(features, mask, deterministic)
        return continuous, discrete, log_prob, None, new_memories

    def actor_features(self, obs: list[torch.Tensor]) -> torch.Tensor:
        """The actor body's output for the action head."""
        refuse_without_memories(self.memory)
        return self.actor_body.tower(self.encoder(obs), 0)

    @torch.inference_mode()
    def act(
        self, obs: list[torch.Tensor], mask: torch.Tensor | None, deterministic: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, None]:
        """Actions for acting in the environment; SAC stores no value estimates."""
        continuous, discrete, log_prob = self.head.sample(self.actor_features(obs), mask, deterministic)
        return continuous, discrete, log_prob, None

    def numpy_actor(self) -> Callable[[list[np.ndarray], np.ndarray | None, bool], tuple[Any, ...]] | None:
        """:meth:`act` on numpy arrays for acting on the CPU (see
        :mod:`mlx_core.networks.numpy_acting`), or None where it does not apply (memory among others)."""
        if self.memory is not None:
            return None
        encoder, body = NumpyEncoder.of(self.encoder), NumpyTowers.of(self.actor_body)
        if encoder is None or body is None:
            return None
        head, rng = self.head, acting_generator()
        c = head.continuous_size
        if c:
            weight, bias = view(head.mu_log_std.weight).T, view(head.mu_log_std.bias)
        discrete_head = NumpyActionHead(head.discrete, rng) if head.discrete is not None else None
        log_2, log_sqrt_2pi = np.float32(math.log(2.0)), np.float32(LOG_SQRT_2PI)

        def act(obs: list[np.ndarray], mask: np.ndarray | None, deterministic: bool) -> tuple[Any, ...]:
            features = body.stacked(encoder(obs))
            n = len(features)
            continuous, discrete, log_prob = (
                np.zeros((n, 0), np.float32),
                np.zeros((n, 0), np.int64),
                np.zeros(n, np.float32),
            )
            if c:
                out = features @ weight + bias
                mu = out[:, :c]
                if deterministic:
                    continuous = np.tanh(mu)
                else:  # SquashedActionHead.rsample
                    log_std = np.clip(out[:, c:], LOG_STD_MIN, LOG_STD_MAX)
                    noise = rng.standard_normal(mu.shape, np.float32)
                    pre_tanh = mu + noise * np.exp(log_std)
                    continuous = np.tanh(pre_tanh)
                    log_prob = (np.float32(-0.5) * noise * noise - log_std - log_sqrt_2pi).sum(-1)
                    log_prob -= (2 * (log_2 - pre_tanh - np.logaddexp(np.float32(0), -2 * pre_tanh))).sum(-1)
            if discrete_head is not None:
                _, discrete, discrete_log_prob = discrete_head.sample(features, mask, deterministic)
                log_prob = log_prob + discrete_log_prob
            return continuous, discrete, log_prob, None

        return act

    @torch.no_grad()
    def soft_update(self, tau: float) -> None:
        """target <- tau * critic + (1 - tau) * target."""
        critic: list[torch.Tensor] = list(self.critic.parameters())
        target: list[torch.Tensor] = list(self.target.parameters())
        if hasattr(torch, "_foreach_lerp_"):  # one call for every tensor (a private torch op)
            torch._foreach_lerp_(target, critic, tau)
        else:  # its public per-tensor form
            for t, c in zip(target, critic, strict=True):
                t.lerp_(c, tau)
