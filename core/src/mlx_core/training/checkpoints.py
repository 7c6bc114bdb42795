"""Checkpoint files: written under a temporary name and renamed, loaded with ``weights_only``.

A checkpoint is a dict of tensors and plain values::

    {"format": 1, "behavior": str, "trainer": str, "step": int,
     "spec": {...},          # the BehaviorSpec, so a model can be rebuilt without the env
     "rng": {...},           # torch / numpy / python generator states, for --resume
     "state": {...}}         # Trainer.state_dict()
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlx_core.env.base import ActionSpec, BehaviorSpec, ObservationSpec
from mlx_core.errors import MlxError

FORMAT = 1
_PATTERN = re.compile(r"checkpoint-(\d+)\.pt$")


def spec_to_dict(spec: BehaviorSpec) -> dict[str, Any]:
    """A BehaviorSpec as plain values."""
    return {
        "observation_shapes": [list(o.shape) for o in spec.observation_specs],
        "observation_names": [o.name for o in spec.observation_specs],
        "continuous_size": spec.action_spec.continuous_size,
        "discrete_branches": list(spec.action_spec.discrete_branches),
        "num_teams": spec.num_teams,
    }


def spec_from_dict(data: dict[str, Any]) -> BehaviorSpec:
    """Inverse of :func:`spec_to_dict`."""
    observations = tuple(
        ObservationSpec(tuple(shape), name) for shape, name in zip(data["observation_shapes"], data["observation_names"])
    )
    action = ActionSpec(data["continuous_size"], tuple(data["discrete_branches"]))
    return BehaviorSpec(observations, action, int(data.get("num_teams", 1)))  # checkpoints before teams: one


def rng_state() -> dict[str, Any]:
    """The global random generators' states, as tensors and plain values."""
    state: Any = np.random.get_state(legacy=True)
    _, keys, pos, has_gauss, cached = state
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos, "has_gauss": has_gauss, "cached": cached},
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Put back :func:`rng_state` output."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))


def save_checkpoint(payload: dict[str, Any], folder: Path, step: int, keep: int) -> Path:
    """Write ``checkpoint-<step>.pt`` atomically, then delete the oldest beyond ``keep``."""
    path = folder / f"checkpoint-{step}.pt"
    tmp = folder / f".checkpoint-{step}.pt.tmp"
    try:
        with tmp.open("wb") as file:
            torch.save({"format": FORMAT, **payload}, file)
            file.flush()
            os.fsync(file.fileno())  # on disk before the rename makes it the latest
    except BaseException:  # a failed save leaves every earlier file as it was, and no debris
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)  # an interrupted save never leaves a half-written checkpoint
    for old in list_checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def detached_copy(value: Any) -> Any:
    """A copy of a state dict whose tensors and arrays no later in-place change can reach.

    Cheaper than ``copy.deepcopy`` (no memo, no pickling protocol): used for the snapshot of
    each trainer's state after every completed update.
    """
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {key: detached_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [detached_copy(item) for item in value]
    if isinstance(value, tuple):
        items = [detached_copy(item) for item in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)  # named tuples too
    if isinstance(value, np.ndarray):
        return value.copy()
    return value  # numbers, strings, None: immutable


def list_checkpoints(folder: Path) -> list[Path]:
    """Checkpoint files of a behavior folder, oldest step first."""
    return sorted((p for p in folder.glob("checkpoint-*.pt") if _step(p) >= 0), key=_step)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint (tensors and plain values only) or explain which file is unusable."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(data, dict) or data.get("format") != FORMAT or "state" not in data:
            raise ValueError("not an mlx checkpoint")
        return data
    except Exception as exc:  # truncated zip, wrong format, pickled objects
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = re.sub(r"\x1b\[[0-9;]*m", "", reason)  # torch's messages carry terminal colours
        step = _step(path)  # -1 (no step in the name): no older checkpoint to point to
        older = [p for p in list_checkpoints(path.parent) if _step(p) < step]
        hint = (
            f" The previous checkpoint, {older[-1]}, may be usable: remove or move the damaged file and "
            f"run again."
            if older
            else " No earlier checkpoint exists in that folder."
        )
        raise MlxError(f"The checkpoint {path} cannot be read ({type(exc).__name__}: {reason}).{hint}") from exc


def _step(path: Path) -> int:
    match = _PATTERN.search(path.name)
    return int(match.group(1)) if match else -1


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest checkpoint of a behavior folder, or None."""
    found = list_checkpoints(folder)
    return found[-1] if found else None
