"""Simulators as separate executables over gRPC: ``mlx run`` launches the example simulator
(two behaviors, varying agents, action masks) on real ports, trains both behaviors, survives
a simulator killed mid-run, and explains launch failures."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import run_mlx, start_mlx, wait_until

ROOT = Path(__file__).resolve().parents[2]
SIMULATOR = ROOT / "examples" / "simulator" / "two_behaviors.py"

CONFIG = """\
env_settings:
  env: {simulator}
  num_envs: 2
  base_port: {port}
  timeout_wait: 30
  env_args: [--max-agents, "4"]
engine_settings:
  no_graphics: true
behaviors:
  Mover:
    trainer: ppo
    max_steps: {mover_steps}
    time_horizon: 32
    summary_freq: 2000
    hyperparameters: {{batch_size: 128, buffer_size: 1024, learning_rate: 0.001, beta: 0.005, num_epoch: 3}}
    network_settings: {{hidden_units: 64, num_layers: 2, normalize: true}}
  Picker:
    trainer: ppo
    max_steps: {picker_steps}
    time_horizon: 32
    summary_freq: 2000
    hyperparameters: {{batch_size: 128, buffer_size: 1024, learning_rate: 0.001, beta: 0.005, num_epoch: 3}}
    network_settings: {{hidden_units: 64, num_layers: 2}}
"""


def free_port_pair() -> int:
    """A port p with p and p + 1 free right now (the two workers' ports)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port < 65000 and all(_free(p) for p in (port, port + 1)):
            return port
    raise RuntimeError("no free port pair")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def write_config(folder: Path, port: int, mover_steps: int = 20000, picker_steps: int = 20000) -> Path:
    path = folder / "arena.yaml"
    path.write_text(CONFIG.format(simulator=SIMULATOR, port=port, mover_steps=mover_steps, picker_steps=picker_steps))
    return path


def scalars(run: Path, behavior: str, tag: str) -> list[float]:
    events = EventAccumulator(str(run / behavior), size_guidance={"scalars": 0})
    events.Reload()
    return [e.value for e in events.Scalars(tag)]


def log_events(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "run_logs" / "log.jsonl").read_text().splitlines()]


