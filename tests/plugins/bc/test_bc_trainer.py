"""The ``bc`` trainer: learns a built-in task from a heuristic's demonstrations, and ML-Agents' test.demo."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from mlx_core.demos import load_demos
from tests.plugins.bc.conftest import HERE, scalars, write_config

pytestmark = pytest.mark.slow

GOAL_THRESHOLD = 0.85  # as in tests/plugins/ppo/test_ppo_learning.py; a random policy scores below 0


def test_bc_learns_goal_task_from_recorded_heuristic(tmp_path: Path, mlx) -> None:
    write_config(
        tmp_path,
        """
        behaviors:
          Goal1DContinuous:
            trainer: offline_bc
            hyperparameters: {demo_path: demos, learning_rate: 0.003, steps_per_update: 200}
            network_settings: {hidden_units: 32, num_layers: 2}
            max_steps: 3000
            summary_freq: 500
        env_settings: {env: Goal1DContinuous, num_envs: 8, seed: 3}
        torch_settings: {device: cpu}
        checkpoint_settings: {run_id: bc}
        """,
    )
    expert = f"{HERE / 'heuristics.py'}:goal_continuous"
    recorded = mlx("record", "config.yaml", "--policy", expert, "--episodes", "40", "--output", "demos/goal.demo")
    assert recorded.returncode == 0, recorded.stderr
    info = mlx("demo", "info", "demos")
    assert info.returncode == 0, info.stderr
    # the expert walks 5 steps of 0.2 to the goal: 5 decisions and the final record per episode
    assert re.search(r"episodes:\s+40\n", info.stdout), info.stdout
    assert re.search(r"steps:\s+240\n", info.stdout), info.stdout
    assert re.search(r"mean return:\s+0\.96\b", info.stdout), info.stdout

    proc = mlx("run", "config.yaml")
    assert proc.returncode == 0, proc.stderr

    behavior_dir = tmp_path / "results" / "bc" / "Goal1DContinuous"
    rewards = scalars(behavior_dir, "Environment/Cumulative Reward")
    losses = scalars(behavior_dir, "Losses/Cloning Loss")
    assert rewards[0][1] < 0.5  # the untrained student acted first
    assert rewards[-1][1] >= GOAL_THRESHOLD, rewards
    assert losses[-1][1] < losses[0][1]
    assert (behavior_dir / "Goal1DContinuous.onnx").is_file()


def test_bc_trains_on_mlagents_test_demo_and_exports_onnx(tmp_path: Path, mlx, mlagents_test_demo: Path) -> None:
    write_config(
        tmp_path,
        f"""
        behaviors:
          3DBall:
            trainer: bc
            hyperparameters: {{demo_path: {mlagents_test_demo}, learning_rate: 0.001, steps_per_update: 50,
                               batch_size: 128, batches_per_epoch: 16, learning_rate_schedule: constant}}
            network_settings: {{hidden_units: 64, num_layers: 2}}
            max_steps: 1000
            summary_freq: 100
        env_settings: {{env: {HERE / "ball_env.py"}:Ball3DSpec, seed: 1}}
        torch_settings: {{device: cpu}}
        checkpoint_settings: {{run_id: ball}}
        """,
    )
    proc = mlx("run", "config.yaml")
    assert proc.returncode == 0, proc.stderr

    behavior_dir = tmp_path / "results" / "ball" / "3DBall"
    losses = [value for _, value in scalars(behavior_dir, "Losses/Cloning Loss")]
    assert len(losses) >= 5
    assert losses[-1] < 0.5 * losses[0], losses

    session = ort.InferenceSession(str(behavior_dir / "3DBall.onnx"))
    (obs_input,) = session.get_inputs()
    assert obs_input.shape[1:] == [8]
    _, steps = load_demos(mlagents_test_demo)
    acted = ~steps.dones
    observations = steps.observations[0][acted]
    demonstrated = np.clip(steps.continuous_actions[acted], -1, 1)
    outputs = dict(zip([o.name for o in session.get_outputs()], session.run(None, {obs_input.name: observations})))
    actions = outputs["continuous_actions"]
    assert actions.shape == (len(observations), 2)
    # the exported policy follows the demonstrations better than their mean action (what a policy
    # that learned nothing outputs) does; the recorded actions are noisy: a network fitted to them
    # for long gets to about 0.65 of the mean's error
    policy_error = np.square(actions - demonstrated).mean()
    mean_error = np.square(demonstrated - demonstrated.mean(axis=0)).mean()
    assert policy_error < 0.85 * mean_error, (policy_error, mean_error)
