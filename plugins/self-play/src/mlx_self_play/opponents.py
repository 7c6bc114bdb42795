"""The window of past policies that opponents are drawn from, with their ratings."""

from __future__ import annotations

import collections
from typing import Any

import numpy as np
import torch

from mlx_self_play.elo import rating_change

LATEST = -1
"""The opponent index meaning "the learning policy as it was at the draw"."""

Weights = dict[str, torch.Tensor]


def frozen_weights(network: torch.nn.Module) -> Weights:
    """A copy of ``network``'s parameters and buffers that later updates cannot change."""
    return {key: value.detach().clone() for key, value in network.state_dict().items()}


class OpponentPool:
    """Snapshots of the learning policy (the latest ``window``), each with an ELO rating, and
    the learning policy's own rating.

    A game result moves the learner's rating and the current opponent's in opposite
    directions. Playing against the latest policy rates it like a snapshot taken at the draw.
    """

    def __init__(self, window: int, initial_elo: float, latest_ratio: float, seed: int) -> None:
        self.snapshots: collections.deque[Weights] = collections.deque(maxlen=window)
        self.ratings: collections.deque[float] = collections.deque(maxlen=window)
        self.elo = initial_elo
        self.latest_ratio = latest_ratio
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.current: int = LATEST
        self.current_rating = initial_elo
        self.games = 0

    def save(self, weights: Weights) -> None:
        """Add a snapshot of the learning policy, rated as the learner is now (the oldest leaves)."""
        self.snapshots.append(weights)
        self.ratings.append(self.elo)

    def draw(self, latest: Weights) -> Weights:
        """Pick the next opponent: ``latest`` with the configured chance, else a snapshot of the
        window; return its weights."""
        if not self.snapshots or self.rng.random() < self.latest_ratio:
            self.current, self.current_rating = LATEST, self.elo
            return latest
        self.current = int(self.rng.integers(len(self.snapshots)))
        self.current_rating = self.ratings[self.current]
        return self.snapshots[self.current]

    def record(self, score: float) -> None:
        """Account one game of the learner against the current opponent (1 win, 0.5 draw, 0 loss)."""
        change = rating_change(self.elo, self.current_rating, score)
        self.elo += change
        self.current_rating -= change
        if self.current != LATEST:
            self.ratings[self.current] = self.current_rating
        self.games += 1

    def state_dict(self) -> dict[str, Any]:
        """Snapshots and ratings, as tensors and plain values."""
        return {
            "snapshots": list(self.snapshots),
            "ratings": list(self.ratings),
            "elo": self.elo,
            "games": self.games,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output (the window keeps its configured length)."""
        self.snapshots.clear()
        self.snapshots.extend(state["snapshots"])
        self.ratings.clear()
        self.ratings.extend(float(r) for r in state["ratings"])
        self.elo = float(state["elo"])
        self.games = int(state["games"])
        self.rng = np.random.default_rng([self.seed, self.games])  # resumed draws differ from the first run's
