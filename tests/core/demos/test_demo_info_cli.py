"""`mlx demo info` through the installed command, and every bad input as one paragraph with exit status 1."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlx_core.demos import DemoError, DemoWriter, load_demos, read_info
from mlx_core.env.base import ActionSpec, BehaviorSpec, ObservationSpec
from tests.core.demos.conftest import SPEC, mlagents_demo_dir, random_records


def mlx(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("mlx")), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def fails_with_one_paragraph(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def test_info_on_a_folder_prints_each_file(tmp_path: Path, demo_file: tuple[Path, dict]) -> None:
    path, _ = demo_file
    shutil.copy(path, tmp_path / "a.demo")
    shared = mlagents_demo_dir() / "test.demo"
    if shared.is_file():
        (tmp_path / "b.demo").symlink_to(shared)
    (tmp_path / "notes.txt").write_text("not a demonstration")
    result = mlx("demo", "info", tmp_path)
    assert result.returncode == 0, result.stderr
    info = read_info(path)
    block = result.stdout.split("\n\n")[0]
    assert str(tmp_path / "a.demo") in block
    assert "format:       mlx" in block and "behavior:     Walker" in block
    assert "observations: [3] and [4x5x2]" in block
    assert "actions:      continuous 2 + discrete 2 branches (3, 2)" in block
    assert f"episodes:     {info.episodes}\n" in block and "steps:        1000\n" in block
    assert f"mean return:  {info.mean_return:.4g}" in block
    assert "notes.txt" not in result.stdout
    if shared.is_file():
        ball = result.stdout.split("\n\n")[1]
        assert "format:       ml-agents" in ball and "behavior:     3DBall?team=0" in ball
        assert "steps:        2144" in ball and "episodes:     22" in ball and "actions:      continuous 2" in ball


def test_truncated_mlx_file_names_the_file_and_byte_offset(tmp_path: Path, demo_file: tuple[Path, dict]) -> None:
    path, _ = demo_file
    data = path.read_bytes()
    cut = tmp_path / "cut.demo"
    cut.write_bytes(data[:-10])
    record_size = (len(data) - len(read_header_bytes(data))) // 1000
    last_record = len(data) - record_size
    stderr = fails_with_one_paragraph(mlx("demo", "info", cut))
    assert f"{cut}: truncated at byte {last_record}" in stderr


def read_header_bytes(data: bytes) -> bytes:
    from mlx_core.demos.format import decode_varint

    length, start = decode_varint(data, 0) or (0, 0)
    return data[: start + length]


@pytest.mark.parametrize("damaged", [1, 2], ids=["length_prefix", "first_tag"])
def test_corrupt_mlx_record_names_the_byte_offset(damaged: int, demo_file: tuple[Path, dict]) -> None:
    path, _ = demo_file
    data = bytearray(path.read_bytes())
    header = len(read_header_bytes(bytes(data)))
    record_size = (len(data) - header) // 1000
    bad = header + 500 * record_size
    data[bad + damaged] = 0xFF  # the 501st record's 2-byte length prefix, or its first tag (no such wire type)
    path.write_bytes(bytes(data))
    stderr = fails_with_one_paragraph(mlx("demo", "info", path))
    assert f"{path}: corrupt data at byte {bad}" in stderr


def test_not_a_demo_file(tmp_path: Path) -> None:
    path = tmp_path / "photo.demo"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    stderr = fails_with_one_paragraph(mlx("demo", "info", path))
    assert f"{path}: corrupt data at byte 0" in stderr and "neither" in stderr


def test_missing_path_names_the_argument_and_path(tmp_path: Path) -> None:
    stderr = fails_with_one_paragraph(mlx("demo", "info", tmp_path / "nowhere.demo"))
    assert f"PATH: {tmp_path / 'nowhere.demo'} does not exist" in stderr


def test_empty_folder_says_so(tmp_path: Path) -> None:
    stderr = fails_with_one_paragraph(mlx("demo", "info", tmp_path))
    assert f"the folder {tmp_path} holds no .demo files" in stderr


def test_missing_demo_path_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(DemoError, match=rf"behaviors.Walker.demo_path: {tmp_path / 'x'} does not exist"):
        load_demos(tmp_path / "x", key="behaviors.Walker.demo_path")


def test_mismatching_spec_shows_both_specs(demo_file: tuple[Path, dict]) -> None:
    path, _ = demo_file
    env_spec = BehaviorSpec((ObservationSpec((8,)),), ActionSpec(continuous_size=2))
    with pytest.raises(DemoError) as caught:
        load_demos(path, env_spec, key="behaviors.Walker.demo_path")
    message = str(caught.value)
    assert message.startswith(f"behaviors.Walker.demo_path: {path} was recorded for")
    assert "observations [3] and [4x5x2]; actions: continuous 2 + discrete 2 branches (3, 2)" in message
    assert "the environment's behavior has observations [8]; actions: continuous 2" in message


def test_folder_mixing_two_specs_is_refused(tmp_path: Path, demo_file: tuple[Path, dict]) -> None:
    path, _ = demo_file
    shutil.copy(path, tmp_path / "a.demo")
    other = BehaviorSpec((ObservationSpec((3,)),), ActionSpec(continuous_size=1))
    with DemoWriter(tmp_path / "b.demo", "Other", other) as writer:
        writer.add(
            [np.zeros((2, 3), np.float32)], np.zeros((2, 1)), np.zeros((2, 0)), np.zeros(2), np.zeros(2), np.zeros(2)
        )
    with pytest.raises(DemoError, match="b.demo was recorded for observations \\[3\\]; actions: continuous 1"):
        load_demos(tmp_path)


def test_load_demos_concatenates_a_folder(tmp_path: Path) -> None:
    for name, seed in (("a.demo", 1), ("b.demo", 2)):
        with DemoWriter(tmp_path / name, "Walker", SPEC) as writer:
            writer.add(**random_records(50, seed=seed))
    infos, steps = load_demos(tmp_path, SPEC)
    assert [i.path.name for i in infos] == ["a.demo", "b.demo"] and len(steps) == 100
    assert np.array_equal(steps.observations[0][50:], random_records(50, seed=2)["observations"][0])
