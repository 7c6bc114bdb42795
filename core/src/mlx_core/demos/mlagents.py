"""Reading Unity ML-Agents' ``.demo`` files, from the format's public message definitions.

Layout: a length-delimited metadata message at byte 0, zero padding up to byte 33, one
length-delimited brain (behavior) message, then one length-delimited (agent step, action)
pair per agent per decision until the end of the file. ``mlagents_demo.proto`` declares the
fields read here. ML-Agents stores an action mask as True = *not* allowed, mlx as True =
allowed; older files keep actions in one float field (discrete choices as floats), newer ones
in separate continuous and discrete fields; both are read.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from google.protobuf.message import DecodeError

from mlx_core.demos import mlagents_demo_pb2 as pb
from mlx_core.demos.format import decode_varint
from mlx_core.demos.reader import BLOCK_BYTES, corrupt, read_length_prefix, truncated
from mlx_core.demos.records import DemoInfo, DemoSteps, EpisodeTally
from mlx_core.env.base import ActionSpec, BehaviorSpec, ObservationSpec

BRAIN_OFFSET = 33  # ML-Agents pads its metadata so the brain message starts here
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_DISCRETE, _CONTINUOUS = 0, 1  # the older space-type field
_PNG = 1  # compression_type


def looks_like_mlagents(head: bytes) -> bool:
    """True when ``head`` (a file's first 64 bytes) has ML-Agents' metadata, padding and brain record."""
    try:
        decoded = decode_varint(head, 0)
        if decoded is None or decoded[1] + decoded[0] > BRAIN_OFFSET or len(head) <= BRAIN_OFFSET:
            return False
        length, start = decoded
        if head[start : start + 1] != b"\x08" or any(head[start + length : BRAIN_OFFSET]):
            return False  # the metadata starts with its api_version, and zeros pad it
        meta = pb.DemoMetadata.FromString(head[start : start + length])
    except (ValueError, DecodeError):
        return False
    return meta.api_version >= 1


def iter_records(f: BinaryIO, path: Path, offset: int, size: int) -> Iterator[tuple[int, bytes]]:
    """(offset, body) of each length-delimited record from ``offset`` up to ``size``, reading in blocks."""
    buf = b""
    base = offset  # file offset of buf[0]
    pos = 0
    f.seek(offset)
    while base + pos < size:
        try:
            decoded = decode_varint(buf, pos)
        except ValueError:
            raise corrupt(path, base + pos, "a record's length prefix is not a varint") from None
        end = None if decoded is None else decoded[1] + decoded[0]
        if end is None or end > len(buf):
            missing = BLOCK_BYTES if end is None else max(BLOCK_BYTES, end - len(buf))
            more = f.read(min(missing, size - base - len(buf)))  # never past `size`, which may be before EOF
            if not more:
                length, _ = read_length_prefix(f, path, base + pos, size)  # raises the precise error
                raise truncated(path, base + pos, f"a record of {length} bytes is cut short")
            buf, base, pos = buf[pos:] + more, base + pos, 0
            continue
        assert decoded is not None
        yield base + pos, buf[decoded[1] : end]
        pos = end


def _header(f: BinaryIO, path: Path, size: int) -> tuple[pb.DemoMetadata, pb.Brain, int, int]:
    """The metadata, the brain, and where the step records start and end."""
    length, start = read_length_prefix(f, path, 0, size)
    f.seek(start)
    meta_bytes = f.read(length)
    try:
        meta = pb.DemoMetadata.FromString(meta_bytes)
    except DecodeError as exc:
        raise corrupt(path, 0, f"the ML-Agents metadata does not decode ({exc})") from None
    length, start = read_length_prefix(f, path, BRAIN_OFFSET, size)
    f.seek(start)
    try:
        brain = pb.Brain.FromString(f.read(length))
    except DecodeError as exc:
        raise corrupt(path, BRAIN_OFFSET, f"the ML-Agents brain parameters do not decode ({exc})") from None
    # ML-Agents' recorder may leave a bare copy of its metadata after the last record (test.demo
    # does); it is not a record, and ML-Agents' own loader stops before it.
    end = size
    if size - len(meta_bytes) >= start + length:
        f.seek(size - len(meta_bytes))
        if f.read() == meta_bytes:
            end = size - len(meta_bytes)
    return meta, brain, start + length, end


def action_spec_of(brain: pb.Brain) -> ActionSpec:
    """The actions a brain message states, in its newer action_spec or its older size and type fields."""
    new = brain.action_spec
    if brain.HasField("action_spec") and (new.num_continuous_actions or new.discrete_branch_sizes):
        return ActionSpec(new.num_continuous_actions, tuple(new.discrete_branch_sizes))
    if brain.vector_action_space_type == _CONTINUOUS:
        return ActionSpec(continuous_size=sum(brain.vector_action_size))
    return ActionSpec(discrete_branches=tuple(brain.vector_action_size))


def _parse(body: bytes, path: Path, offset: int) -> pb.StepPair:
    try:
        return pb.StepPair.FromString(body)
    except DecodeError as exc:
        raise corrupt(path, offset, f"an agent step record does not decode ({exc})") from None


def _walk(path: Path) -> Iterator[tuple[pb.DemoMetadata, pb.Brain, int, pb.StepPair]]:
    """(metadata, brain, offset, record) for every step record of the file."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        meta, brain, offset, end = _header(f, path, size)
        for record_offset, body in iter_records(f, path, offset, end):
            yield meta, brain, record_offset, _parse(body, path, record_offset)


def spec_of(brain: pb.Brain, first: pb.StepPair) -> BehaviorSpec:
    """The behavior spec: actions from the brain, observation shapes from the first record (ML-Agents keeps them there)."""
    observations = tuple(
        ObservationSpec(shape=tuple(o.shape), name=f"obs_{i}") for i, o in enumerate(first.agent_info.observations)
    )
    return BehaviorSpec(observation_specs=observations, action_spec=action_spec_of(brain))


def record_checker(spec: BehaviorSpec) -> Callable[[pb.StepPair, Path, int], None]:
    """A check that a record's observation shapes, action sizes and mask length fit ``spec``."""
    shapes = [list(o.shape) for o in spec.observation_specs]
    counts = [math.prod(o.shape) for o in spec.observation_specs]
    a = spec.action_spec
    allowed = {(0, 0, 0), (a.continuous_size + a.discrete_size, 0, 0), (0, a.continuous_size, a.discrete_size)}
    mask_lengths = (0, sum(a.discrete_branches))

    def check(record: pb.StepPair, path: Path, offset: int) -> None:
        info = record.agent_info
        observations = info.observations
        if len(observations) != len(shapes) or any(o.shape != s for o, s in zip(observations, shapes)):
            found = [list(o.shape) for o in observations]
            raise corrupt(path, offset, f"a record has observation shapes {found} where the first record had {shapes}")
        for o, count in zip(observations, counts):
            if o.compression_type != _PNG and len(o.float_data.data) != count:
                raise corrupt(
                    path, offset, f"an observation of shape {list(o.shape)} holds {len(o.float_data.data)} values"
                )
        actions = record.action_info
        sizes = (len(actions.vector_actions), len(actions.continuous_actions), len(actions.discrete_actions))
        if sizes not in allowed or len(info.action_mask) not in mask_lengths:
            raise corrupt(path, offset, f"a record's actions or action mask do not fit the brain's {a}")

    return check


def read_mlagents_info(path: Path) -> DemoInfo:
    """Walk every record of an ML-Agents file (validating shapes) and return its summary.

    Steps, episodes and mean return are the metadata's figures where it states any (they may
    differ from the record count by a few), else counted from the records.
    """
    tally = EpisodeTally()
    spec: BehaviorSpec | None = None
    meta, brain = pb.DemoMetadata(), pb.Brain()
    batch: list[pb.StepPair] = []
    for meta, brain, offset, record in _walk(path):  # noqa: B007 (the last meta and brain are used below)
        if spec is None:
            spec = spec_of(brain, record)
            check = record_checker(spec)
        check(record, path, offset)
        batch.append(record)
        if len(batch) == 4096:
            tally.add(*_rewards_dones_ids(batch))
            batch = []
    tally.add(*_rewards_dones_ids(batch))
    if spec is None:
        with open(path, "rb") as f:
            meta, brain, _, _ = _header(f, path, f.seek(0, 2))
        spec = BehaviorSpec(observation_specs=(), action_spec=action_spec_of(brain))
    stated = meta.number_steps > 0
    return DemoInfo(
        path=path,
        format="ml-agents",
        behavior_name=brain.brain_name,
        spec=spec,
        episodes=meta.number_episodes if stated else tally.episodes,
        steps=meta.number_steps if stated else tally.records,
        mean_return=float(meta.mean_reward) if stated else tally.mean_return,
    )


def _rewards_dones_ids(batch: list[pb.StepPair]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    infos = [r.agent_info for r in batch]
    return (
        np.array([i.reward for i in infos], np.float32),
        np.array([i.done for i in infos], bool),
        np.array([i.id for i in infos], np.int64),
    )


def iter_mlagents_steps(path: Path, chunk: int) -> Iterator[DemoSteps]:
    """The records of an ML-Agents file in batches of up to ``chunk``; PNG images decoded to floats in [0, 1]."""
    spec: BehaviorSpec | None = None
    batch: list[pb.StepPair] = []
    offsets: list[int] = []
    for _, brain, offset, record in _walk(path):
        if spec is None:
            spec = spec_of(brain, record)
            check = record_checker(spec)
        check(record, path, offset)
        batch.append(record)
        offsets.append(offset)
        if len(batch) == chunk:
            yield _to_steps(batch, offsets, spec, path)
            batch, offsets = [], []
    if batch:
        assert spec is not None
        yield _to_steps(batch, offsets, spec, path)


def _to_steps(batch: list[pb.StepPair], offsets: list[int], spec: BehaviorSpec, path: Path) -> DemoSteps:
    n = len(batch)
    infos = [r.agent_info for r in batch]
    observations = []
    for j, o in enumerate(spec.observation_specs):
        protos = [i.observations[j] for i in infos]
        if all(p.compression_type != _PNG for p in protos):
            flat: list[float] = []
            for p in protos:
                flat.extend(p.float_data.data)
            observations.append(np.array(flat, np.float32).reshape(n, *o.shape))
        else:
            observations.append(np.stack([_observation(p, o.shape, path, at) for p, at in zip(protos, offsets)]))
    rewards, dones, ids = _rewards_dones_ids(batch)
    a = spec.action_spec
    width, n_choices = a.continuous_size + a.discrete_size, sum(a.discrete_branches)
    no_action, nothing_masked = [0.0] * width, [False] * n_choices
    # one flat list per batch, one numpy conversion (record_checker made every row this wide)
    values: list[float] = []
    masked: list[bool] = []
    for record, info in zip(batch, infos):
        actions = record.action_info
        if actions.vector_actions:  # older files: one float field (discrete choices as floats)
            values.extend(actions.vector_actions)
        elif actions.continuous_actions or actions.discrete_actions:
            values.extend(actions.continuous_actions)
            values.extend(actions.discrete_actions)
        else:
            values.extend(no_action)
        if n_choices:
            masked.extend(info.action_mask or nothing_masked)
    table = np.array(values, np.float64).reshape(n, width)
    continuous = table[:, : a.continuous_size].astype(np.float32)
    discrete = np.rint(table[:, a.continuous_size :]).astype(np.int64)
    masks = ~np.array(masked, bool).reshape(n, n_choices) if n_choices else None  # ML-Agents: True = masked out
    return DemoSteps(
        observations=observations,
        continuous_actions=continuous,
        discrete_actions=discrete,
        rewards=rewards,
        dones=dones,
        interrupted=np.array([i.max_step_reached for i in infos], bool),
        action_masks=masks,
        agent_ids=ids,
    )


def _observation(proto: pb.Observation, shape: tuple[int, ...], path: Path, offset: int) -> np.ndarray:
    """One observation as float32 of ``shape``: raw floats, or PNG images decoded to [0, 1].

    ML-Agents packs more than 3 channels as several PNGs one after another, and may map the
    decoded channels onto fewer (``compressed_channel_mapping``: decoded channel i feeds
    channel mapping[i], averaged where several feed one; -1 drops padding channels).
    """
    if proto.compression_type != _PNG:
        return np.asarray(proto.float_data.data, np.float32).reshape(shape)
    from PIL import Image

    channels = []
    try:
        for part in proto.compressed_data.split(PNG_SIGNATURE)[1:]:
            with Image.open(io.BytesIO(PNG_SIGNATURE + part)) as image:
                pixels = np.asarray(image, np.float32) / 255.0
            channels.append(pixels[:, :, None] if pixels.ndim == 2 else pixels)
    except OSError as exc:  # Pillow's UnidentifiedImageError and broken-data errors
        raise corrupt(path, offset, f"a PNG observation does not decode ({exc})") from None
    if not channels or channels[0].shape[:2] != shape[:2]:
        raise corrupt(path, offset, f"a PNG observation is not an image of shape {list(shape)}")
    decoded = np.concatenate(channels, axis=2)
    mapping = list(proto.compressed_channel_mapping)
    if mapping and len(mapping) == decoded.shape[2]:
        out = np.zeros(shape, np.float32)
        for channel in range(shape[2]):
            sources = [i for i, m in enumerate(mapping) if m == channel]
            if sources:
                out[:, :, channel] = decoded[:, :, sources].mean(axis=2)
        return out
    if len(shape) == 3 and decoded.shape[2] >= shape[2]:
        return decoded[:, :, : shape[2]]  # a grayscale image may come back as RGB
    return decoded.reshape(shape)
