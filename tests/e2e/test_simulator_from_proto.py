"""A simulator written from ``mlx_env.proto`` alone (``simulator_from_proto.py``: grpcio's public
server and the generated stubs) trains through ``mlx run``: with only the unary ``Step``, and
with either agent-id convention across an episode's end. Each runs on both transports."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_mlx
from tests.core.env.remote_transports import grpc_transport  # noqa: F401 - a fixture
from tests.e2e.test_simulator_grpc import free_port_pair, log_events, scalars

SIMULATOR = Path(__file__).resolve().parent / "simulator_from_proto.py"

CONFIG = """\
env_settings:
  env: {simulator}
  base_port: {port}
  timeout_wait: 30
  seed: 3
  env_args: [--step-calls, {step_calls}, --ids, {ids}]
behaviors:
  Walker:
    trainer: ppo
    max_steps: {steps}
    time_horizon: 32
    summary_freq: 1000
    hyperparameters: {{batch_size: 256, buffer_size: 1024, learning_rate: 0.003, beta: 0.01, num_epoch: 3}}
    network_settings: {{hidden_units: 64, num_layers: 2}}
torch_settings: {{device: cpu}}
"""


def train(folder: Path, step_calls: str, ids: str, steps: int) -> Path:
    """``mlx run`` launching the simulator; the run folder, after checking the run finished."""
    config = folder / "walkers.yaml"
    config.write_text(CONFIG.format(simulator=SIMULATOR, port=free_port_pair(), step_calls=step_calls, ids=ids, steps=steps))
    done = run_mlx("run", str(config), "--run-id", "walkers", cwd=folder, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    run = folder / "results" / "walkers"
    finished = [e for e in log_events(run) if e["event"] == "run_finished"]
    assert finished and finished[0]["steps"]["Walker"] >= steps, finished
    return run


@pytest.mark.slow
@pytest.mark.usefixtures("grpc_transport")
@pytest.mark.parametrize("step_calls", ["unary", "unlisted"])
def test_a_simulator_without_step_stream_trains_to_max_steps_through_unary_step(tmp_path: Path, step_calls: str) -> None:
    run = train(tmp_path, step_calls, "same", steps=2000)
    chosen = [e for e in log_events(run) if e["event"] == "step_call_chosen"]
    assert len(chosen) == 1 and chosen[0]["call"] == "Step", chosen  # decided once, for the whole session
    assert (run / "Walker" / "Walker.onnx").is_file()


@pytest.mark.slow
@pytest.mark.usefixtures("grpc_transport")
def test_a_simulator_with_step_stream_is_stepped_on_the_stream(tmp_path: Path) -> None:
    run = train(tmp_path, "both", "same", steps=500)
    chosen = [e for e in log_events(run) if e["event"] == "step_call_chosen"]
    assert [e["call"] for e in chosen] == ["StepStream"]


@pytest.mark.slow
@pytest.mark.parametrize("ids", ["same", "new"])
def test_both_agent_id_conventions_train_to_the_threshold(tmp_path: Path, ids: str) -> None:
    """``same``: an agent ends its episode and asks for the next decision under one id in one
    result; ``new``: each episode has a fresh id. Both are valid (see the proto)."""
    run = train(tmp_path, "both", ids, steps=8000)
    rewards = scalars(run, "Walker", "Environment/Cumulative Reward")
    # a random policy scores below 0; walking straight to the goal 0.96
    assert rewards[0] < 0.5 and max(rewards[-2:]) > 0.8, rewards
    lengths = scalars(run, "Walker", "Environment/Episode Length")
    assert lengths[-1] < 8, lengths  # five steps to the goal: the episodes were counted as episodes
