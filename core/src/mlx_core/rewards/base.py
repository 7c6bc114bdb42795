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

    Trainers call :meth:`evaluate` on the trajectories as they arrive and :meth:`update` once
    per trainer update with every trajectory since the previous one; both receive the dict of
    :func:`trajectory_batch`, and both may get several trajectories concatenated in one batch
    (see :func:`evaluate_signals`): a step's reward comes from its own row, and ``done`` marks
    the true episode ends. A signal that must see one trajectory at a time sets
    ``per_trajectory``. Trainers with value functions give each signal its own value
    head and sum the signals' advantages. The signal's :meth:`state_dict` goes into checkpoints.
    """

    #: the signal's word in TensorBoard tags (``Policy/<label> Reward``, ``Losses/<label> ...``);
    #: None: its ``reward_signals`` key capitalised (``extrinsic`` -> ``Extrinsic``)
    label: ClassVar[str | None] = None

    #: True: :meth:`evaluate` gets one trajectory per call, never several concatenated (for a
    #: signal whose rewards depend on where a trajectory starts); False scores many at once,
    #: which on a model-based signal costs one network pass instead of one per trajectory
    per_trajectory: ClassVar[bool] = False

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


def evaluate_signals(batches: list[dict[str, Any]], signals: dict[str, RewardSignal]) -> list[np.ndarray]:
    """Every signal's rewards for each of ``batches`` (:func:`trajectory_batch` dicts): one
    (T_i, len(signals)) array per batch, columns in the order of ``signals``.

    Each signal scores all the batches in one :meth:`RewardSignal.evaluate` call on their
    concatenation (unless it is ``per_trajectory``): trajectories arrive a few dozen steps at a
    time from many agents, and a network's cost per call outweighs its cost per row there.
    """
    if not batches:
        return []
    lengths = [len(b["done"]) for b in batches]
    joined = batches[0] if len(batches) == 1 else concatenate_batches(batches)
    columns = [
        np.concatenate([s.evaluate(b) for b in batches])
        if s.per_trajectory and len(batches) > 1
        else s.evaluate(joined)
        for s in signals.values()
    ]
    rewards = (
        np.stack(columns, axis=1).astype(np.float32, copy=False) if columns else np.zeros((sum(lengths), 0), np.float32)
    )
    return np.split(rewards, np.cumsum(lengths)[:-1])
