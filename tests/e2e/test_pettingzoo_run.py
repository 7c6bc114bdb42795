"""``mlx run`` on a PettingZoo parallel env: two behaviors train side by side in one run."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

pytestmark = pytest.mark.slow

BEHAVIOR = """
    trainer: ppo
    hyperparameters: {batch_size: 64, buffer_size: 256, num_epoch: 2}
    network_settings: {hidden_units: 32, num_layers: 1}
    max_steps: 3000
    summary_freq: 1000
    time_horizon: 25
"""

CONFIG = f"""
behaviors:
  adversary:{BEHAVIOR}
  agent:{BEHAVIOR}
env_settings:
  env: pettingzoo:mpe2.simple_adversary_v3
  env_args: [max_cycles=25]
  num_envs: 2
  seed: 5
"""


def test_trains_a_few_updates_with_two_behaviors(tmp_path: Path, mlx) -> None:
    (tmp_path / "config.yaml").write_text(textwrap.dedent(CONFIG))
    proc = mlx("run", "config.yaml", "--run-id", "mpe", timeout=300)
    assert proc.returncode == 0, proc.stderr
    for behavior in ("adversary", "agent"):
        folder = tmp_path / "results/mpe" / behavior
        assert (folder / f"{behavior}.onnx").is_file(), sorted(p.name for p in folder.iterdir())
        acc = EventAccumulator(str(folder))
        acc.Reload()
        tags = acc.Tags()["scalars"]
        for tag in ("Environment/Cumulative Reward", "Environment/Episode Length", "Losses/Policy Loss"):
            assert tag in tags, f"{behavior}: {tag} missing from {tags}"
        losses = acc.Scalars("Losses/Policy Loss")
        assert len(losses) >= 2, f"{behavior}: {len(losses)} policy-loss points"
        assert all(np.isfinite(event.value) for event in losses)
        # Every episode lasts max_cycles=25 decisions in MPE.
        lengths = [event.value for event in acc.Scalars("Environment/Episode Length")]
        assert lengths and all(length == pytest.approx(25) for length in lengths), lengths
