"""Plain summary lines on stdout, one per behavior and summary period."""

from __future__ import annotations

import click

from mlx_core.stats.reporter import StatSummary, StatsWriter

REWARD = "Environment/Cumulative Reward"


def summary_line(behavior: str, step: int, summary: dict[str, StatSummary], state: dict[str, object]) -> str:
    """``<Behavior>. Step: N. Time Elapsed: T s. Mean Reward: R. Std of Reward: S. Training.``"""
    line = f"{behavior}. Step: {step}. Time Elapsed: {state['elapsed']:.1f} s."
    reward = summary.get(REWARD)
    if reward is not None:
        line += f" Mean Reward: {reward.mean:.3f}. Std of Reward: {reward.std:.3f}."
    else:
        line += " No episode was completed since last summary."
    elo = summary.get("Self-play/ELO")
    if elo is not None:  # self-play's rating, as ML-Agents prints it
        line += f" ELO: {elo.mean:.3f}."
    return line + (" Training." if state.get("training", True) else " Not Training.")


class ConsoleWriter(StatsWriter):
    """Prints a :func:`summary_line` per behavior and summary period (for pipes and log files)."""

    def write(self, behavior: str, step: int, summary: dict[str, StatSummary], state: dict[str, object]) -> None:
        """Print one line."""
        click.echo(summary_line(behavior, step, summary, state))
