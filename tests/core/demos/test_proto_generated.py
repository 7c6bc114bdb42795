"""The committed generated modules of the demonstration formats match their .proto files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf import descriptor_pb2

from mlx_core.demos import mlagents_demo_pb2, mlx_demo_pb2
from tests.core.env.test_proto_generated import PROTO_ROOT, _drop_json_names

GENERATED = [
    ("mlx_core/demos/mlx_demo.proto", mlx_demo_pb2),
    ("mlx_core/demos/mlagents_demo.proto", mlagents_demo_pb2),
]


@pytest.mark.parametrize(("proto", "module"), GENERATED, ids=[p for p, _ in GENERATED])
def test_committed_code_matches_the_proto(proto: str, module: ModuleType, tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools")
    out = tmp_path / "demo.desc"
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_ROOT}", f"--descriptor_set_out={out}", proto],
        check=True,
    )
    compiled = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    _drop_json_names(compiled.message_type)
    committed = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
    assert committed == compiled, (
        f"the generated code of core/src/{proto} is out of date: regenerate it with the command in the README "
        "(Demonstrations: the file format)"
    )
