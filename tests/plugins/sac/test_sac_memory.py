"""SAC with memory: it solves MemoryCue (a cue seen first, acted on later); the replay buffer
stores and samples whole sequences with their memories."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from mlx_core.config.loader import load_run_options
from mlx_core.env.base import ActionSpec, BehaviorSpec, ObservationSpec
from mlx_core.env.builtin import make_builtin
from mlx_core.plugins.manager import get_plugins
from mlx_core.training.controller import TrainerController
from mlx_core.training.evaluation import evaluate
from mlx_core.training.trajectory import Trajectory
from mlx_sac.replay import ReplayBuffer

CONFIG = """
behaviors:
  MemoryCue:
    trainer: sac
    hyperparameters:
      batch_size: 128
      buffer_size: 20000
      learning_rate: 0.003
      buffer_init_steps: 256
      train_interval: 4
      init_entcoef: 0.05
    network_settings: {{hidden_units: 32, num_layers: 1, activation: relu{memory}}}
    time_horizon: 16
    max_steps: {steps}
    summary_freq: 1000
env_settings: {{env: MemoryCue, num_envs: 8, seed: 1}}
torch_settings: {{device: cpu}}
"""
MEMORY = ", memory: {memory_size: 32, sequence_length: 4}"


def greedy_return(tmp_path: Path, memory: bool, steps: int) -> float:
    config = tmp_path / "config.yaml"
    config.write_text(textwrap.dedent(CONFIG.format(memory=MEMORY if memory else "", steps=steps)))
    options = load_run_options(config)
    controller = TrainerController(options, tmp_path / "run", get_plugins())
    controller.run()
    policy = controller.trainers["MemoryCue"].policy
    policy.deterministic = True
    env = make_builtin("MemoryCue", options=options, num_envs=16, seed=99)
    return float(evaluate(env, {"MemoryCue": policy}, episodes=200)["MemoryCue"].mean())


@pytest.mark.slow
def test_sac_with_memory_solves_the_cue_task(tmp_path: Path) -> None:
    assert greedy_return(tmp_path, memory=True, steps=6_000) >= 0.8


def _trajectory(n: int, start: float) -> Trajectory:
    steps = start + np.arange(n, dtype=np.float32)
    return Trajectory(
        obs=[steps[:, None]],
        next_obs=[np.array([[start + n]], np.float32)],
        continuous_actions=np.zeros((n, 0), np.float32),
        discrete_actions=np.zeros((n, 1), np.int64),
        action_masks=None,
        log_probs=np.zeros(n, np.float32),
        values=None,
        env_rewards=steps,
        done=True,
        interrupted=False,
        agent_id=0,
        memories=np.repeat(steps[:, None], 2, axis=1),
        next_memory=np.full((1, 2), start + n, np.float32),
    )


def test_replay_stores_and_samples_whole_sequences() -> None:
    spec = BehaviorSpec((ObservationSpec((1,)),), ActionSpec(discrete_branches=(2,)))
    replay = ReplayBuffer(10, spec, 1, memory=(2, 3))
    assert replay.capacity == 9  # whole sequences of 3
    for start, n in ((0.0, 4), (100.0, 2)):
        traj = _trajectory(n, start)
        batch = {"done": np.zeros(n, np.float32), "next_obs": [np.concatenate([traj.obs[0][1:], traj.next_obs[0]])]}
        replay.add_trajectory(traj, batch, traj.env_rewards[:, None])
    assert len(replay) == 9  # 4 steps -> two sequences, 2 steps -> one, the padding included
    np.random.seed(0)
    sample = replay.sample(300, torch.device("cpu"))  # 100 sequences
    valid = sample["valid"].view(-1, 3)
    obs = sample["obs"][0].view(-1, 3)
    firsts = obs[:, 0]
    assert set(firsts.tolist()) == {0.0, 3.0, 100.0}  # every sequence starts where a trajectory's does
    assert valid[:, 0].all()
    for first, row_valid, row_obs, memory, next_memory in zip(
        firsts.tolist(), valid, obs, sample["memories"], sample["next_memories"]
    ):
        real = {0.0: 3, 3.0: 1, 100.0: 2}[first]
        assert row_valid.tolist() == [True] * real + [False] * (3 - real)
        assert row_obs[:real].tolist() == [first + i for i in range(real)]
        assert memory.tolist() == [first, first]  # the memory before the sequence's first step
        assert next_memory.tolist() == [first + 1, first + 1]  # and after it
    # per-step fields hold the real steps only, in the sequences' order
    assert sample["rewards"][:, 0].tolist() == sample["obs"][0][sample["valid"]][:, 0].tolist()
