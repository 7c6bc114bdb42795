"""PPO reaches a reward threshold on each built-in task in seconds (like ML-Agents' test_simple_rl)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mlx_core.config.loader import load_run_options
from mlx_core.env.builtin import make_builtin
from mlx_core.plugins.manager import get_plugins
from mlx_core.training.controller import TrainerController
from mlx_core.training.evaluation import evaluate

pytestmark = pytest.mark.slow

CONFIG = """
behaviors:
  {env}:
    trainer: ppo
    hyperparameters: {{batch_size: 256, buffer_size: 2048, learning_rate: 0.003, beta: {beta}, num_epoch: 3}}
    network_settings: {{hidden_units: 64, num_layers: 2}}
    max_steps: {steps}
    summary_freq: {steps}
env_settings: {{env: {env}, num_envs: 8, seed: {seed}}}
torch_settings: {{device: cpu}}
"""


def train_and_evaluate(tmp_path: Path, env: str, steps: int, beta: float = 0.01, seed: int = 1) -> float:
    """Train PPO with the real controller, then return the mean return of 100 greedy episodes."""
    config = tmp_path / "config.yaml"
    config.write_text(textwrap.dedent(CONFIG.format(env=env, steps=steps, beta=beta, seed=seed)))
    options = load_run_options(config)
    controller = TrainerController(options, tmp_path / "run", get_plugins())
    controller.run()
    policy = controller.trainers[env].policy
    policy.deterministic = True
    returns = evaluate(make_builtin(env, options=options, num_envs=16, seed=99), {env: policy}, episodes=100)
    return float(returns[env].mean())


@pytest.mark.parametrize(
    ("env", "steps", "threshold"),
    [
        ("Goal1DDiscrete", 16_000, 0.85),
        ("Goal1DContinuous", 20_000, 0.85),
        ("MaskedGrid", 24_000, 0.85),
    ],
)
def test_ppo_reaches_threshold(tmp_path: Path, env: str, steps: int, threshold: float) -> None:
    assert train_and_evaluate(tmp_path, env, steps) >= threshold


def test_untrained_policy_is_below_threshold(tmp_path: Path) -> None:
    # guards the thresholds above: a policy that learned nothing must not pass them
    assert train_and_evaluate(tmp_path, "MaskedGrid", steps=8, beta=0.0) < 0.5
