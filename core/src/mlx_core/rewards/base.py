"""The contract of a reward signal plugin."""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import attrs
import numpy as np
from attrs import validators as v

from mlx_core.training.trajectory import Trajectory


@attrs.define(frozen=True)
class RewardSignalSettings:
    """Fields every reward signal section has: discount ``gamma`` and weight ``strength``."""

    gamma: float = attrs.field(default=0.99, validator=[v.ge(0), v.le(1)])
    strength: float = 1.0


class RewardSignal(abc.ABC):
    """Turns a batch of experience into a reward per step, with its own discount.

    Trainers call :meth:`evaluate` on each trajectory as it arrives and :meth:`update` once per
    trainer update with every trajectory since the previous one; both receive the dict of
    :func:`trajectory_batch`. Trainers with value functions give each signal its own value
    head and sum the signals' advantages. The signal's :meth:`state_dict` goes into checkpoints.
    """

    #: the signal's word in TensorBoard tags (``Policy/<label> Reward``, ``Losses/<label> ...``);
    #: None: its ``reward_signals`` key capitalised (``extrinsic`` -> ``Extrinsic``)
    label: ClassVar[str | None] = None

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.gamma: float = settings.gamma
        self.strength: float = settings.strength

    @abc.abstractmethod
    def evaluate(self, batch: dict[str, Any]) -> np.ndarray:
        """Rewards (T,) for a batch of T steps (see :func:`trajectory_batch` for its keys)."""

    def update(self, batch: dict[str, Any]) -> dict[str, float]:
        """Train the signal's own model on a batch; return stats to report (none by default)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """State to checkpoint (none by default)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""


def signal_label(name: str, signal: RewardSignal) -> str:
    """The word naming the signal ``name`` in TensorBoard tags: its class's ``label`` (an
    acronym such as ``RND`` keeps its capitals), else the key capitalised."""
    return signal.label or name.capitalize()


def trajectory_batch(traj: Trajectory) -> dict[str, Any]:
    """One trajectory's T steps as reward signals see them.

    ``obs`` and ``next_obs``: lists of (T, *shape) arrays; ``continuous_actions`` (T, c);
    ``discrete_actions`` (T, branches); ``env_rewards`` (T,); ``done`` (T,) bool, True only at a
    true episode end (not a step limit).
    """
    done = np.zeros(len(traj), dtype=bool)
    done[-1] = traj.done and not traj.interrupted
    return {
        "obs": traj.obs,
        "next_obs": [np.concatenate([o[1:], n]) for o, n in zip(traj.obs, traj.next_obs)],
        "continuous_actions": traj.continuous_actions,
        "discrete_actions": traj.discrete_actions,
        "env_rewards": traj.env_rewards,
        "done": done,
    }


def concatenate_batches(batches: list[dict[str, Any]]) -> dict[str, Any]:
    """Several :func:`trajectory_batch` dicts as one, steps concatenated in order."""
    out: dict[str, Any] = {}
    for key, first in batches[0].items():
        if isinstance(first, list):
            out[key] = [np.concatenate([b[key][i] for b in batches]) for i in range(len(first))]
        else:
            out[key] = np.concatenate([b[key] for b in batches])
    return out
