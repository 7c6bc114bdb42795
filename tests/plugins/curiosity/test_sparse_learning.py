"""On the sparse corridor, PPO with the extrinsic reward alone does not find the goal within a
fixed budget, while PPO with curiosity, and PPO with RND, find it and learn to walk there; each
signal's losses, rewards and value estimates read back from TensorBoard (through ``mlx run``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import run_mlx

pytestmark = pytest.mark.slow

STEPS, SUMMARY = 30_000, 3_000
THRESHOLD = 0.8  # mean episode reward of the last summary; the goal pays 1, never finding it 0

CONFIG = """
behaviors:
  SparseCorridor:
    trainer: ppo
    hyperparameters: {{batch_size: 256, buffer_size: 1024, learning_rate: 0.003, learning_rate_schedule: constant, beta: 0.01, num_epoch: 3}}
    network_settings: {{hidden_units: 32, num_layers: 2}}
    reward_signals:
      extrinsic: {{gamma: 0.99}}
{signal}
    max_steps: {steps}
    summary_freq: {summary}
env_settings: {{env: SparseCorridor, num_envs: 8, seed: 1}}
torch_settings: {{device: cpu, num_threads: 1}}
"""

# the signals' networks see normalised observations: a cell never visited stands out at once
SIGNAL_NET = "network_settings: {hidden_units: 32, num_layers: 1, normalize: true}"
SIGNALS = {
    "extrinsic": "",
    "curiosity": f"      curiosity: {{strength: 0.05, gamma: 0.99, encoding_size: 32, learning_rate: 0.003, {SIGNAL_NET}}}",
    "rnd": f"      rnd: {{strength: 0.3, gamma: 0.99, encoding_size: 32, learning_rate: 0.001, {SIGNAL_NET}}}",
}
TAGS = {
    "extrinsic": ["Policy/Extrinsic Reward", "Policy/Extrinsic Value Estimate"],
    "curiosity": [
        "Losses/Curiosity Forward Loss",
        "Losses/Curiosity Inverse Loss",
        "Policy/Curiosity Reward",
        "Policy/Curiosity Value Estimate",
        "Policy/Extrinsic Value Estimate",
    ],
    "rnd": ["Losses/RND Loss", "Policy/RND Reward", "Policy/RND Value Estimate", "Policy/Extrinsic Value Estimate"],
}


def train(tmp_path: Path, signal: str) -> EventAccumulator:
    """``mlx run`` PPO with ``extrinsic`` plus ``signal``; the run's TensorBoard events."""
    (tmp_path / "config.yaml").write_text(CONFIG.format(signal=SIGNALS[signal], steps=STEPS, summary=SUMMARY))
    proc = run_mlx("run", "config.yaml", "--run-id", signal, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    events = EventAccumulator(str(tmp_path / "results" / signal / "SparseCorridor"))
    events.Reload()
    return events


@pytest.mark.parametrize(("signal", "finds_goal"), [("extrinsic", False), ("curiosity", True), ("rnd", True)])
def test_only_intrinsic_signals_find_the_sparse_goal(tmp_path: Path, signal: str, finds_goal: bool) -> None:
    events = train(tmp_path, signal)
    rewards = [e.value for e in events.Scalars("Environment/Cumulative Reward")]
    assert len(rewards) == STEPS // SUMMARY
    if finds_goal:
        assert rewards[-1] >= THRESHOLD, rewards
    else:
        assert max(rewards) < THRESHOLD / 4, rewards
    tags = events.Tags()["scalars"]
    for tag in TAGS[signal]:
        assert tag in tags, f"{tag} missing from {tags}"
        assert len(events.Scalars(tag)) == len(rewards), tag
    if signal != "extrinsic":
        # the novelty wears off as the corridor becomes familiar
        intrinsic = [e.value for e in events.Scalars(f"Policy/{'RND' if signal == 'rnd' else 'Curiosity'} Reward")]
        assert intrinsic[-1] < intrinsic[0]
