"""Environment stepping speed: in-process, in 1/2/4 worker processes, and over gRPC on loopback;
and the gRPC transport's cost per step for a 64-agent batch of 8-float observations, on each
transport (grpcio's Cython layer, the default; grpcio's public API, the fallback), measured
in the same run.

    python benchmarks/env_workers.py [--seconds 5] [--work-us 0 1000] [--transports private public]
        [--out benchmarks/results/env_workers.md]

Every configuration is built through mlx's own environment factory (the code ``mlx run``
uses) and stepped with fixed actions, so the numbers are the environment path alone, without
a policy. The gRPC server is ``mlx env serve`` in another process on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mlx_core.env.base import Environment
from mlx_core.env.factory import environment_for
from mlx_core.plugins.manager import get_plugins

TRANSPORT_VARIABLE = "MLX_GRPC_TRANSPORT"
HERE = Path(__file__).resolve().parent
ENVS = HERE / "bench_envs.py"


def build(target: str, num_envs: int = 1, executor: str = "inline", env_args: list[str] | None = None) -> Environment:
    return environment_for(target, get_plugins(), 0, num_envs=num_envs, executor=executor, env_args=env_args)


def steps_per_second(env: Environment, seconds: float) -> float:
    """Agent steps per second with all-zero actions, after a short warm-up."""
    result = env.reset()
    specs = env.specs

    def step(result):  # type: ignore[no-untyped-def]
        actions = {name: specs[name].action_spec.empty(len(d)) for name, (d, _) in result.items() if len(d)}
        return env.step(actions)

    for _ in range(20):
        result = step(result)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        result = step(result)
        steps += sum(len(d) for d, _ in result.values())
    return steps / (time.perf_counter() - start)


class Server:
    """``mlx env serve TARGET --port 0`` in another process; ``address`` once it listens."""

    def __init__(self, target: str, *args: str) -> None:
        command = [sys.executable, "-m", "mlx_core.cli", "env", "serve", target, "--port", "0", *args]
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        assert self.process.stderr is not None
        for line in self.process.stderr:
            found = re.search(r"listening on (\S+)", line)
            if found:
                self.address = found.group(1)
                return
        raise RuntimeError(f"the server did not start: {self.process.wait()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait(timeout=10)


def grpc_env(servers: list[Server]) -> Environment:
    return build("grpc://" + ",".join(s.address for s in servers))


def speed_table(work_us: int, seconds: float) -> list[tuple[str, int, float]]:
    target = f"{ENVS}:Busy"
    args = [f"work_us={work_us}"]
    rows: list[tuple[str, int, float]] = []
    for label, copies, executor in [
        ("in-process", 1, "inline"),
        ("in-process", 4, "inline"),
        ("worker processes", 1, "subprocess"),
        ("worker processes", 2, "subprocess"),
        ("worker processes", 4, "subprocess"),
    ]:
        env = build(target, copies, executor, args)
        try:
            rows.append((label, copies, steps_per_second(env, seconds)))
        finally:
            env.close()
    for copies in (1, 2):
        servers = [Server(target, "--env-args", " ".join(args)) for _ in range(copies)]
        try:
            env = grpc_env(servers)
            rows.append(("gRPC loopback (mlx env serve)", copies, steps_per_second(env, seconds)))
            env.close()
        finally:
            for server in servers:
                server.stop()
    return rows


def transport_cost(trials: int, steps: int, transport: str = "private") -> tuple[float, float, list[float]]:
    """(in-process ms per step, gRPC ms per step, per-trial gRPC costs) for the 64x8 probe, with
    both sides on ``transport`` (``$MLX_GRPC_TRANSPORT``)."""
    os.environ[TRANSPORT_VARIABLE] = transport  # read by the client below and the server's process
    target = f"{ENVS}:Probe"
    local = build(target)
    server = Server(target)
    remote = grpc_env([server])
    try:
        costs = []
        local_ms = remote_ms = 0.0
        for _ in range(trials):
            local_ms = 1000 / steps_per_second_fixed(local, steps)
            remote_ms = 1000 / steps_per_second_fixed(remote, steps)
            costs.append(remote_ms - local_ms)
        return local_ms, remote_ms, costs
    finally:
        remote.close()
        server.stop()
        local.close()
        del os.environ[TRANSPORT_VARIABLE]


AIO_ECHO = """
import asyncio, json, sys, time, grpc
async def echo(requests, context):
    async for request in requests:
        yield request
