"""``examples/cartpole.yaml`` solves CartPole-v1 (mean return >= 475) within its max_steps."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_cartpole_example_reaches_475(tmp_path: Path, mlx) -> None:
    shutil.copy(EXAMPLES / "cartpole.yaml", tmp_path / "cartpole.yaml")
    proc = mlx("run", "cartpole.yaml", "--run-id", "cartpole", timeout=600)
    assert proc.returncode == 0, proc.stderr
    acc = EventAccumulator(str(tmp_path / "results/cartpole/CartPole-v1"))
    acc.Reload()
    rewards = [event.value for event in acc.Scalars("Environment/Cumulative Reward")]
    assert len(rewards) == 10  # one summary every 10k of the 100k steps
    assert max(rewards) >= 475, rewards
    assert rewards[-1] >= 475, rewards
