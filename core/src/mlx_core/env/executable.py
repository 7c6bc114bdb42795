"""Simulators in other processes: executables the trainer launches, and ``grpc://`` addresses.

``env_settings.env: path/to/simulator`` launches ``num_envs`` processes, worker ``i`` as

    path/to/simulator --mlx-port <base_port + i> --width W --height H --quality-level Q
        --time-scale T --target-frame-rate F [--no-graphics] <env_args...>

(a ``.py`` file runs with this Python, and every simulator gets ``$MLX_ENV_TOKEN``: the
configured token, or a fresh one per run, which ``serve`` then requires), and connects to
each over gRPC. Each process runs in its own session, so Ctrl-C in the terminal reaches only the trainer, which closes the
simulators in order; on Linux each also dies with the trainer, even when the trainer is
killed. ``env: grpc://host:port[,host:port...]`` connects to simulators already running,
one worker per address.

A launched simulator that fails is launched again, within the restart limits. A simulator
mlx did not launch cannot be restarted from here: when it stops answering, mlx reconnects
to the same address with back-off for at most ``env_settings.timeout_wait`` seconds in all.
If it comes back, the session starts again with Initialize and Reset (the episodes that
were in flight end as interrupted); if not, the run stops with an :class:`EnvError`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlx_core import stopping
from mlx_core.env.base import BehaviorSpec, Environment, StepResult
from mlx_core.env.remote.client import RemoteEnvironment, engine_message
from mlx_core.env.remote.security import TOKEN_VARIABLE, resolve_token
from mlx_core.env.workers import Worker, WorkerPool, copy_seeds, restart_limits
from mlx_core.errors import EnvError, WorkerFailure
from mlx_core.grpc_defaults import user_environ
from mlx_core.logs import get_logger

if TYPE_CHECKING:
    from mlx_core.config.settings import RunOptions

log = get_logger()

STDERR_LINES = 15
"""How many of a failed simulator's last stderr lines an error message quotes."""

# Runs first in the launched process: die with the trainer (Linux), then become the simulator.
_EXEC_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL('libc.so.6').prctl(1, signal.SIGKILL)\n"
    "if os.getppid() != int(sys.argv[1]): sys.exit(1)\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


def accepts_executable(target: str) -> bool:
    """True for a file that is executable or a ``.py`` script."""
    path = Path(target)
    return path.is_file() and (path.suffix == ".py" or os.access(path, os.X_OK))


def make_executable(target: str, options: RunOptions, num_envs: int, seed: int, **_: Any) -> Environment:
    """Launch ``num_envs`` simulator processes on consecutive ports and drive them as one environment."""
    settings = options.env_settings
    seeds = copy_seeds(seed, num_envs)
    workers: list[Worker] = [
        SimulatorWorker(target, settings.base_port + i, i, options, seeds[i]) for i in range(num_envs)
    ]
    return WorkerPool(workers, restart_limits(options))


def make_grpc(target: str, options: RunOptions, num_envs: int, seed: int, **_: Any) -> Environment:
    """Connect to the simulators at ``//host:port[,host:port...]`` (one worker each)."""
    addresses = [a.strip() for a in target.removeprefix("//").split(",") if a.strip()]
    if not addresses or any(":" not in a for a in addresses):
        raise EnvError(
            f"env grpc:{target} is not a list of addresses: write grpc://host:port or grpc://host:port,host:port."
        )
    seeds = copy_seeds(seed, len(addresses))
    workers: list[Worker] = [RemoteWorker(a, i, options, seeds[i]) for i, a in enumerate(addresses)]
    return WorkerPool(workers, restart_limits(options))


class RemoteWorker(Worker):
    """A simulator at a gRPC address that mlx did not launch; a restart reconnects to it."""

    # the longest pause between two reconnect attempts
    MAX_BACKOFF_S = 1.0

    def __init__(self, address: str, index: int, options: RunOptions, seed: int) -> None:
        self.address, self.options, self.seed = address, options, seed
        self.token = options.env_settings.token
        self.label = f"simulator {index} at {address}"
        self.env: RemoteEnvironment | None = None
        self._pending: Callable[[], StepResult | None] = lambda: None
        self._connected_once = False

    def _connect(
        self,
        parameters: Mapping[str, float],
        alive: Callable[[], str | None] | None = None,
        within: float | None = None,
    ) -> None:
        settings = self.options.env_settings
        self.env = RemoteEnvironment(
            self.address,
            token=self.token,
            tls_ca=settings.tls_ca,
            timeout=settings.timeout_wait,
            max_message_mb=settings.max_message_mb,
            seed=self.seed,
            engine=engine_message(self.options.engine_settings),
            parameters=parameters,
            alive=alive,
            connect_within=within,
        )

    def start(self, parameters: Mapping[str, float]) -> dict[str, BehaviorSpec]:
        """Connect and initialize; after a failure, reconnect within ``timeout_wait`` (see the module docstring)."""
        if self._connected_once:
            self._reconnect(parameters)
        else:
            self._connect(parameters)
            self._connected_once = True
        assert self.env is not None
        return self.env.specs

    def _reconnect(self, parameters: Mapping[str, float]) -> None:
        """Try the address again and again, with back-off, for ``timeout_wait`` seconds in all;
        an :class:`EnvError` (not a restartable failure) when the simulator does not come back."""
        window = self.options.env_settings.timeout_wait
        began = time.monotonic()
        deadline, pause = began + window, 0.1
        while True:
            try:
                self._connect(parameters, within=max(0.1, deadline - time.monotonic()))
            except WorkerFailure as failure:
                if time.monotonic() + pause >= deadline:
                    # "nothing answered" is what the sentence says already; anything else is worth quoting
                    why = "" if str(failure).startswith("no environment server answered") else f" (last: {failure})"
                    raise EnvError(
                        f"The {self.label} stopped answering and did not come back within env_settings.timeout_wait="
                        f"{window:g} s{why}. Start it again at {self.address} and continue with --resume, or raise "
                        "timeout_wait to wait longer for it."
                    ) from None
                stopping.sleep(pause)
                pause = min(pause * 2, self.MAX_BACKOFF_S)
                continue
            log.info("simulator_reconnected", worker=self.label, after_s=round(time.monotonic() - began, 2))
            return

    def submit(self, kind: str, payload: Any = None) -> None:
        """Steps go out at once, so that every simulator works at the same time; everything
        else runs on collect."""
        env = self.env
        assert env is not None
        if kind == "step":
            self._pending = env.step_async(payload)
        elif kind == "reset":
            self._pending = env.reset
        elif kind == "seed":  # the protocol seeds in Initialize: the new seed applies from the next connection
            self._pending = lambda: None
        else:
            self._pending = lambda: env.set_parameters(payload)  # type: ignore[func-returns-value]

    def collect(self) -> tuple[StepResult | None, dict[str, list[float]]]:
        """The simulator's answer and the metrics it reported."""
        assert self.env is not None
        result = self._pending()
        return result, self.env.stats()

    def kill(self) -> None:
        """Drop the connection without waiting for the simulator."""
        if self.env is not None:
            self.env.abandon()
            self.env = None

    def close(self) -> None:
        """Tell the simulator the session is over."""
        if self.env is not None:
            self.env.close()
            self.env = None


