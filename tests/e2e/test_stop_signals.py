"""SIGTERM at any moment of a real ``mlx run``: during an update, while a simulator does not
answer, while it starts up; a second signal exits at once. Each stop is honoured within 10 s,
with a checkpoint once training had started and nothing written before."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest
import torch

from tests.e2e.stop_fixtures import (
    BEHAVIOR,
    PPO_CONFIG,
    STALLING_ENV,
    faulty_config,
    free_port,
    install_faulty_plugin,
    run_onnx,
    start,
    stop_and_time,
    wait_for,
    write,
)

pytestmark = pytest.mark.slow

STOPPED = re.compile(
    rf"^Stopped by SIGTERM at step {BEHAVIOR} (\d+); checkpoints and models are in results/(\S+)\. Continue with --resume\.$"
)
STARTUP_STOP = "Stopped by SIGTERM during start-up, before training began; nothing was written."


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory):
    """The ``faulty`` trainer plugin installed for this module's tests."""
    yield from install_faulty_plugin(tmp_path_factory.mktemp("plugin"))


def stopped_step(cwd: Path, run: str) -> int:
    """The step of the one ``Stopped by SIGTERM`` line (the last line of stdout)."""
    lines = (cwd / "run.out").read_text().splitlines()
    match = STOPPED.match(lines[-1]) if lines else None
    assert match and match.group(2) == run, lines[-3:]
    return int(match.group(1))


def test_sigterm_during_an_update_saves_that_update_within_10_s(faulty, tmp_path: Path) -> None:
    write(tmp_path, "slow.yaml", faulty_config(10**7, update_seconds=3))
    proc = start("run", "slow.yaml", "--run-id", "update", cwd=tmp_path)
    folder = tmp_path / "results/update" / BEHAVIOR
    wait_for(folder / "in-update", proc)
    seconds = stop_and_time(proc)
    assert proc.returncode == 0, (tmp_path / "run.err").read_text()
    assert seconds < 10
    step = stopped_step(tmp_path, "update")
    checkpoint = torch.load(folder / f"checkpoint-{step}.pt", map_location="cpu", weights_only=True)
    assert checkpoint["state"]["update_count"] == 1  # the update under way was finished, then saved
    assert (folder / "after-update-1.pt").exists()
    assert run_onnx(folder / f"{BEHAVIOR}.onnx").shape == (3, 1)


def test_second_signal_exits_at_once(faulty, tmp_path: Path) -> None:
    write(tmp_path, "slow.yaml", faulty_config(10**7, update_seconds=60))
    proc = start("run", "slow.yaml", "--run-id", "twice", cwd=tmp_path)
    wait_for(tmp_path / "results/twice" / BEHAVIOR / "in-update", proc)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert proc.poll() is None  # the first one waits for the update
    assert stop_and_time(proc) < 5
    assert proc.returncode == 128 + signal.SIGTERM


def test_sigterm_while_the_simulator_does_not_answer(tmp_path: Path) -> None:
    write(tmp_path, "stalling.py", STALLING_ENV)
    port = free_port()
    server = start("env", "serve", "stalling.py:StallingGoal", "--port", str(port), "--env-args", "stall_after=150",
                   cwd=tmp_path)  # fmt: skip
    try:
        extra = ", timeout_wait: 120"
        write(
            tmp_path,
            "c.yaml",
            PPO_CONFIG.format(max_steps=10**7, env=f"grpc://127.0.0.1:{port}", num_envs=1, extra_env=extra),
        )
        proc = start("run", "c.yaml", "--run-id", "remote", cwd=tmp_path)
        wait_for(tmp_path / "stalled", proc)
        time.sleep(1.0)  # well inside the wait for the step's answer
        seconds = stop_and_time(proc)
    finally:
        server.kill()
        server.wait()
    assert proc.returncode == 0, (tmp_path / "run.err").read_text()
    assert seconds < 10
    step = stopped_step(tmp_path, "remote")
    assert step == 151 * 8  # the reset and the 150 steps answered
    folder = tmp_path / "results/remote" / BEHAVIOR
    assert (folder / f"checkpoint-{step}.pt").exists()
    assert run_onnx(folder / f"{BEHAVIOR}.onnx").shape == (3, 1)


def test_sigterm_while_connecting_to_a_simulator_writes_nothing(tmp_path: Path) -> None:
    extra = ", timeout_wait: 120"
    write(
        tmp_path,
        "c.yaml",
        PPO_CONFIG.format(max_steps=10**7, env=f"grpc://127.0.0.1:{free_port()}", num_envs=1, extra_env=extra),
    )
    proc = start("run", "c.yaml", "--run-id", "connecting", cwd=tmp_path)
    time.sleep(4.0)  # mlx is still trying to reach a simulator that is not there
    assert proc.poll() is None, (tmp_path / "run.err").read_text()
    seconds = stop_and_time(proc)
    assert proc.returncode == 0, (tmp_path / "run.err").read_text()
    assert seconds < 10
    assert (tmp_path / "run.out").read_text().splitlines()[-1] == STARTUP_STOP
    assert not (tmp_path / "results").exists()


def test_sigterm_while_a_worker_process_starts_writes_nothing(tmp_path: Path) -> None:
    write(tmp_path, "stalling.py", STALLING_ENV)
    extra = ", env_args: [start_seconds=600], executor: subprocess, timeout_wait: 120"
    write(
        tmp_path,
        "c.yaml",
        PPO_CONFIG.format(max_steps=10**7, env="stalling.py:StallingGoal", num_envs=1, extra_env=extra),
    )
    proc = start("run", "c.yaml", "--run-id", "starting", cwd=tmp_path)
    wait_for(tmp_path / "starting", proc)
    seconds = stop_and_time(proc)
    assert proc.returncode == 0, (tmp_path / "run.err").read_text()
    assert seconds < 10
    assert (tmp_path / "run.out").read_text().splitlines()[-1] == STARTUP_STOP
    assert not (tmp_path / "results").exists()
