"""gRPC calls served and made on the calling thread, through grpc core's completion queues.

Why this module exists: grpcio's public servers and streams hand every message from one
thread to another. The synchronous server polls in one thread and runs handlers in a pool;
``grpc.aio`` polls in a helper thread and wakes the event loop; a synchronous client stream
feeds requests through a thread of its own. With the GIL each hand-off costs a wake-up and
a turn at the lock, and for the small, strictly alternating messages of an environment
step that is most of the round trip. Measured on a 2-core machine, one step of a 64-agent
batch: 1.0 ms with ``grpc.aio`` on both sides, 0.49 ms with both sides here (the same
messages, server and codec), and 0.40-0.49 ms once grpc core's polling engine lets the
waiting thread do the I/O as well (``mlx_core/grpc_defaults.py``).

So the server (:class:`CallServer`) runs grpc core's server with one completion queue that
the serving thread polls itself and answers each request in place (an environment steps
one request at a time anyway), and the client (:class:`StepStream`) keeps one bidirectional
stream whose completion queue the stepping thread polls itself. Both use grpcio's Cython
layer (``grpc._cython.cygrpc``), the same calls grpcio's own blocking unary calls and
servers are built from. That layer is not a public API: where it is missing or changed,
building either class raises :class:`UnsupportedGrpc`, and ``transport.py`` falls back on
the same classes written with grpcio's public API (``public_calls.py``). Unary calls from
the client go through grpcio's public API on both paths.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from mlx_core import stopping
from mlx_core.errors import EnvError

try:
    from grpc._cython import cygrpc
except ImportError:  # a grpcio without it: every use below raises UnsupportedGrpc
    cygrpc = None

_NO_FLAGS = 0


class UnsupportedGrpc(EnvError):
    """grpcio's Cython layer is not what this module was written against."""

    def __init__(self, error: Exception) -> None:
        self.detail = f"{type(error).__name__}: {error}"
        super().__init__(
            f"grpcio {grpc.__version__} changed the calls mlx's environment transport is built from ({error}). "
            "Install the grpcio version mlx-core was tested with (pip install 'grpcio==1.85.*') or a newer mlx-core."
        )


# grpcio's own tables between its status codes and grpc core's (empty where grpcio has none:
# then the Cython layer is not used either)
_STATUS_CODES: dict[Any, Any] = getattr(getattr(grpc, "_common", None), "STATUS_CODE_TO_CYGRPC_STATUS_CODE", {})
_GRPC_CODES: dict[Any, Any] = getattr(getattr(grpc, "_common", None), "CYGRPC_STATUS_CODE_TO_STATUS_CODE", {})


class Refusal(Exception):
    """A request answered with a gRPC error status (``code``) and ``message`` instead of a result."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


Handler = Callable[[Any], Any]
"""A method's work: the parsed request in, the response message out (or :class:`Refusal`)."""


class Method:
    """One method of a :class:`CallServer`: its request type, handler and whether it is a stream
    (every request of a stream is answered with one response)."""

    def __init__(self, request_type: Any, handler: Handler, streaming: bool = False) -> None:
        self.request_type, self.handler, self.streaming = request_type, handler, streaming

    def answer(self, payload: bytes) -> bytes:
        """The serialized response to a serialized request."""
        try:
            request = self.request_type.FromString(payload)
        except DecodeError:
            raise Refusal(
                grpc.StatusCode.INVALID_ARGUMENT, f"the request is not a valid {self.request_type.DESCRIPTOR.name} message"
            ) from None
        return self.handler(request).SerializeToString()  # type: ignore[no-any-return]


# Completion queue tags. A call's tag is its _ServerCall; these mark the other kinds of events.
_NEW_CALL, _SENT, _SHUTDOWN = "new call", "sent", "shutdown"


class _ServerCall:
    """A call being answered: its receive batches carry this object as their tag."""

    __slots__ = ("call", "method")

    def __init__(self, call: Any, method: Method) -> None:
        self.call, self.method = call, method


