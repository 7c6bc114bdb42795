"""The gymnasium adapter: specs, action rescaling, terminal + decision steps, errors."""

from __future__ import annotations

import functools
import importlib
import textwrap

import gymnasium
import numpy as np
import pytest

from mlx_core.config.settings import EnvSettings, RunOptions
from mlx_core.env.base import ActionTuple
from mlx_core.env.gymnasium import GymnasiumEnvironment, SingleCopy, accepts, make_gymnasium, parse_env_args
from mlx_core.errors import EnvError

TINY_ENV = '''
import gymnasium
import numpy as np
from gymnasium import spaces


class Counter(gymnasium.Env):
    """Observes [steps, last action]; terminates after ``length`` steps with reward 1 each."""

    def __init__(self, length=3):
        self.length = length
        self.observation_space = spaces.Box(-np.inf, np.inf, (3,), np.float32)
        self.action_space = spaces.MultiDiscrete([3, 2])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.steps = 0
        return np.zeros(3, np.float32), {}

    def step(self, action):
        self.steps += 1
        obs = np.array([self.steps, *action], np.float32)
        return obs, 1.0, self.steps >= self.length, False, {}
'''


@pytest.fixture
def tiny_module(tmp_path, monkeypatch) -> str:
    """An importable module holding a MultiDiscrete gymnasium.Env subclass, ``Counter``."""
    (tmp_path / "mlx_tiny_env.py").write_text(textwrap.dedent(TINY_ENV))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "mlx_tiny_env"


def options(*env_args: str) -> RunOptions:
    return RunOptions(env_settings=EnvSettings(env_args=list(env_args)))


def discrete(*rows: list[int]) -> ActionTuple:
    return ActionTuple(
        continuous=np.zeros((len(rows), 0), np.float32), discrete=np.array(rows, np.int64)
    )


def test_cartpole_has_box_observation_and_one_discrete_branch():
    env = GymnasiumEnvironment("CartPole-v1", num_envs=3)
    spec = env.specs["CartPole-v1"]
    assert spec.observation_specs[0].shape == (4,)
    assert spec.action_spec.discrete_branches == (2,)
    assert spec.action_spec.continuous_size == 0
    decisions, terminal = env.reset()["CartPole-v1"]
    assert decisions.obs[0].shape == (3, 4) and decisions.obs[0].dtype == np.float32
    assert decisions.agent_id.tolist() == [0, 1, 2] and decisions.agent_id.dtype == np.int64
    assert len(terminal) == 0
    decisions, _ = env.step({"CartPole-v1": discrete([0], [1], [0])})["CartPole-v1"]
    assert decisions.reward.tolist() == [1.0, 1.0, 1.0]
    env.close()


def test_pendulum_continuous_actions_are_rescaled_to_the_box_bounds():
    env = GymnasiumEnvironment("Pendulum-v1", num_envs=3)
    assert env.specs["Pendulum-v1"].action_spec.continuous_size == 1
    env.reset()
    actions = ActionTuple(
        continuous=np.array([[1.0], [-0.5], [3.0]], np.float32), discrete=np.zeros((3, 0), np.int64)
    )
    env.step({"Pendulum-v1": actions})
    torques = [copy.unwrapped.last_u for copy in env.vector_env.envs]  # Box bounds are [-2, 2]
    assert torques == pytest.approx([2.0, -1.0, 2.0])


def test_module_class_target_gives_multidiscrete_branches(tiny_module):
    env = GymnasiumEnvironment(f"{tiny_module}:Counter", num_envs=2)
    assert list(env.specs) == ["Counter"]
    assert env.specs["Counter"].action_spec.discrete_branches == (3, 2)
    env.reset()
    decisions, _ = env.step({"Counter": discrete([2, 1], [0, 1])})["Counter"]
    assert decisions.obs[0].tolist() == [[1, 2, 1], [1, 0, 1]]


def test_finished_copy_is_terminal_and_asks_for_its_next_decision_in_the_same_step(tiny_module):
    env = make_gymnasium(f"{tiny_module}:Counter", options("length=2"), num_envs=2, seed=-1)
    env.reset()
    env.step({"Counter": discrete([1, 0], [1, 0])})
    decisions, terminal = env.step({"Counter": discrete([2, 1], [1, 1])})["Counter"]
    assert terminal.agent_id.tolist() == [0, 1]
    assert terminal.obs[0].tolist() == [[2, 2, 1], [2, 1, 1]]  # the final observations
    assert terminal.reward.tolist() == [1.0, 1.0]
    assert terminal.interrupted.tolist() == [False, False]
    assert decisions.agent_id.tolist() == [0, 1]
    assert decisions.obs[0].tolist() == [[0, 0, 0], [0, 0, 0]]  # the next episodes' first
    assert decisions.reward.tolist() == [0.0, 0.0]


def test_time_limit_truncation_is_reported_as_interrupted():
    env = make_gymnasium("CartPole-v1", options("max_episode_steps=5"), num_envs=3, seed=0)
    env.reset()
    for step in range(5):
        decisions, terminal = env.step({"CartPole-v1": discrete(*[[step % 2]] * 3)})["CartPole-v1"]
        assert len(terminal) == (3 if step == 4 else 0)
    assert terminal.interrupted.tolist() == [True, True, True]
    assert terminal.reward.tolist() == [1.0, 1.0, 1.0]
    assert not np.allclose(terminal.obs[0], decisions.obs[0])


