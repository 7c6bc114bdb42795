"""Which of grpcio's layers carries the environment protocol: its Cython layer or its public API.

The Cython layer (``calls.py``) is the fast path and the default. Where it is missing or
not what mlx was written against (a future grpcio), the server and the step stream are
built from grpcio's public API instead (``public_calls.py``), with one info line
(``grpc_transport_fell_back``) and no error. ``$MLX_GRPC_TRANSPORT`` chooses explicitly:
``public`` forces the public API, ``private`` requires the Cython layer, ``auto`` (or
unset) tries the Cython layer first. It is read each time a client or server is created,
so one process (a test run) can use both.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import grpc

from mlx_core.env.remote.calls import CallServer, Method, StepStream, UnsupportedGrpc
from mlx_core.env.remote.public_calls import PublicCallServer, PublicStepStream
from mlx_core.errors import EnvError
from mlx_core.logs import get_logger

log = get_logger()

VARIABLE = "MLX_GRPC_TRANSPORT"
"""The environment variable that chooses the transport: ``auto`` (default), ``private`` or ``public``."""

PRIVATE, PUBLIC, AUTO = "private", "public", "auto"

_fell_back: list[str] = []  # the reason, once this process fell back (logged once)


def requested() -> str:
    """The transport ``$MLX_GRPC_TRANSPORT`` asks for now: ``auto``, ``private`` or ``public``."""
    value = os.environ.get(VARIABLE, "").strip().lower() or AUTO
    if value not in (AUTO, PRIVATE, PUBLIC):
        raise EnvError(
            f"${VARIABLE}={value!r} is not a transport: write {AUTO} (the default), {PRIVATE} (grpcio's Cython "
            f"layer) or {PUBLIC} (grpcio's public API), or unset it."
        )
    return value


def _fall_back(error: UnsupportedGrpc) -> None:
    if not _fell_back:
        _fell_back.append(str(error))
        log.info("grpc_transport_fell_back", transport=PUBLIC, grpcio=grpc.__version__, reason=error.detail)


def _choose(private: Callable[[], Any], public: Callable[[], Any]) -> Any:
    wanted = requested()
    if wanted == PUBLIC or (wanted == AUTO and _fell_back):
        return public()
    try:
        return private()
    except UnsupportedGrpc as error:
        if wanted == PRIVATE:
            raise
        _fall_back(error)
        return public()


def step_stream(channel: grpc.Channel, method: str, metadata: Sequence[tuple[str, str]] | None) -> StepStream | PublicStepStream:
    """An open step stream of ``method`` on ``channel``, on the chosen transport."""
    stream: StepStream | PublicStepStream = _choose(
        lambda: StepStream(channel, method, metadata), lambda: PublicStepStream(channel, method, metadata)
    )
    return stream


def call_server(
    methods: Mapping[str, Method],
    options: Sequence[tuple[str, Any]] = (),
    authorize: Callable[[Sequence[tuple[str, Any]]], str | None] | None = None,
) -> CallServer | PublicCallServer:
    """A server answering ``methods``, on the chosen transport."""
    server: CallServer | PublicCallServer = _choose(
        lambda: CallServer(methods, options, authorize), lambda: PublicCallServer(methods, options, authorize)
    )
    return server
