"""The environment side of the protocol: serve any :class:`Environment` over gRPC.

``serve(env, port)`` turns a Python simulator into something a trainer on this or another
machine can drive (``env: grpc://host:port``, or launched as an executable with
``--mlx-port``). Requests are checked against the behavior specs before they reach the
environment; a bad one is answered with INVALID_ARGUMENT and a sentence saying what was
wrong, and the server keeps serving.

The server answers every request on the thread that serves, one request at a time
(:class:`mlx_core.env.remote.calls.CallServer`): no message is handed between threads. Where
grpcio's Cython layer is unusable, or ``$MLX_GRPC_TRANSPORT=public``, grpcio's public server
answers instead (``transport.py``).
"""

from __future__ import annotations

import signal
import sys
import threading
import traceback
from typing import Any

import grpc

from mlx_core.env.base import DecisionSteps, Environment, StepResult
from mlx_core.env.remote.calls import CallServer, Method, Refusal
from mlx_core.env.remote.codec import (
    METHOD_PREFIX,
    PROTOCOL_VERSION,
    ProtocolError,
    actions_from_proto,
    result_to_proto,
    specs_to_proto,
)
from mlx_core.env.remote.public_calls import PublicCallServer
from mlx_core.env.remote.security import TokenCheck, channel_options, resolve_token, server_credentials
from mlx_core.env.remote.transport import call_server
from mlx_core.errors import EnvError
from mlx_core.proto import mlx_env_pb2 as pb


class EnvironmentService:
    """Answers the protocol's calls with one environment (see :func:`methods`).

    ``closed`` is set when a client calls Close.
    """

    def __init__(self, env: Environment) -> None:
        self.env = env
        self.specs = env.specs
        self.closed = threading.Event()
        self.engine: pb.EngineSettings | None = None
        self._waiting: dict[str, DecisionSteps] | None = None  # None until the first Reset

    def methods(self) -> dict[str, Method]:
        """The service's methods by full name, for :class:`CallServer`. StepStream answers every
        request of the stream like Step; a refused one ends the stream."""
        return {
            METHOD_PREFIX + "Initialize": Method(pb.InitializeRequest, self._initialize),
            METHOD_PREFIX + "Reset": Method(pb.ResetRequest, lambda request: self._reset()),
            METHOD_PREFIX + "Step": Method(pb.StepRequest, self._step),
            METHOD_PREFIX + "StepStream": Method(pb.StepRequest, self._step, streaming=True),
            METHOD_PREFIX + "SetParameters": Method(pb.SetParametersRequest, self._set_parameters),
            METHOD_PREFIX + "Close": Method(pb.CloseRequest, self._close),
        }

    # -- the work --------------------------------------------------------------------------
    def _initialize(self, request: pb.InitializeRequest) -> pb.InitializeResponse:
        if request.protocol_version != PROTOCOL_VERSION:
            raise Refusal(
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
            raise Refusal(grpc.StatusCode.FAILED_PRECONDITION, "Step before Reset: call Reset first")
        try:
            actions = actions_from_proto(request, self.specs, self._waiting)
        except ProtocolError as error:
            raise Refusal(grpc.StatusCode.INVALID_ARGUMENT, str(error)) from None
        return self._result(self._guarded(self.env.step, actions))

    def _set_parameters(self, request: pb.SetParametersRequest) -> pb.Empty:
        self._guarded(self.env.set_parameters, dict(request.parameters))
        return pb.Empty()

    def _close(self, request: pb.CloseRequest) -> pb.Empty:
        self.closed.set()
        return pb.Empty()

    def _result(self, result: StepResult) -> pb.StepResult:
        self._waiting = {name: decisions for name, (decisions, _) in result.items()}
        try:
            return result_to_proto(result, self._guarded(self.env.stats))
        except (ProtocolError, TypeError, ValueError) as error:  # e.g. metrics that are not numbers
            raise Refusal(grpc.StatusCode.INTERNAL, f"the environment produced a result that cannot be sent: {error}") from None

    @staticmethod
    def _guarded(call: Any, *args: Any) -> Any:
        """Run an environment method; an exception becomes an INTERNAL error the trainer sees
        (and a traceback on this side's stderr), never a silently dead server."""
        try:
            return call(*args)
        except Exception as error:  # noqa: BLE001 - reported to both sides below
            traceback.print_exc(file=sys.stderr)
            raise Refusal(grpc.StatusCode.INTERNAL, f"the environment raised {type(error).__name__}: {error}") from None



def _listening(
    env: Environment, port: int, host: str, token: str | None, tls_cert: str | None, tls_key: str | None, max_message_mb: int
) -> tuple[CallServer | PublicCallServer, EnvironmentService, int]:
    """A started server for ``env`` on ``host:port`` (not yet answering: see CallServer.serve)."""
    token = resolve_token(token)
    credentials = server_credentials(tls_cert, tls_key)
    service = EnvironmentService(env)
    options = [*channel_options(max_message_mb), ("grpc.so_reuseport", 0)]
    server = call_server(service.methods(), options, authorize=TokenCheck(token) if token else None)
    address = f"{host}:{port}"
    bound = server.add_port(address, credentials)
    if not bound:
        raise EnvError(
            f"Cannot listen on {address}: the port is in use or the host is not an address of this machine. Pick "
            "another port (--port / --mlx-port / --base-port) or stop the process that uses it."
        )
    server.start()
    return server, service, bound


class BackgroundServer:
    """An environment served from a thread of this process (tests, notebooks); see :func:`start_server`."""

    def __init__(self, server: CallServer | PublicCallServer, service: EnvironmentService, port: int) -> None:
        self.server, self.service, self.port = server, service, port
        self._thread = threading.Thread(target=server.serve, kwargs={"grace": 0.0}, name="mlx-env-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving (the environment stays open: it belongs to the caller)."""
        self.server.stop()
        self._thread.join(timeout=10)


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
    return BackgroundServer(*_listening(env, port, host, token, tls_cert, tls_key, max_message_mb))


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
    try:
        server, service, bound = _listening(env, port, host, token, tls_cert, tls_key, max_message_mb)
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous[signum] = signal.signal(signum, lambda *_: service.closed.set())
        try:
            secure = " (TLS)" if tls_cert else ""
            print(f"mlx environment server listening on {host}:{bound}{secure}", file=sys.stderr, flush=True)
            server.serve(until=service.closed.is_set)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    finally:
        env.close()
