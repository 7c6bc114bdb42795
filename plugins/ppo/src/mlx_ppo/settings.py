"""``behaviors.<B>.hyperparameters`` for ``trainer: ppo``."""

from __future__ import annotations

import attrs
from attrs import validators as v

SCHEDULES = ["constant", "linear"]


@attrs.define(frozen=True)
class PPOSettings:
    """PPO hyperparameters, with the reference's names and defaults.

    ``buffer_size`` experiences are gathered per update and split into minibatches of
    ``batch_size``, visited ``num_epoch`` times. ``beta`` and ``epsilon`` follow their own
    schedules (by default the learning-rate schedule).
    """

    batch_size: int = attrs.field(default=1024, validator=v.gt(0))
    buffer_size: int = attrs.field(default=10240, validator=v.gt(0))
    learning_rate: float = attrs.field(default=3.0e-4, validator=v.gt(0))
    learning_rate_schedule: str = attrs.field(default="linear", validator=v.in_(SCHEDULES))
    beta: float = attrs.field(default=5.0e-3, validator=v.ge(0))
    beta_schedule: str | None = attrs.field(default=None, validator=v.optional(v.in_(SCHEDULES)))
    epsilon: float = attrs.field(default=0.2, validator=v.gt(0))
    epsilon_schedule: str | None = attrs.field(default=None, validator=v.optional(v.in_(SCHEDULES)))
    lambd: float = attrs.field(default=0.95, validator=[v.ge(0), v.le(1)])
    num_epoch: int = attrs.field(default=3, validator=v.gt(0))
    shared_critic: bool = False
    # Clipping each value estimate to +-value_clip of its old value (ML-Agents always does, with
    # epsilon) stalls learning on unscaled returns; off by default, as in Stable-Baselines3.
    value_clip: float | None = attrs.field(default=None, validator=v.optional(v.gt(0)))
    value_loss_coef: float = attrs.field(default=0.5, validator=v.ge(0))
    max_grad_norm: float = attrs.field(default=0.5, validator=v.gt(0))
    normalize_advantage: bool = True

    def __attrs_post_init__(self) -> None:
        if self.batch_size > self.buffer_size:
            raise ValueError(
                f"batch_size ({self.batch_size}) must not exceed buffer_size ({self.buffer_size})"
            )
