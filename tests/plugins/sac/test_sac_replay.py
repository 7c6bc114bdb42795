"""``save_replay_buffer`` keeps the replay buffer across ``--resume``, exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow

CONFIG = """
behaviors:
  MaskedGrid:
    trainer: sac
    hyperparameters: {{batch_size: 64, buffer_size: 5000, buffer_init_steps: 200, train_interval: 8, save_replay_buffer: {save}}}
    network_settings: {{hidden_units: 32, num_layers: 1}}
    time_horizon: 16
    max_steps: {steps}
    summary_freq: 500
env_settings: {{env: MaskedGrid, num_envs: 4, seed: 2}}
"""


def test_resume_restores_the_replay_buffer_exactly(tmp_path: Path, mlx) -> None:
    from mlx_sac.replay import ReplayBuffer  # noqa: F401 - the plugin must be importable

    (tmp_path / "config.yaml").write_text(CONFIG.format(save="true", steps=1000))
    first = mlx("run", "config.yaml", "--run-id", "r")
    assert first.returncode == 0, first.stderr
    saved = torch.load(tmp_path / "results/r/MaskedGrid/checkpoint-1000.pt", weights_only=True)["state"]["replay"]
    assert saved["size"] > 0
    assert any(line for line in (tmp_path / "results/r/run_logs/log.jsonl").read_text().splitlines() if "replay_buffer_saved" in line)

    # resume with max_steps unchanged: the trainer loads and immediately saves again
    resumed = mlx("run", "config.yaml", "--run-id", "r", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "replay_buffer_loaded" in resumed.stderr
    again = torch.load(tmp_path / "results/r/MaskedGrid/checkpoint-1000.pt", weights_only=True)["state"]["replay"]
    assert again["size"] == saved["size"] and again["position"] == saved["position"]
    for key, values in saved["arrays"].items():
        np.testing.assert_array_equal(again["arrays"][key].numpy(), values.numpy(), err_msg=key)


def test_without_save_replay_buffer_the_checkpoint_holds_no_buffer(tmp_path: Path, mlx) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG.format(save="false", steps=400))
    assert mlx("run", "config.yaml", "--run-id", "n").returncode == 0
    state = torch.load(tmp_path / "results/n/MaskedGrid/checkpoint-400.pt", weights_only=True)["state"]
    assert "replay" not in state
