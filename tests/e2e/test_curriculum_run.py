"""Environment parameters through the real ``mlx run``: a reward-measured curriculum from the
reference's file format advancing its lessons, kept over ``--resume``, ``--lesson``, a gRPC
simulator changing its behaviour with the parameters it is sent, and the mistakes refused
before training starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import run_mlx

pytestmark = pytest.mark.slow

B = "SparseCorridor"

# The corridor's goal moves away lesson by lesson: 1 cell (a random walk finds it), then 3,
# then 6, which a random walk reaches within 10 to 14 steps only now and then.
CONFIG = """
behaviors:
  SparseCorridor:
    trainer: ppo
    hyperparameters: {{batch_size: 64, buffer_size: 256, learning_rate: 0.003, num_epoch: 3}}
    network_settings: {{hidden_units: 32, num_layers: 1}}
    max_steps: {max_steps}
    summary_freq: 500
    checkpoint_interval: 1000
    time_horizon: 16
env_settings: {{env: SparseCorridor, num_envs: 4, seed: 3}}
environment_parameters:
  max_steps: {{sampler_type: uniform, sampler_parameters: {{min_value: 10, max_value: 14}}}}
torch_settings: {{device: cpu}}
"""
CURRICULUM = {
    "measure": "reward",
    "thresholds": [0.8, 0.8],
    "min_lesson_length": 20,
    "signal_smoothing": True,
    "parameters": {"distance": [1, 3, 6]},
}


def scalars(run: Path, tag: str) -> list[tuple[int, float]]:
    events = EventAccumulator(str(run / B))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)] if tag in events.Tags()["scalars"] else []


def log_events(run: Path, name: str) -> list[dict]:
    lines = (run / "run_logs" / "log.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["event"] == name]


def write(tmp_path: Path, max_steps: int) -> tuple[Path, Path]:
    config = tmp_path / "corridor.yaml"
    config.write_text(CONFIG.format(max_steps=max_steps))
    curriculum = tmp_path / f"{B}.json"  # one curriculum at the top: for the behavior its file names
    curriculum.write_text(json.dumps(CURRICULUM))
    return config, curriculum


def test_a_reward_curriculum_advances_through_its_lessons_and_resume_keeps_the_lesson(tmp_path: Path) -> None:
    config, curriculum = write(tmp_path, 3000)
    done = run_mlx("run", str(config), "--curriculum", str(curriculum), "--run-id", "c", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "results" / "c"
    lessons = scalars(run, "Environment/Lesson Number/distance")
    values = [v for _, v in lessons]
    assert values == sorted(values) and values[-1] == 2, lessons
    changes = log_events(run, "lesson_changed")
    assert [(e["parameter"], e["lesson"]) for e in changes] == [("distance", 1), ("distance", 2)]
    drawn = scalars(run, "Environment/Parameters/max_steps")
    assert drawn and all(10 <= v < 14 for _, v in drawn)
    assert {v for _, v in scalars(run, "Environment/Parameters/distance")} <= {1.0, 3.0, 6.0}
    status = json.loads((run / "run_logs" / "training_status.json").read_text())
    assert status[B]["lesson"] == {"distance": 2}
    saved = status["environment_parameters"]
    assert saved["lessons"] == {"distance": 2}

    config.write_text(CONFIG.format(max_steps=4000))
    done = run_mlx("run", str(config), "--curriculum", str(curriculum), "--run-id", "c", "--resume", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    after = [v for step, v in scalars(run, "Environment/Lesson Number/distance") if step > 3000]
    assert after and set(after) == {2.0}  # not back to lesson 0
    resumed = json.loads((run / "run_logs" / "training_status.json").read_text())["environment_parameters"]
    assert resumed["steps"] > saved["steps"] and resumed["rng"] != saved["rng"]


def test_lesson_flag_starts_at_that_lesson(tmp_path: Path) -> None:
    config, curriculum = write(tmp_path, 500)
    done = run_mlx("run", str(config), "--curriculum", str(curriculum), "--lesson", "2", "--run-id", "l", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "results" / "l"
    assert {v for _, v in scalars(run, "Environment/Lesson Number/distance")} == {2.0}
    assert {v for _, v in scalars(run, "Environment/Parameters/distance")} == {6.0}


@pytest.mark.parametrize(
    ("section", "says"),
    [
        ("  gravity: 9.8\n", "has no parameter gravity; its parameters are distance, max_steps"),
        (
            "  distance:\n    curriculum:\n      - {value: 1, completion_criteria: {behavior: Walker, threshold: 0.5}}\n"
            "      - {value: 2}\n",
            "measures behavior Walker, which the environment does not have",
        ),
    ],
)
def test_a_parameter_or_behavior_the_environment_lacks_stops_before_training(tmp_path: Path, section: str, says: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(f"env_settings: {{env: {B}}}\nenvironment_parameters:\n{section}")
    done = run_mlx("run", str(config), "--run-id", "bad", cwd=tmp_path)
    assert done.returncode == 1
    assert says in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "results" / "bad").exists()


def serve(cwd: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "mlx_core.cli", "env", "serve", *args, "--port", "0"], cwd=cwd, stderr=subprocess.PIPE, text=True
    )
    assert server.stderr is not None
    ready = server.stderr.readline()
    assert ready.startswith("mlx environment server listening on 127.0.0.1:"), ready
    return server, ready.rsplit(" ", 1)[-1].strip()


def test_a_grpc_simulator_gets_the_parameters_through_set_parameters(tmp_path: Path) -> None:
    """Left alone, the corridor's goal is 24 cells away and episodes last 64 steps; sent
    distance 1 and max_steps 5, every episode ends within 5 steps."""
    server, address = serve(tmp_path, B, "--num-envs", "2")
    try:
        config = tmp_path / "remote.yaml"
        config.write_text(
            f"behaviors:\n  {B}: {{max_steps: 400, summary_freq: 200}}\n"
            "environment_parameters:\n  distance: 1\n  max_steps: 5\n"
        )
        done = run_mlx("run", str(config), "--env", f"grpc://{address}", "--run-id", "g", "--seed", "1", cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
    finally:
        server.kill()
        server.wait()
    lengths = scalars(tmp_path / "results" / "g", "Environment/Episode Length")
    assert lengths and all(v <= 5 for _, v in lengths)


def test_a_grpc_simulator_refuses_an_unknown_parameter_clearly(tmp_path: Path) -> None:
    server, address = serve(tmp_path, B)
    try:
        config = tmp_path / "remote.yaml"
        config.write_text("environment_parameters:\n  gravity: 9.8\n")
        done = run_mlx("run", str(config), "--env", f"grpc://{address}", "--run-id", "g", cwd=tmp_path, timeout=120)
    finally:
        server.kill()
        server.wait()
    assert done.returncode == 1
    assert "has no parameter gravity" in done.stderr and "Traceback" not in done.stderr
