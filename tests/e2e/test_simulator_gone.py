"""``mlx run`` against a simulator it did not launch (``mlx env serve`` in another process on a
fixed port) that goes away mid-run: back within ``timeout_wait``, the run goes on to
``max_steps``; gone for good, the run stops by itself soon after ``timeout_wait`` with its
progress saved, and ``--resume`` continues from it. SIGTERM while mlx waits for a simulator
or for a worker process to restart ends the run within seconds, with a checkpoint."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_mlx, start_mlx, wait_until
from tests.core.env.remote_transports import grpc_transport  # noqa: F401 - a fixture
from tests.e2e.test_simulator_grpc import log_events

BEHAVIOR = "Goal1DDiscrete"
FLAKY = Path(__file__).resolve().parents[1] / "core" / "env" / "flaky_env.py"

CONFIG = """\
env_settings:
  env: grpc://127.0.0.1:{port}
  timeout_wait: {timeout_wait}
behaviors:
  Goal1DDiscrete:
    trainer: ppo
    max_steps: {steps}
    summary_freq: 1000
    hyperparameters: {{batch_size: 128, buffer_size: 512}}
torch_settings: {{device: cpu}}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(cwd: Path, port: int) -> subprocess.Popen[str]:
    """``mlx env serve Goal1DDiscrete --num-envs 4 --port PORT``, once it listens."""
    server = subprocess.Popen(
        [sys.executable, "-m", "mlx_core.cli", "env", "serve", BEHAVIOR, "--num-envs", "4", "--port", str(port)],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stderr is not None
    ready = server.stderr.readline()
    assert ready.startswith(f"mlx environment server listening on 127.0.0.1:{port}"), ready
    return server


def write_config(folder: Path, port: int, timeout_wait: float, steps: int) -> Path:
    config = folder / "remote.yaml"
    config.write_text(CONFIG.format(port=port, timeout_wait=timeout_wait, steps=steps))
    return config


def events(run: Path, name: str) -> list[dict]:
    path = run / "run_logs" / "log.jsonl"
    return [e for e in log_events(run) if e["event"] == name] if path.exists() else []


def stepping(run: Path) -> bool:
    """True once steps are flowing (the first step chose its call)."""
    try:
        return bool(events(run, "step_call_chosen"))
    except ValueError:  # a line being written
        return False


def saved(run: Path) -> tuple[list[Path], Path]:
    """The checkpoints and the ONNX file of the behavior."""
    folder = run / BEHAVIOR
    return sorted(folder.glob("checkpoint-*.pt")), folder / f"{BEHAVIOR}.onnx"


def kill(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.usefixtures("grpc_transport")
def test_a_simulator_back_at_its_address_within_timeout_wait_lets_the_run_reach_max_steps(tmp_path: Path) -> None:
    port = free_port()
    server = serve(tmp_path, port)
    config = write_config(tmp_path, port, timeout_wait=10, steps=3000)
    trainer = start_mlx("run", str(config), "--run-id", "back", cwd=tmp_path)
    run = tmp_path / "results" / "back"
    try:
        wait_until(lambda: stepping(run), seconds=120)
        kill(server)
        time.sleep(1.0)
        server = serve(tmp_path, port)  # the same simulator, at the same address
        _, stderr = trainer.communicate(timeout=300)
        assert trainer.returncode == 0, stderr[-3000:]
    finally:
        kill(trainer)
        kill(server)
    assert len(events(run, "worker_restarted")) == 1 and len(events(run, "simulator_reconnected")) == 1
    finished = events(run, "run_finished")
    assert finished and finished[0]["steps"][BEHAVIOR] >= 3000


@pytest.mark.slow
def test_a_simulator_gone_for_good_stops_the_run_after_timeout_wait_and_resume_continues(tmp_path: Path) -> None:
    port = free_port()
    server = serve(tmp_path, port)
    config = write_config(tmp_path, port, timeout_wait=5, steps=1_000_000)
    trainer = start_mlx("run", str(config), "--run-id", "gone", cwd=tmp_path)
    run = tmp_path / "results" / "gone"
    try:
        wait_until(lambda: stepping(run), seconds=120)
        time.sleep(3.0)  # some updates done
        kill(server)
        killed = time.monotonic()
        _, stderr = trainer.communicate(timeout=120)
        took = time.monotonic() - killed
    finally:
        kill(trainer)
        kill(server)
    assert trainer.returncode != 0 and "Traceback" not in stderr, stderr[-3000:]
    assert took < 5 + 10, took  # one reconnect window of timeout_wait, then saving: not minutes
    assert f"127.0.0.1:{port} stopped answering and did not come back within env_settings.timeout_wait=5 s" in stderr
    checkpoints, onnx = saved(run)
    assert checkpoints and onnx.is_file(), stderr[-2000:]  # progress saved on the way out
    # the simulator is started again: --resume continues from the saved step
    server = serve(tmp_path, port)
    try:
        steps = int(checkpoints[-1].stem.split("-")[1])
        write_config(tmp_path, port, timeout_wait=5, steps=steps + 500)
        done = run_mlx("run", str(config), "--run-id", "gone", "--resume", cwd=tmp_path, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    finally:
        kill(server)
    assert "checkpoint_loaded" in done.stderr and f"checkpoint-{steps}.pt" in done.stderr  # not from scratch
    assert events(run, "run_finished")[-1]["steps"][BEHAVIOR] >= steps + 500


def assert_stops_within_10_s_with_a_checkpoint(trainer: subprocess.Popen[str], run: Path) -> None:
    trainer.send_signal(signal.SIGTERM)
    began = time.monotonic()
    _, stderr = trainer.communicate(timeout=60)
    assert time.monotonic() - began < 10.0, stderr[-2000:]
    checkpoints, onnx = saved(run)
    assert checkpoints and onnx.is_file(), stderr[-2000:]


@pytest.mark.slow
def test_sigterm_while_the_simulator_is_gone_stops_the_run_within_seconds(tmp_path: Path) -> None:
    port = free_port()
    server = serve(tmp_path, port)
    config = write_config(tmp_path, port, timeout_wait=120, steps=1_000_000)
    trainer = start_mlx("run", str(config), "--run-id", "waiting", cwd=tmp_path)
    run = tmp_path / "results" / "waiting"
    try:
        wait_until(lambda: stepping(run), seconds=120)
        time.sleep(2.0)
        kill(server)
        wait_until(lambda: events(run, "worker_restarted"), seconds=30)  # reconnecting, for up to two minutes
        time.sleep(1.0)
        assert_stops_within_10_s_with_a_checkpoint(trainer, run)
    finally:
        kill(trainer)
        kill(server)


@pytest.mark.slow
def test_sigterm_while_a_worker_process_restarts_stops_the_run_within_seconds(tmp_path: Path) -> None:
    marker = tmp_path / "crashed"
    config = tmp_path / "flaky.yaml"
    config.write_text(
        f"env_settings:\n  env: {FLAKY}:FlakyGoal\n  num_envs: 2\n  executor: subprocess\n  timeout_wait: 120\n"
        f"  env_args: [crash_at=3000, marker={marker}, slow_start=300]\n"
        f"behaviors:\n  {BEHAVIOR}:\n    trainer: ppo\n    max_steps: 1000000\n"
        "    hyperparameters: {batch_size: 128, buffer_size: 512}\n"
        "torch_settings: {device: cpu}\n"
    )
    trainer = start_mlx("run", str(config), "--run-id", "restarting", cwd=tmp_path)
    run = tmp_path / "results" / "restarting"
    try:
        wait_until(marker.exists, seconds=180)  # a worker crashed; its replacement takes minutes to start
        time.sleep(1.0)
        assert_stops_within_10_s_with_a_checkpoint(trainer, run)
    finally:
        kill(trainer)
