"""Reading mlx ``.demo`` files in bounded blocks: the header, step batches, and a validating walk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from google.protobuf.message import DecodeError

from mlx_core.demos import mlx_demo_pb2 as pb
from mlx_core.demos.format import MAGIC, RecordLayout, decode_varint, spec_of
from mlx_core.demos.records import DemoInfo, DemoSteps, EpisodeTally
from mlx_core.errors import DemoError

# Upper bound of the bytes read at once: memory stays flat whatever the file's size.
BLOCK_BYTES = 1 << 20


def truncated(path: Path, offset: int, detail: str) -> DemoError:
    """The error for a file that ends inside a record."""
    return DemoError(
        f"{path}: truncated at byte {offset}: {detail}. The file was cut short (an interrupted copy or "
        "recording); record or copy it again."
    )


def corrupt(path: Path, offset: int, detail: str) -> DemoError:
    """The error for bytes that are not a valid record."""
    return DemoError(f"{path}: corrupt data at byte {offset}: {detail}. The file is damaged; record or copy it again.")


def read_length_prefix(f: BinaryIO, path: Path, offset: int, size: int) -> tuple[int, int]:
    """The length varint of the record at ``offset``: (body length, body offset)."""
    f.seek(offset)
    head = f.read(10)
    try:
        decoded = decode_varint(head, 0)
    except ValueError:
        raise corrupt(path, offset, "a record's length prefix is not a varint") from None
    if decoded is None:
        raise truncated(path, offset, "the file ends inside a record's length prefix")
    length, used = decoded
    if offset + used + length > size:
        raise truncated(path, offset, f"a record of {length} bytes starts there but the file ends at byte {size}")
    return length, offset + used


def read_header(f: BinaryIO, path: Path, size: int) -> tuple[pb.DemoHeader, int]:
    """The header of an mlx file and the offset of its first step record."""
    length, start = read_length_prefix(f, path, 0, size)
    f.seek(start)
    try:
        header = pb.DemoHeader.FromString(f.read(length))
    except DecodeError as exc:
        raise corrupt(path, 0, f"the header does not decode ({exc})") from None
    if header.magic != MAGIC:
        raise corrupt(path, 0, "the header lacks mlx's magic text")
    if header.format_version != 1:
        raise DemoError(
            f"{path}: mlx demonstration format version {header.format_version}; this mlx reads version 1. "
            "Upgrade mlx-core to read it."
        )
    return header, start + length


def decode_rows(rows: np.ndarray, layout: RecordLayout, observations: bool = True) -> DemoSteps:
    """Records laid out as ``layout`` says, (k, size) uint8, as new arrays (observations empty unless asked).

    Every array returned is a copy, never a view of ``rows`` (whose buffer the reader reuses).
    """
    k = len(rows)
    spec, fields = layout.spec, layout.fields

    def values(name: str, dtype: str) -> np.ndarray:
        return rows[:, fields[name]].copy().view(dtype)  # a copy even where the slice is contiguous (one row)

    actions = spec.action_spec
    obs = []
    if observations:
        obs = [
            values(f"obs{i}", "<f4").astype(np.float32, copy=False).reshape(k, *o.shape)
            for i, o in enumerate(spec.observation_specs)
        ]
    return DemoSteps(
        observations=obs,
        continuous_actions=(
            values("continuous", "<f4").astype(np.float32, copy=False)
            if actions.continuous_size
            else np.zeros((k, 0), np.float32)
        ),
        discrete_actions=(
            values("discrete", "<i4").astype(np.int64) if actions.discrete_branches else np.zeros((k, 0), np.int64)
        ),
        rewards=values("reward", "<f4").astype(np.float32, copy=False).reshape(k),
        dones=rows[:, fields["done"].start].astype(bool),
        interrupted=rows[:, fields["interrupted"].start].astype(bool),
        action_masks=rows[:, fields["mask"]].astype(bool) if "mask" in fields else None,
        agent_ids=values("agent_id", "<i8").astype(np.int64, copy=False).reshape(k),
    )


def parse_record(body: bytes, path: Path, offset: int, layout: RecordLayout) -> DemoSteps:
    """One record that is valid protobuf but not in the writer's layout (another writer's encoding)."""
    try:
        step = pb.DemoStep.FromString(body)
    except DecodeError as exc:
        raise corrupt(path, offset, f"a step record does not decode ({exc})") from None
    spec = layout.spec
    actions = spec.action_spec
    n_mask = sum(actions.discrete_branches)
    shapes_ok = (
        len(step.observations) == len(spec.observation_specs)
        and all(len(b) == 4 * int(np.prod(o.shape)) for b, o in zip(step.observations, spec.observation_specs))
        and len(step.continuous_actions) == actions.continuous_size
        and len(step.discrete_actions) == len(actions.discrete_branches)
        and len(step.action_mask) in (0, n_mask)
    )
    if not shapes_ok:
        raise corrupt(path, offset, "a step record's sizes differ from the header's spec")
    mask = np.frombuffer(step.action_mask, np.uint8).astype(bool) if step.action_mask else np.ones(n_mask, bool)
    return DemoSteps(
        observations=[
            np.frombuffer(b, "<f4").astype(np.float32).reshape(1, *o.shape)
            for b, o in zip(step.observations, spec.observation_specs)
        ],
        continuous_actions=np.array([step.continuous_actions], np.float32).reshape(1, -1),
        discrete_actions=np.array([step.discrete_actions], np.int64).reshape(1, -1),
        rewards=np.array([step.reward], np.float32),
        dones=np.array([step.done]),
        interrupted=np.array([step.interrupted]),
        action_masks=mask.reshape(1, -1) if n_mask else None,
        agent_ids=np.array([step.agent_id], np.int64),
    )


def iter_mlx_steps(path: Path, chunk: int, observations: bool = True) -> Iterator[DemoSteps]:
    """Batches of up to ``chunk`` records (fewer where a block of BLOCK_BYTES holds fewer)."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        header, offset = read_header(f, path, size)
        layout = RecordLayout.of(spec_of(header))
        per_block = max(1, min(chunk, BLOCK_BYTES // layout.size))
        # One buffer for every block, so that memory does not churn: decode_rows copies what it returns.
        block = np.empty(per_block * layout.size, np.uint8)
        while offset < size:
            f.seek(offset)
            got = f.readinto(block.data)
            m = got // layout.size
            rows = block[: m * layout.size].reshape(m, layout.size)
            good = layout.matching_rows(rows)
            k = m if good.all() else int(np.argmin(good))
            if k:
                yield decode_rows(rows[:k], layout, observations)
                offset += k * layout.size
            if k < m or (m == 0 and offset < size):
                # a record in another encoding, a damaged one, or a tail shorter than one record
                try:
                    length, start = read_length_prefix(f, path, offset, size)
                except DemoError:
                    if size - offset < layout.size:
                        raise  # the file ends inside the last record: truncated
                    raise corrupt(path, offset, "a record's length prefix is damaged") from None
                f.seek(start)
                yield parse_record(f.read(length), path, offset, layout)
                offset = start + length


def read_mlx_info(path: Path) -> DemoInfo:
    """Walk every record of an mlx file (validating it) and return its summary."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        header, _ = read_header(f, path, size)
    tally = EpisodeTally()
    for steps in iter_mlx_steps(path, chunk=1 << 30, observations=False):
        tally.add(steps.rewards, steps.dones, steps.agent_ids)
    if not header.complete:
        raise DemoError(
            f"{path}: incomplete: its writer never closed it, so its header has no totals ({tally.records} whole "
            f"records, ending at byte {size}). The recording was interrupted; record it again."
        )
    if (header.steps, header.episodes) != (tally.records, tally.episodes):
        raise corrupt(
            path,
            0,
            f"the header states {header.steps} steps and {header.episodes} episodes but the file holds "
            f"{tally.records} records and {tally.episodes} finished episodes",
        )
    return DemoInfo(
        path=path,
        format="mlx",
        behavior_name=header.behavior_name,
        spec=spec_of(header),
        episodes=tally.episodes,
        steps=tally.records,
        mean_return=float(header.mean_return),
    )
