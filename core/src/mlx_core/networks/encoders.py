"""Observation encoders: flatten-and-concatenate for vectors, CNNs for images
(``vis_encode_type``: simple, nature_cnn, resnet, match3, fully_connected)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import torch
from torch import nn

from mlx_core.config.settings import NetworkSettings
from mlx_core.env.base import ObservationSpec
from mlx_core.networks.normalizer import RunningNormalizer

ACTIVATION_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "swish": nn.functional.silu,
}


class _Residual(nn.Module):
    """x + conv(relu(conv(relu(x)))): a residual block whose 3x3 convolutions keep the size."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _resnet_stack(c: int) -> nn.Sequential:
    """The IMPALA-style residual encoder: three stages of a 3x3 convolution, a 3x3 max-pool of
    stride 2 and two residual blocks (16, 32, 32 channels). Every convolution and pool pads by
    one, so each stage halves the image, rounding up: any size works, down to 1x1."""
    modules: list[nn.Module] = []
    channels = c
    for out in (16, 32, 32):
        modules += [
            nn.Conv2d(channels, out, 3, padding=1),
            nn.MaxPool2d(3, stride=2, padding=1),
            _Residual(out),
            _Residual(out),
        ]
        channels = out
    return nn.Sequential(*modules, nn.ReLU(), nn.Flatten())


def _match3_stack(c: int) -> nn.Sequential:
    """For small boards whose every cell matters (match-3 grids): two 3x3 convolutions padded
    to keep the size, no striding or pooling, so no cell is merged with another before the
    dense layer. Any size works."""
    return nn.Sequential(
        nn.Conv2d(c, 35, 3, padding=1), nn.LeakyReLU(), nn.Conv2d(35, 144, 3, padding=1), nn.LeakyReLU(), nn.Flatten()
    )


def _conv_stack(kind: str, h: int, w: int, c: int) -> nn.Sequential:
    """Convolutions for ``vis_encode_type``; ``simple`` and ``nature_cnn`` shrink their kernel
    sizes to fit images smaller than their natural minimum (20 and 36 pixels)."""
    if kind == "fully_connected":
        return nn.Sequential(nn.Flatten())
    if kind == "resnet":
        return _resnet_stack(c)
    if kind == "match3":
        return _match3_stack(c)
    if kind == "nature_cnn":  # the DQN Nature paper's three layers
        layers = [(32, 8, 4), (64, 4, 2), (64, 3, 1)]
    else:  # simple
        layers = [(16, 8, 4), (32, 4, 2)]
    modules: list[nn.Module] = []
    channels, size = c, min(h, w)
    for out, kernel, stride in layers:
        kernel = min(kernel, size)
        stride = min(stride, kernel)
        modules += [nn.Conv2d(channels, out, kernel_size=kernel, stride=stride), nn.LeakyReLU()]
        channels, size = out, (size - kernel) // stride + 1
    return nn.Sequential(*modules, nn.Flatten())


class VisualEncoder(nn.Module):
    """Encodes (H, W, C) images: convolutions chosen by ``vis_encode_type``, then a dense layer."""

    def __init__(self, shape: tuple[int, ...], out_size: int, kind: str = "simple") -> None:
        super().__init__()
        h, w, c = shape
        self.conv = _conv_stack(kind, h, w, c)
        with torch.no_grad():
            flat = self.conv(torch.zeros(1, c, h, w)).shape[1]
        self.dense = nn.Sequential(nn.Linear(flat, out_size), nn.LeakyReLU())
        self.out_size = out_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.conv(x.permute(0, 3, 1, 2)))


class ObservationEncoder(nn.Module):
    """Encodes the list of observations of one agent batch into one feature vector.

    Vector observations are flattened, concatenated and (optionally) normalised; images go
    through :class:`VisualEncoder`. The result feeds the MLP body.
    """

    def __init__(self, specs: tuple[ObservationSpec, ...], settings: NetworkSettings) -> None:
        super().__init__()
        self.vector_indices = [i for i, s in enumerate(specs) if not s.is_visual]
        self.visual_indices = [i for i, s in enumerate(specs) if s.is_visual]
        self.vector_size = sum(math.prod(specs[i].shape) for i in self.vector_indices)
        self.normalizer = RunningNormalizer(self.vector_size) if settings.normalize and self.vector_size else None
        self.visual = nn.ModuleList(
            VisualEncoder(specs[i].shape, settings.hidden_units, settings.vis_encode_type) for i in self.visual_indices
        )
        self.out_size = self.vector_size + sum(cast(VisualEncoder, e).out_size for e in self.visual)

    def vector(self, obs: list[torch.Tensor]) -> torch.Tensor:
        """The flattened, concatenated vector observations (n, vector_size), before normalising."""
        parts = [obs[i].reshape(obs[i].shape[0], -1) for i in self.vector_indices]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

    def forward(self, obs: list[torch.Tensor]) -> torch.Tensor:
        features = []
        if self.vector_size:
            vec = self.vector(obs)
            features.append(self.normalizer(vec) if self.normalizer is not None else vec)
        for enc, i in zip(self.visual, self.visual_indices):
            features.append(enc(obs[i]))
        return features[0] if len(features) == 1 else torch.cat(features, dim=1)

    def update_normalizer(self, obs: list[torch.Tensor]) -> None:
        """Feed new experience into the running statistics (no-op without ``normalize``)."""
        if self.normalizer is not None:
            self.normalizer.update(self.vector(obs))
