"""``behaviors.<B>.hyperparameters`` for ``trainer: reinforce``."""

from __future__ import annotations

import attrs
from attrs import validators as v


@attrs.define(frozen=True)
class ReinforceSettings:
    """REINFORCE hyperparameters.

    mlx structures the YAML section with this class: unknown keys and values that fail a
    validator are reported with their YAML path and line, before any environment starts.
    ``buffer_size`` agent steps are gathered per update; the update makes ``num_epoch``
    full-batch gradient steps on them.
    """

    learning_rate: float = attrs.field(default=1.0e-3, validator=v.gt(0))
    buffer_size: int = attrs.field(default=2048, validator=v.gt(0))
    num_epoch: int = attrs.field(default=1, validator=v.gt(0))
