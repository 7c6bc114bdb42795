"""Every failure after training started saves first: a trainer plugin that raises mid-update,
an environment that raises, a worker past its restart limits, a gRPC simulator's malformed
answer; a save that fails keeps the earlier checkpoints. Real ``mlx run`` processes and a
really pip-installed plugin (``tests/e2e/faulty_trainer``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import run_mlx
from tests.e2e.stop_fixtures import (
    BEHAVIOR,
    BROKEN_ENV,
    DISTRIBUTION,
    MALFORMED_ENV,
    PPO_CONFIG,
    checkpoint_steps,
    faulty_config,
    free_port,
    install_faulty_plugin,
    last_line,
    run_onnx,
    start,
    write,
)

pytestmark = pytest.mark.slow


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def saved_line(run: str, steps: str) -> str:
    return f"Saved at step {steps}; checkpoints and models are in results/{run}. Continue with --resume."


@pytest.fixture(scope="module")
def faulty_installed(tmp_path_factory: pytest.TempPathFactory):
    """The ``faulty`` trainer plugin installed for this module's tests."""
    yield from install_faulty_plugin(tmp_path_factory.mktemp("plugin"))


@pytest.fixture(scope="module")
def failed_run(faulty_installed, tmp_path_factory: pytest.TempPathFactory):
    """The ``faulty`` trainer raising halfway through its 3rd update, then ``--resume`` without the fault."""
    cwd = tmp_path_factory.mktemp("faulty")
    write(cwd, "fails.yaml", faulty_config(2000, fail_on_update=3))
    write(cwd, "heals.yaml", faulty_config(2000))
    failed = run_mlx("run", "fails.yaml", "--run-id", "faulty", cwd=cwd)
    folder = cwd / "results/faulty" / BEHAVIOR
    after_failure = {p.name: p.read_bytes() for p in folder.glob("checkpoint-*.pt")}
    resumed = run_mlx("run", "heals.yaml", "--run-id", "faulty", "--resume", cwd=cwd)
    yield cwd, failed, after_failure, resumed


def test_trainer_exception_exits_1_naming_the_plugin_in_one_line(failed_run) -> None:
    _, failed, _, _ = failed_run
    assert failed.returncode == 1, failed.stderr
    assert "Traceback" not in failed.stderr
    naming = [line for line in failed.stderr.splitlines() if DISTRIBUTION in line]
    assert naming == [
        f"Error: Behavior {BEHAVIOR}: the trainer 'faulty' (plugin {DISTRIBUTION} 0.1.0) raised "
        f"RuntimeError: faulty trainer failed on purpose in update 3"
    ], failed.stderr


def test_trainer_exception_saves_the_last_completed_update(failed_run) -> None:
    cwd, failed, after_failure, _ = failed_run
    folder = cwd / "results/faulty" / BEHAVIOR
    good = load(folder / "after-update-2.pt")  # what the plugin itself recorded after update 2
    step = good["step"]
    assert last_line(failed.stderr) == saved_line("faulty", f"{BEHAVIOR} {step} (its last completed update)")
    assert list(after_failure) == [f"checkpoint-{step}.pt"]
    (data,) = after_failure.values()
    (cwd / "failure-checkpoint.pt").write_bytes(data)
    checkpoint = load(cwd / "failure-checkpoint.pt")
    assert checkpoint["step"] == checkpoint["state"]["step"] == step
    assert checkpoint["state"]["update_count"] == 2
    for key, weights in good["network"].items():  # not the half-changed weights (+100) of update 3
        assert torch.equal(checkpoint["state"]["network"][key], weights), key


def test_trainer_exception_leaves_a_runnable_onnx_and_the_traceback_in_the_log(failed_run) -> None:
    cwd, _, _, _ = failed_run
    folder = cwd / "results/faulty" / BEHAVIOR
    actions = run_onnx(folder / f"{BEHAVIOR}.onnx")
    assert actions.shape == (3, 1) and set(actions.ravel().tolist()) <= {0, 1, 2}
    events = [json.loads(line) for line in (cwd / "results/faulty/run_logs/log.jsonl").read_text().splitlines()]
    (failed,) = [e for e in events if e["event"] == "plugin_failed"]
    assert "faulty trainer failed on purpose in update 3" in failed["traceback"]
    assert 'File "' in failed["traceback"] and "mlx_faulty_trainer" in failed["traceback"]


def test_resume_continues_from_the_failure_checkpoint(failed_run) -> None:
    cwd, _, after_failure, resumed = failed_run
    assert resumed.returncode == 0, resumed.stderr
    (name,) = after_failure
    step = int(name.split("-")[1].split(".")[0])
    (loaded,) = [line for line in resumed.stderr.splitlines() if "checkpoint_loaded" in line]
    assert f" step={step}" in loaded and f"checkpoint-{step}.pt" in loaded
    folder = cwd / "results/faulty" / BEHAVIOR
    assert checkpoint_steps(folder)[-1] == 2000
    assert load(folder / "checkpoint-2000.pt")["state"]["update_count"] > 2


