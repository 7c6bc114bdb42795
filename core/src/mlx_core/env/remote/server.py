"""The environment side of the protocol: serve any :class:`Environment` over gRPC.

``serve(env, port)`` turns a Python simulator into something a trainer on this or another
machine can drive (``env: grpc://host:port``, or launched as an executable with
``--mlx-port``). Requests are checked against the behavior specs before they reach the
environment; a bad one is answered with INVALID_ARGUMENT and a sentence saying what was
wrong, and the server keeps serving.

The server runs on asyncio (``grpc.aio``): the environment is called in the event loop's
thread, one request at a time, without the hand-off to a thread pool that a synchronous
gRPC server makes for every call.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
import traceback
from collections.abc import AsyncIterator
from typing import Any

import grpc

from mlx_core.env.base import DecisionSteps, Environment, StepResult
from mlx_core.env.remote.codec import (
    PROTOCOL_VERSION,
    ProtocolError,
    actions_from_proto,
    result_to_proto,
    specs_to_proto,
)
from mlx_core.env.remote.security import TokenCheck, channel_options, resolve_token, server_credentials
from mlx_core.errors import EnvError
from mlx_core.proto import mlx_env_pb2 as pb
from mlx_core.proto import mlx_env_pb2_grpc as pb_grpc


class _Refusal(Exception):
    """A request answered with a gRPC error status instead of a result."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class EnvironmentServicer(pb_grpc.EnvironmentServicer):
    """Answers the protocol's calls with one environment.

    ``closed`` (an asyncio event of the serving loop) is set when a client calls Close.
    """

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.specs = env.specs
        self.closed = asyncio.Event()
        self.engine: pb.EngineSettings | None = None
        self._waiting: dict[str, DecisionSteps] | None = None  # None until the first Reset

    # -- the service -----------------------------------------------------------------------
    async def Initialize(self, request: pb.InitializeRequest, context: Any) -> pb.InitializeResponse:  # noqa: N802
        """Check the protocol version, seed the environment, set its parameters, return the specs."""
        return await self._answer(context, self._initialize, request)

    async def Reset(self, request: pb.ResetRequest, context: Any) -> pb.StepResult:  # noqa: N802
        """Start new episodes everywhere."""
        return await self._answer(context, self._reset)

    async def Step(self, request: pb.StepRequest, context: Any) -> pb.StepResult:  # noqa: N802
        """Check the actions against the agents that asked, then step the environment."""
        return await self._answer(context, self._step, request)

    async def StepStream(self, requests: AsyncIterator[pb.StepRequest], context: Any) -> AsyncIterator[pb.StepResult]:  # noqa: N802
        """:meth:`Step` for every request of the stream; a refused one ends the stream."""
        async for request in requests:
            yield await self._answer(context, self._step, request)

    async def SetParameters(self, request: pb.SetParametersRequest, context: Any) -> pb.Empty:  # noqa: N802
        """Parameters for each agent's next episode."""
        await self._answer(context, self._guarded, self.env.set_parameters, dict(request.parameters))
        return pb.Empty()

    async def Close(self, request: pb.CloseRequest, context: Any) -> pb.Empty:  # noqa: N802
        """The trainer is done: :func:`serve` shuts down after answering."""
        self.closed.set()
        return pb.Empty()

    # -- the work --------------------------------------------------------------------------
    def _initialize(self, request: pb.InitializeRequest) -> pb.InitializeResponse:
        if request.protocol_version != PROTOCOL_VERSION:
            raise _Refusal(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"protocol version {request.protocol_version} is not this server's {PROTOCOL_VERSION}; "
                "use the same mlx version on both sides",
            )
        self.engine = request.engine
        if request.seed >= 0:
            self._guarded(self.env.seed, int(request.seed))
        if request.parameters:
            self._guarded(self.env.set_parameters, dict(request.parameters))
        return pb.InitializeResponse(
            protocol_version=PROTOCOL_VERSION, name=type(self.env).__name__, behaviors=specs_to_proto(self.specs)
        )

    def _reset(self) -> pb.StepResult:
        return self._result(self._guarded(self.env.reset))

    def _step(self, request: pb.StepRequest) -> pb.StepResult:
        if self._waiting is None:
            raise _Refusal(grpc.StatusCode.FAILED_PRECONDITION, "Step before Reset: call Reset first")
        try:
            actions = actions_from_proto(request, self.specs, self._waiting)
        except ProtocolError as error:
            raise _Refusal(grpc.StatusCode.INVALID_ARGUMENT, str(error)) from None
        return self._result(self._guarded(self.env.step, actions))

    def _result(self, result: StepResult) -> pb.StepResult:
        self._waiting = {name: decisions for name, (decisions, _) in result.items()}
        try:
            return result_to_proto(result, self._guarded(self.env.stats))
        except (ProtocolError, TypeError, ValueError) as error:  # e.g. metrics that are not numbers
            raise _Refusal(grpc.StatusCode.INTERNAL, f"the environment produced a result that cannot be sent: {error}") from None

    @staticmethod
    def _guarded(call: Any, *args: Any) -> Any:
        """Run an environment method; an exception becomes an INTERNAL error the trainer sees
        (and a traceback on this side's stderr), never a silently dead server."""
        try:
            return call(*args)
        except Exception as error:  # noqa: BLE001 - reported to both sides below
            traceback.print_exc(file=sys.stderr)
            raise _Refusal(grpc.StatusCode.INTERNAL, f"the environment raised {type(error).__name__}: {error}") from None

    @staticmethod
    async def _answer(context: Any, work: Any, *args: Any) -> Any:
        try:
            return work(*args)
        except _Refusal as refusal:
            await context.abort(refusal.code, refusal.message)


