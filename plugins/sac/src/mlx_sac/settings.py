"""``behaviors.<B>.hyperparameters`` for ``trainer: sac``."""

from __future__ import annotations

import attrs
from attrs import validators as v


@attrs.define(frozen=True)
class SACSettings:
    """SAC hyperparameters, with the reference's names and defaults.

    Every ``train_interval`` agent steps, ``num_update`` gradient steps are taken on
    minibatches of ``batch_size`` drawn from a replay buffer of ``buffer_size`` transitions.
    ML-Agents 1.x's ``steps_per_update`` (agent steps per gradient step) sets both: values >= 1
    become ``train_interval``, values below 1 become ``num_update = 1 / steps_per_update``.
    """

    batch_size: int = attrs.field(default=128, validator=v.gt(0))
    buffer_size: int = attrs.field(default=50_000, validator=v.gt(0))
    buffer_init_steps: int = attrs.field(default=0, validator=v.ge(0))
    init_entcoef: float = attrs.field(default=1.0, validator=v.gt(0))
    learning_rate: float = attrs.field(default=3.0e-4, validator=v.gt(0))
    learning_rate_schedule: str = attrs.field(default="constant", validator=v.in_(["constant", "linear"]))
    tau: float = attrs.field(default=0.005, validator=[v.gt(0), v.le(1)])
    train_interval: int = attrs.field(default=1, validator=v.gt(0))
    num_update: int = attrs.field(default=1, validator=v.gt(0))
    steps_per_update: float | None = attrs.field(default=None, validator=v.optional(v.gt(0)))
    save_replay_buffer: bool = False
    reward_signal_num_update: int = attrs.field(default=1, validator=v.gt(0))
    # ML-Agents 1.x's name for the pace of reward-signal updates; kept so its files load
    reward_signal_steps_per_update: float | None = attrs.field(default=None, validator=v.optional(v.gt(0)))
    # target entropy: -continuous_size for continuous actions (SB3, ML-Agents), and this
    # fraction of log(branch size) per discrete branch (ML-Agents' default)
    discrete_target_entropy_scale: float = attrs.field(default=0.2, validator=v.gt(0))
    max_grad_norm: float | None = attrs.field(default=None, validator=v.optional(v.gt(0)))

    def __attrs_post_init__(self) -> None:
        if self.batch_size > self.buffer_size:
            raise ValueError(f"batch_size ({self.batch_size}) must not exceed buffer_size ({self.buffer_size})")

    @property
    def interval_and_updates(self) -> tuple[int, int]:
        """(agent steps between updates, gradient steps per update), after ``steps_per_update``."""
        if self.steps_per_update is None:
            return self.train_interval, self.num_update
        if self.steps_per_update >= 1:
            return round(self.steps_per_update), 1
        return 1, round(1 / self.steps_per_update)
