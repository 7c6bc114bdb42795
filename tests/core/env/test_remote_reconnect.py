"""A ``grpc://`` simulator that goes away: the pool reconnects within ``timeout_wait`` (and goes
on from a fresh Initialize/Reset with the episodes in flight interrupted) or stops with one
clear error; every wait of the environment layer gives way to a stop request within a second.
Real servers on 127.0.0.1, real worker processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from structlog.testing import capture_logs

from mlx_core import stopping
from mlx_core.config.settings import RunOptions
from mlx_core.env.builtin.masked import MaskedGrid
from mlx_core.env.executable import make_grpc
from mlx_core.env.remote import start_server
from mlx_core.env.remote.server import BackgroundServer
from mlx_core.env.workers import WorkerPool
from mlx_core.errors import EnvError
from tests.core.env.remote_transports import grpc_transport  # noqa: F401 - a fixture
from tests.core.env.test_remote_calls import first_moves
from tests.core.env.test_workers import make, step_right

BEHAVIOR = "MaskedGrid"


def grpc_options(timeout_wait: float) -> RunOptions:
    base = RunOptions()
    return attrs.evolve(base, env_settings=attrs.evolve(base.env_settings, timeout_wait=timeout_wait))


@pytest.fixture
def stop_later() -> Iterator[callable]:  # type: ignore[valid-type]
    """``stop_later(seconds)`` requests a stop from another thread after ``seconds``; the
    request is forgotten at teardown."""
    timers: list[threading.Timer] = []

    def schedule(seconds: float) -> None:
        timer = threading.Timer(seconds, stopping.request_stop, args=("test",))
        timers.append(timer)
        timer.start()

    yield schedule
    for timer in timers:
        timer.cancel()
    stopping.clear()


def serve_at(port: int) -> BackgroundServer:
    return start_server(MaskedGrid(2, seed=0), port)


def pool_at(server: BackgroundServer, timeout_wait: float) -> WorkerPool:
    pool = make_grpc(f"//127.0.0.1:{server.port}", grpc_options(timeout_wait), 1, 0)
    assert isinstance(pool, WorkerPool)
    return pool


@pytest.mark.usefixtures("grpc_transport")
def test_a_simulator_back_at_its_address_within_timeout_wait_is_reconnected() -> None:
    server = serve_at(0)
    port, holder = server.port, []
    pool = pool_at(server, timeout_wait=10.0)
    try:
        result = pool.reset()
        for _ in range(3):
            result = pool.step(first_moves(result))
        before = set(result[BEHAVIOR][0].agent_id.tolist())
        server.stop()  # gone: the open stream ends
        threading.Timer(1.5, lambda: holder.append(serve_at(port))).start()
        began = time.monotonic()
        with capture_logs() as logs:
            result = pool.step(first_moves(result))
        assert time.monotonic() - began < 8.0
        events = [e["event"] for e in logs]
        assert events.count("worker_restarted") == 1 and events.count("simulator_reconnected") == 1, logs
        decisions, terminals = result[BEHAVIOR]
        assert len(decisions) == 2 and not (set(decisions.agent_id.tolist()) & before)  # a fresh Reset, new ids
        assert set(terminals.agent_id[terminals.interrupted].tolist()) == before  # the episodes in flight
        for _ in range(5):  # and stepping goes on
            result = pool.step(first_moves(result))
    finally:
        pool.close()
        for again in holder:
            again.stop()


@pytest.mark.usefixtures("grpc_transport")
def test_a_simulator_that_does_not_come_back_stops_the_run_within_timeout_wait() -> None:
    server = serve_at(0)
    pool = pool_at(server, timeout_wait=2.0)
    try:
        result = pool.reset()
        server.stop()
        began = time.monotonic()
        with pytest.raises(EnvError) as raised:
            pool.step(first_moves(result))
        took = time.monotonic() - began
        assert 1.5 < took < 4.0, took  # one window of timeout_wait, not one per restart
        text = str(raised.value)
        assert "\n" not in text and f"127.0.0.1:{server.port} stopped answering" in text
        assert "did not come back within env_settings.timeout_wait=2 s" in text and "--resume" in text
    finally:
        pool.close()


@pytest.mark.usefixtures("grpc_transport")
def test_a_stop_request_ends_the_reconnect_wait_at_once(stop_later) -> None:  # type: ignore[no-untyped-def]
    server = serve_at(0)
    pool = pool_at(server, timeout_wait=60.0)
    try:
        result = pool.reset()
        server.stop()
        stop_later(1.0)
        began = time.monotonic()
        with pytest.raises(stopping.StopRequested):
            pool.step(first_moves(result))
        assert time.monotonic() - began < 2.5
    finally:
        pool.close()


class Silent(MaskedGrid):
    """A MaskedGrid that stops answering steps (a hung simulator, a network gone quiet)."""

    def step(self, actions):  # type: ignore[no-untyped-def]
        time.sleep(5)
        return super().step(actions)


@pytest.mark.usefixtures("grpc_transport")
def test_a_stop_request_ends_the_wait_for_a_step_answer(stop_later) -> None:  # type: ignore[no-untyped-def]
    server = start_server(Silent(2, seed=0), 0)
    pool = pool_at(server, timeout_wait=60.0)
    try:
        result = pool.reset()
        stop_later(0.5)
        began = time.monotonic()
        with pytest.raises(stopping.StopRequested):
            pool.step(first_moves(result))
        assert time.monotonic() - began < 1.5
    finally:
        pool.close()
        server.server.stop()  # the handler is asleep: do not wait for it


def test_a_stop_request_ends_the_wait_for_a_restarting_worker_process(tmp_path: Path, stop_later) -> None:  # type: ignore[no-untyped-def]
    pool = make(1, executor="subprocess", env_args=["crash_at=2", f"marker={tmp_path / 'crashed'}", "slow_start=60"])
    try:
        result = step_right(pool, pool.reset())
        stop_later(1.5)  # the worker crashes at the next step; its replacement takes a minute to start
        began = time.monotonic()
        with pytest.raises(stopping.StopRequested):
            step_right(pool, result)
        assert time.monotonic() - began < 2.5
    finally:
        began = time.monotonic()
        pool.close()
        assert time.monotonic() - began < 2.0  # a worker still starting is killed, not waited for
