"""Run management through the real ``mlx run``: resume, stop signals, damaged checkpoints,
checkpoint retention, logs, ``--debug`` metrics, ``--inference`` and ``--initialize-from``."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import onnxruntime as ort
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import run_mlx

pytestmark = pytest.mark.slow

BEHAVIOR = "Goal1DDiscrete"
SUMMARY = re.compile(rf"^{BEHAVIOR}\. Step: (\d+)\. ")
MEAN_REWARD = re.compile(r" Mean Reward: (-?\d+\.\d+)\.")

# A Goal1DDiscrete whose steps are too small to reach either end: every episode is interrupted
# after exactly 20 steps, in all 8 copies at once. Trajectories (time_horizon 64 > 20) are then
# cut only at episode ends, 8 x 20 = 160 experiences per cut, and buffer_size 320 makes every
# update use exactly two cuts. Constant schedules keep the learning rate independent of
# max_steps, so a run to N/2 and the first half of a run to N do the same arithmetic.
RESUME_CONFIG = """
behaviors:
  Goal1DDiscrete:
    trainer: ppo
    hyperparameters: {{batch_size: 160, buffer_size: 320, learning_rate: 0.003, learning_rate_schedule: constant, num_epoch: 3}}
    network_settings: {{hidden_units: 32, num_layers: 2, normalize: true}}
    max_steps: {max_steps}
    summary_freq: 400
    time_horizon: 64
env_settings: {{env: Goal1DDiscrete, num_envs: 8, seed: 7, env_args: [step_size=0.001, max_steps=20]}}
torch_settings: {{device: cpu}}
"""
N = 4000

# The real Goal1DDiscrete task, learned in a few thousand steps (final mean reward > 0.8).
TRAIN_CONFIG = """
behaviors:
  Goal1DDiscrete:
    trainer: ppo
    hyperparameters: {{batch_size: 128, buffer_size: 512, learning_rate: 0.003, beta: 0.01, num_epoch: 3}}
    network_settings: {{hidden_units: 32, num_layers: 2}}
    max_steps: {max_steps}
    summary_freq: 500
    time_horizon: 32
env_settings: {{env: Goal1DDiscrete, num_envs: 8, seed: 1}}
torch_settings: {{device: cpu}}
"""
TRAIN_STEPS = 3000


def write_config(folder: Path, name: str, template: str, max_steps: int) -> str:
    (folder / name).write_text(textwrap.dedent(template.format(max_steps=max_steps)))
    return name


def summaries(stdout: str) -> list[tuple[int, float | None]]:
    """(step, mean reward or None) of each console summary line."""
    found = []
    for line in stdout.splitlines():
        step, reward = SUMMARY.match(line), MEAN_REWARD.search(line)
        if step:
            found.append((int(step.group(1)), float(reward.group(1)) if reward else None))
    return found


def checkpoint_steps(folder: Path) -> list[int]:
    return sorted(int(p.stem.split("-")[1]) for p in folder.glob("checkpoint-*.pt"))


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def adam_steps(state: dict) -> list[int]:
    """Adam's per-parameter step counters (one optimizer step per minibatch)."""
    return [int(s["step"]) for s in state["optimizer"]["state"].values()]


def error_paragraph(stderr: str) -> str:
    """The CLI's one-line ``Error: ...`` paragraph, last on stderr after the log events."""
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert lines and lines[-1].startswith("Error: "), stderr
    assert sum(line.startswith("Error: ") for line in lines) == 1, stderr
    return lines[-1]


