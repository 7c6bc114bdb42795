"""`mlx env serve` in a subprocess, driven over real gRPC (plain text and TLS) by RemoteEnvironment."""

from __future__ import annotations

import datetime
import ipaddress
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mlx_core.env.base import ActionSpec, ActionTuple, BehaviorSpec, DecisionSteps, ObservationSpec
from mlx_core.env.builtin.masked import MaskedGrid
from mlx_core.env.remote import RemoteEnvironment, start_server
from mlx_core.errors import EnvError, WorkerFailure
from tests.core.env.remote_transports import grpc_transport, grpc_transport_module  # noqa: F401 - fixtures

READY = re.compile(r"mlx environment server listening on (?P<host>\S+):(?P<port>\d+)(?P<tls> \(TLS\))?$")
GRID_SPEC = BehaviorSpec((ObservationSpec((4,)),), ActionSpec(discrete_branches=(4,)))
TOKEN = "secret"


def mlx_command() -> list[str]:
    """The venv's ``mlx`` executable (next to this interpreter); ``python -m mlx_core.cli`` if it is missing."""
    found = shutil.which("mlx", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "mlx_core.cli"]


def server_environ(**extra: str) -> dict[str, str]:
    """This process's environment without a token or gRPC logging settings of the developer's shell."""
    environ = {k: v for k, v in os.environ.items() if k not in {"MLX_ENV_TOKEN", "GRPC_VERBOSITY", "GRPC_TRACE"}}
    return {**environ, "PYTHONUNBUFFERED": "1", **extra}


class Server:
    """``mlx env serve ENV --port 0 ARGS`` in a subprocess; its stderr is read by a thread into ``lines``."""

    def __init__(self, cwd: Path, env_name: str, *args: str, environ: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [*mlx_command(), "env", "serve", env_name, "--port", "0", *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=server_environ(**(environ or {})),
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.ready_line, self.host, self.port, self.tls = self._wait_ready(timeout=30.0)

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

    def _wait_ready(self, timeout: float) -> tuple[str, str, int, bool]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                pytest.fail(f"mlx env serve printed no ready line within {timeout:g} s; stderr: {self.stderr}")
            if line is None:
                self.kill()
                pytest.fail(f"mlx env serve exited with {self.process.returncode} before it was ready: {self.stderr}")
            match = READY.search(line.rstrip("\n"))
            if match:
                return line.rstrip("\n"), match["host"], int(match["port"]), bool(match["tls"])

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def wait(self, timeout: float) -> int:
        """The exit status, once the process has ended (and its stderr is fully read)."""
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self._reader.join(timeout=5)


@pytest.fixture
def serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, grpc_transport: str) -> Iterator[Callable[..., Server]]:  # noqa: F811
    """``serve(ENV, *args, environ=...)`` starts a server; every one started is killed at teardown.
    Each test using it runs on both transports (``grpc_transport``).

    ``$MLX_ENV_TOKEN`` is removed from this process too, so clients send a token only when told.
    """
    monkeypatch.delenv("MLX_ENV_TOKEN", raising=False)
    started: list[Server] = []

    def start(env_name: str = "MaskedGrid", *args: str, environ: dict[str, str] | None = None) -> Server:
        server = Server(tmp_path, env_name, *args, environ=environ)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


def _module_server(tmp_path_factory: pytest.TempPathFactory, env_name: str, num_envs: int) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("serve"), env_name, "--num-envs", str(num_envs))
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def grid_server(tmp_path_factory: pytest.TempPathFactory, grpc_transport_module: str) -> Iterator[Server]:  # noqa: F811
    """One `mlx env serve MaskedGrid --port 0 --num-envs 8` shared by the tests that leave it running."""
    yield from _module_server(tmp_path_factory, "MaskedGrid", 8)


@pytest.fixture(scope="module")
def continuous_server(tmp_path_factory: pytest.TempPathFactory, grpc_transport_module: str) -> Iterator[Server]:  # noqa: F811
    """One `mlx env serve Goal1DContinuous --port 0 --num-envs 4` (the built-in with continuous actions)."""
    yield from _module_server(tmp_path_factory, "Goal1DContinuous", 4)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for CN/SAN ``localhost`` and IP 127.0.0.1, and its key (PEM files)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


# -- helpers -------------------------------------------------------------------------------
_OPENED: list[RemoteEnvironment] = []  # every session a test opened, dropped when it ends


