"""PPO learns the VisualGoal task, whose goal is only in an image, with the simple and resnet encoders."""

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
  VisualGoal:
    trainer: ppo
    hyperparameters: {{batch_size: 256, buffer_size: 1024, learning_rate: 0.003, beta: 0.01, num_epoch: 3}}
    network_settings: {{hidden_units: 32, num_layers: 1, vis_encode_type: {kind}}}
    max_steps: {steps}
    summary_freq: {steps}
env_settings: {{env: VisualGoal, env_args: ["size=8"], num_envs: 8, seed: 3}}
torch_settings: {{device: cpu}}
"""


def train_and_evaluate(tmp_path: Path, kind: str, steps: int) -> float:
    """Train with the real controller, then the mean return of 64 greedy episodes."""
    config = tmp_path / "config.yaml"
    config.write_text(textwrap.dedent(CONFIG.format(kind=kind, steps=steps)))
    options = load_run_options(config)
    controller = TrainerController(options, tmp_path / "run", get_plugins())
    controller.run()
    policy = controller.trainers["VisualGoal"].policy
    policy.deterministic = True
    env = make_builtin("VisualGoal", options=options, num_envs=16, seed=99)
    return float(evaluate(env, {"VisualGoal": policy}, episodes=64)["VisualGoal"].mean())


@pytest.mark.parametrize("kind", ["simple", "resnet"])
def test_ppo_reads_the_goal_from_the_image(tmp_path: Path, kind: str) -> None:
    assert train_and_evaluate(tmp_path, kind, steps=12_000) >= 0.8


def test_untrained_visual_policy_is_below_threshold(tmp_path: Path) -> None:
    # guards the threshold: without reading the image the goal is a coin flip
    assert train_and_evaluate(tmp_path, "simple", steps=8) < 0.5
