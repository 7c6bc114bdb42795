"""The environment server and the step stream written with grpcio's public API only.

The same interfaces as :class:`~mlx_core.env.remote.calls.CallServer` and
:class:`~mlx_core.env.remote.calls.StepStream`, for a grpcio whose Cython layer is missing or
changed, or when ``$MLX_GRPC_TRANSPORT=public`` asks for them (``transport.py`` chooses).
They cost more per step, because grpcio's public API hands every message between threads
(the README's transport section has the numbers), but they rely on nothing grpcio may change
without notice.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from mlx_core.env.remote.calls import _WATCHDOG, Method, Refusal, StreamEnded

# Threads answering calls: a step stream holds one for its whole life, and a trainer's unary
# calls (Reset, SetParameters, Close) need others meanwhile.
_HANDLER_THREADS = 8


class _Handlers(grpc.GenericRpcHandler):
    """Finds each call's :class:`Method`; refuses calls without the token (UNAUTHENTICATED) and
    unknown methods (UNIMPLEMENTED) in the same words as the Cython-layer server."""

    def __init__(self, server: PublicCallServer) -> None:
        self._server = server

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        server, name = self._server, handler_call_details.method  # type: ignore[attr-defined]
        refusal = server.authorize(handler_call_details.invocation_metadata) if server.authorize else None  # type: ignore[attr-defined]
        if refusal is not None:
            return grpc.stream_stream_rpc_method_handler(_refuse(grpc.StatusCode.UNAUTHENTICATED, refusal))
        method = server.methods.get(name)
        if method is None:
            return grpc.stream_stream_rpc_method_handler(
                _refuse(grpc.StatusCode.UNIMPLEMENTED, f"this server has no method {name}")
            )
        if method.streaming:
            return grpc.stream_stream_rpc_method_handler(lambda requests, context: server.answer_all(method, requests, context))
        return grpc.unary_unary_rpc_method_handler(lambda request, context: server.answer(method, request, context))


def _refuse(code: grpc.StatusCode, message: str) -> Callable[[Any, grpc.ServicerContext], Any]:
    """A handler that ends any call (unary or stream) at once with ``code`` and ``message``."""

    def refuse(_requests: Any, context: grpc.ServicerContext) -> Any:
        context.abort(code, message)

    return refuse


class PublicCallServer:
    """A gRPC server (``grpc.server``) answering ``methods`` one request at a time, with the
    interface of :class:`~mlx_core.env.remote.calls.CallServer`."""

    def __init__(
        self,
        methods: Mapping[str, Method],
        options: Sequence[tuple[str, Any]] = (),
        authorize: Callable[[Sequence[tuple[str, Any]]], str | None] | None = None,
    ) -> None:
        self.methods = dict(methods)
        self.authorize = authorize
        self._lock = threading.Lock()  # an environment steps one request at a time
        self._stopping = threading.Event()
        self._server = grpc.server(
            ThreadPoolExecutor(max_workers=_HANDLER_THREADS, thread_name_prefix="mlx-env-call"),
            handlers=[_Handlers(self)],
            options=list(options),
        )

    def add_port(self, address: str, credentials: grpc.ServerCredentials | None = None) -> int:
        """Listen on ``address``; the bound port, or 0 when it cannot be bound."""
        try:
            if credentials is None:
                return int(self._server.add_insecure_port(address))
            return int(self._server.add_secure_port(address, credentials))
        except RuntimeError:
            return 0

    def start(self) -> None:
        """Start answering calls (on grpcio's threads)."""
        self._server.start()

    def stop(self) -> None:
        """Ask :meth:`serve` to return (from any thread)."""
        self._stopping.set()

    def serve(self, until: Callable[[], bool] = lambda: False, grace: float = 1.0) -> None:
        """Wait until :meth:`stop` is called or ``until()`` is true, then shut down: calls still
        open after ``grace`` seconds are cancelled."""
        try:
            while not (self._stopping.is_set() or until()):
                self._stopping.wait(0.2)  # bounded, so that signal handlers run promptly
        finally:
            self._stopping.set()
            self._server.stop(grace).wait()

    # -- answering -------------------------------------------------------------------------
    def answer(self, method: Method, payload: bytes, context: grpc.ServicerContext) -> bytes:
        """The serialized answer to one request; a refusal or a handler's failure aborts the call."""
        try:
            with self._lock:
                return method.answer(payload)
        except Refusal as refusal:
            context.abort(refusal.code, refusal.message)
        except Exception as error:  # noqa: BLE001 - a bug in a handler ends its call, never the server
            traceback.print_exc(file=sys.stderr)
            context.abort(grpc.StatusCode.INTERNAL, f"the server failed: {type(error).__name__}: {error}")
        raise AssertionError("context.abort returned")  # pragma: no cover - it always raises

    def answer_all(self, method: Method, requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        """One answer per request of a stream, in order."""
        for payload in requests:
            if self._stopping.is_set():
                return
            yield self.answer(method, payload, context)


_END = None  # ends the request iterator grpcio reads from


class PublicStepStream:
    """A bidirectional stream (grpcio's public ``stream_stream``) with the interface of
    :class:`~mlx_core.env.remote.calls.StepStream`: :meth:`send` a request, :meth:`receive`
    its answer. grpcio reads the requests on a thread of its own; answers are read here."""

    outstanding = 0  # grpcio's public API frees the call itself

    def __init__(self, channel: grpc.Channel, method: str, metadata: Sequence[tuple[str, str]] | None) -> None:
        self._lock = threading.Lock()
        self._due: float | None = None
        self._timed_out = False
        self._status: tuple[grpc.StatusCode, str] | None = None
        self._requests: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        call = channel.stream_stream(method)
        self._call: Any = call(iter(self._requests.get, _END), metadata=metadata)
        _WATCHDOG.watch(self)

    def send(self, payload: bytes) -> None:
        """Queue one request (grpcio sends it at once)."""
        if self._status is not None:
            raise self._ended()
        self._requests.put(payload)

    def receive(self, timeout: float) -> bytes:
        """The answer to the last request; :class:`StreamEnded` when the server ended the
        stream, failed, or did not answer within ``timeout`` seconds."""
        with self._lock:
            self._due = time.monotonic() + timeout
        try:
            return next(self._call)  # type: ignore[no-any-return]
        except StopIteration:
            self._status = (grpc.StatusCode.OK, "")
        except grpc.RpcError as error:
            self._status = (error.code(), error.details() or "")
        finally:
            with self._lock:
                self._due = None
        raise self._ended()

    @property
    def usable(self) -> bool:
        """False once the stream has ended or was cancelled: the next step needs a new stream."""
        return self._status is None and not self._timed_out

    def done_writing(self) -> None:
        """Tell the server no more requests will come."""
        self._requests.put(_END)

    def cancel(self) -> None:
        """End the stream from this side."""
        self._call.cancel()
        self._requests.put(_END)

    def expire(self, now: float, stopped: bool = False) -> None:
        """Cancel the stream if its receive is overdue, or waits while a stop was requested
        (the watchdog calls this)."""
        with self._lock:
            if self._due is not None and (stopped or now > self._due):
                self._due, self._timed_out = None, not stopped
                self._call.cancel()

    def _ended(self) -> StreamEnded:
        code, details = self._status or (grpc.StatusCode.UNAVAILABLE, "the stream is closed")
        return StreamEnded(code, details, self._timed_out)