async def _start(
    env: Environment, port: int, host: str, token: str | None, tls_cert: str | None, tls_key: str | None, max_message_mb: int
) -> tuple[grpc.aio.Server, EnvironmentServicer, int]:
    token = resolve_token(token)
    interceptors = [TokenCheck(token)] if token else []
    options = [*channel_options(max_message_mb), ("grpc.so_reuseport", 0)]
    credentials = server_credentials(tls_cert, tls_key)
    server = grpc.aio.server(interceptors=interceptors, options=options)
    servicer = EnvironmentServicer(env)
    pb_grpc.add_EnvironmentServicer_to_server(servicer, server)
    address = f"{host}:{port}"
    try:
        bound = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    except RuntimeError:  # gRPC's own text only says to turn on its debug logs
        bound = 0
    if not bound:
        raise EnvError(
            f"Cannot listen on {address}: the port is in use or the host is not an address of this machine. Pick "
            "another port (--port / --mlx-port / --base-port) or stop the process that uses it."
        )
    await server.start()
    return server, servicer, bound


class BackgroundServer:
    """An environment served from a thread of this process (tests, notebooks); see :func:`start_server`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, server: grpc.aio.Server, servicer: EnvironmentServicer, port: int) -> None:
        self.loop, self.server, self.servicer, self.port = loop, server, servicer, port

    def stop(self) -> None:
        """Stop serving (the environment stays open: it belongs to the caller)."""
        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self.server.stop(grace=None), self.loop).result(timeout=10)
            self.loop.call_soon_threadsafe(self.loop.stop)


def start_server(
    env: Environment,
    port: int,
    host: str = "127.0.0.1",
    *,
    token: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    max_message_mb: int = 64,
) -> BackgroundServer:
    """Serve ``env`` from a background thread; ``port`` 0 picks a free port (``.port``).

    The port is bound exclusively, so a second server on the same port fails here instead
    of sharing it.
    """
    loop = asyncio.new_event_loop()
    started: Any = asyncio.run_coroutine_threadsafe(
        _start(env, port, host, token, tls_cert, tls_key, max_message_mb), loop
    )
    threading.Thread(target=loop.run_forever, name="mlx-env-server", daemon=True).start()
    try:
        server, servicer, bound = started.result(timeout=30)
    except BaseException:
        loop.call_soon_threadsafe(loop.stop)
        raise
    return BackgroundServer(loop, server, servicer, bound)


def serve(
    env: Environment,
    port: int,
    host: str = "127.0.0.1",
    *,
    token: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    max_message_mb: int = 64,
) -> None:
    """Serve ``env`` on ``host:port`` until a trainer calls Close or the process gets SIGINT/SIGTERM.

    Listens on 127.0.0.1 unless ``host`` says otherwise (``0.0.0.0`` for every interface; use
    a token, ``$MLX_ENV_TOKEN``, and TLS then). Prints one line with the bound address to
    stderr when ready. The environment is closed on the way out.
    """

    async def run() -> None:
        server, servicer, bound = await _start(env, port, host, token, tls_cert, tls_key, max_message_mb)
        if threading.current_thread() is threading.main_thread():
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, servicer.closed.set)
        secure = " (TLS)" if tls_cert else ""
        print(f"mlx environment server listening on {host}:{bound}{secure}", file=sys.stderr, flush=True)
        try:
            await servicer.closed.wait()
        finally:
            await server.stop(grace=1.0)

    try:
        asyncio.run(run())
    finally:
        env.close()
