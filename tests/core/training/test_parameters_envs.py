"""The parameter protocol of gymnasium and PettingZoo envs: ``set_parameters`` on the env (found
through wrappers), ``parameter_names`` checked, and clear errors for envs without them."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import pytest
from gymnasium import spaces

from mlx_core.env.gymnasium import GymnasiumEnvironment
from mlx_core.errors import EnvError


class Reach(gymnasium.Env):
    """Ends an episode after ``length`` steps; ``length`` is a parameter applied at reset."""

    observation_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = spaces.Discrete(2)
    parameter_names = ("length",)

    def __init__(self) -> None:
        self.next_length = 3
        self.length = 3
        self.t = 0

    def set_parameters(self, parameters: dict[str, float]) -> None:
        """Keep the values for the next episode."""
        self.next_length = int(parameters["length"])

    def reset(self, *, seed: int | None = None, options: Any = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.length, self.t = self.next_length, 0
        return np.zeros(1, np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        return np.zeros(1, np.float32), 1.0, self.t >= self.length, False, {}


class Plain(Reach):
    """The same env without the protocol."""

    set_parameters = None  # type: ignore[assignment]
    parameter_names = None  # type: ignore[assignment]


def episode_length(env: GymnasiumEnvironment) -> int:
    from mlx_core.env.base import ActionTuple

    actions = ActionTuple(np.zeros((env._num_envs, 0), np.float32), np.zeros((env._num_envs, 1), np.int64))
    for t in range(1, 100):
        _, ended = env.step({env.name: actions})[env.name]
        if len(ended):
            return t
    raise AssertionError("no episode ended")


@pytest.mark.parametrize("copies", [1, 2])
def test_a_gymnasium_env_gets_its_parameters_from_the_next_episode(copies: int) -> None:
    env = GymnasiumEnvironment(f"{__name__}:Reach", copies)
    env.reset()
    env.set_parameters({"length": 6})
    assert episode_length(env) == 3  # the episode in flight keeps its length
    assert episode_length(env) == 6
    env.close()


def test_an_unknown_name_is_refused_with_the_names_the_env_knows() -> None:
    env = GymnasiumEnvironment(f"{__name__}:Reach", 1)
    with pytest.raises(EnvError, match="has no parameter gravity; its parameter_names are length"):
        env.set_parameters({"gravity": 1.0})


def test_an_env_without_set_parameters_says_how_to_add_it() -> None:
    env = GymnasiumEnvironment(f"{__name__}:Plain", 1)
    with pytest.raises(EnvError, match="has no set_parameters"):
        env.set_parameters({"length": 2})
    env.set_parameters({})  # nothing to send is no error