class CallServer:
    """A gRPC server whose calls are answered on the thread that runs :meth:`serve`.

    ``methods`` maps full method names (``/package.Service/Method``) to :class:`Method`.
    ``authorize``, when given, gets each call's metadata and returns None to let it through
    or the text of an UNAUTHENTICATED refusal.
    """

    def __init__(
        self,
        methods: Mapping[str, Method],
        options: Sequence[tuple[str, Any]] = (),
        authorize: Callable[[Sequence[tuple[str, Any]]], str | None] | None = None,
    ) -> None:
        self._methods = {name.encode(): method for name, method in methods.items()}
        self._authorize = authorize
        try:
            if not _STATUS_CODES:
                raise AttributeError("grpc._common has no status code tables")
            # the operations this server builds, made once here so that a changed signature
            # shows now (and the fallback takes over) rather than at the first call
            cygrpc.SendStatusFromServerOperation(None, cygrpc.StatusCode.ok, b"", _NO_FLAGS)
            cygrpc.SendMessageOperation(b"", _NO_FLAGS)
            cygrpc.ReceiveCloseOnServerOperation(_NO_FLAGS)
            self._queue = cygrpc.CompletionQueue()
            self._server = cygrpc.Server(tuple(options), False)
            self._server.register_completion_queue(self._queue)
        except (AttributeError, TypeError) as error:
            raise UnsupportedGrpc(error) from None
        self._pending = 0  # batches started whose completion has not been polled yet
        self._stopping = threading.Event()

    def add_port(self, address: str, credentials: grpc.ServerCredentials | None = None) -> int:
        """Listen on ``address``; the bound port, or 0 when it cannot be bound."""
        try:
            if credentials is None:
                return int(self._server.add_http2_port(address.encode()))
            return int(self._server.add_http2_port(address.encode(), credentials._credentials))
        except RuntimeError:  # gRPC's own text only says to turn on its debug logs
            return 0

    def start(self) -> None:
        """Start accepting calls (they are answered once :meth:`serve` runs)."""
        self._server.start()
        self._request_call()

    def stop(self) -> None:
        """Ask :meth:`serve` to return (from any thread)."""
        self._stopping.set()

    def serve(self, until: Callable[[], bool] = lambda: False, grace: float = 1.0) -> None:
        """Answer calls until :meth:`stop` is called or ``until()`` is true, then shut down:
        calls still open after ``grace`` seconds are cancelled."""
        try:
            while not (self._stopping.is_set() or until()):
                # a bounded wait, so that signal handlers and stop requests are seen promptly
                self._poll(0.2, self._handle)
        finally:
            self._shut_down(grace)

    def _poll(self, seconds: float, handle: Callable[[Any], None]) -> None:
        """Wait up to ``seconds`` for the next event and ``handle`` it."""
        event = self._queue.poll(time.time() + seconds)
        if event.completion_type != cygrpc.CompletionType.queue_timeout:
            self._pending -= 1
            handle(event)

    # -- events ----------------------------------------------------------------------------
    def _start_batch(self, call: Any, operations: tuple[Any, ...], tag: Any) -> None:
        self._pending += 1
        if call.start_server_batch(operations, tag) != cygrpc.CallError.ok:
            self._pending -= 1  # the call is already over (the client went away)

    def _request_call(self) -> None:
        self._pending += 1
        self._server.request_call(self._queue, self._queue, _NEW_CALL)

    def _handle(self, event: Any) -> None:
        tag = event.tag
        if isinstance(tag, _ServerCall):
            self._received(tag, event)
        elif tag is _NEW_CALL:
            if not self._stopping.is_set():
                self._request_call()
            if event.success:
                self._new_call(event)

    def _new_call(self, event: Any) -> None:
        call = event.call
        # completes when the call ends; it lets grpc core release a call the client cancelled
        self._start_batch(call, (cygrpc.ReceiveCloseOnServerOperation(_NO_FLAGS),), _SENT)
        method = self._methods.get(event.call_details.method)
        refusal = self._authorize(event.invocation_metadata) if self._authorize is not None else None
        if refusal is not None:
            self._end(call, grpc.StatusCode.UNAUTHENTICATED, refusal, first=True)
        elif method is None:
            name = event.call_details.method.decode(errors="replace")
            self._end(call, grpc.StatusCode.UNIMPLEMENTED, f"this server has no method {name}", first=True)
        else:
            operations = (cygrpc.SendInitialMetadataOperation(None, _NO_FLAGS), cygrpc.ReceiveMessageOperation(_NO_FLAGS))
            self._start_batch(call, operations, _ServerCall(call, method))

    def _received(self, active: _ServerCall, event: Any) -> None:
        payload = None
        for operation in event.batch_operations:
            if operation.type() == cygrpc.OperationType.receive_message:
                payload = operation.message()
        if not event.success:
            return  # the client cancelled the call or went away: nothing to answer
        if payload is None:  # the client finished writing: end the call
            self._end(active.call, grpc.StatusCode.OK, "")
            return
        try:
            answer = active.method.answer(payload)
        except Refusal as refusal:
            self._end(active.call, refusal.code, refusal.message)
            return
        except Exception as error:  # noqa: BLE001 - a bug in a handler ends its call, never the server
            traceback.print_exc(file=sys.stderr)
            self._end(active.call, grpc.StatusCode.INTERNAL, f"the server failed: {type(error).__name__}: {error}")
            return
        send = cygrpc.SendMessageOperation(answer, _NO_FLAGS)
        if active.method.streaming:
            # one batch per step: the answer and the wait for the next request complete as one event
            self._start_batch(active.call, (send, cygrpc.ReceiveMessageOperation(_NO_FLAGS)), active)
        else:
            ok = cygrpc.SendStatusFromServerOperation(None, cygrpc.StatusCode.ok, b"", _NO_FLAGS)
            self._start_batch(active.call, (send, ok), _SENT)

    def _end(self, call: Any, code: grpc.StatusCode, message: str, first: bool = False) -> None:
        status = cygrpc.SendStatusFromServerOperation(None, _STATUS_CODES[code], message.encode(), _NO_FLAGS)
        operations = (cygrpc.SendInitialMetadataOperation(None, _NO_FLAGS), status) if first else (status,)
        self._start_batch(call, operations, _SENT)

    def _answer_open_calls(self, event: Any) -> None:
        """During the grace period: answer what open calls still ask, accept no new call."""
        if isinstance(event.tag, _ServerCall):
            self._received(event.tag, event)

    def _shut_down(self, grace: float) -> None:
        self._stopping.set()
        self._pending += 1
        self._server.shutdown(self._queue, _SHUTDOWN)
        deadline, cancelled = time.monotonic() + grace, False
        # the open calls end (answered, or cancelled after the grace period); then every
        # started batch has completed and grpc core lets the server go
        while self._pending:
            if not cancelled and time.monotonic() > deadline:
                self._server.cancel_all_calls()
                cancelled = True
            self._poll(0.1, self._answer_open_calls)
        self._server.destroy()
        self._queue.shutdown()


