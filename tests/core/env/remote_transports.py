"""The ``grpc_transport`` fixture: runs a remote-environment test once on grpcio's Cython layer
and once on its public API (``$MLX_GRPC_TRANSPORT``, read by every client and server created
in the test, in this process and in the subprocesses it starts).

Import it into a test module (``from tests.core.env.remote_transports import grpc_transport``)
and use it with ``@pytest.mark.usefixtures("grpc_transport")`` or as an argument.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mlx_core.env.remote import transport

TRANSPORTS = [transport.PRIVATE, transport.PUBLIC]


@pytest.fixture(params=TRANSPORTS)
def grpc_transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The transport this run of the test uses, set in ``$MLX_GRPC_TRANSPORT``."""
    monkeypatch.setenv(transport.VARIABLE, request.param)
    return str(request.param)


@pytest.fixture(scope="module", params=TRANSPORTS)
def grpc_transport_module(request: pytest.FixtureRequest) -> Iterator[str]:
    """:func:`grpc_transport` for module-scoped servers: the tests that share one server run
    once per transport, grouped."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(transport.VARIABLE, request.param)
        yield str(request.param)
