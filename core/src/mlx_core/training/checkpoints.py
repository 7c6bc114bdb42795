"""Checkpoint files: written under a temporary name and renamed, loaded with ``weights_only``."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from mlx_core.errors import MlxError

_PATTERN = re.compile(r"checkpoint-(\d+)\.pt$")


def save_checkpoint(state: dict[str, Any], folder: Path, step: int, keep: int) -> Path:
    """Write ``checkpoint-<step>.pt`` atomically, then delete the oldest beyond ``keep``."""
    path = folder / f"checkpoint-{step}.pt"
    tmp = folder / f".checkpoint-{step}.pt.tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)  # an interrupted save never leaves a half-written checkpoint
    for old in list_checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoint files of a behavior folder, oldest step first."""
    found = [(int(m.group(1)), p) for p in folder.glob("checkpoint-*.pt") if (m := _PATTERN.search(p.name))]
    return [p for _, p in sorted(found)]


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint (tensors and plain values only) or explain which file is unusable."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, wrong format, pickled objects
        older = [p for p in list_checkpoints(path.parent) if p != path]
        hint = f" The previous checkpoint is {older[-1]}." if older else ""
        raise MlxError(f"The checkpoint {path} cannot be read ({type(exc).__name__}: {exc}).{hint}") from exc
