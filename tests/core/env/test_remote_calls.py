"""The completion-queue server and step stream (`mlx_core.env.remote.calls`) over real gRPC on
127.0.0.1: step timeouts, refusals grpcio's own servers would have given, and shutdown with
calls still open."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import numpy as np
import pytest

from mlx_core.env.base import ActionTuple
from mlx_core.env.builtin.masked import MaskedGrid
from mlx_core.env.remote import RemoteEnvironment, start_server
from mlx_core.env.remote.calls import StepStream, StreamEnded
from mlx_core.env.remote.server import BackgroundServer
from mlx_core.errors import EnvError, WorkerFailure
from mlx_core.proto import mlx_env_pb2 as pb
from tests.core.env.remote_transports import grpc_transport  # noqa: F401 - a fixture

SERVICE = "/mlx.env.v1.Environment/"


class Sleepy(MaskedGrid):
    """MaskedGrid whose steps take ``seconds`` once ``sleep`` is set."""

    def __init__(self) -> None:
        super().__init__(2, seed=0)
        self.sleep = threading.Event()
        self.seconds = 3.0

    def step(self, actions: Any) -> Any:
        if self.sleep.is_set():
            time.sleep(self.seconds)
        return super().step(actions)


def first_moves(result: Any) -> dict[str, ActionTuple]:
    decisions = result["MaskedGrid"][0]
    choices = decisions.action_mask.argmax(axis=1).reshape(-1, 1).astype(np.int64)
    return {"MaskedGrid": ActionTuple(np.zeros((len(decisions), 0), np.float32), choices)}


Serving = Callable[..., BackgroundServer]


@pytest.fixture
def serving(grpc_transport: str) -> Iterator[Serving]:  # noqa: F811
    """``serving(env, **options)`` serves ``env`` (a 2-agent MaskedGrid by default) from a
    thread of this process over real gRPC; every server started is stopped at teardown.
    Each test using it runs on both transports (``grpc_transport``)."""
    started: list[BackgroundServer] = []

    def start(env: Any = None, **options: Any) -> BackgroundServer:
        server = start_server(MaskedGrid(2, seed=0) if env is None else env, 0, **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def sleepy(serving: Serving) -> tuple[Sleepy, BackgroundServer]:
    env = Sleepy()
    return env, serving(env)


def test_a_step_without_an_answer_in_time_fails_and_the_connection_goes_on(sleepy: tuple[Sleepy, BackgroundServer]) -> None:
    env, server = sleepy
    remote = RemoteEnvironment(f"127.0.0.1:{server.port}", timeout=0.5)
    result = remote.step(first_moves(remote.reset()))
    env.sleep.set()
    start = time.monotonic()
    with pytest.raises(WorkerFailure, match=r"did not answer a step within timeout_wait=0.5 s"):
        remote.step(first_moves(result))
    waited = time.monotonic() - start
    assert 0.45 < waited < 1.5, waited  # the watchdog checks a few times a second
    env.sleep.clear()
    time.sleep(env.seconds)  # the server finishes the step it was given, then serves again
    result = remote.reset()  # a unary call, then a new step stream
    assert len(remote.step(first_moves(result))["MaskedGrid"][0]) == 2
    remote.close()


def test_steps_of_two_simulators_are_answered_at_the_same_time(serving: Serving) -> None:
    envs = [Sleepy(), Sleepy()]
    servers = [serving(env) for env in envs]
    remotes = [RemoteEnvironment(f"127.0.0.1:{s.port}", timeout=10.0) for s in servers]
    results = [r.reset() for r in remotes]
    for env in envs:
        env.seconds = 0.5
        env.sleep.set()
    start = time.monotonic()
    waiting = [r.step_async(first_moves(result)) for r, result in zip(remotes, results)]
    for wait in waiting:
        assert len(wait()["MaskedGrid"][0]) == 2
    assert time.monotonic() - start < 0.9  # not 2 x 0.5 s one after the other
    for env in envs:
        env.sleep.clear()
    for remote in remotes:
        remote.close()


def test_a_request_that_is_not_the_message_it_should_be_is_refused(serving: Serving) -> None:
    server = serving()
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        with pytest.raises(grpc.RpcError) as raised:
            channel.unary_unary(SERVICE + "Initialize")(b"\xff\xff\xff", timeout=5)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert raised.value.details() == "the request is not a valid InitializeRequest message"

        with pytest.raises(grpc.RpcError) as raised:
            channel.unary_unary(SERVICE + "Teleport")(b"", timeout=5)
        assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert "Teleport" in (raised.value.details() or "")

    remote = RemoteEnvironment(f"127.0.0.1:{server.port}", timeout=5.0)  # still serving
    assert len(remote.reset()["MaskedGrid"][0]) == 2
    remote.close()


def test_a_stream_without_the_token_is_refused(serving: Serving) -> None:
    server = serving(token="secret")
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stream = StepStream(channel, SERVICE + "StepStream", (("authorization", "Bearer wrong"),))
        stream.send(pb.StepRequest().SerializeToString())
        with pytest.raises(StreamEnded) as raised:
            stream.receive(5.0)
        assert raised.value.code == grpc.StatusCode.UNAUTHENTICATED
        assert "the token does not match" in raised.value.details
        assert not raised.value.timed_out
    remote = RemoteEnvironment(f"127.0.0.1:{server.port}", token="secret", timeout=5.0)
    remote.step(first_moves(remote.reset()))
    remote.close()


def test_stopping_a_server_with_an_open_stream_ends_it(serving: Serving) -> None:
    server = serving()
    remote = RemoteEnvironment(f"127.0.0.1:{server.port}", timeout=5.0)
    result = remote.step(first_moves(remote.reset()))
    start = time.monotonic()
    server.stop()  # the trainer still holds its step stream open
    assert time.monotonic() - start < 3
    with pytest.raises((WorkerFailure, EnvError)):
        remote.step(first_moves(result))
    remote.abandon()


def test_a_trainer_that_drops_its_stream_leaves_the_server_serving(serving: Serving) -> None:
    server = serving()
    first = RemoteEnvironment(f"127.0.0.1:{server.port}", timeout=5.0)
    first.step(first_moves(first.reset()))
    first.abandon()  # no Close: the stream is cancelled under the server
    second = RemoteEnvironment(f"127.0.0.1:{server.port}", timeout=5.0)
    result = second.reset()
    for _ in range(3):
        result = second.step(first_moves(result))
    second.close()
    assert server.service.closed.is_set()


def test_a_grpcio_whose_cython_layer_changed_falls_back_on_the_public_api_with_one_info_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlx_core.env.remote import calls, public_calls, transport

    class Renamed:  # e.g. a grpcio release that renamed the calls mlx uses
        pass

    monkeypatch.delenv(transport.VARIABLE, raising=False)
    monkeypatch.setattr(transport, "_fell_back", [])  # this process has not fallen back yet
    monkeypatch.setattr(calls, "cygrpc", Renamed())
    # the classes themselves say what changed ...
    with pytest.raises(EnvError, match=r"grpcio .* changed the calls mlx's environment transport is built from"):
        calls.CallServer({})
    with grpc.insecure_channel("127.0.0.1:1") as channel, pytest.raises(EnvError, match="pip install 'grpcio==1.85"):
        StepStream(channel, SERVICE + "StepStream", None)
    # ... and a server and a trainer built as mlx builds them use the public API instead, unasked
    server = start_server(MaskedGrid(2, seed=0), 0)
    try:
        assert isinstance(server.server, public_calls.PublicCallServer)
        remote = RemoteEnvironment(f"127.0.0.1:{server.port}", timeout=5.0)
        result = remote.reset()
        for _ in range(5):
            result = remote.step(first_moves(result))
        assert isinstance(remote._stream, public_calls.PublicStepStream)
        remote.close()
    finally:
        server.stop()
    out = capsys.readouterr()
    assert out.out.count("grpc_transport_fell_back") == 1 and "AttributeError" in out.out
    assert "error" not in out.err.lower()
    # forcing the Cython layer is then the one clear error
    monkeypatch.setenv(transport.VARIABLE, "private")
    with pytest.raises(EnvError, match=r"grpcio .* changed the calls"):
        start_server(MaskedGrid(2, seed=0), 0)


def test_a_wrong_transport_variable_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLX_GRPC_TRANSPORT", "fast")
    with pytest.raises(EnvError, match=r"\$MLX_GRPC_TRANSPORT='fast' is not a transport: write auto"):
        RemoteEnvironment("127.0.0.1:1", timeout=1.0)


def test_a_dropped_stream_reads_back_every_batch_so_grpc_frees_it(serving: Serving, grpc_transport: str) -> None:  # noqa: F811
    if grpc_transport == "public":
        pytest.skip("grpcio's public API frees its calls itself")
    server = serving()
    for how in ("close", "abandon"):
        remote = RemoteEnvironment(f"127.0.0.1:{server.port}", timeout=5.0)
        result = remote.step(first_moves(remote.reset()))
        remote.step(first_moves(result))
        stream = remote._stream
        assert stream is not None and stream.outstanding > 0  # the status is still to come
        getattr(remote, how)()
        assert stream.outstanding == 0, how


class Broken(MaskedGrid):
    """MaskedGrid whose second step returns something that is not a step result."""

    steps = 0

    def step(self, actions: Any) -> Any:
        self.steps += 1
        return {"MaskedGrid": None} if self.steps == 2 else super().step(actions)


def test_a_server_bug_fails_that_call_and_the_server_keeps_serving(serving: Serving, capfd: pytest.CaptureFixture[str]) -> None:
    server = serving(Broken(2, seed=0))
    remote = RemoteEnvironment(f"127.0.0.1:{server.port}", timeout=5.0)
    result = remote.step(first_moves(remote.reset()))
    with pytest.raises(WorkerFailure, match=r"INTERNAL: the server failed: TypeError"):
        remote.step(first_moves(result))
    assert "Traceback" in capfd.readouterr().err  # the server's side says where
    again = RemoteEnvironment(f"127.0.0.1:{server.port}", timeout=5.0)
    assert len(again.step(first_moves(again.reset()))["MaskedGrid"][0]) == 2
    again.close()
    remote.abandon()


def test_a_tensor_with_too_many_dimensions_is_refused_in_a_sentence(serving: Serving) -> None:
    server = serving()
    remote = RemoteEnvironment(f"127.0.0.1:{server.port}", timeout=5.0)
    remote.reset()
    request = pb.StepRequest()
    action = request.actions.add(behavior="MaskedGrid")
    action.discrete.dtype, action.discrete.data = "int64", np.zeros(1, np.int64).tobytes()
    action.discrete.shape[:] = [1] * 70  # numpy cannot even make such an array
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel, pytest.raises(grpc.RpcError) as raised:
        channel.unary_unary(SERVICE + "Step")(request.SerializeToString(), timeout=5)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "has 70 dimensions; at most 32 are allowed" in (raised.value.details() or "")
    remote.step(first_moves(remote.reset()))  # still serving
    remote.close()


def test_a_stream_the_watchdog_cancelled_as_its_answer_arrived_is_replaced(serving: Serving) -> None:
    server = serving()
    remote = RemoteEnvironment(f"127.0.0.1:{server.port}", timeout=5.0)
    result = remote.step(first_moves(remote.reset()))
    stream = remote._stream
    assert stream is not None
    with stream._lock:
        stream._due = 0.0  # as if the answer had come at the deadline
    stream.expire(time.monotonic())
    assert not stream.usable
    assert len(remote.step(first_moves(result))["MaskedGrid"][0]) == 2  # on a new stream
    assert remote._stream is not stream and stream.outstanding == 0
    remote.close()


def test_the_transport_variable_chooses_the_server_and_the_stream(serving: Serving, grpc_transport: str) -> None:  # noqa: F811
    from mlx_core.env.remote.public_calls import PublicCallServer, PublicStepStream

    server = serving()
    remote = RemoteEnvironment(f"127.0.0.1:{server.port}", timeout=5.0)
    remote.step(first_moves(remote.reset()))
    public = grpc_transport == "public"
    assert isinstance(server.server, PublicCallServer) == public
    assert isinstance(remote._stream, PublicStepStream) == public
    remote.close()