@pytest.fixture(autouse=True)
def _drop_sessions() -> Iterator[None]:
    """Drop each test's connections when it ends: a session's step stream holds one of the
    server's handler threads (with grpcio's public API) until its client lets go, and the
    module's servers outlive the test (left to garbage collection, enough open sessions starve
    the next test's Initialize)."""
    yield
    while _OPENED:
        _OPENED.pop().abandon()


def connect(server: Server, **kwargs: Any) -> RemoteEnvironment:
    env = RemoteEnvironment(server.address, **{"timeout": 10.0, "seed": 0, **kwargs})
    _OPENED.append(env)
    return env


def discrete(decisions: DecisionSteps, choices: np.ndarray) -> dict[str, ActionTuple]:
    n = len(decisions)
    return {"MaskedGrid": ActionTuple(np.zeros((n, 0), np.float32), np.asarray(choices, np.int64).reshape(n, 1))}


def allowed(decisions: DecisionSteps) -> dict[str, ActionTuple]:
    """For each agent, its first move the mask allows."""
    assert decisions.action_mask is not None
    return discrete(decisions, decisions.action_mask.argmax(axis=1))


def forbidden(env: RemoteEnvironment, decisions: DecisionSteps) -> tuple[dict[str, ActionTuple], DecisionSteps]:
    """Allowed moves, except a masked one for every agent that has one (stepping until some agent has);
    also the decisions they answer."""
    for _ in range(50):
        mask = decisions.action_mask
        assert mask is not None
        if not mask.all():
            return discrete(decisions, np.where(mask.all(axis=1), mask.argmax(axis=1), mask.argmin(axis=1))), decisions
        decisions = env.step(allowed(decisions))["MaskedGrid"][0]
    pytest.fail("no agent of MaskedGrid had a masked move in 50 steps")


def check_grid_step(env: RemoteEnvironment, decisions: DecisionSteps) -> DecisionSteps:
    """A correct step works and returns all 8 agents again."""
    next_decisions, terminals = env.step(allowed(decisions))["MaskedGrid"]
    assert len(next_decisions) == 8
    assert next_decisions.obs[0].shape == (8, 4)
    assert next_decisions.action_mask is not None and next_decisions.action_mask.shape == (8, 4)
    assert terminals.obs[0].shape == (len(terminals), 4)
    return next_decisions


def rejected(env: RemoteEnvironment, actions: dict[str, ActionTuple]) -> str:
    """The text of the EnvError a step with ``actions`` raises."""
    with pytest.raises(EnvError) as raised:
        env.step(actions)
    text = str(raised.value)
    assert text.startswith(f"The simulator at {env.address} rejected a request (INVALID_ARGUMENT): ")
    return text


# -- a session -----------------------------------------------------------------------------
def test_reset_and_step_roundtrip(grid_server: Server) -> None:
    assert grid_server.host == "127.0.0.1" and not grid_server.tls
    env = connect(grid_server)
    assert env.name == "MaskedGrid"
    assert env.specs == {"MaskedGrid": GRID_SPEC}

    decisions, terminals = env.reset()["MaskedGrid"]
    assert len(decisions) == 8 and len(terminals) == 0
    (obs,) = decisions.obs
    assert obs.shape == (8, 4) and obs.dtype == np.float32
    assert ((obs >= 0) & (obs <= 1)).all()
    np.testing.assert_array_equal(decisions.agent_id, np.arange(8))
    np.testing.assert_array_equal(decisions.reward, np.zeros(8, np.float32))
    assert decisions.action_mask is not None
    assert decisions.action_mask.shape == (8, 4) and decisions.action_mask.dtype == np.bool_
    assert decisions.action_mask.any(axis=1).all()  # every agent can move somewhere
    assert terminals.obs[0].shape == (0, 4) and terminals.interrupted.shape == (0,)

    # 21 allowed moves: every episode ends by then (goal reached, or interrupted at max_steps 20).
    ended: set[int] = set()
    for i in range(21):
        actions = allowed(decisions)
        decisions, terminals = (env.step_async(actions)() if i % 2 else env.step(actions))["MaskedGrid"]
        np.testing.assert_array_equal(decisions.agent_id, np.arange(8))
        assert decisions.obs[0].shape == (8, 4) and decisions.action_mask is not None
        assert terminals.obs[0].shape == (len(terminals), 4) and terminals.interrupted.shape == (len(terminals),)
        assert np.isclose(terminals.reward[:, None], [1.0, -0.01]).any(axis=1).all()  # allowed moves: goal or interrupted
        ended.update(terminals.agent_id.tolist())
    assert ended == set(range(8))
    assert env.stats() == {}  # the built-ins report no custom metrics