@pytest.mark.parametrize(
    ("target", "env_args", "steps"),
    [("Pendulum-v1", ["max_episode_steps=7"], 20), ("FrozenLake-v1", [], 60), ("tiny:Counter", [], 10)],
)
def test_one_copy_steps_exactly_like_a_one_copy_vector_env(target, env_args, steps, tiny_module):
    """One copy skips gymnasium's vector env; the results are the ones the vector env gives:
    seeded resets, rescaled actions, terminal steps with the last observation, interrupted
    flags, the next episode's first observation in the same step."""
    target = target.replace("tiny", tiny_module)
    fast = make_gymnasium(target, options(*env_args), num_envs=1, seed=5)
    reference = make_gymnasium(target, options(*env_args), num_envs=1, seed=5)
    reference.vector_env.close()
    kwargs = parse_env_args(env_args, target)
    if ":" in target:  # module:Class
        module, _, cls = target.partition(":")
        make = functools.partial(getattr(importlib.import_module(module), cls), **kwargs)
    else:
        make = functools.partial(gymnasium.make, target, **kwargs)
    reference.vector_env = gymnasium.vector.SyncVectorEnv([make], autoreset_mode=gymnasium.vector.AutoresetMode.SAME_STEP)
    assert isinstance(fast.vector_env, SingleCopy)
    (name, spec), = fast.specs.items()
    rng = np.random.default_rng(0)
    results = [(fast.reset()[name], reference.reset()[name])]
    for _ in range(steps):
        branches = spec.action_spec.discrete_branches
        action = ActionTuple(
            continuous=rng.uniform(-1.5, 1.5, (1, spec.action_spec.continuous_size)).astype(np.float32),
            discrete=np.array([[rng.integers(b) for b in branches]], np.int64).reshape(1, len(branches)),
        )
        results.append((fast.step({name: action})[name], reference.step({name: action})[name]))
    ended = 0
    for (decisions, terminal), (ref_decisions, ref_terminal) in results:
        for got, expected in ((decisions, ref_decisions), (terminal, ref_terminal)):
            for field in ("obs", "reward", "agent_id"):
                a, b = getattr(got, field), getattr(expected, field)
                for x, y in zip(a, b) if field == "obs" else [(a, b)]:
                    assert x.dtype == y.dtype and x.shape == y.shape
                    np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(terminal.interrupted, ref_terminal.interrupted)
        ended += len(terminal)
    assert ended >= 2  # episodes ended (by a time limit or by the task) along the way


def test_discrete_observations_become_one_hot_vectors():
    env = GymnasiumEnvironment("FrozenLake-v1", num_envs=2)
    assert env.specs["FrozenLake-v1"].observation_specs[0].shape == (16,)
    decisions, _ = env.reset()["FrozenLake-v1"]
    assert decisions.obs[0].dtype == np.float32
    assert decisions.obs[0].tolist() == [[1.0] + [0.0] * 15] * 2


def test_seed_makes_the_next_reset_repeatable():
    env = GymnasiumEnvironment("CartPole-v1", num_envs=2)
    env.seed(3)
    first = env.reset()["CartPole-v1"][0].obs[0]
    env.seed(3)
    again = env.reset()["CartPole-v1"][0].obs[0]
    unseeded = env.reset()["CartPole-v1"][0].obs[0]
    assert np.array_equal(first, again)
    assert not np.array_equal(first, unseeded)


def test_unknown_id_suggests_close_matches():
    with pytest.raises(EnvError, match="Did you mean CartPole-v1"):
        GymnasiumEnvironment("CartPol-v1")


def test_unsupported_space_names_the_env_and_the_space():
    with pytest.raises(EnvError, match=r"'Blackjack-v1' has observation space Tuple\("):
        GymnasiumEnvironment("Blackjack-v1")


def test_bad_env_args_raise_env_error():
    with pytest.raises(EnvError, match="key=value"):
        make_gymnasium("CartPole-v1", options("max_episode_steps"), num_envs=1, seed=-1)
    with pytest.raises(EnvError, match="no_such_argument"):
        make_gymnasium("CartPole-v1", options("no_such_argument=1"), num_envs=1, seed=-1)


def test_module_target_without_an_env_class_is_an_env_error(tiny_module):
    with pytest.raises(EnvError, match=r"gymnasium\.Env subclass"):
        GymnasiumEnvironment(f"{tiny_module}:Nothing")
    with pytest.raises(EnvError, match="Cannot import module"):
        GymnasiumEnvironment("no_such_module_xyz:Counter")


def test_accepts_registered_ids_and_module_targets():
    assert accepts("CartPole-v1")
    assert accepts("my_pkg.envs:MyEnv")
    assert not accepts("Goal1DDiscrete")
    assert not accepts("grpc://localhost:5005")
    assert not accepts("./build/MyGame.x86_64")


class TinyImageEnv(gymnasium.Env):
    """A 4x4x3 uint8 image observation, constant 255: the adapter must scale it to 1.0."""

    observation_space = gymnasium.spaces.Box(0, 255, (4, 4, 3), np.uint8)
    action_space = gymnasium.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.full((4, 4, 3), 255, np.uint8), {}

    def step(self, action):
        return np.full((4, 4, 3), 255, np.uint8), 0.0, False, False, {}


def test_uint8_images_are_scaled_to_unit_range() -> None:
    env = GymnasiumEnvironment("tests.core.env.test_gymnasium:TinyImageEnv", num_envs=2)
    decisions, _ = env.reset()["TinyImageEnv"]
    assert decisions.obs[0].dtype == np.float32
    np.testing.assert_allclose(decisions.obs[0], 1.0)
    env.close()
