"""ELO ratings: how a game's result moves the ratings of the two policies that played it."""

from __future__ import annotations

K_FACTOR = 16.0
"""The most a single game can move a rating (the usual value for established players)."""


def expected_score(rating: float, opponent: float) -> float:
    """The score (1 win, 0.5 draw, 0 loss) that ``rating`` is expected to make against ``opponent``."""
    return 1.0 / (1.0 + 10.0 ** ((opponent - rating) / 400.0))


def rating_change(rating: float, opponent: float, score: float) -> float:
    """How much ``rating`` gains (the opponent loses as much) after scoring ``score`` against ``opponent``."""
    return K_FACTOR * (score - expected_score(rating, opponent))


def game_score(final_reward: float, interrupted: bool) -> float:
    """A finished episode as a game result: a positive last reward wins, a negative one loses;
    zero, or an episode cut by a step limit, is a draw."""
    if interrupted or final_reward == 0.0:
        return 0.5
    return 1.0 if final_reward > 0.0 else 0.0
