"""The trainer side of the protocol: an :class:`Environment` whose simulator is a gRPC server."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any

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

# Codes that mean "the simulator went away or broke": the worker pool restarts it.
_RESTARTABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.ABORTED,
}


class RemoteEnvironment(Environment):
    """A simulator at ``address`` (``host:port``) that speaks the mlx protocol.

    Connects within ``timeout`` seconds (``alive``, when given, is polled meanwhile and
    returns a reason to give up early, e.g. a launched process that exited), sends
    Initialize with the seed, engine settings and parameters, and keeps the specs it
    answers with. Every later call must answer within ``timeout`` seconds too.
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
        credentials = channel_credentials(tls_ca)
        options = channel_options(max_message_mb)
        self._channel = (
            grpc.secure_channel(address, credentials, options) if credentials else grpc.insecure_channel(address, options)
        )
        self._stub = pb_grpc.EnvironmentStub(self._channel)
        self._stats: dict[str, list[float]] = {}
        try:
            self._wait_ready(alive)
            response = self._call(
                self._stub.Initialize,
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
                    f"speaks {PROTOCOL_VERSION}. Use the same mlx version on both sides."
                )
            self.name = response.name
            self._specs = self._decode(specs_from_proto, response.behaviors)
        except BaseException:
            self._channel.close()
            raise

    def _wait_ready(self, alive: Callable[[], str | None] | None) -> None:
        deadline = time.monotonic() + self.timeout
        ready = grpc.channel_ready_future(self._channel)
        while True:
            try:
                ready.result(timeout=0.2)
                return
            except grpc.FutureTimeoutError:
                reason = alive() if alive is not None else None
                if reason is None and time.monotonic() < deadline:
                    continue
                ready.cancel()
                raise WorkerFailure(
                    reason
                    or f"no environment server answered at {self.address} within {self.timeout:g} s (is it running, "
                    "and do both sides agree on TLS: env_settings.tls_ca here, --tls-cert there?)"
                ) from None

    @property
    def specs(self) -> dict[str, BehaviorSpec]:
        """The behaviors the simulator declared in Initialize."""
        return self._specs

    def reset(self) -> StepResult:
        """Start new episodes in the simulator."""
        return self._result(self._call(self._stub.Reset, pb.ResetRequest()))

    def step(self, actions: dict[str, ActionTuple]) -> StepResult:
        """Send the actions and wait for the simulator's next result."""
        return self._result(self._call(self._stub.Step, actions_to_proto(actions)))

    def step_async(self, actions: Mapping[str, ActionTuple]) -> Callable[[], StepResult]:
        """Send the actions now; the returned function waits for and decodes the result.

        gRPC futures cost about as much again as a blocking call (a thread hand-off), so
        this pays only when several simulators step at the same time.
        """
        future = self._stub.Step.future(actions_to_proto(actions), timeout=self.timeout, metadata=self._metadata)
        return lambda: self._result(self._wait(future.result))

    def set_parameters(self, parameters: dict[str, float]) -> None:
        """Parameters for each agent's next episode."""
        request = pb.SetParametersRequest(parameters={k: float(v) for k, v in parameters.items()})
        self._call(self._stub.SetParameters, request)

    def stats(self) -> dict[str, Any]:
        """The custom metrics the simulator sent since the last call, name -> values."""
        stats, self._stats = self._stats, {}
        return stats

    def close(self) -> None:
        """Tell the simulator the session is over (it may shut down), then drop the connection."""
        with contextlib.suppress(grpc.RpcError):  # already gone: nothing to tell it
            self._stub.Close(pb.CloseRequest(), timeout=min(self.timeout, 5.0), metadata=self._metadata)
        self._channel.close()

    # -- helpers ---------------------------------------------------------------------------
    def _call(self, method: Any, request: Any) -> Any:
        return self._wait(lambda: method(request, timeout=self.timeout, metadata=self._metadata))

    def _wait(self, call: Callable[[], Any]) -> Any:
        """Run a call; translate gRPC failures into a restartable WorkerFailure or an EnvError."""
        try:
            return call()
        except grpc.RpcError as error:
            code, details = error.code(), error.details()
            if code in _RESTARTABLE:
                raise WorkerFailure(f"the simulator at {self.address} failed: {code.name}: {details}") from None
            if code == grpc.StatusCode.UNAUTHENTICATED:
                raise EnvError(f"The simulator at {self.address} refused this trainer: {details}.") from None
            raise EnvError(f"The simulator at {self.address} rejected a request ({code.name}): {details}.") from None

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

