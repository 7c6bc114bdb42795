"""Self-play on the built-in Pong through ``mlx run``: the trained policy beats a random player and
an early snapshot of itself, its ELO (read back from TensorBoard) rises, ``--resume`` keeps the
rating and the snapshot window, and the same section wraps SAC."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mlx_core.env.base import ActionTuple, DecisionSteps
from mlx_core.env.builtin import Pong
from mlx_core.policy_source import ActionSource, load_action_source
from mlx_core.training.checkpoints import list_checkpoints

pytestmark = pytest.mark.slow

PPO = """
behaviors:
  Pong:
    trainer: ppo
    hyperparameters: {{batch_size: 256, buffer_size: 2048, learning_rate: 0.003, beta: 0.01, num_epoch: 3}}
    network_settings: {{hidden_units: 32, num_layers: 2}}
    max_steps: {steps}
    summary_freq: 5000
    checkpoint_interval: 5000
    keep_checkpoints: 40
    self_play: {{save_steps: 4000, swap_steps: 2000, team_change: 8000, window: 5, play_against_latest_model_ratio: 0.3}}
env_settings: {{env: Pong, num_envs: 16, seed: 1}}
torch_settings: {{device: cpu}}
"""


class RandomPlayer:
    """Uniformly random paddle moves."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, steps: DecisionSteps) -> ActionTuple:
        return ActionTuple(np.zeros((len(steps), 0), np.float32), self.rng.integers(0, 3, (len(steps), 1)))


def win_rate(player: ActionSource, opponent: ActionSource, games: int = 200) -> float:
    """The share of ``games`` that ``player`` wins, half of them from each side of the court."""
    wins = 0
    for side in (0, 1):
        env = Pong(25, seed=11 + side, params={"max_steps": 200})
        decisions, _ = env.reset()["Pong"]
        played = 0
        while played < games // 2:
            mine = decisions.teams() == side
            choices = np.zeros((len(decisions), 1), np.int64)
            for rows, source in ((mine, player), (~mine, opponent)):
                part = DecisionSteps([decisions.obs[0][rows]], decisions.reward[rows], decisions.agent_id[rows])
                choices[rows] = source.act(part).discrete
            actions = ActionTuple(np.zeros((len(decisions), 0), np.float32), choices)
            decisions, terminals = env.step({"Pong": actions})["Pong"]
            for team, reward, interrupted in zip(terminals.teams(), terminals.reward, terminals.interrupted):
                if team == side and played < games // 2:
                    played += 1
                    wins += int(reward > 0 and not interrupted)
    return wins / games


def elo_curve(run: Path) -> list[tuple[int, float]]:
    events = EventAccumulator(str(run / "Pong"))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars("Self-play/ELO")]


def checkpoints(run: Path) -> list[Path]:
    return list_checkpoints(run / "Pong")


def self_play_state(path: Path) -> dict[str, Any]:
    return torch.load(path, weights_only=True)["state"]["self_play"]


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_policy_trained_by_self_play_beats_random_and_its_early_self(tmp_path: Path, mlx) -> None:
    (tmp_path / "pong.yaml").write_text(textwrap.dedent(PPO.format(steps=100_000)))
    result = mlx("run", "pong.yaml", "--run-id", "pong", timeout=600)
    assert result.returncode == 0, result.stderr
    run = tmp_path / "results" / "pong"
    saved = checkpoints(run)
    early, final = saved[0], saved[-1]
    assert "checkpoint-5" in early.name and "checkpoint-100000" in final.name
    trained = load_action_source(str(final), Pong.spec, "Pong")
    assert win_rate(trained, RandomPlayer(0)) >= 0.8
    assert win_rate(trained, load_action_source(str(early), Pong.spec, "Pong")) >= 0.8
    elo = [value for _, value in elo_curve(run)]
    assert len(elo) >= 15
    assert np.mean(elo[-5:]) > np.mean(elo[:3]) + 80  # the learner keeps beating its past selves


def test_resume_keeps_the_rating_and_the_snapshot_window(tmp_path: Path, mlx) -> None:
    config = tmp_path / "pong.yaml"
    config.write_text(textwrap.dedent(PPO.format(steps=20_000)))
    first = mlx("run", "pong.yaml", "--run-id", "r", timeout=300)
    assert first.returncode == 0, first.stderr
    before = self_play_state(checkpoints(tmp_path / "results" / "r")[-1])
    assert len(before["pool"]["snapshots"]) == 5 and before["pool"]["elo"] != 1200.0
    config.write_text(textwrap.dedent(PPO.format(steps=30_000)))
    second = mlx("run", "pong.yaml", "--run-id", "r", "--resume", timeout=300)
    assert second.returncode == 0, second.stderr
    restored = re.search(r"self_play_restored.*elo=(\S+).*snapshots=(\d+)", second.stderr)
    assert restored is not None, second.stderr
    assert float(restored[1]) == pytest.approx(before["pool"]["elo"], abs=0.05) and restored[2] == "5"
    after = self_play_state(checkpoints(tmp_path / "results" / "r")[-1])
    # snapshots at steps 20000, 24000 and 28000 join the window of 5: the two latest from before stay, in order
    assert [same(old, new) for old, new in zip(before["pool"]["snapshots"][3:], after["pool"]["snapshots"])] == [
        True
    ] * 2
    assert not any(same(before["pool"]["snapshots"][2], new) for new in after["pool"]["snapshots"])
    assert after["pool"]["games"] > before["pool"]["games"]


def test_self_play_wraps_sac_too(tmp_path: Path, mlx) -> None:
    (tmp_path / "sac.yaml").write_text(
        textwrap.dedent(
            """
            behaviors:
              Pong:
                trainer: sac
                hyperparameters: {batch_size: 64, buffer_size: 5000, buffer_init_steps: 300}
                network_settings: {hidden_units: 32, num_layers: 2}
                max_steps: 1200
                summary_freq: 400
                self_play: {save_steps: 300, swap_steps: 300, team_change: 600, window: 3}
            env_settings: {env: Pong, num_envs: 2, seed: 2}
            torch_settings: {device: cpu}
            """
        )
    )
    result = mlx("run", "sac.yaml", "--run-id", "sac", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "learning_team_changed" in result.stderr
    run = tmp_path / "results" / "sac"
    state = torch.load(checkpoints(run)[-1], weights_only=True)["state"]
    assert len(state["self_play"]["pool"]["snapshots"]) == 3 and state["self_play"]["pool"]["games"] > 0
    assert {"network", "optimizer", "steps_at_last_update"} <= set(state)  # SAC's own state, beside self-play's
    assert elo_curve(run)
    assert (run / "Pong" / "Pong.onnx").is_file()


def test_self_play_trains_on_a_simulator_served_over_grpc(tmp_path: Path, mlx) -> None:
    from tests.core.env.test_remote_server import Server

    server = Server(tmp_path, "Pong", "--num-envs", "4")
    try:
        (tmp_path / "grpc.yaml").write_text(textwrap.dedent(PPO.format(steps=4_000)))
        result = mlx("run", "grpc.yaml", "--run-id", "remote", "--env", f"grpc://{server.address}", timeout=300)
    finally:
        server.kill()
    assert result.returncode == 0, result.stderr
    state = self_play_state(checkpoints(tmp_path / "results" / "remote")[-1])
    assert state["pool"]["games"] > 0 and len(state["pool"]["snapshots"]) == 1  # save_steps 4000: the first one