def test_environment_exception_saves_and_says_how_to_resume(tmp_path: Path) -> None:
    write(tmp_path, "broken.py", BROKEN_ENV)
    write(tmp_path, "c.yaml", PPO_CONFIG.format(max_steps=5000, env="broken.py:BrokenGoal", num_envs=1,
                                                extra_env=", env_args: [fail_after=150]"))  # fmt: skip
    proc = run_mlx("run", "c.yaml", "--run-id", "env", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    step = 151 * 8  # the reset and each of the 150 steps that completed asked 8 agents to decide
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error: ")]
    assert errors == [
        "Error: The environment 'broken.py:BrokenGoal' raised RuntimeError: broken simulator gave up after 150 steps"
    ]
    assert last_line(proc.stderr) == saved_line("env", f"{BEHAVIOR} {step}")
    folder = tmp_path / "results/env" / BEHAVIOR
    assert checkpoint_steps(folder) == [step]
    assert load(folder / f"checkpoint-{step}.pt")["state"]["update_count"] >= 3
    assert run_onnx(folder / f"{BEHAVIOR}.onnx").shape == (3, 1)
    resumed = run_mlx("run", "c.yaml", "--run-id", "env", "--resume", cwd=tmp_path)
    assert resumed.returncode == 1 and last_line(resumed.stderr) == saved_line("env", f"{BEHAVIOR} {2 * step}")


def test_worker_past_its_restart_limit_saves(tmp_path: Path) -> None:
    write(tmp_path, "broken.py", BROKEN_ENV)
    extra = ", env_args: [fail_after=100], executor: subprocess, max_lifetime_restarts: 1"
    write(
        tmp_path, "c.yaml", PPO_CONFIG.format(max_steps=5000, env="broken.py:BrokenGoal", num_envs=1, extra_env=extra)
    )
    proc = run_mlx("run", "c.yaml", "--run-id", "workers", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "broken simulator gave up after 100 steps" in errors[0], proc.stderr
    line = last_line(proc.stderr)
    assert line.startswith(f"Saved at step {BEHAVIOR} ") and line.endswith(
        "; checkpoints and models are in results/workers. Continue with --resume."
    ), proc.stderr
    step = int(line.split()[4].rstrip(";"))
    assert step >= 100 * 8
    folder = tmp_path / "results/workers" / BEHAVIOR
    assert checkpoint_steps(folder) == [step]
    assert run_onnx(folder / f"{BEHAVIOR}.onnx").shape == (3, 1)


def test_a_failing_save_leaves_the_earlier_checkpoints_loadable(faulty_installed, tmp_path: Path) -> None:
    write(tmp_path, "c.yaml", faulty_config(5000, unsaveable_from_update=2))
    proc = run_mlx("run", "c.yaml", "--run-id", "unsaveable", "--save-freq", "200", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"Error: Saving behavior {BEHAVIOR}'s checkpoint at step "), errors
    assert last_line(proc.stderr).startswith(f"{BEHAVIOR} could not be saved (")
    assert last_line(proc.stderr).endswith("its earlier checkpoints are untouched; checkpoints and models are in "
                                           "results/unsaveable. Continue with --resume.")  # fmt: skip
    folder = tmp_path / "results/unsaveable" / BEHAVIOR
    steps = checkpoint_steps(folder)
    assert steps and steps[-1] < 800  # written before update 2, none after
    for step in steps:
        assert load(folder / f"checkpoint-{step}.pt")["step"] == step
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
    status = json.loads((tmp_path / "results/unsaveable/run_logs/training_status.json").read_text())
    assert [c["step"] for c in status[BEHAVIOR]["checkpoints"]] == steps
    resumed = run_mlx("run", "c.yaml", "--run-id", "unsaveable", "--resume", "--save-freq", "200", cwd=tmp_path)
    assert "checkpoint_loaded" in resumed.stderr and f"step={steps[-1]}" in resumed.stderr


def test_malformed_message_from_a_grpc_simulator_saves(tmp_path: Path) -> None:
    write(tmp_path, "shifter.py", MALFORMED_ENV)
    port = free_port()
    server = start("env", "serve", "shifter.py:ShapeShifter", "--port", str(port), "--env-args", "break_after=120",
                   cwd=tmp_path)  # fmt: skip
    try:
        write(tmp_path, "c.yaml", PPO_CONFIG.format(max_steps=10**7, env=f"grpc://127.0.0.1:{port}", num_envs=1,
                                                    extra_env=", timeout_wait: 30"))  # fmt: skip
        proc = run_mlx("run", "c.yaml", "--run-id", "malformed", cwd=tmp_path, timeout=120)
    finally:
        server.kill()
        server.wait()
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    step = 121 * 8  # the reset and the 120 well-formed steps
    assert last_line(proc.stderr) == saved_line("malformed", f"{BEHAVIOR} {step}"), proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "shape" in errors[0], errors
    folder = tmp_path / "results/malformed" / BEHAVIOR
    assert checkpoint_steps(folder) == [step]
    assert run_onnx(folder / f"{BEHAVIOR}.onnx").shape == (3, 1)
