"""``run_logs/training_status.json``: each behavior's step, checkpoints and lesson."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from mlx_core import __version__


class TrainingStatus:
    """What a later ``--resume`` or a person needs to know about a run's progress."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {}
        if path.exists():  # a resumed run keeps its history
            with contextlib.suppress(OSError, ValueError):  # an unreadable file is started afresh
                self.data.update(json.loads(path.read_text()))
        self.data["metadata"] = {"mlx_version": __version__, "torch_version": torch.__version__}

    def behavior(self, name: str) -> dict[str, Any]:
        """The mutable record of one behavior."""
        return self.data.setdefault(name, {"step": 0, "checkpoints": [], "lesson": None})

    def checkpoint(self, name: str, step: int, path: Path, mean_reward: float | None, keep: int) -> None:
        """Record a saved checkpoint (the list follows the files kept on disk)."""
        record = self.behavior(name)
        record["step"] = step
        record["checkpoints"].append(
            {"step": step, "path": str(path), "mean_reward": mean_reward, "created": time.time()}
        )
        record["checkpoints"] = [c for c in record["checkpoints"] if Path(c["path"]).exists()][-keep:]
        self.write()

    def write(self) -> None:
        """Write the file atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=2))
        os.replace(tmp, self.path)
