"""``behaviors.<B>.reward_signals.curiosity`` and ``.rnd``: the sections of the two signals."""

from __future__ import annotations

from typing import Any

import attrs
from attrs import validators as v

from mlx_core.config.settings import NetworkSettings
from mlx_core.rewards.base import RewardSignalSettings


def _no_memory(instance: Any, attribute: Any, value: NetworkSettings) -> None:
    """The signals' networks see one step at a time: a recurrent memory has nothing to do."""
    if value.memory is not None:
        raise ValueError("the curiosity and rnd networks have no memory; remove network_settings.memory")


@attrs.define(frozen=True)
class IntrinsicSettings(RewardSignalSettings):
    """The keys both signals take: ``gamma`` and ``strength`` like every signal, the size of the
    encoding, the learning rate of the signal's models and the shape of their networks
    (``hidden_units``, ``num_layers``, ``normalize``, ``vis_encode_type``, ``activation``)."""

    encoding_size: int = attrs.field(default=64, validator=v.gt(0))
    learning_rate: float = attrs.field(default=3.0e-4, validator=v.gt(0))
    network_settings: NetworkSettings = attrs.field(factory=NetworkSettings, validator=_no_memory)


@attrs.define(frozen=True)
class CuriositySettings(IntrinsicSettings):
    """The ``curiosity`` section; ``encoding_size`` is the size of the learned state encoding."""


@attrs.define(frozen=True)
class RNDSettings(IntrinsicSettings):
    """The ``rnd`` section; ``encoding_size`` is the size of the random target's output. A
    smaller default learning rate keeps the predictor from catching up on new states before the
    policy has been rewarded for finding them."""

    learning_rate: float = attrs.field(default=1.0e-4, validator=v.gt(0))
