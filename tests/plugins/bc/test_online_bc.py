"""``online_bc``: the student learns from a scripted teacher, with the teacher acting or (DAgger) labelling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mlx_bc.demonstrations import LabelledSteps
from mlx_core.config.loader import load_run_options
from mlx_core.env.base import ActionSpec, ActionTuple, BehaviorSpec, ObservationSpec
from mlx_core.env.builtin import make_builtin
from mlx_core.plugins.manager import get_plugins
from mlx_core.training.controller import TrainerController
from mlx_core.training.evaluation import evaluate
from mlx_core.training.policy import Policy
from tests.plugins.bc.conftest import HERE, scalars, write_config

THRESHOLD = 0.85  # Goal1D's learning threshold (tests/plugins/ppo/test_ppo_learning.py)
TEACHER_RETURN = 0.96  # the scripted teacher's return on every Goal1D episode


def train_online(tmp_path: Path, dagger: bool) -> tuple[list[float], float]:
    """Train online_bc on Goal1DDiscrete; the mean returns of its summaries and of 100 greedy
    episodes of the student alone."""
    config = write_config(
        tmp_path,
        f"""
        behaviors:
          Goal1DDiscrete:
            trainer: online_bc
            hyperparameters: {{teacher: "{HERE / "heuristics.py"}:goal_discrete", dagger: {str(dagger).lower()},
                               learning_rate: 0.003, steps_per_update: 200, buffer_size: 2000}}
            network_settings: {{hidden_units: 32, num_layers: 2}}
            max_steps: 2000
            summary_freq: 400
        env_settings: {{env: Goal1DDiscrete, num_envs: 8, seed: 1}}
        torch_settings: {{device: cpu}}
        """,
    )
    options = load_run_options(config)
    controller = TrainerController(options, tmp_path / "run", get_plugins())
    controller.run()
    trainer = controller.trainers["Goal1DDiscrete"]
    student = Policy(trainer.context.spec, trainer.network, trainer.context.device)
    student.deterministic = True
    env = make_builtin("Goal1DDiscrete", options=options, num_envs=16, seed=99)
    greedy = evaluate(env, {"Goal1DDiscrete": student}, episodes=100)["Goal1DDiscrete"]
    summaries = [value for _, value in scalars(tmp_path / "run" / "Goal1DDiscrete", "Environment/Cumulative Reward")]
    return summaries, float(greedy.mean())


@pytest.mark.slow
def test_online_bc_with_dagger_reaches_threshold_while_the_student_acts(tmp_path: Path) -> None:
    summaries, greedy = train_online(tmp_path, dagger=True)
    assert summaries[0] < 0.8  # the untrained student, not the teacher, acted at first
    assert summaries[-1] >= THRESHOLD
    assert greedy >= THRESHOLD


@pytest.mark.slow
def test_online_bc_without_dagger_lets_the_teacher_act_and_the_student_learns(tmp_path: Path) -> None:
    summaries, greedy = train_online(tmp_path, dagger=False)
    assert summaries == pytest.approx([TEACHER_RETURN] * len(summaries), abs=1e-4)
    assert greedy >= THRESHOLD


def test_labelled_steps_keep_the_latest_capacity_steps() -> None:
    spec = BehaviorSpec((ObservationSpec((1,)),), ActionSpec(continuous_size=1, discrete_branches=(3,)))
    kept = LabelledSteps(spec, capacity=6)
    for start, n in ((0, 4), (4, 4), (8, 1)):
        values = np.arange(start, start + n, dtype=np.float32)
        actions = ActionTuple(values[:, None], (values[:, None] % 3).astype(np.int64))
        kept.add([values[:, None]], actions, None)
    batch = kept.batch(torch.device("cpu"))
    assert len(kept) == 6
    assert sorted(batch.obs[0][:, 0].tolist()) == [3, 4, 5, 6, 7, 8]
    assert torch.equal(batch.discrete[:, 0], batch.obs[0][:, 0].long() % 3)  # rows stay together
    assert batch.masks is not None and bool(batch.masks.all())
