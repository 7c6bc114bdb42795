"""PPO with memory: it solves MemoryCue (a cue seen first, acted on later), which the same PPO
without memory cannot; a recurrent run resumed mid-way continues from its checkpoint."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch

from mlx_core.config.loader import load_run_options
from mlx_core.config.settings import RunOptions
from mlx_core.env.builtin import make_builtin
from mlx_core.plugins.manager import get_plugins
from mlx_core.shipping import eval_model, load_policy
from mlx_core.training.checkpoints import latest_checkpoint, load_checkpoint
from mlx_core.training.controller import TrainerController
from mlx_core.training.evaluation import evaluate

pytestmark = pytest.mark.slow

CONFIG = """
behaviors:
  MemoryCue:
    trainer: ppo
    hyperparameters: {{batch_size: 128, buffer_size: 512, learning_rate: 0.003, beta: 0.01, num_epoch: 4}}
    network_settings: {{hidden_units: 32, num_layers: 1{memory}}}
    max_steps: {steps}
    summary_freq: 1000
    time_horizon: 64
env_settings: {{env: MemoryCue, num_envs: 8, seed: {seed}}}
torch_settings: {{device: cpu}}
"""
MEMORY = ", memory: {memory_size: 32, sequence_length: 4}"
THRESHOLD = 0.8


def options_for(tmp_path: Path, memory: bool, steps: int, resume: bool = False) -> RunOptions:
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "config.yaml"
    config.write_text(textwrap.dedent(CONFIG.format(memory=MEMORY if memory else "", steps=steps, seed=1)))
    return load_run_options(config, {"checkpoint_settings": {"resume": True}} if resume else None)


def greedy_return(controller: TrainerController) -> float:
    """The mean return of 200 greedy episodes on other seeds than training's."""
    policy = controller.trainers["MemoryCue"].policy
    policy.deterministic = True
    env = make_builtin("MemoryCue", options=controller.options, num_envs=16, seed=99)
    return float(evaluate(env, {"MemoryCue": policy}, episodes=200)["MemoryCue"].mean())


def test_ppo_with_memory_solves_the_cue_task_across_a_resume(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    TrainerController(options_for(tmp_path, memory=True, steps=6_000), run_dir, get_plugins()).run()
    checkpoint = latest_checkpoint(run_dir / "MemoryCue")
    assert checkpoint is not None
    saved = load_checkpoint(checkpoint)["state"]

    resumed = TrainerController(options_for(tmp_path, memory=True, steps=12_000, resume=True), run_dir, get_plugins())
    resumed.prepare()
    trainer = resumed.trainers["MemoryCue"]
    assert trainer.step == saved["step"] >= 6_000  # continues where the first half stopped
    restored = trainer.state_dict()["network"]
    for name, tensor in saved["network"].items():
        assert torch.equal(restored[name], tensor), name  # the LSTMs' weights included
    assert any(name.startswith("memory.critic_lstm.") for name in saved["network"])
    resumed.run()
    assert trainer.step >= 12_000
    assert greedy_return(resumed) >= THRESHOLD
    # mlx eval carries each agent's memory too, through the exported ONNX model and the checkpoint
    final = latest_checkpoint(run_dir / "MemoryCue")
    assert final is not None
    mean, _, returns = eval_model(run_dir / "MemoryCue" / "MemoryCue.onnx", "MemoryCue", 100, seed=5, num_envs=4)["MemoryCue"]
    assert len(returns) == 100 and mean >= THRESHOLD
    _, restored = load_policy(final, resumed.options)
    env = make_builtin("MemoryCue", options=resumed.options, num_envs=4, seed=5)
    assert evaluate(env, {"MemoryCue": restored}, episodes=100)["MemoryCue"].mean() >= THRESHOLD  # type: ignore[dict-item]


def test_ppo_without_memory_stays_below_the_threshold(tmp_path: Path) -> None:
    # the same budget and seed without memory: at the decision both cues look the same
    controller = TrainerController(options_for(tmp_path, memory=False, steps=12_000), tmp_path / "run", get_plugins())
    controller.run()
    assert greedy_return(controller) < 0.5
