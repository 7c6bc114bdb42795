"""``mlx run`` with SAC writes its losses, entropy coefficient and learning rate to TensorBoard,
and ML-Agents 1.x's ``steps_per_update`` sets the update pace."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mlx_sac.settings import SACSettings

pytestmark = pytest.mark.slow

CONFIG = """
behaviors:
  Goal1DContinuous:
    trainer: sac
    hyperparameters:
      batch_size: 32
      buffer_size: 5000
      buffer_init_steps: 64
      steps_per_update: 0.5     # ML-Agents 1.x: two gradient steps per agent step
    network_settings: {hidden_units: 16, num_layers: 2}
    max_steps: 400
    summary_freq: 200
env_settings: {env: Goal1DContinuous, num_envs: 2, seed: 5}
torch_settings: {num_threads: 2}
"""

SCALARS = [
    "Losses/Q1 Loss",
    "Losses/Q2 Loss",
    "Losses/Policy Loss",
    "Policy/Continuous Entropy Coeff",
    "Policy/Learning Rate",
    "Policy/Entropy",
    "Environment/Cumulative Reward",
]


def test_sac_scalars_read_back_from_tensorboard(tmp_path: Path) -> None:
    from tests.conftest import run_mlx

    (tmp_path / "config.yaml").write_text(textwrap.dedent(CONFIG))
    proc = run_mlx("run", "config.yaml", "--run-id", "sac", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    acc = EventAccumulator(str(tmp_path / "results/sac/Goal1DContinuous"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    for tag in SCALARS:
        assert tag in tags, f"{tag} missing from {tags}"
        values = [e.value for e in acc.Scalars(tag)]
        assert values and all(np.isfinite(values)), tag
    assert [e.step for e in acc.Scalars("Losses/Q1 Loss")] == [200, 400]
    assert all(e.value == pytest.approx(3.0e-4) for e in acc.Scalars("Policy/Learning Rate"))
    # the entropy coefficient is tuned: it has left its initial value of 1.0
    assert acc.Scalars("Policy/Continuous Entropy Coeff")[-1].value < 1.0


@pytest.mark.parametrize(
    ("steps_per_update", "expected"), [(None, (1, 1)), (4.0, (4, 1)), (1.0, (1, 1)), (0.5, (1, 2)), (0.25, (1, 4))]
)
def test_steps_per_update_sets_interval_and_gradient_steps(steps_per_update: float | None, expected: tuple[int, int]) -> None:
    assert SACSettings(steps_per_update=steps_per_update).interval_and_updates == expected