def test_custom_metrics_travel_with_the_step_results() -> None:
    """The built-ins report no metrics, so this serves a MaskedGrid that does, in-process (real gRPC)."""

    class Counting(MaskedGrid):
        steps = 0

        def step(self, actions):
            self.steps += 1
            return super().step(actions)

        def stats(self) -> dict[str, Any]:
            return {"Env/Steps": self.steps, "Env/Pair": [0.5, 1.5]}

    server = start_server(Counting(2, seed=0), 0)
    try:
        env = RemoteEnvironment(f"127.0.0.1:{server.port}", timeout=10.0)
        decisions = env.reset()["MaskedGrid"][0]
        assert env.stats() == {"Env/Steps": [0.0], "Env/Pair": [0.5, 1.5]}
        for _ in range(2):
            decisions = env.step(discrete(decisions, decisions.action_mask.argmax(axis=1)))["MaskedGrid"][0]
        assert env.stats() == {"Env/Steps": [1.0, 2.0], "Env/Pair": [0.5, 1.5, 0.5, 1.5]}
        assert env.stats() == {}  # handed out once
        env.close()
    finally:
        server.stop()


# -- malformed requests: a sentence naming the problem, and the server keeps serving ---------
Malformed = Callable[[RemoteEnvironment, DecisionSteps], tuple[dict[str, ActionTuple], DecisionSteps]]


def _wrong_shape(env: RemoteEnvironment, decisions: DecisionSteps) -> tuple[dict[str, ActionTuple], DecisionSteps]:
    return {"MaskedGrid": ActionTuple(np.zeros((8, 0), np.float32), np.zeros((8, 2), np.int64))}, decisions


def _wrong_rows(env: RemoteEnvironment, decisions: DecisionSteps) -> tuple[dict[str, ActionTuple], DecisionSteps]:
    return {"MaskedGrid": ActionTuple(np.zeros((8, 0), np.float32), np.zeros((3, 1), np.int64))}, decisions


def _unknown_behavior(env: RemoteEnvironment, decisions: DecisionSteps) -> tuple[dict[str, ActionTuple], DecisionSteps]:
    return {"Nope": allowed(decisions)["MaskedGrid"], **allowed(decisions)}, decisions


def _out_of_range(env: RemoteEnvironment, decisions: DecisionSteps) -> tuple[dict[str, ActionTuple], DecisionSteps]:
    return discrete(decisions, np.full(8, 4)), decisions


def _missing(env: RemoteEnvironment, decisions: DecisionSteps) -> tuple[dict[str, ActionTuple], DecisionSteps]:
    return {}, decisions


@pytest.mark.parametrize(
    ("make_actions", "expected"),
    [
        (
            _wrong_shape,
            "actions for behavior 'MaskedGrid': discrete actions have shape (8, 2); expected (8, 1) "
            "(one row per waiting agent)",
        ),
        (
            _wrong_rows,
            "actions for behavior 'MaskedGrid': discrete actions have shape (3, 1); expected (8, 1) "
            "(one row per waiting agent)",
        ),
        (_unknown_behavior, "actions for unknown behavior 'Nope'; behaviors are ['MaskedGrid']"),
        (forbidden, "actions for behavior 'MaskedGrid': a discrete action picks a choice that the action mask forbids"),
        (_out_of_range, "actions for behavior 'MaskedGrid': a discrete action is outside its branch sizes (4,)"),
        (_missing, "no actions for behavior 'MaskedGrid', which has 8 agents waiting for a decision"),
    ],
    ids=["wrong shape", "wrong rows", "unknown behavior", "masked", "out of range", "missing"],
)
def test_malformed_step_is_rejected_and_server_keeps_serving(
    grid_server: Server, make_actions: Malformed, expected: str
) -> None:
    env = connect(grid_server)
    actions, decisions = make_actions(env, env.reset()["MaskedGrid"][0])
    assert rejected(env, actions) == (
        f"The simulator at {grid_server.address} rejected a request (INVALID_ARGUMENT): {expected}."
    )
    # The same session goes on: the rejected step did not count, a correct one works.
    check_grid_step(env, decisions)
    assert grid_server.process.poll() is None
    # ... and so does a new session.
    fresh = connect(grid_server)
    check_grid_step(fresh, fresh.reset()["MaskedGrid"][0])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_continuous_action_is_rejected_and_server_keeps_serving(
    continuous_server: Server, bad: float
) -> None:
    env = connect(continuous_server)
    assert env.specs == {"Goal1DContinuous": BehaviorSpec((ObservationSpec((2,)),), ActionSpec(continuous_size=1))}
    decisions = env.reset()["Goal1DContinuous"][0]
    assert len(decisions) == 4 and decisions.action_mask is None
    continuous = np.zeros((4, 1), np.float32)
    continuous[2, 0] = bad
    text = rejected(env, {"Goal1DContinuous": ActionTuple(continuous, np.zeros((4, 0), np.int64))})
    assert text.endswith("actions for behavior 'Goal1DContinuous': continuous actions hold NaN or infinite values.")
    good = {"Goal1DContinuous": ActionTuple(np.full((4, 1), 0.5, np.float32), np.zeros((4, 0), np.int64))}
    decisions = env.step(good)["Goal1DContinuous"][0]
    assert decisions.obs[0].shape == (4, 2)
    assert continuous_server.process.poll() is None


