"""The built-in Pong: two teams of one behavior, team ids through the environment API, worker
pools and a real ``mlx env serve`` over gRPC."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from mlx_core.config.loader import load_run_options
from mlx_core.env.base import ActionTuple, DecisionSteps, Environment, TerminalSteps
from mlx_core.env.builtin import Pong, make_one
from mlx_core.env.remote.codec import (
    ProtocolError,
    result_from_proto,
    result_to_proto,
    specs_from_proto,
    specs_to_proto,
)
from mlx_core.env.workers import make_pool
from mlx_core.errors import EnvError
from mlx_core.proto import mlx_env_pb2 as pb
from tests.core.env.test_remote_server import Server, connect

Player = Callable[[np.ndarray], np.ndarray]


def random_player(seed: int) -> Player:
    rng = np.random.default_rng(seed)
    return lambda obs: rng.integers(0, 3, len(obs))


def ball_follower(obs: np.ndarray) -> np.ndarray:
    """Move towards the ball's row: 0 down, 1 stay, 2 up."""
    return np.where(obs[:, 2] > obs[:, 0] + 1e-6, 2, np.where(obs[:, 2] < obs[:, 0] - 1e-6, 0, 1))


def play(env: Environment, team0: Player, team1: Player, games: int) -> np.ndarray:
    """Team 0's results (1 win, 0.5 draw, 0 loss) of the first ``games`` games."""
    results: list[float] = []
    decisions, _ = env.reset()["Pong"]
    while len(results) < games:
        teams = decisions.teams()
        choices = np.where(teams == 0, team0(decisions.obs[0]), team1(decisions.obs[0]))
        actions = ActionTuple(np.zeros((len(decisions), 0), np.float32), choices.reshape(-1, 1).astype(np.int64))
        decisions, terminals = env.step({"Pong": actions})["Pong"]
        for team, reward, interrupted in zip(terminals.teams(), terminals.reward, terminals.interrupted):
            if team == 0:
                results.append(0.5 if interrupted else float(reward > 0))
    return np.asarray(results[:games])


def test_every_copy_holds_one_agent_of_each_team() -> None:
    env = Pong(3, seed=0)
    assert env.specs["Pong"].num_teams == 2
    decisions, terminals = env.reset()["Pong"]
    assert decisions.agent_id.tolist() == [0, 1, 2, 3, 4, 5]
    assert decisions.teams().tolist() == [0, 1, 0, 1, 0, 1]
    assert len(terminals) == 0


def test_a_point_ends_both_agents_episodes_with_opposite_rewards() -> None:
    env = Pong(64, seed=1)
    env.reset()
    stay = np.ones((128, 1), np.int64)
    for _ in range(20):
        _, terminals = env.step({"Pong": ActionTuple(np.zeros((128, 0), np.float32), stay)})["Pong"]
        if len(terminals):
            break
    decided = ~terminals.interrupted
    assert decided.any()
    assert terminals.teams().tolist() == [0, 1] * (len(terminals) // 2)
    pairs = terminals.reward.reshape(-1, 2)[decided.reshape(-1, 2)[:, 0]]
    assert np.allclose(pairs.sum(axis=1), 0.0) and set(np.abs(pairs).ravel().tolist()) == {1.0}


def test_random_players_win_about_as_often_as_each_other() -> None:
    results = play(Pong(32, seed=2), random_player(0), random_player(1), games=1000)
    assert 0.4 < results.mean() < 0.6


def test_a_ball_follower_beats_a_random_player() -> None:
    results = play(Pong(32, seed=3), ball_follower, random_player(2), games=500)
    assert (results == 1.0).mean() > 0.9


def test_team_ids_survive_a_pool_of_copies() -> None:
    options = load_run_options(None, {"env_settings": {"env": "Pong", "num_envs": 2}})
    env = make_pool(options, 2, 5, functools.partial(make_one, "Pong", {}))
    try:
        decisions, _ = env.reset()["Pong"]
        assert decisions.teams().tolist() == [0, 1, 0, 1]
        results = play(env, ball_follower, random_player(3), games=20)
        assert (results == 1.0).mean() > 0.8
    finally:
        env.close()


def test_team_ids_and_team_counts_travel_in_protocol_messages() -> None:
    specs = specs_from_proto(specs_to_proto({"Pong": Pong.spec}))
    assert specs["Pong"].num_teams == 2
    obs = [np.zeros((2, 6), np.float32)]
    result = {
        "Pong": (
            DecisionSteps(obs, np.zeros(2, np.float32), np.array([4, 5]), team_id=np.array([1, 0])),
            TerminalSteps(obs, np.ones(2, np.float32), np.array([6, 7]), np.zeros(2, bool), team_id=np.array([0, 1])),
        )
    }
    decoded, _ = result_from_proto(result_to_proto(result), specs)
    decisions, terminals = decoded["Pong"]
    assert decisions.team_id is not None and decisions.team_id.tolist() == [1, 0]
    assert terminals.team_id is not None and terminals.team_id.tolist() == [0, 1]


def test_a_team_id_outside_the_declared_teams_is_a_protocol_error() -> None:
    message = result_to_proto(
        {
            "Pong": (
                DecisionSteps(
                    [np.zeros((1, 6), np.float32)], np.zeros(1, np.float32), np.array([0]), team_id=np.array([2])
                ),
                TerminalSteps.empty(Pong.spec),
            )
        }
    )
    with pytest.raises(ProtocolError, match="team_id holds \\[2\\].*2 team"):
        result_from_proto(message, {"Pong": Pong.spec})


def test_a_simulator_without_teams_reads_as_one_team() -> None:
    spec = specs_from_proto(
        [
            pb.BehaviorSpec(
                name="Solo", observations=[pb.ObservationSpec(shape=[2])], actions=pb.ActionSpec(discrete_branches=[2])
            )
        ]
    )
    assert spec["Solo"].num_teams == 1


def test_pong_served_over_grpc_keeps_its_teams(tmp_path: Path) -> None:
    server = Server(tmp_path, "Pong", "--num-envs", "2")
    try:
        env = connect(server)
        try:
            assert env.specs["Pong"].num_teams == 2
            decisions, _ = env.reset()["Pong"]
            assert decisions.teams().tolist() == [0, 1, 0, 1]
            results = play(env, ball_follower, random_player(4), games=10)
            assert (results == 1.0).mean() >= 0.8
        finally:
            env.close()
    finally:
        server.kill()


def test_an_unknown_parameter_is_refused() -> None:
    with pytest.raises(EnvError, match="'Pong' has no parameter speed; its parameters are height, length"):
        Pong(1).set_parameters({"speed": 2.0})
