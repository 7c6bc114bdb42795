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


def test_each_signals_value_estimate_is_the_critics_mean_q_of_the_batch_actions() -> None:
    """``Policy/<Signal> Value Estimate`` per reward signal (labels as core's ``signal_label``
    gives them): the mean over the batch of the two critics' average Q of the taken actions,
    computed here by hand from the critics before the update moves them."""
    import torch

    from mlx_core.config.settings import NetworkSettings
    from mlx_core.env.base import ActionSpec, BehaviorSpec, ObservationSpec
    from mlx_sac.networks import SACNetwork
    from mlx_sac.optimizer import SACOptimizer

    n, spec = 32, BehaviorSpec((ObservationSpec((4,)),), ActionSpec(1, (3,)))
    torch.manual_seed(0)
    net = SACNetwork(spec, NetworkSettings(hidden_units=16, num_layers=2, normalize=False), ["extrinsic", "rnd"])
    # an offset per signal, so that a mix-up of the signals' columns would show
    with torch.no_grad():
        net.critic.q_bias += torch.tensor([2.0, 2.0, 2.0, -3.0, -3.0, -3.0])  # (signals x choices)
    optimizer = SACOptimizer(net, SACSettings(batch_size=n), [0.99, 0.9], labels=["Extrinsic", "RND"])
    g = torch.Generator().manual_seed(1)
    batch = {
        "obs": [torch.randn(n, 4, generator=g)],
        "next_obs": [torch.randn(n, 4, generator=g)],
        "continuous": torch.rand(n, 1, generator=g) * 2 - 1,
        "discrete": torch.randint(0, 3, (n, 1), generator=g),
        "rewards": torch.randn(n, 2, generator=g),
        "done": torch.zeros(n),
    }
    with torch.no_grad():
        q1, q2 = net.critic(net.features(batch["obs"], None, None), batch["continuous"])
        chosen = batch["discrete"].view(n, 1, 1).expand(-1, 2, -1)
        expected = (0.5 * (q1 + q2)).gather(2, chosen)[:, :, 0].mean(0).tolist()
    stats = optimizer.update(batch, 0, 1000)
    assert stats["Policy/Extrinsic Value Estimate"] == pytest.approx(expected[0], abs=1e-5)
    assert stats["Policy/RND Value Estimate"] == pytest.approx(expected[1], abs=1e-5)
    assert expected[0] > 1.0 and expected[1] < -2.0  # the offsets did separate the columns


def test_sac_writes_each_reward_signals_value_estimate(tmp_path: Path) -> None:
    """With ``extrinsic`` and ``rnd``, ``mlx run`` with SAC writes both value estimates at every
    summary; RND's reward is positive at every step, so its Q estimate climbs above zero."""
    from tests.conftest import run_mlx

    config = CONFIG.replace(
        "    network_settings:",
        "    reward_signals:\n"
        "      extrinsic: {gamma: 0.99}\n"
        "      rnd: {gamma: 0.9, strength: 10.0, encoding_size: 8, network_settings: {hidden_units: 8, num_layers: 1}}\n"
        "    network_settings:",
    )
    (tmp_path / "config.yaml").write_text(textwrap.dedent(config))
    proc = run_mlx("run", "config.yaml", "--run-id", "sac", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    acc = EventAccumulator(str(tmp_path / "results/sac/Goal1DContinuous"))
    acc.Reload()
    for tag in ("Policy/Extrinsic Value Estimate", "Policy/RND Value Estimate"):
        events = acc.Scalars(tag)
        assert [e.step for e in events] == [200, 400], tag
        assert all(np.isfinite(e.value) for e in events), tag
    assert acc.Scalars("Policy/RND Value Estimate")[-1].value > 0.0