def simulator_pids(port: int) -> list[int]:
    """Processes whose command line is the example simulator on ``port``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(a.endswith(b"two_behaviors.py") for a in argv) and str(port).encode() in argv:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_ppo_learns_both_behaviors_of_two_launched_simulators(tmp_path: Path) -> None:
    port = free_port_pair()
    config = write_config(tmp_path, port)
    done = run_mlx("run", str(config), "--run-id", "arena", cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "results" / "arena"
    mover = scalars(run, "Mover", "Environment/Cumulative Reward")
    picker = scalars(run, "Picker", "Environment/Cumulative Reward")
    # random policies: Mover 0.12, Picker 0.09 (see the simulator's docstring)
    assert np.mean(mover[-2:]) > 0.8, mover  # walking straight to the goal: 0.97
    assert np.mean(picker[-2:]) > 1.4, picker  # always right: 2.0
    # the simulators' custom metrics came through the statistics side channel
    assert scalars(run, "Mover", "Arena/Goals Reached")
    assert scalars(run, "Picker", "Arena/Live Agents")
    assert (run / "Mover" / "Mover.onnx").is_file() and (run / "Picker" / "Picker.onnx").is_file()
    assert simulator_pids(port) == [] and simulator_pids(port + 1) == []  # both closed with the run


@pytest.mark.slow
def test_a_simulator_killed_mid_run_is_restarted_and_training_completes(tmp_path: Path) -> None:
    port = free_port_pair()
    config = write_config(tmp_path, port, mover_steps=6000, picker_steps=6000)
    trainer = start_mlx("run", str(config), "--run-id", "killed", cwd=tmp_path)
    try:
        wait_until((tmp_path / "results" / "killed" / "run_logs" / "log.jsonl").exists)
        time.sleep(2.0)  # training is under way
        victims = simulator_pids(port + 1)
        assert len(victims) == 1, victims
        os.kill(victims[0], signal.SIGKILL)
        _, stderr = trainer.communicate(timeout=300)
    finally:
        if trainer.poll() is None:
            trainer.kill()
    assert trainer.returncode == 0, stderr[-3000:]
    run = tmp_path / "results" / "killed"
    restarts = [e for e in log_events(run) if e["event"] == "worker_restarted"]
    assert len(restarts) == 1 and f"port {port + 1}" in restarts[0]["worker"], restarts
    finished = [e for e in log_events(run) if e["event"] == "run_finished"]
    assert finished and finished[0]["steps"]["Mover"] >= 6000 and finished[0]["steps"]["Picker"] >= 6000
    new = simulator_pids(port + 1)
    assert victims[0] not in new and new == []  # the replacement was closed at the end too


def test_a_simulator_that_fails_to_start_is_named_with_its_port_and_stderr(tmp_path: Path) -> None:
    broken = tmp_path / "broken_sim.py"
    broken.write_text(
        textwrap.dedent(
            """\
            import sys
            print("loading level arena_7 ...", file=sys.stderr)
            print("fatal: asset bundle 'arena_7' not found", file=sys.stderr)
            sys.exit(2)
            """
        )
    )
    port = free_port_pair()
    done = run_mlx("run", "--env", str(broken), "--base-port", str(port), "--run-id", "broken", cwd=tmp_path, timeout=120)
    assert done.returncode == 1
    message = done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr
    assert str(broken) in message and f"port {port}" in message
    assert "exited with code 2" in message and "fatal: asset bundle 'arena_7' not found" in message
    assert not (tmp_path / "results" / "broken").exists()  # nothing half-made is left


def test_a_port_in_use_is_named(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        done = run_mlx("run", "--env", str(SIMULATOR), "--base-port", str(port), "--run-id", "busy", cwd=tmp_path, timeout=120)
    assert done.returncode == 1
    message = done.stderr.strip().splitlines()[-1]
    assert f"Port {port}" in message and "already in use" in message and "--base-port" in message
    assert "Traceback" not in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_no_simulator_outlives_the_trainer(tmp_path: Path, how: signal.Signals) -> None:
    """Ctrl-C closes the simulators in order; a killed trainer takes them with it (Linux)."""
    port = free_port_pair()
    config = write_config(tmp_path, port, mover_steps=10_000_000, picker_steps=10_000_000)
    trainer = start_mlx("run", str(config), "--run-id", "orphans", cwd=tmp_path)
    try:
        wait_until((tmp_path / "results" / "orphans" / "run_logs" / "log.jsonl").exists)
        time.sleep(1.0)
        simulators = simulator_pids(port) + simulator_pids(port + 1)
        assert len(simulators) == 2
        if how == signal.SIGINT:  # a launched simulator answers only its trainer (a per-run token)
            from mlx_core.env.remote import RemoteEnvironment
            from mlx_core.errors import EnvError

            with pytest.raises(EnvError, match="requires a token"):
                RemoteEnvironment(f"127.0.0.1:{port}", timeout=10)
        trainer.send_signal(how)
        _, stderr = trainer.communicate(timeout=60)
        if how == signal.SIGINT:
            assert trainer.returncode == 0, stderr[-2000:]
        wait_until(lambda: not (simulator_pids(port) or simulator_pids(port + 1)), seconds=10)
        assert simulator_pids(port) == [] and simulator_pids(port + 1) == []
    finally:
        if trainer.poll() is None:
            trainer.kill()


def serve_env(cwd: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """``mlx env serve <args> --port 0`` in the background, and the address it listens on."""
    server = subprocess.Popen(
        [sys.executable, "-m", "mlx_core.cli", "env", "serve", *args, "--port", "0"], cwd=cwd, stderr=subprocess.PIPE, text=True
    )
    assert server.stderr is not None
    ready = server.stderr.readline()
    assert ready.startswith("mlx environment server listening on 127.0.0.1:"), ready
    return server, ready.rsplit(" ", 1)[-1].strip()


@pytest.mark.slow
def test_trains_with_a_simulator_already_running_at_a_grpc_address(tmp_path: Path) -> None:
    """``mlx env serve`` in one process, ``mlx run --env grpc://...`` in another."""
    server, address = serve_env(tmp_path, "Goal1DDiscrete", "--num-envs", "4")
    try:
        config = tmp_path / "remote.yaml"
        config.write_text("behaviors:\n  Goal1DDiscrete: {trainer: ppo, max_steps: 3000, summary_freq: 1000}\n")
        done = run_mlx(
            "run", str(config), "--env", f"grpc://{address}", "--run-id", "remote", "--seed", "1", cwd=tmp_path, timeout=300
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert server.wait(timeout=10) == 0  # the trainer closed the session, so the server left
    finally:
        if server.poll() is None:
            server.kill()
    run = tmp_path / "results" / "remote"
    assert (run / "Goal1DDiscrete" / "Goal1DDiscrete.onnx").is_file()
    assert scalars(run, "Goal1DDiscrete", "Environment/Cumulative Reward")


def test_a_message_over_the_size_limit_is_explained(tmp_path: Path) -> None:
    from mlx_core.env.remote import RemoteEnvironment
    from mlx_core.errors import EnvError

    # 70,000 copies of MaskedGrid: a reset result of 70,000 x 4 float32 observations is over 1 MB
    server, address = serve_env(tmp_path, "MaskedGrid", "--num-envs", "70000")
    try:
        env = RemoteEnvironment(address, max_message_mb=1, timeout=30)
        with pytest.raises(EnvError, match="larger than the limit.*max_message_mb"):
            env.reset()
        env.close()
    finally:
        server.kill()
        server.wait()


def test_a_grpc_target_without_a_port_is_one_paragraph(tmp_path: Path) -> None:
    done = run_mlx("run", "--env", "grpc://localhost", "--run-id", "noport", cwd=tmp_path, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    message = done.stderr.strip().splitlines()[-1]
    assert "is not a list of addresses" in message and "grpc://host:port" in message
