"""Demonstrated steps for cloning: read from ``.demo`` files, or labelled by a teacher as training goes."""

from __future__ import annotations

import numpy as np
import torch

from mlx_bc.cloning import DemoBatch
from mlx_core.demos import load_demos
from mlx_core.env.base import ActionTuple, BehaviorSpec
from mlx_core.logs import get_logger

log = get_logger()


def load_demo_batch(path: str, spec: BehaviorSpec, key: str, device: torch.device) -> DemoBatch:
    """Every step of the demonstrations at ``path`` (file or folder) that has an action, as tensors.

    A demonstration recorded for other observation or action shapes than ``spec``, a missing
    path or an empty folder raise :class:`~mlx_core.errors.DemoError` naming ``key``. A record
    that ends an episode holds the final observation and no action, so it is left out.
    """
    infos, steps = load_demos(path, spec, key=key)
    acted = steps.acted()
    batch = DemoBatch.from_arrays(
        acted.observations, acted.continuous_actions, acted.discrete_actions, acted.action_masks, device
    )
    log.info(
        "demonstrations_loaded",
        path=str(path),
        files=len(infos),
        episodes=sum(i.episodes for i in infos),
        steps=len(batch),
    )
    return batch


class LabelledSteps:
    """The latest ``capacity`` (observation, action, mask) steps, first in first out.

    Preallocated arrays written a batch at a time: online cloning adds every step's decisions.
    """

    def __init__(self, spec: BehaviorSpec, capacity: int) -> None:
        self.spec = spec
        self.capacity = capacity
        self.obs = [np.zeros((capacity, *o.shape), np.float32) for o in spec.observation_specs]
        self.continuous = np.zeros((capacity, spec.action_spec.continuous_size), np.float32)
        self.discrete = np.zeros((capacity, len(spec.action_spec.discrete_branches)), np.int64)
        self.masks = (
            np.ones((capacity, sum(spec.action_spec.discrete_branches)), bool) if spec.action_spec.is_discrete else None
        )
        self.size = 0
        self._next = 0  # the row the next step goes to

    def __len__(self) -> int:
        return self.size

    def add(self, obs: list[np.ndarray], actions: ActionTuple, masks: np.ndarray | None) -> None:
        """Keep ``n`` labelled steps, overwriting the oldest once full."""
        n = len(obs[0]) if obs else len(actions)
        if n > self.capacity:  # only the latest capacity steps can stay
            obs = [o[-self.capacity :] for o in obs]
            actions = ActionTuple(actions.continuous[-self.capacity :], actions.discrete[-self.capacity :])
            masks = None if masks is None else masks[-self.capacity :]
            n = self.capacity
        rows = (self._next + np.arange(n)) % self.capacity
        for store, o in zip(self.obs, obs):
            store[rows] = o
        self.continuous[rows] = actions.continuous
        self.discrete[rows] = actions.discrete
        if self.masks is not None:
            self.masks[rows] = True if masks is None else masks
        self._next = int((self._next + n) % self.capacity)
        self.size = min(self.capacity, self.size + n)

    def add_batch(self, batch: DemoBatch) -> None:
        """Keep the steps of a :class:`DemoBatch` (demonstrations that seed the buffer)."""
        actions = ActionTuple(batch.continuous.cpu().numpy(), batch.discrete.cpu().numpy())
        masks = None if batch.masks is None else batch.masks.cpu().numpy()
        self.add([o.cpu().numpy() for o in batch.obs], actions, masks)

    def batch(self, device: torch.device) -> DemoBatch:
        """The kept steps as tensors on ``device``."""
        n = self.size
        return DemoBatch.from_arrays(
            [o[:n] for o in self.obs],
            self.continuous[:n],
            self.discrete[:n],
            None if self.masks is None else self.masks[:n],
            device,
        )
