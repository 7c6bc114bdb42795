"""The committed generated modules match ``mlx_env.proto`` (regenerate them when it changes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from mlx_core.proto import mlx_env_pb2

PROTO_ROOT = Path(__file__).resolve().parents[3] / "core" / "src"
PROTO = "mlx_core/proto/mlx_env.proto"


def test_committed_code_matches_the_proto(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools")
    out = tmp_path / "mlx_env.desc"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_ROOT}", f"--descriptor_set_out={out}", PROTO],
        check=True,
    )
    compiled = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    _drop_json_names(compiled.message_type)  # protoc adds them to descriptor sets, not to generated code
    committed = descriptor_pb2.FileDescriptorProto.FromString(committed_descriptor())
    assert committed == compiled, (
        "core/src/mlx_core/proto/mlx_env_pb2*.py are out of date: regenerate them with the command in the README "
        "(Developing: the environment protocol)"
    )


def _drop_json_names(messages: object) -> None:
    for message in messages:  # type: ignore[attr-defined]
        for field in message.field:
            field.ClearField("json_name")
        _drop_json_names(message.nested_type)


def committed_descriptor() -> bytes:
    return mlx_env_pb2.DESCRIPTOR.serialized_pb