async def main(payload_bytes, trials, steps):
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler("echo.Echo", {"Stream": grpc.stream_stream_rpc_method_handler(echo)})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()
def client(port, payload_bytes, trials, steps):
    loop = asyncio.new_event_loop()
    async def connect():
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        return channel, channel.stream_stream("/echo.Echo/Stream")()
    channel, stream = loop.run_until_complete(connect())
    payload = b"x" * payload_bytes
    async def round_trip():
        await stream.write(payload)
        await stream.read()
    for _ in range(100):
        loop.run_until_complete(round_trip())
    results = []
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(steps):
            loop.run_until_complete(round_trip())
        results.append((time.perf_counter() - start) / steps * 1000)
    print(json.dumps(results))
if sys.argv[1] == "server":
    asyncio.run(main(*map(int, sys.argv[2:])))
else:
    client(*map(int, sys.argv[2:]))
"""

CALLS_ECHO_SERVER = """
from mlx_core.env.remote.calls import CallServer, Method
class Echo(Method):
    def answer(self, payload):
        return payload
server = CallServer({"/echo.Echo/Stream": Echo(None, None, streaming=True)})
port = server.add_port("127.0.0.1:0")
server.start()
print(port, flush=True)
server.serve()
"""

TCP_ECHO_SERVER = """
import socket, sys
listener = socket.create_server(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)
connection, _ = listener.accept()
connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
size = int(sys.argv[1])
while True:
    data = connection.recv(65536)
    if not data:
        break
    while len(data) < size:
        data += connection.recv(65536)
    connection.sendall(data)
"""


def _echo_server(script: str, *args: str, environ: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True, env=environ)
    assert process.stdout is not None
    return process, int(process.stdout.readline())


def _trials(round_trip: Callable[[], object], trials: int, steps: int) -> list[float]:
    for _ in range(100):
        round_trip()
    results = []
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(steps):
            round_trip()
        results.append((time.perf_counter() - start) / steps * 1000)
    return results


def grpc_echo_ms(payload_bytes: int, trials: int, steps: int) -> list[float]:
    """Round trips of ``payload_bytes`` on one grpc.aio stream between two processes with grpc's
    own settings and no mlx code: what grpcio's public asyncio API costs."""
    stock = {k: v for k, v in os.environ.items() if k != "GRPC_EXPERIMENTS"}
    stock["GRPC_EXPERIMENTS"] = ""  # keep grpc's default engine (mlx would choose the polling one)
    stock["GRPC_VERBOSITY"] = "ERROR"  # no notice from the server when the client goes away
    numbers = [str(payload_bytes), str(trials), str(steps)]
    server, port = _echo_server(AIO_ECHO, "server", *numbers, environ=stock)
    try:
        client = subprocess.run(
            [sys.executable, "-c", AIO_ECHO, "client", str(port), *numbers], env=stock, capture_output=True, text=True, check=True
        )
        return [float(x) for x in json.loads(client.stdout)]
    finally:
        server.kill()
        server.wait()


def calls_echo_ms(payload_bytes: int, trials: int, steps: int) -> list[float]:
    """The same round trips through mlx's completion-queue server and step stream, without the
    codec or an environment: what the transport itself costs."""
    import grpc

    from mlx_core.env.remote.calls import StepStream

    server, port = _echo_server(CALLS_ECHO_SERVER)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stream = StepStream(channel, "/echo.Echo/Stream", None)
            payload = b"x" * payload_bytes

            def round_trip() -> bytes:
                stream.send(payload)
                return stream.receive(10.0)

            results = _trials(round_trip, trials, steps)
            stream.cancel()
            return results
    finally:
        server.kill()
        server.wait()


