"""Where a run's files go under ``results/<run-id>/``."""

from __future__ import annotations

import re
from pathlib import Path


def safe_name(behavior: str) -> str:
    """A behavior name usable as a folder and file name (``ALE/Pong-v5`` -> ``ALE_Pong-v5``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", behavior)


def behavior_path(run_dir: Path, behavior: str) -> Path:
    """``results/<run-id>/<Behavior>/`` (not created: see :func:`behavior_dir`)."""
    return run_dir / safe_name(behavior)


def behavior_dir(run_dir: Path, behavior: str) -> Path:
    """``results/<run-id>/<Behavior>/``, created on first use."""
    path = behavior_path(run_dir, behavior)
    path.mkdir(parents=True, exist_ok=True)
    return path
