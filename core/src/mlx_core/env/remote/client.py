"""The trainer side of the protocol: an :class:`Environment` whose simulator is a gRPC server.

Steps travel as messages on one open ``StepStream`` that the stepping thread writes and
reads itself (:class:`mlx_core.env.remote.calls.StepStream`, or its public-API twin: see
``transport.py``), so several simulators' steps are on the wire at the same time and no
message is handed between threads. A simulator that answers ``StepStream`` with
UNIMPLEMENTED (it offers only the unary ``Step``, which the protocol allows) is stepped with
``Step`` for the rest of the session; the choice is logged once (``step_call_chosen``). The
other calls are grpcio's unary calls. Every wait looks at :mod:`mlx_core.stopping` at least
every :data:`~mlx_core.stopping.POLL_S` seconds.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any

import grpc

from mlx_core import stopping
from mlx_core.env.base import ActionTuple, BehaviorSpec, Environment, StepResult
from mlx_core.env.remote import transport
from mlx_core.env.remote.calls import StepStream, StreamEnded
from mlx_core.env.remote.codec import (
    METHOD_PREFIX,
    PROTOCOL_VERSION,
    ProtocolError,
    actions_to_proto,
    result_from_proto,
    specs_from_proto,
)
from mlx_core.env.remote.public_calls import PublicStepStream
from mlx_core.env.remote.security import channel_credentials, channel_options, resolve_token
from mlx_core.errors import EnvError, WorkerFailure
from mlx_core.logs import get_logger
from mlx_core.proto import mlx_env_pb2 as pb
from mlx_core.proto import mlx_env_pb2_grpc as pb_grpc

log = get_logger()

# Codes that mean "the simulator went away or broke": the worker pool restarts it.
_RESTARTABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.ABORTED,
}

# A channel whose simulator went away tries again at most this often (grpc's default waits up
# to two minutes between tries, far longer than a reconnect window of timeout_wait).
_RECONNECT_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 1000)]

STREAM, UNARY = "StepStream", "Step"


class RemoteEnvironment(Environment):
    """A simulator at ``address`` (``host:port``) that speaks the mlx protocol.

    Connects within ``connect_within`` seconds (default: ``timeout``; ``alive``, when given, is polled meanwhile and
    returns a reason to give up early, e.g. a launched process that exited), sends
    Initialize with the seed, engine settings and parameters, and keeps the specs it
    answers with. Every later answer must come within ``timeout`` seconds too.
    ``step_async`` lets a pool of simulators step at the same time.
    """

    def __init__(
        self,
        address: str,
        *,
        token: str | None = None,
        tls_ca: str | None = None,
        timeout: float = 60.0,
        max_message_mb: int = 64,
        seed: int = -1,
        engine: pb.EngineSettings | None = None,
        parameters: Mapping[str, float] | None = None,
        alive: Callable[[], str | None] | None = None,
        connect_within: float | None = None,
    ) -> None:
        self.address = address
        self.timeout = timeout
        token = resolve_token(token)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else None
        self._credentials = channel_credentials(tls_ca)
        # no transparent retries: a failed call means a failed simulator, which the pool restarts
        self._options = [*channel_options(max_message_mb), ("grpc.enable_retries", 0), *_RECONNECT_OPTIONS]
        self._stream: StepStream | PublicStepStream | None = None
        self.step_call: str | None = None  # STREAM or UNARY once the first step told which the simulator offers
        transport.requested()  # a wrong $MLX_GRPC_TRANSPORT fails here, before anything connects
        self._stats: dict[str, list[float]] = {}
        self._channel: grpc.Channel | None = None
        try:
            self._open(alive, self.timeout if connect_within is None else connect_within)
            response = self._unary(
                "Initialize",
                pb.InitializeRequest(
                    protocol_version=PROTOCOL_VERSION,
                    seed=seed,
                    engine=engine,
                    parameters={k: float(v) for k, v in (parameters or {}).items()},
                ),
            )
            if response.protocol_version != PROTOCOL_VERSION:
                raise EnvError(
                    f"The simulator at {address} speaks protocol version {response.protocol_version}; this trainer "
                    f"speaks {PROTOCOL_VERSION}. Use the same mlx version on both sides (a simulator of your own answers "
                    f"Initialize with protocol_version {PROTOCOL_VERSION})."
                )
            self.name = response.name
            self._specs = self._decode(specs_from_proto, response.behaviors)
        except BaseException:
            self.abandon()
            raise

    # -- the environment API ---------------------------------------------------------------
    @property
    def specs(self) -> dict[str, BehaviorSpec]:
        """The behaviors the simulator declared in Initialize."""
        return self._specs

    def reset(self) -> StepResult:
        """Start new episodes in the simulator."""
        return self._result(self._unary("Reset", pb.ResetRequest()))

    def step(self, actions: dict[str, ActionTuple]) -> StepResult:
        """Send the actions and wait for the simulator's next result."""
        return self.step_async(actions)()

    def step_async(self, actions: Mapping[str, ActionTuple]) -> Callable[[], StepResult]:
        """Send the actions now; the returned function waits for and decodes the result.

        Results of several simulators arrive while any of them is being waited for.
        """
        request = actions_to_proto(actions).SerializeToString()
        if self.step_call == UNARY:
            return self._unary_step(request)
        stream = self._step_stream()
        try:
            stream.send(request)
        except StreamEnded as ended:
            raise self._stream_failure(ended) from None
        return lambda: self._stream_answer(stream, request)

    def set_parameters(self, parameters: dict[str, float]) -> None:
        """Parameters for each agent's next episode."""
        self._unary("SetParameters", pb.SetParametersRequest(parameters={k: float(v) for k, v in parameters.items()}))

    def stats(self) -> dict[str, Any]:
        """The custom metrics the simulator sent since the last call, name -> values."""
        stats, self._stats = self._stats, {}
        return stats

    def close(self) -> None:
        """Tell the simulator the session is over (it may shut down), then drop the connection."""
        if self._channel is not None:
            if self._stream is not None:
                with contextlib.suppress(ValueError, RuntimeError):
                    self._stream.done_writing()
            with contextlib.suppress(WorkerFailure, EnvError):
                self._unary("Close", pb.CloseRequest(), timeout=min(self.timeout, 5.0), interruptible=False)
        self.abandon()

    def abandon(self) -> None:
        """Drop the connection without telling the simulator (it failed, or is being replaced)."""
        channel, self._channel = self._channel, None
        self._drop_stream()
        if channel is not None:
            channel.close()

    # -- calls -----------------------------------------------------------------------------
    def _open(self, alive: Callable[[], str | None] | None, within: float) -> None:
        if self._credentials is not None:
            self._channel = grpc.secure_channel(self.address, self._credentials, self._options)
        else:
            self._channel = grpc.insecure_channel(self.address, self._options)
        self._stub = pb_grpc.EnvironmentStub(self._channel)
        ready = grpc.channel_ready_future(self._channel)
        deadline = time.monotonic() + within
        while True:
            try:
                ready.result(timeout=0.2)
                return
            except grpc.FutureTimeoutError:
                if stopping.stop_reason() is not None:
                    ready.cancel()
                    stopping.raise_if_stopped()
                reason = alive() if alive is not None else None
                if reason is None and time.monotonic() < deadline:
                    continue
                ready.cancel()
                raise WorkerFailure(
                    reason
                    or f"no environment server answered at {self.address} within {within:g} s (is it running, "
                    "and do both sides agree on TLS: env_settings.tls_ca here, --tls-cert there?)"
                ) from None

    def _unary(self, method: str, request: Any, timeout: float | None = None, interruptible: bool = True) -> Any:
        future = getattr(self._stub, method).future(request, timeout=timeout or self.timeout, metadata=self._metadata)
        return self._wait(future, interruptible)

    def _wait(self, future: Any, interruptible: bool = True) -> Any:
        """A unary call's answer, polled so that a stop request is seen while it is pending."""
        try:
            while True:
                try:
                    return future.result(timeout=stopping.POLL_S)
                except grpc.FutureTimeoutError:
                    if interruptible and stopping.stop_reason() is not None:
                        future.cancel()
                        stopping.raise_if_stopped()
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise WorkerFailure(
                    f"the simulator at {self.address} did not answer within timeout_wait={self.timeout:g} s"
                ) from None
            raise self._failure_of_code(error.code(), error.details()) from None

    def _unary_step(self, request: bytes) -> Callable[[], StepResult]:
        """Send one step as a unary ``Step`` call; the function returned waits for its answer."""
        if self._channel is None:
            raise WorkerFailure(f"the connection to the simulator at {self.address} is closed")
        call = self._channel.unary_unary(METHOD_PREFIX + UNARY)
        future = call.future(request, timeout=self.timeout, metadata=self._metadata)
        return lambda: self._result(pb.StepResult.FromString(self._wait(future)))

    def _step_stream(self) -> StepStream | PublicStepStream:
        if self._stream is not None and not self._stream.usable:
            self._drop_stream()  # e.g. cancelled by the watchdog just as its last answer arrived
        if self._stream is None:
            if self._channel is None:
                raise WorkerFailure(f"the connection to the simulator at {self.address} is closed")
            self._stream = transport.step_stream(self._channel, METHOD_PREFIX + STREAM, self._metadata)
        return self._stream

    def _stream_answer(self, stream: StepStream | PublicStepStream, request: bytes) -> StepResult:
        try:
            payload = stream.receive(self.timeout)
        except StreamEnded as ended:
            if ended.code == grpc.StatusCode.UNIMPLEMENTED and self.step_call is None:
                # the simulator offers only unary Step (the protocol allows either): this step
                # did not reach it, so it goes again as a Step call, and so do all later ones
                self._drop_stream()
                self._choose_step_call(UNARY)
                return self._unary_step(request)()
            raise self._stream_failure(ended) from None
        if self.step_call is None:
            self._choose_step_call(STREAM)
        return self._result(pb.StepResult.FromString(payload))

    def _choose_step_call(self, call: str) -> None:
        self.step_call = call
        log.info("step_call_chosen", simulator=self.address, call=call)

    def _stream_failure(self, ended: StreamEnded) -> Exception:
        self._drop_stream()
        stopping.raise_if_stopped()  # the watchdog ended the wait for a stop request
        if ended.timed_out:
            return WorkerFailure(
                f"the simulator at {self.address} did not answer a step within timeout_wait={self.timeout:g} s"
            )
        if ended.code == grpc.StatusCode.OK:  # the simulator ended the stream without an error: it is shutting down
            return WorkerFailure(f"the simulator at {self.address} ended the step stream")
        return self._failure_of_code(ended.code, ended.details)

    def _drop_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.cancel()

    # -- errors and decoding ---------------------------------------------------------------
    def _failure_of_code(self, code: grpc.StatusCode, details: str | None) -> Exception:
        """A restartable WorkerFailure, or an EnvError for mistakes a restart would repeat."""
        if code in _RESTARTABLE:
            return WorkerFailure(f"the simulator at {self.address} failed: {code.name}: {details}")
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return EnvError(f"The simulator at {self.address} refused this trainer: {details}.")
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            return EnvError(
                f"A message to or from the simulator at {self.address} is larger than the limit ({details}); raise "
                "env_settings.max_message_mb here and --max-message-mb on the server, or send fewer agents per step."
            )
        return EnvError(f"The simulator at {self.address} rejected a request ({code.name}): {details}.")

    def _result(self, message: pb.StepResult) -> StepResult:
        result, stats = self._decode(result_from_proto, message, self._specs)
        for name, values in stats.items():
            self._stats.setdefault(name, []).extend(values)
        return result

    def _decode(self, decode: Callable[..., Any], *args: Any) -> Any:
        try:
            return decode(*args)
        except ProtocolError as error:
            raise EnvError(f"The simulator at {self.address} sent a malformed message: {error}.") from None


def engine_message(engine: Any) -> pb.EngineSettings:
    """The protocol's EngineSettings from the run's ``engine_settings``."""
    return pb.EngineSettings(
        width=engine.width,
        height=engine.height,
        quality_level=engine.quality_level,
        time_scale=float(engine.time_scale),
        target_frame_rate=engine.target_frame_rate,
        capture_frame_rate=engine.capture_frame_rate,
        no_graphics=engine.no_graphics,
    )
