"""The ``self_play`` section of a behavior."""

from __future__ import annotations

import attrs
from attrs import validators as v


@attrs.define(frozen=True)
class SelfPlaySettings:
    """``behaviors.<B>.self_play``: when snapshots are taken, opponents change and teams swap.

    Step counts are the behavior's steps (decisions of all its agents, as ``max_steps``).
    ``save_steps``: steps between snapshots of the learning policy; ``window``: how many of the
    latest snapshots opponents are drawn from; ``swap_steps``: steps between opponent draws;
    ``team_change``: steps before the next team becomes the learning one;
    ``play_against_latest_model_ratio``: the chance that a draw picks the current policy
    rather than a snapshot; ``initial_elo``: the rating every policy starts with.
    """

    save_steps: int = attrs.field(default=20_000, validator=v.gt(0))
    team_change: int = attrs.field(default=100_000, validator=v.gt(0))
    swap_steps: int = attrs.field(default=10_000, validator=v.gt(0))
    window: int = attrs.field(default=10, validator=v.gt(0))
    play_against_latest_model_ratio: float = attrs.field(default=0.5, validator=[v.ge(0.0), v.le(1.0)])
    initial_elo: float = 1200.0
