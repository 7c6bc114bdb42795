"""``behavioral_cloning`` on RL behaviors: PPO learns sooner with it, SAC trains with it, and without
mlx-bc the section says what to install."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mlx_core.config.loader import load_run_options
from mlx_core.plugins.manager import get_plugins
from mlx_core.training.checkpoints import latest_checkpoint
from mlx_core.training.controller import TrainerController
from tests.plugins.bc.conftest import record_demos, scalars, write_config

THRESHOLD = 0.85  # Goal1D's learning threshold (tests/plugins/ppo/test_ppo_learning.py)
PPO_STEPS = 6144

PPO_CONFIG = """
behaviors:
  Goal1DDiscrete:
    trainer: ppo
    hyperparameters: {{batch_size: 256, buffer_size: 1024, learning_rate: 0.003, beta: 0.01, num_epoch: 3}}
    network_settings: {{hidden_units: 64, num_layers: 2}}
{cloning}    max_steps: {steps}
    summary_freq: 512
env_settings: {{env: Goal1DDiscrete, num_envs: 8, seed: {seed}}}
torch_settings: {{device: cpu}}
"""


@pytest.fixture(scope="module")
def goal_demos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """40 episodes of the scripted expert on each Goal1D task, recorded with ``mlx record``."""
    folder = tmp_path_factory.mktemp("demos")
    return {
        "Goal1DDiscrete": record_demos(folder, "Goal1DDiscrete", "goal_discrete", 40),
        "Goal1DContinuous": record_demos(folder, "Goal1DContinuous", "goal_continuous", 40),
    }


def train(config: Path, run_dir: Path) -> TrainerController:
    """Run the real controller on ``config``."""
    controller = TrainerController(load_run_options(config), run_dir, get_plugins())
    controller.run()
    return controller


def steps_to_threshold(run_dir: Path, behavior: str) -> int:
    """The first summary step whose mean return reached the threshold (max steps + 1 if none did)."""
    rewards = scalars(run_dir / behavior, "Environment/Cumulative Reward")
    return next((step for step, value in rewards if value >= THRESHOLD), PPO_STEPS + 1)


@pytest.mark.slow
def test_ppo_with_behavioral_cloning_reaches_threshold_in_fewer_steps(
    tmp_path: Path, goal_demos: dict[str, Path]
) -> None:
    cloning = (
        f"    behavioral_cloning: {{demo_path: {goal_demos['Goal1DDiscrete']}, strength: 1.0, steps: 4000,"
        " batch_size: 64, num_epoch: 3}\n"
    )
    steps: dict[bool, list[int]] = {False: [], True: []}
    for seed in (1, 2, 3):
        for with_cloning in (False, True):
            text = PPO_CONFIG.format(cloning=cloning if with_cloning else "", steps=PPO_STEPS, seed=seed)
            run_dir = tmp_path / f"run-{seed}-{with_cloning}"
            train(write_config(tmp_path, text), run_dir)
            steps[with_cloning].append(steps_to_threshold(run_dir, "Goal1DDiscrete"))
    print(f"steps to a mean return of {THRESHOLD}, seeds 1-3: PPO {steps[False]}, PPO + cloning {steps[True]}")
    assert all(s <= PPO_STEPS for s in steps[True]), steps
    assert sum(steps[True]) < sum(steps[False]), steps


@pytest.mark.slow
@pytest.mark.parametrize("task", ["Goal1DDiscrete", "Goal1DContinuous"])
def test_sac_with_behavioral_cloning_records_loss_anneals_and_checkpoints_its_optimizer(
    tmp_path: Path, goal_demos: dict[str, Path], task: str
) -> None:
    config = write_config(
        tmp_path,
        f"""
        behaviors:
          {task}:
            trainer: sac
            hyperparameters: {{batch_size: 32, buffer_init_steps: 64, train_interval: 8}}
            network_settings: {{hidden_units: 32, num_layers: 1}}
            behavioral_cloning: {{demo_path: {goal_demos[task]}, strength: 0.5, steps: 600, samples_per_update: 64}}
            max_steps: 800
            summary_freq: 200
        env_settings: {{env: {task}, num_envs: 4, seed: 1}}
        torch_settings: {{device: cpu}}
        """,
    )
    train(config, tmp_path / "run")

    strengths = [value for _, value in scalars(tmp_path / "run" / task, "Policy/Cloning Strength")]
    assert strengths[0] <= 0.5 and strengths == sorted(strengths, reverse=True) and strengths[-1] < 0.2
    assert scalars(tmp_path / "run" / task, "Losses/Cloning Loss")
    checkpoint = latest_checkpoint(tmp_path / "run" / task)
    assert checkpoint is not None
    state = torch.load(checkpoint, weights_only=True)["state"]
    adam = state["objectives"]["behavioral_cloning"]["optimizer"]
    assert adam["state"], "the cloning Adam took steps"


def test_behavioral_cloning_without_mlx_bc_names_the_distribution(tmp_path: Path, mlx) -> None:
    write_config(
        tmp_path,
        """
        behaviors:
          Goal1DDiscrete:
            trainer: ppo
            behavioral_cloning: {demo_path: demos/expert.demo, strength: 0.5}
        env_settings: {env: Goal1DDiscrete}
        """,
    )
    proc = mlx("run", "config.yaml", without=("mlx-bc",))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "behaviors.Goal1DDiscrete.behavioral_cloning (line 5)" in proc.stderr
    assert "pip install mlx-bc" in proc.stderr
    assert not (tmp_path / "results").exists()
