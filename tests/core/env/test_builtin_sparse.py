"""The sparse corridor: only the far end pays, a random walk rarely gets there, parameters apply."""

from __future__ import annotations

import numpy as np
import pytest

from mlx_core.config.settings import EnvSettings, RunOptions
from mlx_core.env.base import ActionTuple, Environment
from mlx_core.env.builtin import BUILTIN_ENVS, make_builtin
from mlx_core.env.builtin.sparse import CELLS, SparseCorridor


def run(env: Environment, choose_right: float, steps: int, seed: int = 0) -> tuple[list[float], list[int], list[bool]]:
    """Step ``env`` moving right with probability ``choose_right``; the finished episodes'
    returns, lengths and interrupted flags."""
    rng = np.random.default_rng(seed)
    decisions, _ = env.reset()["SparseCorridor"]
    n = len(decisions)
    running, length = np.zeros(n), np.zeros(n, np.int64)
    returns, lengths, interrupted = [], [], []
    for _ in range(steps):
        moves = (rng.random((n, 1)) < choose_right).astype(np.int64)
        decisions, terminal = env.step({"SparseCorridor": ActionTuple(np.zeros((n, 0), np.float32), moves)})[
            "SparseCorridor"
        ]
        length += 1
        ended = terminal.agent_id
        returns += (running[ended] + terminal.reward).tolist()
        lengths += length[ended].tolist()
        interrupted += terminal.interrupted.tolist()
        running[ended], length[ended] = 0.0, 0
        running[decisions.agent_id] += decisions.reward
    return returns, lengths, interrupted


def test_walking_right_reaches_the_goal_at_distance_steps() -> None:
    returns, lengths, interrupted = run(SparseCorridor(4, seed=0), choose_right=1.0, steps=100)
    assert returns and all(r == 1.0 for r in returns)
    assert set(lengths) == {28} and not any(interrupted)


def test_random_walk_rarely_reaches_the_goal() -> None:
    returns, lengths, interrupted = run(SparseCorridor(64, seed=0), choose_right=0.5, steps=64 * 40)
    assert len(returns) >= 64 * 39
    # about 0.07% of 64-step random walks reach cell 28 (a walk's spread is sqrt(64) = 8 cells)
    assert np.mean(returns) < 0.005
    assert set(returns) <= {0.0, 1.0}
    # episodes without the goal run to the step limit and are interrupted, not terminal
    assert all(i == (r == 0.0) for r, i in zip(returns, interrupted))
    assert all(length == 64 for r, length in zip(returns, lengths) if r == 0.0)


def test_observation_is_the_cell_one_hot_and_the_wall_holds() -> None:
    env = SparseCorridor(2, seed=0)
    decisions, _ = env.reset()["SparseCorridor"]
    assert decisions.obs[0].shape == (2, CELLS) and decisions.obs[0].dtype == np.float32
    assert decisions.obs[0][:, 0].tolist() == [1.0, 1.0]
    step = env.step({"SparseCorridor": ActionTuple(np.zeros((2, 0), np.float32), np.array([[0], [1]]))})
    obs = step["SparseCorridor"][0].obs[0]
    assert obs.sum(axis=1).tolist() == [1.0, 1.0]
    assert np.argmax(obs, axis=1).tolist() == [0, 1]  # left at the wall stays in cell 0
    assert step["SparseCorridor"][0].reward.tolist() == [0.0, 0.0]


@pytest.mark.parametrize(
    ("args", "distance", "limit"), [(["distance=5", "max_steps=8"], 5, 8), (["distance=99"], CELLS - 1, 64)]
)
def test_env_args_set_distance_and_step_limit(args: list[str], distance: int, limit: int) -> None:
    options = RunOptions(env_settings=EnvSettings(env="SparseCorridor", env_args=args, executor="inline"))
    env = make_builtin("SparseCorridor", options=options, num_envs=3, seed=1)
    _, lengths, _ = run(env, choose_right=1.0, steps=3 * distance)
    assert set(lengths) == {distance}
    returns, lengths, _ = run(env, choose_right=0.0, steps=2 * limit)
    assert set(lengths) == {limit} and set(returns) == {0.0}


def test_is_registered_as_a_builtin() -> None:
    assert BUILTIN_ENVS["SparseCorridor"] is SparseCorridor
