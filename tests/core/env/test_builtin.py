"""Built-in numpy tasks: scripted policies reach their returns, masks matter, episodes vary."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from mlx_core.config.settings import EnvSettings, RunOptions
from mlx_core.env.base import ActionTuple, DecisionSteps, Environment
from mlx_core.env.builtin import BUILTIN_ENVS, accepts, make_builtin
from mlx_core.env.builtin.goal import Goal1DDiscrete
from mlx_core.env.builtin.masked import MaskedGrid
from mlx_core.errors import EnvError

Policy = Callable[[DecisionSteps], ActionTuple]


def actions(
    continuous: np.ndarray | None = None, discrete: np.ndarray | None = None
) -> ActionTuple:
    rows = continuous if continuous is not None else discrete
    assert rows is not None
    n = len(rows)
    return ActionTuple(
        continuous=np.zeros((n, 0), np.float32)
        if continuous is None
        else continuous.astype(np.float32),
        discrete=np.zeros((n, 0), np.int64) if discrete is None else discrete.astype(np.int64),
    )


def episode_returns(env: Environment, policy: Policy, steps: int) -> tuple[list[float], list[bool]]:
    """Run ``policy`` for ``steps`` steps; finished episodes' returns and interrupted flags."""
    (name,) = env.specs
    decisions, _ = env.reset()[name]
    running = np.zeros(len(decisions))
    returns, interrupted = [], []
    for _ in range(steps):
        decisions, terminal = env.step({name: policy(decisions)})[name]
        returns += (running[terminal.agent_id] + terminal.reward).tolist()
        interrupted += terminal.interrupted.tolist()
        running[terminal.agent_id] = 0.0
        running[decisions.agent_id] += decisions.reward
    return returns, interrupted


def goal_seeker(decisions: DecisionSteps) -> ActionTuple:
    """Optimal Goal1D policy: move toward the goal sign, in both action forms."""
    goal = decisions.obs[0][:, 1:2]
    return actions(continuous=goal, discrete=goal + 1)


def grid_walker(decisions: DecisionSteps) -> ActionTuple:
    """Optimal MaskedGrid policy: close the x gap, then the y gap; asserts moves are allowed."""
    obs = decisions.obs[0] * 4  # back to cells on the default 5x5 grid
    dx, dy = np.round(obs[:, 2] - obs[:, 0]), np.round(obs[:, 3] - obs[:, 1])
    move = np.where(dx > 0, 2, np.where(dx < 0, 3, np.where(dy > 0, 0, 1)))
    assert decisions.action_mask is not None
    assert decisions.action_mask[np.arange(len(move)), move].all()
    return actions(discrete=move[:, None])


def uniform(rng: np.random.Generator) -> Policy:
    """A random policy that ignores action masks."""

    def policy(decisions: DecisionSteps) -> ActionTuple:
        n = len(decisions)
        return actions(continuous=rng.uniform(-1, 1, (n, 1)), discrete=rng.integers(0, 3, (n, 1)))

    return policy


def test_each_task_is_one_behavior_named_after_it():
    for name, factory in BUILTIN_ENVS.items():
        env = factory(4, 0, {})
        assert list(env.specs) == [name]
        decisions, terminal = env.reset()[name]
        agents = 4 * env.specs[name].num_teams  # a competitive task has an agent per team in each copy
        assert decisions.agent_id.tolist() == list(range(agents))
        assert decisions.obs[0].dtype == np.float32
        assert decisions.obs[0].shape == (agents, *env.specs[name].observation_specs[0].shape)
        assert len(terminal) == 0


@pytest.mark.parametrize("name", ["Goal1DDiscrete", "Goal1DContinuous"])
def test_goal_seeking_policy_reaches_the_optimal_return_and_random_does_not(name):
    env = BUILTIN_ENVS[name](16, 0, {})
    returns, interrupted = episode_returns(env, goal_seeker, 100)
    assert np.mean(returns) == pytest.approx(0.96) and not any(interrupted)
    random_returns, _ = episode_returns(env, uniform(np.random.default_rng(0)), 300)
    assert np.mean(random_returns) < 0.3


def test_masked_grid_policy_that_respects_the_mask_reaches_the_goal():
    returns, interrupted = episode_returns(MaskedGrid(32, 0), grid_walker, 100)
    assert len(returns) > 200 and not any(interrupted)
    assert min(returns) >= 0.92 and np.mean(returns) > 0.9


