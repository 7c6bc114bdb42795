"""Acting on the CPU through numpy: the networks' forward pass for the small batches of acting.

Acting runs once per environment step on a handful of agents, where a torch call costs
several microseconds of dispatch for almost no arithmetic (an 8-agent PPO step on a 2-core
machine: about 330 µs through torch, about 120 µs through numpy). The classes here compute
the same functions as :class:`~mlx_core.networks.encoders.ObservationEncoder`,
:class:`~mlx_core.networks.towers.Towers` and
:class:`~mlx_core.networks.heads.ActionHead` on numpy arrays that are *views* of the torch
parameters and buffers: optimizer steps, ``load_state_dict`` and normaliser updates all write
into those tensors in place, so acting always sees the current weights without any copying.

Only vector observations and the activations in :data:`NUMPY_ACTIVATIONS` are covered; for
anything else the builders return None and the policy acts through torch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch
from threadpoolctl import ThreadpoolController

from mlx_core.networks.encoders import ObservationEncoder
from mlx_core.networks.heads import _LOG_SQRT_2PI, _MASKED_LOGIT, ActionHead
from mlx_core.networks.towers import Towers

Array = np.ndarray


def _relu(x: Array) -> Array:
    return np.maximum(x, 0, out=x)


def _tanh(x: Array) -> Array:
    return np.tanh(x, out=x)


NUMPY_ACTIVATIONS: dict[str, Callable[[Array], Array]] = {"tanh": _tanh, "relu": _relu}


def view(tensor: torch.Tensor) -> Array:
    """A numpy array sharing ``tensor``'s memory (which must be on the CPU)."""
    return tensor.detach().numpy()


@functools.cache
def single_threaded_openblas() -> None:
    """Keep numpy's OpenBLAS (where numpy uses it) to one thread, once per process.

    Acting's products are far too small to share out, and OpenBLAS's idle workers spin for a
    while after each call: between SAC's updates they took cores from torch's own threads.
    torch's BLAS and OpenMP threads (``torch_settings.num_threads``) are left alone.
    """
    ThreadpoolController().select(internal_api="openblas").limit(limits=1)


def acting_generator() -> np.random.Generator:
    """A numpy generator seeded from torch's global one, so ``torch.manual_seed`` (which a run's
    seed sets) also fixes the actions drawn through numpy."""
    return np.random.default_rng(int(torch.randint(0, 2**62, ())))


class NumpyEncoder:
    """:class:`ObservationEncoder` for vector observations: flatten, concatenate, normalise."""

    def __init__(self, encoder: ObservationEncoder) -> None:
        self.indices = encoder.vector_indices
        normalizer = encoder.normalizer
        self.normalizer = None
        if normalizer is not None:
            self.normalizer = (view(normalizer.mean), view(normalizer.var), float(normalizer.clip))

    @classmethod
    def of(cls, encoder: ObservationEncoder) -> NumpyEncoder | None:
        """The numpy encoder, or None when there are images (their convolutions stay in torch)."""
        return None if encoder.visual_indices or not encoder.vector_size else cls(encoder)

    def __call__(self, obs: list[Array]) -> Array:
        parts = [np.asarray(obs[i], np.float32).reshape(len(obs[i]), -1) for i in self.indices]
        x = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        if self.normalizer is not None:
            mean, var, clip = self.normalizer
            x = np.clip((x - mean) / np.sqrt(var + np.float32(1e-8)), -clip, clip)
        return x


class NumpyTowers:
    """:class:`Towers` on numpy arrays: ``stacked(x)`` is every tower's output, (n, batch, hidden)."""

    def __init__(self, towers: Towers) -> None:
        self.activation = NUMPY_ACTIVATIONS[towers.activation_name]
        self.layers = [(view(weight), view(bias)) for weight, bias in zip(towers.weights, towers.biases)]

    @classmethod
    def of(cls, towers: Towers) -> NumpyTowers | None:
        """The numpy towers, or None for an activation numpy does not have here (or no layers)."""
        return cls(towers) if towers.activation_name in NUMPY_ACTIVATIONS and towers.layers else None

    def stacked(self, x: Array) -> Array:
        """(n, batch, hidden) for n > 1 towers, (batch, hidden) for one."""
        h = x
        for weight, bias in self.layers:
            h = self.activation(np.matmul(h, weight) + bias)  # (batch, in) @ (n, in, hidden) broadcasts
        return h


class NumpyActionHead:
    """:meth:`ActionHead.sample` on numpy arrays (SAC's discrete branches use it too)."""

    def __init__(self, head: ActionHead, rng: np.random.Generator) -> None:
        self.rng = rng
        self.continuous_size = head.continuous_size
        self.branches = head.branches
        if head.continuous_size:
            self.mu = (view(head.mu.weight).T, view(head.mu.bias))
            self.log_std = view(head.log_std)
        if head.branches:
            self.logits = (view(head.logits.weight).T, view(head.logits.bias))
            self.starts = np.cumsum((0, *head.branches))

    def sample(self, features: Array, mask: Array | None, deterministic: bool) -> tuple[Array, Array, Array]:
        """(continuous (n, c) float32, discrete (n, b) int64, log_prob (n,) float32)."""
        n = len(features)
        log_prob = np.zeros(n, np.float32)
        continuous = np.zeros((n, 0), np.float32)
        discrete = np.zeros((n, 0), np.int64)
        if self.continuous_size:
            weight, bias = self.mu
            mu = features @ weight + bias
            if deterministic:
                continuous = mu
            else:
                noise = self.rng.standard_normal(mu.shape, np.float32)
                continuous = mu + noise * np.exp(self.log_std)
                log_prob += (np.float32(-0.5) * noise * noise - self.log_std - np.float32(_LOG_SQRT_2PI)).sum(-1)
        if self.branches:
            discrete, discrete_log_prob = self._sample_branches(features, mask, deterministic)
            log_prob += discrete_log_prob
        return continuous, discrete, log_prob

    def _sample_branches(self, features: Array, mask: Array | None, deterministic: bool) -> tuple[Array, Array]:
        """Masked categorical draws per branch: (choices (n, b) int64, summed log-probs (n,); zeros
        for deterministic choices, as in :meth:`ActionHead.sample`)."""
        weight, bias = self.logits
        logits = features @ weight + bias
        if mask is not None:
            logits = np.where(mask, logits, np.float32(_MASKED_LOGIT))
        n = len(features)
        choices = np.empty((n, len(self.branches)), np.int64)
        log_prob = np.zeros(n, np.float32)
        for b, (start, stop) in enumerate(zip(self.starts[:-1], self.starts[1:])):
            part = logits[:, start:stop]
            shifted = part - part.max(-1, keepdims=True)
            log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
            if deterministic:
                choice = log_probs.argmax(-1)
            else:
                # inverse-CDF draw with u in (0, total]: a zero-probability (masked) choice has an
                # empty interval and is never drawn (as in ActionHead)
                cdf = np.exp(log_probs).cumsum(-1)
                u = (1.0 - self.rng.random((n, 1), np.float32)) * cdf[:, -1:]
                choice = (cdf < u).sum(-1)
                log_prob += np.take_along_axis(log_probs, choice[:, None], -1)[:, 0]
            choices[:, b] = choice
        return choices, log_prob
