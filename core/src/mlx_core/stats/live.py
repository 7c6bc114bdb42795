"""A live table on a terminal: one row per behavior with progress, reward, speed and state."""

from __future__ import annotations

import sys
import time
from collections import deque

import attrs
from rich.console import Console
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table

from mlx_core.stats.console import REWARD, ConsoleWriter, summary_line
from mlx_core.stats.reporter import StatSummary, StatsWriter

LESSON = "Environment/Lesson"
ELO = "Self-play/ELO"  # written by self-play; the column shows only when some behavior has it
REFRESH_INTERVAL_S = 0.25  # at most four redraws a second
SPEED_WINDOW_S = 10.0  # steps per second is measured over the last progress calls in this window
NONE = "—"


def console_writer() -> StatsWriter:
    """The live view on a terminal; plain summary lines anywhere else, so log files stay readable."""
    return LiveViewWriter() if sys.stdout.isatty() else ConsoleWriter()


@attrs.define
class _Row:
    """What the table shows for one behavior."""

    step: int = 0
    max_steps: int = 0
    state: str = "waiting for env"
    reward: StatSummary | None = None
    lesson: float | None = None
    elo: float | None = None
    steps_per_second: float | None = None
    recent: deque[tuple[float, int]] = attrs.field(factory=lambda: deque(maxlen=64))


class LiveViewWriter(StatsWriter):
    """Redraws a table in place between summaries; summary lines scroll above it as history.

    The display starts on the first call and stops in :meth:`close`, which leaves the final
    table on screen.
    """

    def __init__(self, console: Console | None = None) -> None:
        self.console = console if console is not None else Console(file=sys.stdout)
        self.rows: dict[str, _Row] = {}
        self.start = time.perf_counter()
        self._live: Live | None = None
        self._last_refresh = 0.0

    def write(self, behavior: str, step: int, summary: dict[str, StatSummary], state: dict[str, object]) -> None:
        """Print the summary line above the table and show the period's reward and lesson."""
        row = self.rows.setdefault(behavior, _Row())
        row.step = max(row.step, step)
        max_steps, speed = state.get("max_steps"), state.get("steps_per_second")
        if isinstance(max_steps, int):
            row.max_steps = max_steps
        if isinstance(speed, (int, float)) and len(row.recent) < 2:  # progress calls measure it better
            row.steps_per_second = float(speed)
        row.reward = summary.get(REWARD)
        if LESSON in summary:
            row.lesson = summary[LESSON].mean
        if ELO in summary:
            row.elo = summary[ELO].mean
        # printed through Live's console, so the line scrolls above the table
        self._display().console.print(summary_line(behavior, step, summary, state), markup=False, highlight=False)
        self._refresh(force=True)

    def progress(self, behavior: str, step: int, max_steps: int, state: str) -> None:
        """Move the behavior's bar and update its speed and state."""
        row = self.rows.setdefault(behavior, _Row())
        now = time.perf_counter()
        row.step, row.max_steps, row.state = step, max_steps, state
        row.recent.append((now, step))
        while row.recent and now - row.recent[0][0] > SPEED_WINDOW_S:
            row.recent.popleft()
        if len(row.recent) >= 2 and now > row.recent[0][0]:
            row.steps_per_second = (step - row.recent[0][1]) / (now - row.recent[0][0])
        self._display()
        self._refresh()

    def close(self) -> None:
        """Draw the final table and give the terminal back."""
        if self._live is None:
            return
        for row in self.rows.values():
            if row.state == "training" and row.max_steps and row.step >= row.max_steps:
                row.state = "finished"  # the controller stops calling progress once every trainer is done
        self._live.update(self._table(), refresh=True)
        self._live.stop()
        self._live = None

    def _display(self) -> Live:
        if self._live is None:
            self._live = Live(self._table(), console=self.console, auto_refresh=False)
            self._live.start()
        return self._live

    def _refresh(self, force: bool = False) -> None:
        now = time.perf_counter()
        if self._live is not None and (force or now - self._last_refresh >= REFRESH_INTERVAL_S):
            self._last_refresh = now
            self._live.update(self._table(), refresh=True)

    def _table(self) -> Table:
        # Only the bar shrinks on a narrow terminal: one 80-column row holds a 14-letter name,
        # every number and a short bar.
        gap = 2 if self.console.width >= 100 else 1
        table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, gap, 0, 0))
        table.add_column("Behavior", no_wrap=True, overflow="ellipsis")
        table.add_column("Progress", max_width=24)
        with_elo = any(row.elo is not None for row in self.rows.values())
        for column in ("Step", "Reward", "Steps/s", "Time", "ETA", "Lesson", *(("ELO",) if with_elo else ()), "State"):
            table.add_column(column, no_wrap=True)
        elapsed = time.perf_counter() - self.start
        for behavior, row in self.rows.items():
            total = max(row.max_steps, 1)
            reward = NONE if row.reward is None else f"{row.reward.mean:.3f} ± {row.reward.std:.3f}"
            speed = row.steps_per_second
            eta = NONE
            if speed and row.step < row.max_steps and row.state == "training":
                eta = _duration((row.max_steps - row.step) / speed)
            table.add_row(
                behavior,
                ProgressBar(total=total, completed=min(row.step, total)),
                f"{row.step}/{row.max_steps}",
                reward,
                NONE if speed is None else f"{speed:,.0f}",
                _duration(elapsed),
                eta,
                NONE if row.lesson is None else f"{row.lesson:g}",
                *((NONE if row.elo is None else f"{row.elo:.0f}",) if with_elo else ()),
                row.state,
            )
        return table


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
