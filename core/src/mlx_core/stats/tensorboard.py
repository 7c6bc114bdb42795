"""TensorBoard event files, one folder per behavior: ``results/<run-id>/<Behavior>/``."""

from __future__ import annotations

from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from mlx_core.stats.reporter import StatSummary, StatsWriter


class TensorBoardWriter(StatsWriter):
    """Writes each statistic's mean as a scalar at the behavior's step."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.writers: dict[str, SummaryWriter] = {}

    def write(self, behavior: str, step: int, summary: dict[str, StatSummary], state: dict[str, object]) -> None:
        """Add one scalar per statistic (training only: an inference run leaves the curves alone)."""
        if not state.get("training", True):
            return
        writer = self.writers.get(behavior)
        if writer is None:
            from mlx_core.training.paths import behavior_dir

            writer = self.writers[behavior] = SummaryWriter(str(behavior_dir(self.run_dir, behavior)))
        for key, stat in summary.items():
            writer.add_scalar(key, stat.mean, step)
        writer.flush()

    def close(self) -> None:
        """Close every event file."""
        for writer in self.writers.values():
            writer.close()
