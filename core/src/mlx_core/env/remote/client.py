"""The trainer side of the protocol: an :class:`Environment` whose simulator is a gRPC server.

The client runs on ``grpc.aio``, driven from ordinary (synchronous) code: every remote
environment of a thread shares one event loop, so steps sent to several simulators travel
and are answered at the same time, and each step is a message on one open ``StepStream``
rather than a new call (measured on a 2-core machine: about 0.35 ms per round trip against
0.55 ms for a blocking unary call).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from typing import Any, TypeVar

import grpc

from mlx_core.env.base import ActionTuple, BehaviorSpec, Environment, StepResult
from mlx_core.env.remote.codec import (
    PROTOCOL_VERSION,
    ProtocolError,
    actions_to_proto,
    result_from_proto,
    specs_from_proto,
)
from mlx_core.env.remote.security import channel_credentials, channel_options, resolve_token
from mlx_core.errors import EnvError, WorkerFailure
from mlx_core.proto import mlx_env_pb2 as pb
from mlx_core.proto import mlx_env_pb2_grpc as pb_grpc

T = TypeVar("T")

# Codes that mean "the simulator went away or broke": the worker pool restarts it.
_RESTARTABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.ABORTED,
}

_LOOPS = threading.local()

if sys.version_info >= (3, 11):
    _deadline = asyncio.timeout  # a deadline on the running task: no extra task per step
else:  # pragma: no cover - Python 3.10

    @contextlib.asynccontextmanager
    async def _deadline(seconds: float) -> AsyncIterator[None]:
        task = asyncio.current_task()
        assert task is not None
        fired = []
        handle = asyncio.get_running_loop().call_later(seconds, lambda: (fired.append(True), task.cancel()))
        try:
            yield
        except asyncio.CancelledError:
            if fired:  # our deadline, not someone else's cancellation
                raise asyncio.TimeoutError from None
            raise
        finally:
            handle.cancel()


def _thread_loop() -> asyncio.AbstractEventLoop:
    """The event loop every remote environment of this thread shares (made on first use)."""
    loop: asyncio.AbstractEventLoop | None = getattr(_LOOPS, "loop", None)
    if loop is None or loop.is_closed():
        loop = _LOOPS.loop = asyncio.new_event_loop()
    return loop


class RemoteEnvironment(Environment):
    """A simulator at ``address`` (``host:port``) that speaks the mlx protocol.

    Connects within ``timeout`` seconds (``alive``, when given, is polled meanwhile and
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
    ) -> None:
        self.address = address
        self.timeout = timeout
        token = resolve_token(token)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else None
        self._credentials = channel_credentials(tls_ca)
        # no transparent retries: a failed call means a failed simulator, which the pool restarts
        self._options = [*channel_options(max_message_mb), ("grpc.enable_retries", 0)]
        self._loop = _thread_loop()
        self._stream: Any = None
        self._stats: dict[str, list[float]] = {}
        self._channel: grpc.aio.Channel | None = None
        try:
            self._run(self._open(alive))
            response = self._run(
                self._unary(
                    "Initialize",
                    pb.InitializeRequest(
                        protocol_version=PROTOCOL_VERSION,
                        seed=seed,
                        engine=engine,
                        parameters={k: float(v) for k, v in (parameters or {}).items()},
                    ),
                )
            )
            if response.protocol_version != PROTOCOL_VERSION:
                raise EnvError(
                    f"The simulator at {address} speaks protocol version {response.protocol_version}; this trainer "
                    f"speaks {PROTOCOL_VERSION}. Use the same mlx version on both sides."
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
        return self._result(self._run(self._unary("Reset", pb.ResetRequest())))

    def step(self, actions: dict[str, ActionTuple]) -> StepResult:
        """Send the actions and wait for the simulator's next result."""
        return self.step_async(actions)()

    def step_async(self, actions: Mapping[str, ActionTuple]) -> Callable[[], StepResult]:
        """Send the actions now; the returned function waits for and decodes the result.

        Results of several simulators arrive while any of them is being waited for.
        """
        task = self._loop.create_task(self._step(actions_to_proto(actions)))
        return lambda: self._result(self._run(task))

    def set_parameters(self, parameters: dict[str, float]) -> None:
        """Parameters for each agent's next episode."""
        request = pb.SetParametersRequest(parameters={k: float(v) for k, v in parameters.items()})
        self._run(self._unary("SetParameters", request))

    def stats(self) -> dict[str, Any]:
        """The custom metrics the simulator sent since the last call, name -> values."""
        stats, self._stats = self._stats, {}
        return stats

    def close(self) -> None:
        """Tell the simulator the session is over (it may shut down), then drop the connection."""
        if self._channel is not None:
            with contextlib.suppress(grpc.RpcError, WorkerFailure, EnvError, asyncio.TimeoutError):
                self._run(self._close())
        self.abandon()

    def abandon(self) -> None:
        """Drop the connection without telling the simulator (it failed, or is being replaced)."""
        channel, self._channel, self._stream = self._channel, None, None
        if channel is not None and not self._loop.is_closed():
            self._run(channel.close(grace=None))

    # -- coroutines ------------------------------------------------------------------------
    def _run(self, work: Coroutine[Any, Any, T] | asyncio.Task[T]) -> T:
        return self._loop.run_until_complete(work)

    async def _open(self, alive: Callable[[], str | None] | None) -> None:
        if self._credentials is not None:
            self._channel = grpc.aio.secure_channel(self.address, self._credentials, self._options)
        else:
            self._channel = grpc.aio.insecure_channel(self.address, self._options)
        self._stub = pb_grpc.EnvironmentStub(self._channel)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                await asyncio.wait_for(self._channel.channel_ready(), 0.2)
                return
            except asyncio.TimeoutError:
                reason = alive() if alive is not None else None
                if reason is None and time.monotonic() < deadline:
                    continue
                raise WorkerFailure(
                    reason
                    or f"no environment server answered at {self.address} within {self.timeout:g} s (is it running, "
                    "and do both sides agree on TLS: env_settings.tls_ca here, --tls-cert there?)"
                ) from None

    async def _unary(self, method: str, request: Any) -> Any:
        try:
            return await getattr(self._stub, method)(request, timeout=self.timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            raise self._failure(error) from None

    async def _step(self, request: pb.StepRequest) -> pb.StepResult:
        try:
            if self._stream is None:
                self._stream = self._stub.StepStream(metadata=self._metadata)
            async with _deadline(self.timeout):
                await self._stream.write(request)
                response = await self._stream.read()
        except asyncio.TimeoutError:
            self._drop_stream()
            raise WorkerFailure(
                f"the simulator at {self.address} did not answer a step within timeout_wait={self.timeout:g} s"
            ) from None
        except (grpc.RpcError, asyncio.InvalidStateError) as error:
            self._drop_stream()
            if isinstance(error, grpc.RpcError):
                raise self._failure(error) from None
            raise WorkerFailure(f"the step stream to {self.address} broke: {error}") from None
        if response is grpc.aio.EOF:  # the simulator ended the stream without an error: it is shutting down
            self._stream = None
            raise WorkerFailure(f"the simulator at {self.address} ended the step stream")
        return response  # type: ignore[no-any-return]

    def _drop_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.cancel()

    async def _close(self) -> None:
        if self._stream is not None:
            with contextlib.suppress(grpc.RpcError, asyncio.InvalidStateError):
                await self._stream.done_writing()
        await asyncio.wait_for(
            self._stub.Close(pb.CloseRequest(), timeout=min(self.timeout, 5.0), metadata=self._metadata),
            min(self.timeout, 5.0),
        )

    # -- errors and decoding ---------------------------------------------------------------
    def _failure(self, error: grpc.RpcError) -> Exception:
        return self._failure_of_code(error.code(), error.details())

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
