"""Self-play on PettingZoo parallel envs through the adapter: one behavior split into teams, and
an asymmetric game with a behavior per team taking turns to learn."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mlx_core.config.loader import load_run_options
from mlx_core.plugins.manager import get_plugins
from mlx_core.training.controller import TrainerController
from mlx_self_play.ghost import GhostTrainer

pytest.importorskip("pettingzoo")

BEHAVIOR = """
    trainer: ppo
    hyperparameters: {{batch_size: 64, buffer_size: 512, num_epoch: 2}}
    network_settings: {{hidden_units: 16, num_layers: 1}}
    max_steps: {steps}
    summary_freq: 1000
    self_play: {{save_steps: 400, swap_steps: 400, team_change: {team_change}, window: 3}}
"""


def run(tmp_path: Path, behaviors: list[str], env_args: str, steps: int, team_change: int) -> TrainerController:
    section = BEHAVIOR.format(steps=steps, team_change=team_change)
    text = "behaviors:\n" + "".join(f"  {name}:{section}" for name in behaviors)
    text += f"env_settings: {{env: 'pettingzoo:tests.plugins.self_play.pz_pong', env_args: {env_args}, num_envs: 2, seed: 4}}\n"
    text += "torch_settings: {device: cpu}\n"
    (tmp_path / "config.yaml").write_text(textwrap.dedent(text))
    controller = TrainerController(load_run_options(tmp_path / "config.yaml"), tmp_path / "run", get_plugins())
    controller.run()
    return controller


def test_one_behavior_split_into_teams_plays_itself(tmp_path: Path) -> None:
    controller = run(tmp_path, ["paddle"], "[]", steps=3_000, team_change=1_000)
    ghost = controller.trainers["paddle"]
    assert isinstance(ghost, GhostTrainer)
    assert ghost.context.spec.num_teams == 2
    assert ghost.pool.games > 0 and len(ghost.pool.snapshots) == 3
    assert ghost.rota.changes == 2  # at steps 1000 and 2000
    assert ghost.inner.update_count > 0


def test_an_asymmetric_game_lets_each_behavior_learn_in_turn(tmp_path: Path) -> None:
    controller = run(tmp_path, ["left", "right"], "[asymmetric=True]", steps=2_400, team_change=600)
    left, right = controller.trainers["left"], controller.trainers["right"]
    assert isinstance(left, GhostTrainer) and isinstance(right, GhostTrainer)
    assert left.rota is right.rota and left.rota.changes >= 2
    # each behavior learned while its team had the turn: both rated games and updated
    for ghost in (left, right):
        assert ghost.pool.games > 0 and ghost.inner.update_count > 0
