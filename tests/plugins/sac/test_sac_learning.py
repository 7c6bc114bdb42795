"""SAC reaches a reward threshold on the built-in continuous and discrete tasks in seconds."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from mlx_core.config.loader import load_run_options
from mlx_core.env.builtin import make_builtin
from mlx_core.plugins.manager import get_plugins
from mlx_core.training.controller import TrainerController
from mlx_core.training.evaluation import evaluate

pytestmark = pytest.mark.slow

CONFIG = """
behaviors:
  {env}:
    trainer: sac
    hyperparameters:
      batch_size: 128
      buffer_size: 20000
      learning_rate: 0.001
      buffer_init_steps: 500
      train_interval: 4
      init_entcoef: 0.05
    network_settings: {{hidden_units: 64, num_layers: 2, activation: relu}}
    time_horizon: 16
    max_steps: {steps}
    summary_freq: {steps}
env_settings: {{env: {env}, num_envs: 8, seed: 1}}
torch_settings: {{device: cpu}}
"""


def train(tmp_path: Path, env: str, steps: int) -> tuple[TrainerController, object]:
    config = tmp_path / "config.yaml"
    config.write_text(textwrap.dedent(CONFIG.format(env=env, steps=steps)))
    options = load_run_options(config)
    controller = TrainerController(options, tmp_path / "run", get_plugins())
    controller.run()
    return controller, options


@pytest.mark.parametrize(("env", "steps"), [("Goal1DContinuous", 4000), ("Goal1DDiscrete", 4000)])
def test_sac_reaches_threshold(tmp_path: Path, env: str, steps: int) -> None:
    controller, options = train(tmp_path, env, steps)
    policy = controller.trainers[env].policy
    policy.deterministic = True
    returns = evaluate(make_builtin(env, options=options, num_envs=16, seed=99), {env: policy}, episodes=100)
    assert float(returns[env].mean()) >= 0.85


def test_sac_onnx_actions_equal_the_torch_policy(tmp_path: Path) -> None:
    controller, options = train(tmp_path, "Goal1DContinuous", 600)
    network = controller.trainers["Goal1DContinuous"].network
    obs = np.random.default_rng(0).uniform(-1, 1, size=(32, 2)).astype(np.float32)
    continuous, _, _, _ = network.act([torch.from_numpy(obs)], None, deterministic=True)
    session = ort.InferenceSession(str(tmp_path / "run/Goal1DContinuous/Goal1DContinuous.onnx"))
    (onnx_actions,) = session.run(["continuous_actions"], {"obs_0": obs})
    np.testing.assert_allclose(onnx_actions, continuous.numpy(), atol=1e-5)
    assert np.abs(onnx_actions).max() <= 1.0
