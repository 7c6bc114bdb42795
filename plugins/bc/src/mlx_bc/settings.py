"""The YAML sections of mlx-bc: ``hyperparameters`` of ``bc``/``online_bc`` and ``behavioral_cloning``."""

from __future__ import annotations

import attrs
from attrs import validators as v

SCHEDULES = ["constant", "linear"]


@attrs.define(frozen=True)
class CloningUpdates:
    """How the cloning trainers update: every ``steps_per_update`` steps of the behavior, ``num_epoch``
    passes of up to ``batches_per_epoch`` shuffled minibatches of ``batch_size`` demonstrated
    steps, with Adam at ``learning_rate`` (decaying linearly to 0 at ``max_steps`` by default)."""

    batch_size: int = attrs.field(default=64, validator=v.gt(0))
    batches_per_epoch: int = attrs.field(default=10, validator=v.gt(0))
    num_epoch: int = attrs.field(default=3, validator=v.gt(0))
    learning_rate: float = attrs.field(default=3.0e-4, validator=v.gt(0))
    learning_rate_schedule: str = attrs.field(default="linear", validator=v.in_(SCHEDULES))
    steps_per_update: int = attrs.field(default=500, validator=v.gt(0))


@attrs.define(frozen=True)
class BCSettings(CloningUpdates):
    """``trainer: bc`` (or ``offline_bc``): learn from the demonstrations at ``demo_path`` (a
    ``.demo`` file or a folder of them, mlx's or ML-Agents' format) alone."""

    demo_path: str = attrs.field(kw_only=True)


@attrs.define(frozen=True)
class OnlineBCSettings(CloningUpdates):
    """``trainer: online_bc``: the student learns from a ``teacher`` (an exported ``.onnx``, a
    checkpoint ``.pt``, a run folder or ``module:function``/``file.py:function``).

    Without ``dagger`` the teacher acts and the student learns its actions; with ``dagger:
    true`` the student acts and the teacher labels the states the student visits. The latest
    ``buffer_size`` labelled steps are kept; ``demo_path`` (optional) seeds them.
    """

    teacher: str = attrs.field(kw_only=True)
    dagger: bool = False
    buffer_size: int = attrs.field(default=20_000, validator=v.gt(0))
    demo_path: str | None = None


@attrs.define(frozen=True)
class BehavioralCloningSettings:
    """``behaviors.<B>.behavioral_cloning``: a cloning loss trained after each update of the
    behavior's trainer (PPO, SAC, ...), with an Adam of its own over the policy's parameters.

    ``strength`` weighs the loss and decays linearly to 0 over ``steps`` behavior steps (0:
    constant). Each update draws ``samples_per_update`` demonstrated steps (0: all of them)
    and makes ``num_epoch`` passes of minibatches of ``batch_size``; unset, ``batch_size``,
    ``num_epoch`` and the learning rate are the trainer's own (``hyperparameters``).
    """

    demo_path: str = attrs.field(kw_only=True)
    strength: float = attrs.field(default=1.0, validator=v.ge(0))
    steps: int = attrs.field(default=0, validator=v.ge(0))
    batch_size: int | None = attrs.field(default=None, validator=v.optional(v.gt(0)))
    num_epoch: int | None = attrs.field(default=None, validator=v.optional(v.gt(0)))
    samples_per_update: int = attrs.field(default=0, validator=v.ge(0))
