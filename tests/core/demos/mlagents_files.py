"""Builds ML-Agents-layout .demo files from messages, for cases the two real files do not cover."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from mlx_core.demos import mlagents_demo_pb2 as pb
from mlx_core.demos.format import encode_varint


def write_mlagents_demo(path: Path, meta: pb.DemoMetadata, brain: pb.Brain, pairs: list[pb.StepPair]) -> Path:
    """ML-Agents' layout: metadata at byte 0 padded to byte 33, the brain, then one record per pair."""
    head = encode_varint(meta.ByteSize()) + meta.SerializeToString()
    assert len(head) <= 33
    out = bytearray(head.ljust(33, b"\0"))
    for message in (brain, *pairs):
        data = message.SerializeToString()
        out += encode_varint(len(data)) + data
    path.write_bytes(bytes(out))
    return path


def png_bytes(image: np.ndarray) -> bytes:
    """``image`` (h, w) or (h, w, 3) uint8 as one PNG file."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()
