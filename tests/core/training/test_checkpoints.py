"""Checkpoint files: atomic writes, rotation to the newest ``keep``, safe and explained loading."""

from __future__ import annotations

import pickle
from pathlib import Path

import attrs
import pytest
import torch

from mlx_core.errors import MlxError
from mlx_core.training.checkpoints import list_checkpoints, load_checkpoint, save_checkpoint


@attrs.define
class Payload:
    """An arbitrary object: pickled into a checkpoint, it must not be unpickled on load."""

    value: int = 1


def state(step: int) -> dict:
    return {"step": step, "state": {"weights": {"w": torch.full((3,), float(step))}}}


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_save_keeps_exactly_the_keep_newest_checkpoints(tmp_path: Path) -> None:
    for step in (100, 200, 300, 400, 500):
        save_checkpoint(state(step), tmp_path, step, keep=3)
    assert [p.name for p in list_checkpoints(tmp_path)] == [
        "checkpoint-300.pt",
        "checkpoint-400.pt",
        "checkpoint-500.pt",
    ]


def test_save_deletes_the_oldest_checkpoint_first(tmp_path: Path) -> None:
    save_checkpoint(state(900), tmp_path, 900, keep=2)
    save_checkpoint(state(1000), tmp_path, 1000, keep=2)  # 1000 sorts before 900 as text
    save_checkpoint(state(1100), tmp_path, 1100, keep=2)
    assert names(tmp_path) == ["checkpoint-1000.pt", "checkpoint-1100.pt"]


def test_save_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = save_checkpoint(state(7), tmp_path, 7, keep=5)
    assert path == tmp_path / "checkpoint-7.pt"
    assert names(tmp_path) == ["checkpoint-7.pt"]


def test_saved_checkpoint_loads_back(tmp_path: Path) -> None:
    path = save_checkpoint(state(42), tmp_path, 42, keep=1)
    loaded = load_checkpoint(path)
    assert loaded["step"] == 42
    torch.testing.assert_close(loaded["state"]["weights"]["w"], torch.full((3,), 42.0))


def test_list_checkpoints_ignores_other_files(tmp_path: Path) -> None:
    save_checkpoint(state(1), tmp_path, 1, keep=5)
    (tmp_path / "checkpoint-final.pt").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    assert list_checkpoints(tmp_path) == [tmp_path / "checkpoint-1.pt"]


def test_truncated_checkpoint_error_names_the_file_and_the_previous_checkpoint(tmp_path: Path) -> None:
    previous = save_checkpoint(state(100), tmp_path, 100, keep=5)
    broken = save_checkpoint(state(200), tmp_path, 200, keep=5)
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(MlxError) as caught:
        load_checkpoint(broken)
    message = str(caught.value)
    assert str(broken) in message
    assert f"The previous checkpoint, {previous}, may be usable" in message


def test_unreadable_only_checkpoint_error_mentions_no_previous_checkpoint(tmp_path: Path) -> None:
    broken = tmp_path / "checkpoint-5.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(MlxError, match="cannot be read") as caught:
        load_checkpoint(broken)
    assert "No earlier checkpoint" in str(caught.value)


def test_pickled_arbitrary_object_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint-1.pt"
    torch.save({"payload": Payload(3)}, path)
    with pytest.raises(MlxError) as caught:
        load_checkpoint(path)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value.__cause__, pickle.UnpicklingError)