# -- lifecycle -----------------------------------------------------------------------------
def test_close_makes_the_server_exit_with_status_0(serve: Callable[..., Server]) -> None:
    server = serve("MaskedGrid", "--num-envs", "8")
    env = connect(server)
    with pytest.raises(EnvError) as raised:  # a fresh server has no session yet
        env.step(discrete(DecisionSteps.empty(GRID_SPEC), np.zeros(0)))
    assert str(raised.value) == (
        f"The simulator at {server.address} rejected a request (FAILED_PRECONDITION): Step before Reset: call Reset first."
    )
    check_grid_step(env, env.reset()["MaskedGrid"][0])
    start = time.monotonic()
    env.close()
    assert server.wait(timeout=5) == 0
    assert time.monotonic() - start < 5
    assert "Traceback" not in server.stderr


def test_sigterm_makes_the_server_exit_with_status_0(serve: Callable[..., Server]) -> None:
    server = serve("Goal1DDiscrete")
    server.process.send_signal(signal.SIGTERM)
    assert server.wait(timeout=5) == 0
    assert "Traceback" not in server.stderr


def serve_on_taken_port(port: int, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A second ``mlx env serve`` on a port a server already holds."""
    return subprocess.run(
        [*mlx_command(), "env", "serve", "MaskedGrid", "--port", str(port)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        env=server_environ(),
    )


def test_port_in_use_fails_with_one_message_naming_the_port(serve: Callable[..., Server], tmp_path: Path) -> None:
    first = serve("MaskedGrid")
    second = serve_on_taken_port(first.port, tmp_path)
    assert second.returncode == 1
    assert "Traceback" not in second.stderr
    assert "listening on" not in second.stderr
    message = second.stderr.strip().splitlines()[-1]
    assert message.startswith(f"Error: Cannot listen on 127.0.0.1:{first.port}: ")
    assert message.endswith("Pick another port (--port / --mlx-port / --base-port) or stop the process that uses it.")
    # The first server is untouched.
    env = connect(first)
    assert len(env.reset()["MaskedGrid"][0]) == 1


def test_port_in_use_message_is_exactly_one_paragraph(serve: Callable[..., Server], tmp_path: Path) -> None:
    first = serve("MaskedGrid")
    second = serve_on_taken_port(first.port, tmp_path)
    assert second.returncode == 1
    assert second.stderr.count("\n") == 1 and second.stderr.startswith("Error: Cannot listen on")
    assert ".." not in second.stderr and "GRPC_VERBOSITY" not in second.stderr


def _non_loopback_ipv4() -> str | None:
    """An IPv4 address of this machine other than loopback (no packet is sent), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_server_listens_on_loopback_only_by_default(grid_server: Server) -> None:
    assert grid_server.ready_line == f"mlx environment server listening on 127.0.0.1:{grid_server.port}"
    socket.create_connection(("127.0.0.1", grid_server.port), timeout=2).close()
    other = _non_loopback_ipv4()
    if other is None:
        pytest.skip("this machine has no non-loopback IPv4 address to check")
    with pytest.raises(OSError):
        socket.create_connection((other, grid_server.port), timeout=2).close()


# -- token ---------------------------------------------------------------------------------
def test_token_is_required_and_checked(serve: Callable[..., Server], monkeypatch: pytest.MonkeyPatch) -> None:
    server = serve("MaskedGrid", "--num-envs", "2", "--token", TOKEN)
    hint = "set env_settings.token or $MLX_ENV_TOKEN to the server's token."
    missing = f"The simulator at {server.address} refused this trainer: this environment server requires a token: {hint}"
    wrong = f"The simulator at {server.address} refused this trainer: the token does not match this environment server's: {hint}"
    for token in (None, "wrong", TOKEN + "x", TOKEN[:-1]):
        with pytest.raises(EnvError) as raised:
            connect(server, token=token)
        assert str(raised.value) == (missing if token is None else wrong)
        assert server.process.poll() is None

    env = connect(server, token=TOKEN)
    assert len(env.reset()["MaskedGrid"][0]) == 2

    monkeypatch.setenv("MLX_ENV_TOKEN", TOKEN)  # the client reads the token from the environment too
    env = connect(server)
    decisions = env.reset()["MaskedGrid"][0]
    env.step(discrete(decisions, decisions.action_mask.argmax(axis=1)))
    monkeypatch.setenv("MLX_ENV_TOKEN", "wrong")
    with pytest.raises(EnvError, match="refused this trainer"):
        connect(server)
    env.close()  # Close carries the token: the server accepts it and exits
    assert server.wait(timeout=5) == 0


def test_server_reads_its_token_from_the_environment(serve: Callable[..., Server]) -> None:
    server = serve("Goal1DDiscrete", environ={"MLX_ENV_TOKEN": TOKEN})
    with pytest.raises(EnvError, match="requires a token"):
        connect(server)
    env = connect(server, token=TOKEN)
    assert len(env.reset()["Goal1DDiscrete"][0]) == 1
    env.close()
    assert server.wait(timeout=5) == 0


# -- TLS -----------------------------------------------------------------------------------
def test_tls_with_token(serve: Callable[..., Server], tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    server = serve("MaskedGrid", "--num-envs", "8", "--token", TOKEN, "--tls-cert", str(cert), "--tls-key", str(key))
    assert server.tls and server.ready_line.endswith(f"127.0.0.1:{server.port} (TLS)")

    for address in (f"127.0.0.1:{server.port}", f"localhost:{server.port}"):  # the certificate names both
        env = RemoteEnvironment(address, token=TOKEN, tls_ca=str(cert), timeout=10.0, seed=0)
        assert env.specs == {"MaskedGrid": GRID_SPEC}
        check_grid_step(env, env.reset()["MaskedGrid"][0])

    with pytest.raises(EnvError, match="requires a token"):  # TLS does not replace the token
        connect(server, tls_ca=str(cert))

    # A plain-text client never completes the handshake: it gives up after its timeout, as a
    # WorkerFailure (restartable), not an EnvError.
    start = time.monotonic()
    with pytest.raises(WorkerFailure) as raised:
        connect(server, token=TOKEN, timeout=2.0)
    assert str(raised.value).startswith(f"no environment server answered at {server.address} within 2 s (is it running")
    assert "TLS" in str(raised.value)
    assert 1.5 < time.monotonic() - start < 10

    env.close()
    assert server.wait(timeout=5) == 0


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (("cert",), "Error: TLS needs both a certificate and its private key (--tls-cert and --tls-key); one is missing."),
        (("missing", "key"), "Error: Cannot read the TLS certificate {missing}: No such file or directory."),
        (("key", "cert"), "cannot be used together"),  # swapped
    ],
    ids=["key missing", "cert unreadable", "cert and key swapped"],
)
def test_bad_tls_files_fail_with_a_message_about_them(
    tmp_path: Path, tls_files: tuple[Path, Path], files: tuple[str, ...], expected: str
) -> None:
    cert, key = tls_files
    paths = {"cert": str(cert), "key": str(key), "missing": str(tmp_path / "missing.pem")}
    args = [arg for option, name in zip(("--tls-cert", "--tls-key"), files) for arg in (option, paths[name])]
    done = subprocess.run(
        [*mlx_command(), "env", "serve", "MaskedGrid", "--port", "0", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        env=server_environ(),
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "listening on" not in done.stderr
    message = done.stderr.strip().splitlines()[-1]
    if expected == "cannot be used together":
        assert f"Error: The TLS certificate {key} and key {cert} cannot be used together" in message, message
        assert message.endswith("they may be swapped, not PEM files, or not a matching pair.")
    else:
        assert message == expected.format(**paths)


def test_tls_client_cannot_talk_to_a_plain_text_server(grid_server: Server, tls_files: tuple[Path, Path]) -> None:
    cert, _ = tls_files
    with pytest.raises(WorkerFailure, match=f"no environment server answered at {grid_server.address} within 2 s"):
        connect(grid_server, tls_ca=str(cert), timeout=2.0)
    assert grid_server.process.poll() is None