class SimulatorWorker(RemoteWorker):
    """A simulator process this trainer launches on ``port`` and restarts when it fails."""

    def __init__(self, executable: str, port: int, index: int, options: RunOptions, seed: int) -> None:
        super().__init__(f"127.0.0.1:{port}", index, options, seed)
        self.executable, self.port, self.index = executable, port, index
        # the simulator gets a token through $MLX_ENV_TOKEN (serve() requires it): with none
        # configured, a fresh one per run keeps other local users from driving it
        self.launch_token = resolve_token(self.token) or secrets.token_urlsafe(24)
        self.token = self.launch_token
        self.label = f"simulator {index} ({executable}, port {port})"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def command(self) -> list[str]:
        """The command line of this worker's simulator."""
        engine = self.options.engine_settings
        path = str(Path(self.executable))
        program = [sys.executable, path] if path.endswith(".py") else [str(Path(path).resolve())]
        flags = [
            "--mlx-port", str(self.port),
            "--width", str(engine.width),
            "--height", str(engine.height),
            "--quality-level", str(engine.quality_level),
            "--time-scale", str(engine.time_scale),
            "--target-frame-rate", str(engine.target_frame_rate),
        ]  # fmt: skip
        if engine.no_graphics:
            flags.append("--no-graphics")
        return [*program, *flags, *(self.options.env_settings.env_args or [])]

    def start(self, parameters: Mapping[str, float]) -> dict[str, BehaviorSpec]:
        """Launch the simulator and connect to it."""
        self._check_port()
        command = self.command()
        if sys.platform.startswith("linux"):
            command = [sys.executable, "-S", "-c", _EXEC_WITH_PARENT, str(os.getpid()), *command]
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - open for the simulator's lifetime, read on failure
        try:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
                start_new_session=True,
                env={**user_environ(), TOKEN_VARIABLE: self.launch_token},
            )
        except OSError as error:
            raise EnvError(f"Cannot launch {self.label}: {error.strerror or error}.") from None
        try:
            self._connect(parameters, alive=self._exited)
        except WorkerFailure as failure:
            raise WorkerFailure(f"{failure}{self.stderr_tail()}") from None
        assert self.env is not None
        return self.env.specs

    def _check_port(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a listener blocks it; TIME_WAIT does not
            try:
                probe.bind(("127.0.0.1", self.port))
            except OSError:
                raise EnvError(
                    f"Port {self.port} for {self.label} is already in use (env_settings.base_port "
                    f"{self.options.env_settings.base_port} + worker {self.index}). Pick another --base-port or "
                    "stop the process that listens there."
                ) from None

    def _exited(self) -> str | None:
        if self.process is not None and self.process.poll() is not None:
            return f"the simulator {self.executable} exited with code {self.process.returncode} before it answered on port {self.port}"
        return None

    def stderr_tail(self) -> str:
        """The last lines the simulator wrote, for error messages ("" when it wrote nothing)."""
        if self._log is None:
            return ""
        self._log.seek(0)
        lines = [line for line in self._log.read().decode(errors="replace").splitlines() if line.strip()]
        if not lines:
            return ". It wrote nothing to stderr"
        return ". Last lines of its output: " + " | ".join(lines[-STDERR_LINES:])

    def collect(self) -> tuple[StepResult | None, dict[str, list[float]]]:
        """The answer; a failure says how the process ended."""
        try:
            return super().collect()
        except WorkerFailure as failure:
            ended = self._exited()
            raise WorkerFailure(f"{failure}; {ended}" if ended else str(failure)) from None

    def kill(self) -> None:
        """Kill the simulator's process group at once."""
        super().kill()
        self._stop(grace=0.0)

    def close(self) -> None:
        """Ask the simulator to stop, give it a few seconds, then kill what is left."""
        super().close()
        self._stop(grace=5.0)

    def _stop(self, grace: float) -> None:
        process, self.process = self.process, None
        if process is not None:
            if grace:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=grace)
            # the whole session goes, even when its leader has already exited: helpers it started
            # (which PR_SET_PDEATHSIG does not reach) would otherwise keep running and hold the port
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                if process.poll() is None:
                    process.kill()
            process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
