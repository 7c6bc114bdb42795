"""The environment side of the protocol: serve any :class:`Environment` over gRPC.

``serve(env, port)`` turns a Python simulator into something a trainer on this or another
machine can drive (``env: grpc://host:port``, or launched as an executable with
``--mlx-port``). Requests are checked against the behavior specs before they reach the
environment; a bad one is answered with INVALID_ARGUMENT and a sentence saying what was
wrong, and the server keeps serving.
"""

from __future__ import annotations

import signal
import sys
import threading
import traceback
from concurrent import futures
from typing import Any, NoReturn

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


class EnvironmentServicer(pb_grpc.EnvironmentServicer):
    """Answers the protocol's calls with one environment; calls are handled one at a time.

    ``closed`` is set when a client calls Close.
    """

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.specs = env.specs
        self.closed = threading.Event()
        self.engine: pb.EngineSettings | None = None
        self._waiting: dict[str, DecisionSteps] | None = None  # None until the first Reset
        self._lock = threading.Lock()  # one call at a time, whatever the thread pool does

    def Initialize(self, request: pb.InitializeRequest, context: grpc.ServicerContext) -> pb.InitializeResponse:  # noqa: N802
        """Check the protocol version, seed the environment, set its parameters, return the specs."""
        if request.protocol_version != PROTOCOL_VERSION:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"protocol version {request.protocol_version} is not this server's {PROTOCOL_VERSION}; "
                "use the same mlx version on both sides",
            )
        with self._lock:
            self._guarded(context, self._initialize, request)
        return pb.InitializeResponse(
            protocol_version=PROTOCOL_VERSION, name=type(self.env).__name__, behaviors=specs_to_proto(self.specs)
        )

    def _initialize(self, request: pb.InitializeRequest) -> None:
        self.engine = request.engine
        if request.seed >= 0:
            self.env.seed(int(request.seed))
        if request.parameters:
            self.env.set_parameters(dict(request.parameters))

    def Reset(self, request: pb.ResetRequest, context: grpc.ServicerContext) -> pb.StepResult:  # noqa: N802
        """Start new episodes everywhere."""
        with self._lock:
            return self._answer(context, self._guarded(context, self.env.reset))

    def Step(self, request: pb.StepRequest, context: grpc.ServicerContext) -> pb.StepResult:  # noqa: N802
        """Check the actions against the agents that asked, then step the environment."""
        with self._lock:
            waiting = self._waiting
            if waiting is None:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, "Step before Reset: call Reset first")
                raise AssertionError("unreachable: abort raises")
            try:
                actions = actions_from_proto(request, self.specs, waiting)
            except ProtocolError as error:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
            return self._answer(context, self._guarded(context, self.env.step, actions))

    def SetParameters(self, request: pb.SetParametersRequest, context: grpc.ServicerContext) -> pb.Empty:  # noqa: N802
        """Parameters for each agent's next episode."""
        with self._lock:
            self._guarded(context, self.env.set_parameters, dict(request.parameters))
        return pb.Empty()

    def Close(self, request: pb.CloseRequest, context: grpc.ServicerContext) -> pb.Empty:  # noqa: N802
        """The trainer is done: :func:`serve` shuts down after answering."""
        self.closed.set()
        return pb.Empty()

    def _answer(self, context: grpc.ServicerContext, result: StepResult) -> pb.StepResult:
        self._waiting = {name: decisions for name, (decisions, _) in result.items()}
        try:
            return result_to_proto(result, self._guarded(context, self.env.stats))
        except ProtocolError as error:
            self._fail(context, f"the environment produced a result that cannot be sent: {error}")

    def _guarded(self, context: grpc.ServicerContext, call: Any, *args: Any) -> Any:
        """Run an environment method; an exception becomes an INTERNAL error the trainer sees
        (and a traceback on this side's stderr), never a silently dead server."""
        try:
            return call(*args)
        except Exception as error:  # noqa: BLE001 - reported to both sides below
            self._fail(context, f"the environment raised {type(error).__name__}: {error}")

    def _fail(self, context: grpc.ServicerContext, message: str) -> NoReturn:
        traceback.print_exc(file=sys.stderr)
        context.abort(grpc.StatusCode.INTERNAL, message)
        raise AssertionError("unreachable: abort raises")  # for type checkers


def start_server(
    env: Environment,
    port: int,
    host: str = "127.0.0.1",
    *,
    token: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    max_message_mb: int = 64,
) -> tuple[grpc.Server, EnvironmentServicer, int]:
    """Start serving ``env`` in background threads; returns (server, servicer, bound port).

    ``port`` 0 picks a free port. The port is bound exclusively, so a second server on the
    same port fails here instead of sharing it.
    """
    token = resolve_token(token)
    interceptors = [TokenCheck(token)] if token else []
    options = [*channel_options(max_message_mb), ("grpc.so_reuseport", 0)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), interceptors=interceptors, options=options)
    servicer = EnvironmentServicer(env)
    pb_grpc.add_EnvironmentServicer_to_server(servicer, server)
    address = f"{host}:{port}"
    credentials = server_credentials(tls_cert, tls_key)
    try:
        bound = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    except RuntimeError:  # gRPC's own text only says to turn on its debug logs
        bound = 0
    if not bound:
        raise EnvError(
            f"Cannot listen on {address}: the port is in use or the host is not an address of this machine. Pick "
            "another port (--port / --mlx-port / --base-port) or stop the process that uses it."
        )
    server.start()
    return server, servicer, bound


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
    server, servicer, bound = start_server(
        env, port, host, token=token, tls_cert=tls_cert, tls_key=tls_key, max_message_mb=max_message_mb
    )
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: servicer.closed.set())
    secure = " (TLS)" if tls_cert else ""
    print(f"mlx environment server listening on {host}:{bound}{secure}", file=sys.stderr, flush=True)
    try:
        servicer.closed.wait()
    finally:
        server.stop(grace=1.0).wait()
        env.close()
