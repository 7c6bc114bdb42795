"""Both signals together with ``extrinsic``: ``--resume`` restores their networks, optimizers and
minibatch order exactly, and the ``sac`` trainer trains with them (no algorithm-specific code)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import run_mlx
from tests.state_equality import assert_same

pytestmark = pytest.mark.slow

CONFIG = """
behaviors:
  SparseCorridor:
    trainer: {trainer}
    hyperparameters: {hyperparameters}
    network_settings: {{hidden_units: 16, num_layers: 1}}
    reward_signals:
      extrinsic: {{gamma: 0.99}}
      curiosity: {{strength: 0.1, gamma: 0.9, encoding_size: 8, network_settings: {{hidden_units: 16, normalize: true}}}}
      rnd: {{strength: 0.3, gamma: 0.95, encoding_size: 8, network_settings: {{hidden_units: 16, normalize: true}}}}
    time_horizon: 16
    max_steps: {steps}
    summary_freq: {steps}
env_settings: {{env: SparseCorridor, num_envs: 4, seed: 3}}
torch_settings: {{device: cpu, num_threads: 1}}
"""
PPO = "{batch_size: 64, buffer_size: 256}"
SAC = "{batch_size: 32, buffer_size: 2000, buffer_init_steps: 64, train_interval: 4}"


def signal_states(path: Path) -> dict:
    """The reward signals' part of a checkpoint."""
    return torch.load(path, weights_only=True)["state"]["reward_signals"]


def test_resume_restores_both_signals_exactly(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG.format(trainer="ppo", hyperparameters=PPO, steps=1024))
    first = run_mlx("run", "config.yaml", "--run-id", "r", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    checkpoint = tmp_path / "results/r/SparseCorridor/checkpoint-1024.pt"
    saved = signal_states(checkpoint)
    assert set(saved) == {"extrinsic", "curiosity", "rnd"}
    for name in ("curiosity", "rnd"):
        assert set(saved[name]) == {"networks", "optimizer", "generator"}
        assert saved[name]["optimizer"]["state"], f"{name}: Adam has taken no step"

    # a run of the same seed that stops before its first update holds the initial weights: the
    # saved ones moved away from them, so a resume that rebuilt the networks would be caught
    (tmp_path / "short.yaml").write_text(CONFIG.format(trainer="ppo", hyperparameters=PPO, steps=8))
    assert run_mlx("run", "short.yaml", "--run-id", "init", cwd=tmp_path).returncode == 0
    initial = signal_states(tmp_path / "results/init/SparseCorridor/checkpoint-8.pt")
    for name, network in (("curiosity", "encoder"), ("rnd", "predictor")):
        weights = [k for k in saved[name]["networks"] if k.startswith(network) and k.endswith("weight")]
        assert weights and all(
            not torch.equal(saved[name]["networks"][k], initial[name]["networks"][k]) for k in weights
        )
        assert not initial[name]["optimizer"]["state"]

    # resume with max_steps unchanged: the trainer loads the checkpoint and saves it again at once
    resumed = run_mlx("run", "config.yaml", "--run-id", "r", "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "checkpoint_loaded" in resumed.stderr
    assert_same(saved, signal_states(checkpoint), "reward_signals")


def test_sac_trains_with_both_signals_and_a_q_estimate_per_signal(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG.format(trainer="sac", hyperparameters=SAC, steps=400))
    proc = run_mlx("run", "config.yaml", "--run-id", "sac", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    events = EventAccumulator(str(tmp_path / "results/sac/SparseCorridor"))
    events.Reload()
    tags = events.Tags()["scalars"]
    for tag in (
        "Losses/Curiosity Forward Loss",
        "Losses/Curiosity Inverse Loss",
        "Policy/Curiosity Reward",
        "Losses/RND Loss",
        "Policy/RND Reward",
        "Policy/Extrinsic Reward",
        "Losses/Q1 Loss",
    ):
        assert tag in tags, f"{tag} missing from {tags}"
    assert events.Scalars("Policy/RND Reward")[-1].value > 0
    state = torch.load(tmp_path / "results/sac/SparseCorridor/checkpoint-400.pt", weights_only=True)["state"]
    assert set(state["reward_signals"]) == {"extrinsic", "curiosity", "rnd"}
    # the twin critics' outputs: one Q per signal and discrete choice (3 signals x 2 moves)
    q_bias = state["network"]["critic.q_bias"]
    assert q_bias.shape[-1] == 3 * 2