def test_masked_grid_taking_a_masked_move_ends_the_episode_with_minus_one():
    env = MaskedGrid(64, 1)
    decisions, _ = env.reset()["MaskedGrid"]
    blocked = ~decisions.action_mask.all(axis=1)  # agents on an edge have a masked move
    move = np.where(blocked, np.argmin(decisions.action_mask, axis=1), 0)
    _, terminal = env.step({"MaskedGrid": actions(discrete=move[:, None])})["MaskedGrid"]
    hit = np.isin(np.flatnonzero(blocked), terminal.agent_id)
    assert blocked.any() and hit.all()
    by_agent = dict(zip(terminal.agent_id.tolist(), terminal.reward.tolist(), strict=True))
    assert all(by_agent[agent] == -1.0 for agent in np.flatnonzero(blocked))
    assert not terminal.interrupted[np.isin(terminal.agent_id, np.flatnonzero(blocked))].any()


def test_masked_grid_random_policy_ignoring_the_mask_mostly_fails():
    rng = np.random.default_rng(0)

    def policy(decisions: DecisionSteps) -> ActionTuple:
        return actions(discrete=rng.integers(0, 4, (len(decisions), 1)))

    returns, _ = episode_returns(MaskedGrid(32, 0), policy, 100)
    assert np.mean(np.array(returns) <= -1.0) > 0.5  # ended by a masked move


def test_agents_finish_at_different_times_and_restart_in_the_same_step():
    env = BUILTIN_ENVS["Goal1DContinuous"](8, 0, {})
    policy = uniform(np.random.default_rng(0))
    decisions, _ = env.reset()["Goal1DContinuous"]
    partial_steps = 0
    for _ in range(60):
        decisions, terminal = env.step({"Goal1DContinuous": policy(decisions)})["Goal1DContinuous"]
        partial_steps += 0 < len(terminal) < 8
        restarted = terminal.agent_id
        assert np.isin(restarted, decisions.agent_id).all()
        assert (decisions.reward[restarted] == 0).all()
        assert (decisions.obs[0][restarted, 0] == 0).all()  # the next episode starts at x = 0
    assert partial_steps > 5


def test_episode_reaching_max_steps_is_interrupted():
    env = Goal1DDiscrete(3, 0)
    env.reset()
    stay = actions(discrete=np.ones((3, 1)))
    for _ in range(30):
        _, terminal = env.step({"Goal1DDiscrete": stay})["Goal1DDiscrete"]
    assert terminal.interrupted.tolist() == [True, True, True]
    assert terminal.reward.tolist() == pytest.approx([-0.01] * 3)


# SparseCorridor has nothing random in it: every episode starts in cell 0 and moves go where
# the policy sends them (tests/core/env/test_builtin_sparse.py covers it)
@pytest.mark.parametrize("name", [name for name in BUILTIN_ENVS if name != "SparseCorridor"])
def test_same_seed_gives_the_same_episodes(name):
    def trajectory(seed: int) -> list[float]:
        env = BUILTIN_ENVS[name](8, seed, {})
        returns, _ = episode_returns(env, uniform(np.random.default_rng(0)), 50)
        return returns

    assert trajectory(5) == trajectory(5)
    assert trajectory(5) != trajectory(6)


def test_parameters_apply_at_the_next_episode():
    env = Goal1DDiscrete(2, 0)
    decisions, _ = env.reset()["Goal1DDiscrete"]
    env.set_parameters({"step_size": 0.5})
    lengths = []
    for step in range(1, 10):
        decisions, terminal = env.step({"Goal1DDiscrete": goal_seeker(decisions)})["Goal1DDiscrete"]
        lengths += [step] * len(terminal)
    assert lengths[:2] == [5, 5]  # the running episodes keep step_size 0.2
    assert lengths[2:4] == [7, 7]  # the next ones take two steps of 0.5


def test_make_builtin_reads_parameters_from_env_args():
    options = RunOptions(env_settings=EnvSettings(env_args=["max_steps=3"]))
    env = make_builtin("Goal1DDiscrete", options, num_envs=2, seed=0)
    env.reset()
    for _ in range(3):
        _, terminal = env.step({"Goal1DDiscrete": actions(discrete=np.ones((2, 1)))})[
            "Goal1DDiscrete"
        ]
    assert terminal.interrupted.tolist() == [True, True]


def test_unknown_names_and_parameters_are_env_errors():
    assert accepts("MaskedGrid") and not accepts("CartPole-v1")
    with pytest.raises(EnvError, match="Goal1DDiscrete, Goal1DContinuous, MaskedGrid"):
        make_builtin("Goal2D", RunOptions(), num_envs=1, seed=0)
    bad = RunOptions(env_settings=EnvSettings(env_args=["speed=2"]))
    with pytest.raises(
        EnvError, match="no parameter speed; its parameters are step_size, max_steps"
    ):
        make_builtin("Goal1DDiscrete", bad, num_envs=1, seed=0)