def tcp_echo_ms(payload_bytes: int, trials: int, steps: int) -> list[float]:
    """The same round trips over a plain TCP socket: the floor without gRPC."""
    server, port = _echo_server(TCP_ECHO_SERVER, str(payload_bytes))
    try:
        with socket.create_connection(("127.0.0.1", port)) as connection:
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            payload = b"x" * payload_bytes

            def round_trip() -> None:
                connection.sendall(payload)
                received = 0
                while received < payload_bytes:
                    received += len(connection.recv(65536))

            return _trials(round_trip, trials, steps)
    finally:
        server.kill()
        server.wait()


def steps_per_second_fixed(env: Environment, steps: int) -> float:
    """Steps (not agent steps) per second over ``steps`` steps."""
    result = env.reset()
    specs = env.specs
    actions = {name: specs[name].action_spec.empty(len(d)) for name, (d, _) in result.items()}
    for _ in range(50):
        env.step(actions)
    start = time.perf_counter()
    for _ in range(steps):
        env.step(actions)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per configuration")
    parser.add_argument("--work-us", type=int, nargs="+", default=[0, 1000], help="simulator CPU work per step")
    parser.add_argument("--trials", type=int, default=5, help="transport-cost trials")
    parser.add_argument(
        "--transports", nargs="+", choices=["private", "public"], default=["private", "public"],
        help="transports whose cost per step is measured (private: grpcio's Cython layer; public: its public API)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=HERE / "results" / "env_workers.md")
    args = parser.parse_args()

    lines = ["# Environment workers and gRPC", ""]
    for work_us in args.work_us:
        rows = speed_table(work_us, args.seconds)
        base = rows[0][2]
        lines += [
            f"Busy environment, {work_us} us of CPU work per step (1 agent per copy):",
            "",
            "| how | copies | agent steps/s | vs in-process, 1 copy |",
            "|---|---:|---:|---:|",
            *[f"| {label} | {copies} | {rate:,.0f} | {rate / base:.2f}x |" for label, copies, rate in rows],
            "",
        ]
        print("\n".join(lines[-len(rows) - 4 :]), flush=True)
    costs_by_transport = {t: transport_cost(args.trials, 2000, t) for t in args.transports}
    # a 64x8 step result is about 3 KB
    echoes = {
        "mlx's completion-queue calls (`calls.py`), no codec or environment": calls_echo_ms(3000, args.trials, 2000),
        "grpc.aio (public API, grpc's default settings, no mlx code)": grpc_echo_ms(3000, args.trials, 2000),
        "a plain TCP socket (no gRPC)": tcp_echo_ms(3000, args.trials, 2000),
    }
    names = {"private": "grpcio's Cython layer (default)", "public": "grpcio's public API (fallback)"}
    lines += ["gRPC transport cost, 64 agents x 8-float observations, 2 continuous actions each:", ""]
    for transport, (local_ms, remote_ms, costs) in costs_by_transport.items():
        median = statistics.median(costs)
        lines += [
            f"- {names[transport]}: in-process step {local_ms:.3f} ms; over gRPC on loopback {remote_ms:.3f} ms; "
            f"cost per step (median of {args.trials} trials of 2,000 steps) {median:.3f} ms "
            f"(trials: {', '.join(f'{c:.3f}' for c in costs)})"
            + (f"; target <= 0.5 ms: {'met' if median <= 0.5 else 'NOT met'}" if transport == "private" else ""),
        ]
    lines += [
        "- for scale, an echo of 3 KB on one open stream between two processes, through:",
        *[
            f"  - {what}: {statistics.median(echo):.3f} ms (trials: {', '.join(f'{e:.3f}' for e in echo)})"
            for what, echo in echoes.items()
        ],
        "",
    ]
    print("\n".join(lines[-(6 + len(costs_by_transport)) :]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
