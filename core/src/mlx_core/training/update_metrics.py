"""The ``--debug`` per-update metrics CSV (``run_logs/update_metrics.csv``)."""

from __future__ import annotations

import csv
from pathlib import Path

COLUMNS = [
    "behavior",
    "time_to_update_policy",
    "time_since_start",
    "time_for_last_experience_collection",
    "experiences_used",
    "mean_return",
]


class UpdateMetricsCSV:
    """Appends one row per trainer update."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists()
        self.file = path.open("a", newline="", encoding="utf-8")
        self.writer = csv.writer(self.file)
        if new:
            self.writer.writerow(COLUMNS)

    def add(self, behavior: str, update: float, since_start: float, collection: float, experiences: int, mean_return: float | None) -> None:
        """Write one row (``mean_return`` empty when no episode finished since the last update)."""
        self.writer.writerow(
            [behavior, f"{update:.6f}", f"{since_start:.3f}", f"{collection:.6f}", experiences, "" if mean_return is None else f"{mean_return:.6f}"]
        )
        self.file.flush()

    def close(self) -> None:
        """Close the file."""
        self.file.close()
