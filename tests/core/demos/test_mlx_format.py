"""mlx's .demo files: what DemoWriter writes reads back exactly, in bounded blocks, with the header's totals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlx_core.demos import DemoSteps, DemoWriter, iter_steps, read_info
from mlx_core.demos import mlx_demo_pb2 as pb
from mlx_core.demos.format import MAGIC_BYTES, decode_varint, encode_varint, header_message
from mlx_core.demos.reader import read_header
from tests.core.demos.conftest import SPEC, random_records


def episode_totals(records: dict) -> tuple[int, float]:
    """Finished episodes and their mean return, one record at a time (the plain definition)."""
    running: dict[int, float] = {}
    returns = []
    for reward, done, agent in zip(records["rewards"], records["dones"], records["agent_ids"]):
        running[agent] = running.get(agent, 0.0) + float(reward)
        if done:
            returns.append(running.pop(agent))
    return len(returns), float(np.mean(returns)) if returns else 0.0


def test_written_records_read_back_exactly(demo_file: tuple[Path, dict]) -> None:
    path, records = demo_file
    steps = DemoSteps.concat(list(iter_steps(path, chunk=128)))
    for read, written in zip(steps.observations, records["observations"]):
        assert read.dtype == np.float32 and np.array_equal(read, written)
    assert np.array_equal(steps.continuous_actions, records["continuous_actions"])
    assert steps.discrete_actions.dtype == np.int64 and np.array_equal(
        steps.discrete_actions, records["discrete_actions"]
    )
    assert np.array_equal(steps.rewards, records["rewards"])
    assert np.array_equal(steps.dones, records["dones"])
    assert np.array_equal(steps.interrupted, records["interrupted"])
    assert steps.action_masks is not None and np.array_equal(steps.action_masks, records["action_masks"])
    assert np.array_equal(steps.agent_ids, records["agent_ids"])


def test_iter_steps_yields_chunks_of_the_requested_size(demo_file: tuple[Path, dict]) -> None:
    path, records = demo_file
    assert [len(s) for s in iter_steps(path, chunk=300)] == [300, 300, 300, 100]
    one_by_one = DemoSteps.concat(list(iter_steps(path, chunk=1)))  # the reader reuses its buffer: no aliasing
    assert np.array_equal(one_by_one.observations[1], records["observations"][1])
    assert np.array_equal(one_by_one.rewards, records["rewards"])


def test_header_holds_the_totals_of_interleaved_agents(demo_file: tuple[Path, dict]) -> None:
    path, records = demo_file
    episodes, mean_return = episode_totals(records)
    info = read_info(path)
    assert (info.format, info.behavior_name, info.spec, info.steps) == ("mlx", "Walker", SPEC, 1000)
    assert info.episodes == episodes
    assert info.mean_return == pytest.approx(mean_return, rel=1e-5)
    with open(path, "rb") as f:
        header, _ = read_header(f, path, path.stat().st_size)
    assert (header.steps, header.episodes, header.complete) == (1000, episodes, True)
    assert header.mean_return == pytest.approx(mean_return, rel=1e-5)


def test_file_starts_with_the_magic_header(demo_file: tuple[Path, dict]) -> None:
    head = demo_file[0].read_bytes()[:16]
    decoded = decode_varint(head, 0)
    assert decoded is not None and head[decoded[1] :].startswith(MAGIC_BYTES)


def test_records_are_protobufs_own_encoding(demo_file: tuple[Path, dict]) -> None:
    """The writer's vectorised bytes equal protobuf's serialisation of each DemoStep message."""
    path, records = demo_file
    data = path.read_bytes()
    header_length, start = decode_varint(data, 0) or (0, 0)
    offset = start + header_length
    for i in range(5):
        message = pb.DemoStep(
            observations=[o[i].tobytes() for o in records["observations"]],
            continuous_actions=records["continuous_actions"][i],
            discrete_actions=records["discrete_actions"][i],
            reward=records["rewards"][i],
            done=bool(records["dones"][i]),
            interrupted=bool(records["interrupted"][i]),
            action_mask=records["action_masks"][i].astype(np.uint8).tobytes(),
            agent_id=int(records["agent_ids"][i]),
        ).SerializeToString()
        record = encode_varint(len(message)) + message
        assert data[offset : offset + len(record)] == record
        offset += len(record)


def test_records_in_another_valid_encoding_are_read(tmp_path: Path) -> None:
    """A file from another writer (defaults omitted, no mask) reads through protobuf's parser."""
    records = random_records(20)
    header = header_message("Walker", SPEC)
    header.steps, header.complete = 20, True
    header.episodes, _ = episode_totals(records)
    body = bytearray()
    for i in range(20):
        step = pb.DemoStep(
            observations=[o[i].tobytes() for o in records["observations"]],
            continuous_actions=records["continuous_actions"][i],
            discrete_actions=records["discrete_actions"][i],
            agent_id=int(records["agent_ids"][i]),
        )
        if records["dones"][i]:  # explicit presence: rewards and flags only where set
            step.done = True
        if i % 2:
            step.reward = float(records["rewards"][i])
        data = step.SerializeToString()
        body += encode_varint(len(data)) + data
    data = header.SerializeToString()
    path = tmp_path / "other.demo"
    path.write_bytes(encode_varint(len(data)) + data + bytes(body))
    steps = DemoSteps.concat(list(iter_steps(path)))
    assert len(steps) == 20 and read_info(path).steps == 20
    assert np.array_equal(steps.observations[1], records["observations"][1])
    assert np.array_equal(steps.rewards[1::2], records["rewards"][1::2]) and not steps.rewards[::2].any()
    assert steps.action_masks is not None and steps.action_masks.all()


def test_a_failed_recording_leaves_no_demo_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.demo"
    with pytest.raises(RuntimeError), DemoWriter(path, "Walker", SPEC) as writer:
        writer.add(**random_records(10))
        raise RuntimeError("simulator crashed")
    assert not path.exists() and (tmp_path / "broken.demo.partial").exists()


def test_wrong_array_shapes_are_refused(tmp_path: Path) -> None:
    records = random_records(10)
    records["continuous_actions"] = records["continuous_actions"][:, :1]
    with DemoWriter(tmp_path / "x.demo", "Walker", SPEC) as writer, pytest.raises(ValueError, match="continuous"):
        writer.add(**records)


def test_spec_without_discrete_actions_has_no_masks(tmp_path: Path) -> None:
    from mlx_core.env.base import ActionSpec, BehaviorSpec, ObservationSpec

    spec = BehaviorSpec((ObservationSpec((8,)),), ActionSpec(continuous_size=2))
    with DemoWriter(tmp_path / "ball.demo", "3DBall", spec) as writer:
        n = 5
        writer.add(
            [np.ones((n, 8), np.float32)], np.zeros((n, 2)), np.zeros((n, 0)), np.ones(n), np.eye(n)[4] > 0, np.zeros(n)
        )
    info = writer.close()
    assert (info.steps, info.episodes, info.mean_return) == (5, 1, 5.0)
    (steps,) = iter_steps(tmp_path / "ball.demo")
    assert steps.action_masks is None and steps.discrete_actions.shape == (5, 0)
