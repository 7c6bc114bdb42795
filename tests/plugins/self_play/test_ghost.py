"""The ghost trainer's parts: ELO arithmetic, the snapshot window, which policy acts for which
team, what reaches the wrapped trainer, and the ELO column of the live view."""

from __future__ import annotations

import copy
import io
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console

from mlx_core.config.loader import load_run_options
from mlx_core.env.builtin import Pong
from mlx_core.plugins.manager import get_plugins
from mlx_core.stats.live import LiveViewWriter
from mlx_core.stats.reporter import StatsReporter, StatSummary
from mlx_core.training.controller import TrainerController, build_trainer
from mlx_core.training.policy import Policy
from mlx_self_play.elo import expected_score, game_score, rating_change
from mlx_self_play.ghost import GhostTrainer
from mlx_self_play.opponents import LATEST, OpponentPool

CONFIG = """
behaviors:
  Pong:
    trainer: ppo
    hyperparameters: {{batch_size: 64, buffer_size: 100000}}
    network_settings: {{hidden_units: 16, num_layers: 1}}
    max_steps: {steps}
    self_play: {{save_steps: 1000, swap_steps: 1000, team_change: 100000, window: 3, play_against_latest_model_ratio: 0.0}}
env_settings: {{env: Pong, num_envs: 4, seed: 3}}
torch_settings: {{device: cpu}}
"""


def options(tmp_path: Path, steps: int = 10_000):
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(CONFIG.format(steps=steps)))
    return load_run_options(path)


def test_equal_ratings_expect_half_and_a_win_moves_both_by_the_same_amount() -> None:
    assert expected_score(1200.0, 1200.0) == pytest.approx(0.5)
    assert rating_change(1200.0, 1200.0, 1.0) == pytest.approx(8.0)
    assert rating_change(1200.0, 1200.0, 0.5) == pytest.approx(0.0)
    # losing to a far stronger opponent costs little, beating it gains much
    assert -2.0 < rating_change(1200.0, 1600.0, 0.0) < 0.0 < 14.0 < rating_change(1200.0, 1600.0, 1.0)


def test_a_game_is_won_lost_or_drawn_by_its_last_reward() -> None:
    assert [game_score(1.0, False), game_score(-1.0, False), game_score(0.0, False), game_score(1.0, True)] == [
        1.0,
        0.0,
        0.5,
        0.5,
    ]


def test_the_window_keeps_the_latest_snapshots_and_the_ratio_picks_the_latest_policy() -> None:
    pool = OpponentPool(window=2, initial_elo=1000.0, latest_ratio=0.0, seed=0)
    for value in (1.0, 2.0, 3.0):
        pool.save({"w": torch.tensor([value])})
    assert [float(s["w"]) for s in pool.snapshots] == [2.0, 3.0]
    latest = {"w": torch.tensor([9.0])}
    assert {float(pool.draw(latest)["w"]) for _ in range(30)} == {2.0, 3.0}
    pool.latest_ratio = 1.0
    assert float(pool.draw(latest)["w"]) == 9.0 and pool.current == LATEST
    pool.latest_ratio = 0.0
    pool.draw(latest)
    opponent = pool.current
    pool.record(1.0)
    assert pool.elo == pytest.approx(1008.0) and pool.ratings[opponent] == pytest.approx(992.0)


def test_opponents_act_with_a_snapshot_while_the_learning_team_uses_the_current_policy(tmp_path: Path) -> None:
    opts = options(tmp_path)
    stats = StatsReporter([])
    ghost = build_trainer(
        "Pong", Pong.spec, opts.behaviors["Pong"], opts, get_plugins(), torch.device("cpu"), stats, tmp_path, seed=3
    )
    assert isinstance(ghost, GhostTrainer) and ghost.learning_team == 0
    initial = copy.deepcopy(ghost.learning_policy.network)
    with torch.no_grad():  # the learner moves on; the opponent keeps the snapshot taken at step 0
        for parameter in ghost.learning_policy.network.parameters():
            parameter.add_(torch.randn_like(parameter))
    ghost.policy.deterministic = True
    decisions, _ = Pong(64, seed=4).reset()["Pong"]
    undriven = ghost.policy.act(decisions).action.discrete[:, 0]  # rebuilt to act, not driven by a run
    ghost.ready_to_update()
    chosen = ghost.policy.act(decisions).action.discrete[:, 0]
    snapshot = Policy(Pong.spec, initial, torch.device("cpu"))
    snapshot.deterministic = True
    learner_choice = ghost.learning_policy.act(decisions).action.discrete[:, 0]
    snapshot_choice = snapshot.act(decisions).action.discrete[:, 0]
    team = decisions.teams()
    assert np.array_equal(undriven, learner_choice)
    assert np.array_equal(chosen[team == 0], learner_choice[team == 0])
    assert np.array_equal(chosen[team == 1], snapshot_choice[team == 1])
    assert not np.array_equal(learner_choice, snapshot_choice)  # the test can tell them apart


def test_only_the_learning_teams_experience_reaches_the_wrapped_trainer(tmp_path: Path) -> None:
    controller = TrainerController(options(tmp_path, steps=3_200), tmp_path / "run", get_plugins())
    controller.run()
    ghost = controller.trainers["Pong"]
    assert isinstance(ghost, GhostTrainer)
    assert ghost.step == 3_200  # every decision of both teams counts towards max_steps
    queued = ghost.inner._pending_steps  # PPO's experiences since its last update (none: buffer_size is large)
    assert 1_000 < queued <= 3_200 // 2
    assert ghost.pool.games > 0 and len(ghost.pool.snapshots) == 3


def test_the_live_view_shows_the_rating_of_behaviors_that_have_one() -> None:
    out = io.StringIO()
    writer = LiveViewWriter(Console(file=out, force_terminal=True, width=120, color_system=None))
    state = {"elapsed": 1.0, "max_steps": 3000, "training": True, "steps_per_second": 500.0}
    try:
        writer.write("Walker", 1000, {"Environment/Cumulative Reward": StatSummary(0.5, 0.1, 3)}, state)
        plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
        assert "ELO" not in plain
        writer.write("Pong", 1000, {"Self-play/ELO": StatSummary(1234.4, 3.0, 9)}, state)
    finally:
        writer.close()
    frame = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue().split("\x1b[2K")[-1])
    assert "ELO" in frame
    assert "1234" in next(line for line in frame.splitlines() if line.startswith("Pong"))
    assert "Pong. Step: 1000." in out.getvalue() and "ELO: 1234.400." in out.getvalue()