# -- the client's stream -------------------------------------------------------------------
class StreamEnded(Exception):
    """The server ended the stream: ``code`` is OK when it simply closed it."""

    def __init__(self, code: grpc.StatusCode, details: str, timed_out: bool) -> None:
        super().__init__(details)
        self.code, self.details, self.timed_out = code, details, timed_out


_STEP, _STATUS, _OTHER = "step", "status", "other"


class StepStream:
    """A bidirectional stream of ``method`` on ``channel`` whose messages are sent and received
    on the calling thread: :meth:`send` a request, then :meth:`receive` its answer.

    A receive that waits longer than its timeout cancels the stream (a watchdog thread does
    that) and raises :class:`StreamEnded` with ``timed_out`` set.
    """

    def __init__(self, channel: grpc.Channel, method: str, metadata: Sequence[tuple[str, str]] | None) -> None:
        self._lock = threading.Lock()
        self._due: float | None = None
        self._timed_out = False
        self._status: tuple[grpc.StatusCode, str] | None = None
        # batches started whose event has not been read: grpcio frees the call and its queue
        # only once every one of them has been read back, so a dropped stream reads the rest
        self.outstanding = 0
        try:
            if not _GRPC_CODES:
                raise AttributeError("grpc._common has no status code tables")
            cygrpc.SendMessageOperation(b"", _NO_FLAGS)  # built per step: a changed signature shows now
            cygrpc.ReceiveMessageOperation(_NO_FLAGS)
            self._call = channel._channel.segregated_call(  # type: ignore[attr-defined]
                cygrpc.PropagationConstants.GRPC_PROPAGATE_DEFAULTS,
                method.encode(),
                None,
                None,  # no deadline for the stream: each receive has its own
                metadata,
                None,
                (
                    ((cygrpc.SendInitialMetadataOperation(metadata, _NO_FLAGS),), _OTHER),
                    ((cygrpc.ReceiveInitialMetadataOperation(_NO_FLAGS),), _OTHER),
                    ((cygrpc.ReceiveStatusOnClientOperation(_NO_FLAGS),), _STATUS),
                ),
                cygrpc.build_census_context(),
                None,
            )
        except (AttributeError, TypeError) as error:
            raise UnsupportedGrpc(error) from None
        self.outstanding = 3
        _WATCHDOG.watch(self)

    def send(self, payload: bytes) -> None:
        """Send one request and ask for its answer (returns at once)."""
        operations = (cygrpc.SendMessageOperation(payload, _NO_FLAGS), cygrpc.ReceiveMessageOperation(_NO_FLAGS))
        if not self._call.operate(operations, _STEP):
            raise self._ended()
        self.outstanding += 1

    def receive(self, timeout: float) -> bytes:
        """The answer to the last request; :class:`StreamEnded` when the server ended the
        stream, failed, or did not answer within ``timeout`` seconds."""
        with self._lock:
            self._due = time.monotonic() + timeout
        try:
            while True:
                event = self._call.next_event()
                self.outstanding -= 1
                if event.tag is _STEP:
                    for operation in event.batch_operations:
                        if operation.type() == cygrpc.OperationType.receive_message:
                            message = operation.message()
                            if message is not None:
                                return message  # type: ignore[no-any-return]
                    if self._status is not None:  # no answer, and the status is in: the stream is over
                        raise self._ended()
                elif event.tag is _STATUS:
                    operation = event.batch_operations[0]
                    self._status = (_GRPC_CODES.get(operation.code(), grpc.StatusCode.UNKNOWN), operation.details() or "")
                    raise self._ended()
        finally:
            with self._lock:
                self._due = None

    @property
    def usable(self) -> bool:
        """False once the stream has ended or was cancelled (e.g. by the watchdog just as an
        answer arrived): the next step needs a new stream."""
        return self._status is None and not self._timed_out

    def done_writing(self) -> None:
        """Tell the server no more requests will come."""
        if self._call.operate((cygrpc.SendCloseFromClientOperation(_NO_FLAGS),), _OTHER):
            self.outstanding += 1

    def cancel(self) -> None:
        """End the stream from this side and read back what is left, so grpcio frees it."""
        if self.outstanding:  # at 0 grpcio has freed the call already
            self._call.cancel(cygrpc.StatusCode.cancelled, "the trainer dropped the stream")
        while self.outstanding:  # a cancelled call completes every batch at once
            self._call.next_event()
            self.outstanding -= 1

    def expire(self, now: float, stopped: bool = False) -> None:
        """Cancel the stream if its receive is overdue, or waits while a stop was requested
        (the watchdog calls this)."""
        with self._lock:
            if self._due is not None and (stopped or now > self._due):
                self._due, self._timed_out = None, not stopped
                self._call.cancel(cygrpc.StatusCode.deadline_exceeded, "no answer within the step timeout")

    def _ended(self) -> StreamEnded:
        code, details = self._status or (grpc.StatusCode.UNAVAILABLE, "the stream is closed")
        return StreamEnded(code, details, self._timed_out)


class _Watchdog:
    """One daemon thread that cancels the streams whose answer is overdue, a few times a second,
    and every waiting stream once a stop is requested (:mod:`mlx_core.stopping`)."""

    PERIOD = 0.05

    def __init__(self) -> None:
        self._streams: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, stream: Any) -> None:
        """Check ``stream`` from now on (starting the thread on first use)."""
        with self._lock:
            self._streams.add(stream)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="mlx-step-watchdog", daemon=True)
                self._thread.start()

    def forget_after_fork(self) -> None:
        """In a forked child: the parent's thread and streams are not this process's."""
        self._streams, self._lock, self._thread = weakref.WeakSet(), threading.Lock(), None

    def _run(self) -> None:
        while True:
            time.sleep(self.PERIOD)
            now, stopped = time.monotonic(), stopping.stop_reason() is not None
            with self._lock:
                streams = list(self._streams)
            for stream in streams:
                try:
                    stream.expire(now, stopped)
                except Exception:  # noqa: BLE001 - one stream's trouble must not end every stream's timeout
                    traceback.print_exc(file=sys.stderr)


_WATCHDOG = _Watchdog()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_WATCHDOG.forget_after_fork)