def file_times(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def start_mlx(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """``mlx <args>`` in the background, stdout piped line by line, stderr to a file."""
    with (cwd / "stderr.txt").open("w") as stderr:  # the child keeps its own handle
        return subprocess.Popen(
            [sys.executable, "-m", "mlx_core.cli", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def read_until_summary(proc: subprocess.Popen[str]) -> list[str]:
    """stdout lines up to and including the first summary line (or to the end of the output)."""
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if SUMMARY.match(line.rstrip("\n")):
            break
    return lines


# -- resume --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resume_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run ``straight`` to N; run ``split`` to N/2, then ``--resume`` it to N."""
    cwd = tmp_path_factory.mktemp("resume")
    full = write_config(cwd, "full.yaml", RESUME_CONFIG, N)
    half = write_config(cwd, "half.yaml", RESUME_CONFIG, N // 2)
    # the two independent runs go side by side: each process uses one torch thread
    straight = start_mlx("run", full, "--run-id", "straight", "--save-freq", str(N // 2), cwd=cwd)
    first = run_mlx("run", half, "--run-id", "split", cwd=cwd)
    assert first.returncode == 0, first.stderr
    shutil.copytree(cwd / "results/split", cwd / "half-run")  # the split run as it stood at N/2
    resumed = run_mlx("run", full, "--run-id", "split", "--resume", cwd=cwd)
    assert resumed.returncode == 0, resumed.stderr
    straight.communicate(timeout=300)
    assert straight.returncode == 0, (cwd / "stderr.txt").read_text()
    return cwd


def test_checkpoint_at_half_equals_a_run_that_stopped_there(resume_runs: Path) -> None:
    """Same seed, one torch thread, same arithmetic: bit-for-bit equal trainer state and RNG."""
    straight = load(resume_runs / f"results/straight/{BEHAVIOR}/checkpoint-{N // 2}.pt")
    stopped = load(resume_runs / f"half-run/{BEHAVIOR}/checkpoint-{N // 2}.pt")
    assert straight["step"] == stopped["step"] == N // 2
    a, b = straight["state"], stopped["state"]
    assert (a["step"], a["update_count"]) == (b["step"], b["update_count"])
    assert a["network"].keys() == b["network"].keys()
    for key in a["network"]:
        assert torch.equal(a["network"][key], b["network"][key]), key
    for index, moments in a["optimizer"]["state"].items():
        for key, value in moments.items():
            assert torch.equal(value, b["optimizer"]["state"][index][key]), (index, key)
    assert torch.equal(straight["rng"]["torch"], stopped["rng"]["torch"])


def test_resumed_run_makes_as_many_updates_as_a_straight_run(resume_runs: Path) -> None:
    """Final step, update count and Adam's step counters agree.

    Experience in flight at the stop (partial episodes, queued trajectories) is not
    checkpointed, so in general a resumed run can make fewer updates. With RESUME_CONFIG every
    run cuts 160 experiences every 160 steps (the first at step 168) and updates on every second
    cut: at N/2 nothing is queued (the 6th update took the 12th cut at step 1928), and between
    N/2 and N both runs complete 12 more cuts (the straight run's first one ends the episode in
    flight at N/2, the resumed run's first one ends its fresh episode), so both make 12 updates
    of 6 minibatch steps each (320 / 160 minibatches x 3 epochs).

    The final weights are not compared: on resume the environment restarts its episodes (and
    its generator), so the second half sees different experience than the straight run's.
    """
    straight = load(resume_runs / f"results/straight/{BEHAVIOR}/checkpoint-{N}.pt")
    resumed = load(resume_runs / f"results/split/{BEHAVIOR}/checkpoint-{N}.pt")
    assert straight["step"] == resumed["step"] == N
    assert straight["state"]["step"] == resumed["state"]["step"] == N
    assert straight["state"]["update_count"] == resumed["state"]["update_count"] == 12
    assert set(adam_steps(straight["state"])) == set(adam_steps(resumed["state"])) == {12 * 6}


def test_tensorboard_steps_continue_after_resume(resume_runs: Path) -> None:
    acc = EventAccumulator(str(resume_runs / f"results/split/{BEHAVIOR}"))
    acc.Reload()
    steps = [e.step for e in acc.Scalars("Environment/Cumulative Reward")]
    assert steps == list(range(400, N + 1, 400))  # 400 ... N/2 before the stop, N/2 + 400 ... N after
    assert len(list((resume_runs / f"results/split/{BEHAVIOR}").glob("events.out.tfevents.*"))) == 2


def test_truncated_latest_checkpoint_names_it_and_the_previous_one(resume_runs: Path, tmp_path: Path) -> None:
    shutil.copytree(resume_runs / "results/straight", tmp_path / "results/straight")
    config = write_config(tmp_path, "full.yaml", RESUME_CONFIG, 2 * N)
    folder = tmp_path / f"results/straight/{BEHAVIOR}"
    damaged, previous = folder / f"checkpoint-{N}.pt", folder / f"checkpoint-{N // 2}.pt"
    half = damaged.stat().st_size // 2
    damaged.write_bytes(damaged.read_bytes()[:half])
    before = sorted(p.name for p in folder.iterdir())

    proc = run_mlx("run", config, "--run-id", "straight", "--resume", cwd=tmp_path)

    assert proc.returncode == 1, proc.stdout + proc.stderr
    message = error_paragraph(proc.stderr)
    assert str(Path("results/straight") / BEHAVIOR / damaged.name) in message
    assert str(Path("results/straight") / BEHAVIOR / previous.name) in message
    assert sorted(p.name for p in folder.iterdir()) == before
    assert damaged.stat().st_size == half


# -- stop signals --------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stop_signal_saves_checkpoint_and_model_then_exits_0(tmp_path: Path, signum: signal.Signals) -> None:
    config = write_config(tmp_path, "config.yaml", TRAIN_CONFIG, 10**8)
    proc = start_mlx("run", config, "--run-id", "stopped", cwd=tmp_path)
    try:
        assert read_until_summary(proc), "no summary line before the process ended"
        proc.send_signal(signum)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, (tmp_path / "stderr.txt").read_text()
    stops = [line for line in rest.splitlines() if "Stopped by" in line]
    assert len(stops) == 1 and stops[0].startswith(f"Stopped by {signum.name} at step {BEHAVIOR} "), rest
    step = int(re.search(rf"{BEHAVIOR} (\d+);", stops[0]).group(1))  # type: ignore[union-attr]
    folder = tmp_path / f"results/stopped/{BEHAVIOR}"
    checkpoint = load(folder / f"checkpoint-{step}.pt")
    assert checkpoint["step"] == checkpoint["state"]["step"] == step
    session = ort.InferenceSession(str(folder / f"{BEHAVIOR}.onnx"))
    assert [i.name for i in session.get_inputs()] == ["obs_0", "action_masks"]


# -- one trained run, read by several tests -----------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A learned Goal1DDiscrete run with ``--debug --log-format json`` and two kept checkpoints."""
    cwd = tmp_path_factory.mktemp("trained")
    config = write_config(cwd, "config.yaml", TRAIN_CONFIG, TRAIN_STEPS)
    proc = run_mlx(
        "run", config, "--run-id", "trained", "--debug", "--log-format", "json",
        "--keep-checkpoints", "2", "--save-freq", "500", cwd=cwd,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return cwd, proc


def test_keep_checkpoints_keeps_the_newest_two(trained) -> None:
    cwd, _ = trained
    # steps advance by 8 (num_envs), so the 2500 checkpoint lands on 2504
    assert checkpoint_steps(cwd / f"results/trained/{BEHAVIOR}") == [2504, TRAIN_STEPS]
    status = json.loads((cwd / "results/trained/run_logs/training_status.json").read_text())
    listed = status[BEHAVIOR]["checkpoints"]
    assert [c["step"] for c in listed] == [2504, TRAIN_STEPS]
    assert all(Path(cwd, c["path"]).exists() for c in listed)
    assert status[BEHAVIOR]["step"] == TRAIN_STEPS


def test_log_jsonl_records_the_run_as_json_events(trained) -> None:
    cwd, _ = trained
    events = [json.loads(line) for line in (cwd / "results/trained/run_logs/log.jsonl").read_text().splitlines()]
    names = [e["event"] for e in events]
    assert names[0] == "run_started" and names[-1] == "run_finished"
    started = events[0]
    canonical = (cwd / "results/trained/configuration.yaml").read_bytes()
    assert started["config_sha256"] == hashlib.sha256(canonical).hexdigest()
    assert events[-1]["steps"] == {BEHAVIOR: TRAIN_STEPS}
    assert "checkpoint_saved" in names and "policy_updated" in names  # --debug events too


def test_log_format_json_writes_json_lines_on_stderr(trained) -> None:
    _, proc = trained
    lines = proc.stderr.splitlines()
    assert lines
    events = [json.loads(line) for line in lines]
    assert {"run_started", "run_finished"} <= {e["event"] for e in events}


def test_timers_json_holds_the_loop_phases(trained) -> None:
    cwd, _ = trained
    phases = json.loads((cwd / "results/trained/run_logs/timers.json").read_text())["children"]
    for name in ("env_step", "policy_act", "update", "process_steps"):
        assert phases[name]["count"] > 0 and phases[name]["total"] > 0, name


def test_debug_writes_one_update_metrics_row_per_update(trained) -> None:
    cwd, _ = trained
    with (cwd / "results/trained/run_logs/update_metrics.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == [
        "behavior",
        "time_to_update_policy",
        "time_since_start",
        "time_for_last_experience_collection",
        "experiences_used",
        "mean_return",
    ]
    final = load(cwd / f"results/trained/{BEHAVIOR}/checkpoint-{TRAIN_STEPS}.pt")
    assert len(rows) - 1 == final["state"]["update_count"] > 0
    for row in rows[1:]:
        assert row[0] == BEHAVIOR
        assert int(row[4]) >= 512  # buffer_size
        assert float(row[1]) > 0


# -- inference -----------------------------------------------------------------------------


def test_inference_resume_runs_the_policy_without_touching_checkpoints(trained, tmp_path: Path) -> None:
    cwd, _ = trained
    shutil.copytree(cwd / "results/trained", tmp_path / "results/trained")
    shutil.copy(cwd / "config.yaml", tmp_path / "config.yaml")
    folder = tmp_path / f"results/trained/{BEHAVIOR}"
    before = file_times(folder)

    proc = start_mlx("run", "config.yaml", "--run-id", "trained", "--resume", "--inference", cwd=tmp_path)
    try:
        lines = read_until_summary(proc)
        if proc.poll() is None:  # an inference session that runs until stopped
            proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()

    assert proc.returncode == 0, (tmp_path / "stderr.txt").read_text()
    found = [line for line in "".join(lines).splitlines() + rest.splitlines() if SUMMARY.match(line)]
    assert found, "inference printed no summary line"
    assert all(line.endswith(" Not Training.") for line in found), found
    assert file_times(folder) == before


def test_inference_without_a_source_of_weights_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path, "config.yaml", TRAIN_CONFIG, 1000)
    proc = run_mlx("run", config, "--run-id", "fresh", "--inference", cwd=tmp_path)
    assert proc.returncode == 1
    message = error_paragraph(proc.stderr)
    assert "--resume" in message and "--initialize-from" in message
    assert not (tmp_path / "results/fresh").exists()


# -- initialize-from -----------------------------------------------------------------------


def test_initialize_from_starts_at_step_0_with_the_learned_policy(trained) -> None:
    cwd, fresh = trained
    fresh_summaries = summaries(fresh.stdout)
    assert fresh_summaries[-1][1] is not None and fresh_summaries[-1][1] > 0.8  # the source learned
    config = write_config(cwd, "short.yaml", TRAIN_CONFIG, 1000)

    proc = run_mlx("run", config, "--run-id", "warm", "--initialize-from", "trained", cwd=cwd)

    assert proc.returncode == 0, proc.stderr
    warm = summaries(proc.stdout)
    assert [step for step, _ in warm] == [504, 1000]
    assert warm[0][1] is not None and warm[0][1] > 0.5
    assert fresh_summaries[0][1] is not None and fresh_summaries[0][1] < warm[0][1]
    final = load(cwd / f"results/warm/{BEHAVIOR}/checkpoint-1000.pt")
    assert final["state"]["update_count"] == 1000 // 512  # its own counters, not the source's


def test_initialize_from_unknown_run_id_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path, "config.yaml", TRAIN_CONFIG, 1000)
    proc = run_mlx("run", config, "--run-id", "new", "--initialize-from", "nowhere", cwd=tmp_path)
    assert proc.returncode == 1
    message = error_paragraph(proc.stderr)
    assert "--initialize-from nowhere" in message and str(Path("results/nowhere")) in message
