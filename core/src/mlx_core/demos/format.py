"""mlx's ``.demo`` layout: the magic header, varints, and the fixed byte layout of a spec's step records.

The messages are defined in ``mlx_demo.proto``. Every DemoStep a :class:`DemoWriter` writes
sets every field, and all of them are fixed-width for a given spec, so all records of a file
have one byte size and one byte pattern around the values (tags and lengths). That lets the
writer encode ``n`` records as one numpy array and the reader decode whole blocks of records
at once; the bytes are the same as protobuf's own serialisation of the message, so any
protobuf library reads the file, and the reader falls back to protobuf's parser for records
with another (valid) encoding.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from mlx_core.demos import mlx_demo_pb2 as pb
from mlx_core.env.base import ActionSpec, BehaviorSpec, ObservationSpec

MAGIC = "mlx-demo"
FORMAT_VERSION = 1
# How every mlx file starts after the header's length varint: field 1 (magic), its length, the text.
MAGIC_BYTES = bytes([0x0A, len(MAGIC)]) + MAGIC.encode()


def encode_varint(value: int) -> bytes:
    """Protobuf's base-128 varint of a non-negative integer."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data: bytes | memoryview, pos: int) -> tuple[int, int] | None:
    """The varint at ``data[pos:]`` and the position after it; None if ``data`` ends inside it.

    Raises ValueError for a varint longer than 10 bytes (not a length prefix).
    """
    if pos < len(data) and data[pos] < 0x80:  # one byte: most record lengths
        return data[pos], pos + 1
    value = shift = 0
    for i in range(pos, min(len(data), pos + 10)):
        byte = data[i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i + 1
        shift += 7
    if len(data) >= pos + 10:
        raise ValueError("varint longer than 10 bytes")
    return None


def header_message(behavior_name: str, spec: BehaviorSpec) -> pb.DemoHeader:
    """A header with zero totals (written at open; the writer fills the totals at close)."""
    header = pb.DemoHeader(magic=MAGIC, format_version=FORMAT_VERSION, behavior_name=behavior_name)
    for o in spec.observation_specs:
        header.observations.add(name=o.name, shape=list(o.shape))
    header.actions.continuous_size = spec.action_spec.continuous_size
    header.actions.discrete_branches.extend(spec.action_spec.discrete_branches)
    # explicit presence: these are serialised even while zero, so the header's size never changes
    header.steps = 0
    header.episodes = 0
    header.mean_return = 0.0
    header.complete = False
    return header


def spec_of(header: pb.DemoHeader) -> BehaviorSpec:
    """The behavior spec a header states."""
    return BehaviorSpec(
        observation_specs=tuple(
            ObservationSpec(shape=tuple(o.shape), name=o.name or "obs") for o in header.observations
        ),
        action_spec=ActionSpec(
            continuous_size=header.actions.continuous_size, discrete_branches=tuple(header.actions.discrete_branches)
        ),
    )


def _tag(field: int, wire_type: int) -> bytes:
    return encode_varint(field << 3 | wire_type)


@attrs.frozen
class RecordLayout:
    """Where each value sits in one length-prefixed DemoStep record of a spec.

    ``template`` holds the record's constant bytes (length prefix, tags, lengths) and zeros
    where values go; ``constant`` marks the constant positions; ``fields`` maps a value's name
    (``obs0``, ``continuous``, ``discrete``, ``reward``, ``done``, ``interrupted``, ``mask``,
    ``agent_id``) to its byte slice.
    """

    spec: BehaviorSpec
    size: int
    template: np.ndarray  # (size,) uint8
    constant: np.ndarray  # (size,) bool
    fields: dict[str, slice]

    @classmethod
    def of(cls, spec: BehaviorSpec) -> RecordLayout:
        """The layout of ``spec``'s records, in field-number order (the order protobuf serialises)."""
        pieces: list[tuple[str | None, bytes | int]] = []  # (None, constant bytes) or (name, value byte count)

        def length_delimited(field: int, name: str, nbytes: int) -> None:
            pieces.append((None, _tag(field, 2) + encode_varint(nbytes)))
            pieces.append((name, nbytes))

        for i, o in enumerate(spec.observation_specs):
            length_delimited(1, f"obs{i}", 4 * math.prod(o.shape))
        actions = spec.action_spec
        if actions.continuous_size:
            length_delimited(2, "continuous", 4 * actions.continuous_size)
        if actions.discrete_branches:
            length_delimited(3, "discrete", 4 * len(actions.discrete_branches))
        pieces += [
            (None, _tag(4, 5)),
            ("reward", 4),
            (None, _tag(5, 0)),
            ("done", 1),
            (None, _tag(6, 0)),
            ("interrupted", 1),
        ]
        if actions.discrete_branches:
            length_delimited(7, "mask", sum(actions.discrete_branches))
        pieces += [(None, _tag(8, 1)), ("agent_id", 8)]
        body = sum(len(p) if isinstance(p, bytes) else p for _, p in pieces)
        pieces.insert(0, (None, encode_varint(body)))

        template = bytearray()
        constant: list[bool] = []
        fields: dict[str, slice] = {}
        for name, piece in pieces:
            if isinstance(piece, bytes):
                template += piece
                constant += [True] * len(piece)
            else:
                assert name is not None
                fields[name] = slice(len(template), len(template) + piece)
                template += bytes(piece)
                constant += [False] * piece
        return cls(
            spec=spec,
            size=len(template),
            template=np.frombuffer(bytes(template), np.uint8),
            constant=np.array(constant, bool),
            fields=fields,
        )

    def matching_rows(self, rows: np.ndarray) -> np.ndarray:
        """(m,) bool: which rows of ``rows`` (m, size) uint8 have this layout's bytes (and 0/1 flags)."""
        ok = np.all(rows[:, self.constant] == self.template[self.constant], axis=1)
        for flag in ("done", "interrupted"):
            ok &= rows[:, self.fields[flag].start] <= 1
        if "mask" in self.fields:
            ok &= np.all(rows[:, self.fields["mask"]] <= 1, axis=1)
        return ok
