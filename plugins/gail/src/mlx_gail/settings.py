"""``behaviors.<B>.reward_signals.gail``: the section of the GAIL signal."""

from __future__ import annotations

from typing import Any

import attrs
from attrs import validators as v

from mlx_core.config.settings import NetworkSettings
from mlx_core.rewards.base import RewardSignalSettings


def _no_memory(instance: Any, attribute: Any, value: NetworkSettings) -> None:
    """The discriminator judges one step at a time: a recurrent memory has nothing to do."""
    if value.memory is not None:
        raise ValueError("the gail discriminator has no memory; remove network_settings.memory")


@attrs.define(frozen=True)
class GAILSettings(RewardSignalSettings):
    """The ``gail`` section: ``gamma`` and ``strength`` like every signal; the demonstrations
    (``demo_path``: a .demo file or a folder of them, mlx's or ML-Agents' format); the
    discriminator's encoding size, learning rate and network shape; whether it sees actions
    (``use_actions``) and whether it has a variational bottleneck (``use_vail``).

    ``batch_size`` and ``num_epoch`` say how the discriminator goes over the policy's steps at
    each trainer update (ML-Agents ties them to the trainer's); each minibatch of policy steps
    is paired with as many demonstrated steps drawn at random. ``gradient_penalty_weight``
    weighs the WGAN-GP term of the discriminator's loss (0 turns it off). ``reward_form``:
    ``positive`` rewards ``-log(1 - D)`` (the reference's: never negative, so it also pays the
    policy for every step it survives), ``logit`` rewards ``log D - log(1 - D)`` (negative
    where steps look like the policy's own: no bonus for long episodes, for tasks whose expert
    ends them early).
    """

    demo_path: str = attrs.field(kw_only=True)
    encoding_size: int = attrs.field(default=64, validator=v.gt(0))
    learning_rate: float = attrs.field(default=3.0e-4, validator=v.gt(0))
    use_actions: bool = False
    use_vail: bool = False
    batch_size: int = attrs.field(default=256, validator=v.gt(0))
    num_epoch: int = attrs.field(default=3, validator=v.gt(0))
    gradient_penalty_weight: float = attrs.field(default=1.0, validator=v.ge(0))
    reward_form: str = attrs.field(default="positive", validator=v.in_(["positive", "logit"]))
    network_settings: NetworkSettings = attrs.field(factory=NetworkSettings, validator=_no_memory)
