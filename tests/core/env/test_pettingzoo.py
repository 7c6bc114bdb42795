"""The PettingZoo adapter on real PettingZoo envs: grouping, episodes, masks, errors."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
from mpe2 import simple_adversary_v3

from mlx_core.config.settings import EnvSettings, RunOptions
from mlx_core.env.base import ActionTuple
from mlx_core.env.pettingzoo import PettingZooEnvironment, accepts, behavior_name, make_one, make_pettingzoo
from mlx_core.errors import EnvError

ADVERSARY = "mpe2.simple_adversary_v3"

# A small real PettingZoo ParallelEnv whose behavior every test can predict. Players end
# (terminated) after ``lengths[i]`` steps, the judge is truncated after ``judge_length`` (by
# default the longest); rewards encode the step and the action each agent received, so a
# test can tell rows apart.
RELAY_ENV = '''
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv


class Relay(ParallelEnv):
    metadata = {"name": "relay_v0"}

    def __init__(self, lengths=(2, 4), judge_length=None, info_masks=False, mismatch=False, judge_box=False):
        self.lengths = lengths
        self.judge_length = judge_length or max(lengths)
        self.info_masks = info_masks
        self.possible_agents = ["player_0", "player_1", "judge"]
        box = spaces.Box(-np.inf, np.inf, (2,), np.float32)
        player_obs = box if info_masks else spaces.Dict(
            {"observation": box, "action_mask": spaces.Box(0, 1, (3,), np.int8)}
        )
        self._obs = {"player_0": player_obs, "player_1": player_obs, "judge": box}
        if mismatch:
            self._obs["player_1"] = spaces.Box(-np.inf, np.inf, (3,), np.float32)
        self._act = {"player_0": spaces.Discrete(3), "player_1": spaces.Discrete(3),
                     "judge": spaces.MultiDiscrete([2, 3])}
        if judge_box:
            self._act["judge"] = spaces.Box(np.array([0, -2], np.float32), np.array([1, 2], np.float32))
        self.received = []

    def observation_space(self, agent):
        return self._obs[agent]

    def action_space(self, agent):
        return self._act[agent]

    def _observe(self, agent, last):
        obs = np.array([self.steps, last], np.float32)
        if agent == "judge" or self.info_masks:
            return obs
        return {"observation": obs, "action_mask": self._mask()}

    def _mask(self):
        mask = np.ones(3, np.int8)
        mask[self.steps % 3] = 0
        return mask

    def _infos(self):
        if not self.info_masks:
            return {a: {} for a in self.agents}
        return {a: ({} if a == "judge" else {"action_mask": self._mask()}) for a in self.agents}

    def reset(self, seed=None, options=None):
        self.steps = 0
        self.agents = list(self.possible_agents)
        return {a: self._observe(a, -1) for a in self.agents}, self._infos()

    def step(self, actions):
        assert set(actions) == set(self.agents), (sorted(actions), self.agents)
        self.received.append(dict(actions))
        self.steps += 1
        obs, rewards, terms, truncs = {}, {}, {}, {}
        for agent, action in actions.items():
            last = float(np.sum(action))
            obs[agent] = self._observe(agent, last)
            rewards[agent] = 10.0 * self.steps + last
            if agent == "judge":
                terms[agent], truncs[agent] = False, self.steps >= self.judge_length
            else:
                terms[agent], truncs[agent] = self.steps >= self.lengths[int(agent[-1])], False
        self.agents = [a for a in self.agents if not (terms[a] or truncs[a])]
        return obs, rewards, terms, truncs, self._infos()


def parallel_env(**kwargs):
    return Relay(**kwargs)
'''


@pytest.fixture
def relay(tmp_path, monkeypatch) -> str:
    """The module name of an importable module holding the ``Relay`` parallel env."""
    (tmp_path / "mlx_relay_env.py").write_text(textwrap.dedent(RELAY_ENV))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "mlx_relay_env"


def discrete(rows: list[list[int]] | np.ndarray) -> ActionTuple:
    array = np.asarray(rows, np.int64).reshape(len(rows), -1)
    return ActionTuple(continuous=np.zeros((len(array), 0), np.float32), discrete=array)


def random_actions(result, rng: np.random.Generator, n: int = 5) -> dict[str, ActionTuple]:
    return {name: discrete(rng.integers(0, n, (len(d), 1))) for name, (d, _) in result.items()}


def test_behavior_names_are_the_agent_names_before_the_last_underscore():
    assert behavior_name("adversary_0") == "adversary"
    assert behavior_name("blue_team_12") == "blue_team"
    assert behavior_name("judge") == "judge"
    assert behavior_name("_0") == "_0"
    assert not accepts("mpe2.simple_adversary_v3")  # the pettingzoo: prefix is required


def test_simple_adversary_has_two_behaviors_with_their_own_spaces():
    env = PettingZooEnvironment(ADVERSARY)
    assert set(env.specs) == {"adversary", "agent"}
    assert env.specs["adversary"].observation_specs[0].shape == (8,)
    assert env.specs["agent"].observation_specs[0].shape == (10,)
    for spec in env.specs.values():
        assert spec.action_spec.discrete_branches == (5,) and spec.action_spec.continuous_size == 0
    result = env.reset()
    assert {name: len(d) for name, (d, _) in result.items()} == {"adversary": 1, "agent": 2}
    assert result["agent"][0].agent_id.tolist() == [0, 1]
    assert result["agent"][0].obs[0].dtype == np.float32
    assert all(len(t) == 0 for _, t in result.values())
    env.close()


def test_an_episode_matches_the_raw_env_and_ends_every_agent_once_at_max_cycles():
    env = PettingZooEnvironment(ADVERSARY, {"max_cycles": 25})
    raw = simple_adversary_v3.parallel_env(max_cycles=25)
    env.seed(7)
    result = env.reset()
    raw_obs, _ = raw.reset(seed=7)
    rng = np.random.default_rng(0)
    ended: list[tuple[str, int]] = []
    for t in range(25):
        for name, (decisions, _) in result.items():
            for row, agent in enumerate(decisions.agent_id.tolist()):
                np.testing.assert_array_equal(decisions.obs[0][row], raw_obs[f"{name}_{agent}"])
        actions = random_actions(result, rng)
        raw_actions = {
            f"{name}_{agent}": int(action)
            for name, (decisions, _) in result.items()
            for agent, action in zip(decisions.agent_id.tolist(), actions[name].discrete[:, 0].tolist())
        }
        result = env.step(actions)
        raw_obs, raw_rewards, _, raw_truncations, _ = raw.step(raw_actions)
        for name, (decisions, terminal) in result.items():
            assert decisions.reward.dtype == np.float32 and terminal.reward.dtype == np.float32
            ended += [(name, agent) for agent in terminal.agent_id.tolist()]
            if t < 24:
                assert len(terminal) == 0
                expected = [raw_rewards[f"{name}_{agent}"] for agent in decisions.agent_id.tolist()]
                np.testing.assert_allclose(decisions.reward, expected, rtol=1e-6)
            else:  # max_cycles: everyone is truncated and the copy restarts in the same call
                assert terminal.interrupted.all()
                for row, agent in enumerate(terminal.agent_id.tolist()):
                    assert raw_truncations[f"{name}_{agent}"]
                    np.testing.assert_array_equal(terminal.obs[0][row], raw_obs[f"{name}_{agent}"])
                    assert terminal.reward[row] == pytest.approx(raw_rewards[f"{name}_{agent}"], rel=1e-6)
                assert sorted(decisions.agent_id.tolist()) == sorted(terminal.agent_id.tolist())
                assert (decisions.reward == 0).all()  # the first decision of the new episode
                assert not np.array_equal(decisions.obs[0], terminal.obs[0])
    assert sorted(ended) == [("adversary", 0), ("agent", 0), ("agent", 1)]
    # The next decisions belong to the new episode: everyone acts again and earns rewards.
    result = env.step(random_actions(result, rng))
    assert {name: len(d) for name, (d, _) in result.items()} == {"adversary": 1, "agent": 2}
    assert all(len(t) == 0 for _, t in result.values())
    assert all((d.reward != 0).any() for d, _ in result.values())
    env.close()


def test_seed_makes_the_next_reset_reproducible():
    first, second = PettingZooEnvironment(ADVERSARY), PettingZooEnvironment(ADVERSARY)
    first.seed(3)
    second.seed(3)
    a, b = first.reset()["agent"][0].obs[0], second.reset()["agent"][0].obs[0]
    np.testing.assert_array_equal(a, b)
    second.seed(4)
    assert not np.array_equal(a, second.reset()["agent"][0].obs[0])


def test_continuous_actions_give_a_continuous_spec():
    env = make_one(ADVERSARY, {"continuous_actions": True, "max_cycles": 3}, seed=1)
    assert isinstance(env, PettingZooEnvironment)
    for spec in env.specs.values():
        assert spec.action_spec.continuous_size == 5 and spec.action_spec.discrete_branches == ()
    result = env.reset()
    for _ in range(4):  # through the restart: [-1, 1] actions map onto mpe2's Box(0, 1, (5,))
        actions = {
            name: ActionTuple(
                continuous=np.tile(np.array([-1, -0.5, 0, 0.5, 1], np.float32), (len(d), 1)),
                discrete=np.zeros((len(d), 0), np.int64),
            )
            for name, (d, _) in result.items()
        }
        result = env.step(actions)
    assert {name: len(d) for name, (d, _) in result.items()} == {"adversary": 1, "agent": 2}
    env.close()


def test_box_actions_are_rescaled_from_minus_one_one_to_the_bounds(relay):
    env = PettingZooEnvironment(relay, {"judge_box": True})
    assert env.specs["judge"].action_spec.continuous_size == 2
    env.reset()
    judge = ActionTuple(continuous=np.array([[-1.0, 0.5]], np.float32), discrete=np.zeros((1, 0), np.int64))
    env.step({"player": discrete([[1], [1]]), "judge": judge})
    received = env.parallel_env.received[-1]["judge"]
    assert received.dtype == np.float32 and received.tolist() == [0.0, 1.0]


def test_agents_drop_out_one_by_one_and_masks_come_from_dict_observations(relay):
    env = PettingZooEnvironment(relay)
    assert set(env.specs) == {"player", "judge"}
    assert env.specs["player"].observation_specs[0].shape == (2,)
    assert env.specs["judge"].action_spec.discrete_branches == (2, 3)
    result = env.reset()
    players, _ = result["player"]
    assert players.agent_id.tolist() == [0, 1]
    assert players.action_mask is not None and players.action_mask.dtype == bool
    assert players.action_mask.tolist() == [[False, True, True]] * 2  # step 0: action 0 is masked
    assert result["judge"][0].action_mask is None

    def act(result, player_actions):
        return env.step({"player": discrete([[a] for a in player_actions]), "judge": discrete([[1, 2]])})

    result = act(result, [1, 2])  # step 1
    assert env.parallel_env.received[-1]["player_0"] == 1 and env.parallel_env.received[-1]["player_1"] == 2
    assert env.parallel_env.received[-1]["judge"].tolist() == [1, 2]
    players, _ = result["player"]
    assert players.reward.tolist() == [11.0, 12.0] and players.reward.dtype == np.float32
    assert players.action_mask.tolist() == [[True, False, True]] * 2
    assert result["judge"][0].reward.tolist() == [13.0]

    result = act(result, [2, 1])  # step 2: player_0 terminates
    players, ended = result["player"]
    assert ended.agent_id.tolist() == [0] and ended.interrupted.tolist() == [False]
    assert ended.reward.tolist() == [22.0] and ended.obs[0].tolist() == [[2.0, 2.0]]
    assert players.agent_id.tolist() == [1] and players.reward.tolist() == [21.0]
    assert len(result["judge"][1]) == 0 and result["judge"][1].obs[0].shape == (0, 2)

    result = act(result, [0])  # step 3: only player_1 acts, its row is the only one
    assert set(env.parallel_env.received[-1]) == {"player_1", "judge"}
    assert result["player"][0].agent_id.tolist() == [1]

    result = act(result, [1])  # step 4: player_1 terminates, the judge is truncated: restart
    players, ended = result["player"]
    judge, judge_ended = result["judge"]
    assert ended.agent_id.tolist() == [1] and ended.interrupted.tolist() == [False]
    assert judge_ended.agent_id.tolist() == [0] and judge_ended.interrupted.tolist() == [True]
    assert judge_ended.reward.tolist() == [43.0]
    assert players.agent_id.tolist() == [0, 1] and players.reward.tolist() == [0.0, 0.0]
    assert players.obs[0].tolist() == [[0.0, -1.0]] * 2
    assert judge.reward.tolist() == [0.0]


def test_a_behavior_without_live_agents_is_present_and_empty(relay):
    env = PettingZooEnvironment(relay, {"lengths": (1, 2), "judge_length": 3})
    env.reset()
    env.step({"player": discrete([[1], [1]]), "judge": discrete([[0, 0]])})  # player_0 ends
    result = env.step({"player": discrete([[1]]), "judge": discrete([[0, 0]])})  # player_1 ends
    decisions, terminal = result["player"]
    assert len(decisions) == 0 and decisions.obs[0].shape == (0, 2)
    assert terminal.agent_id.tolist() == [1]
    assert len(result["judge"][0]) == 1 and len(result["judge"][1]) == 0
    result = env.step({"judge": discrete([[0, 0]])})  # a behavior without agents may be missing
    assert set(env.parallel_env.received[-1]) == {"judge"}
    assert len(result["judge"][1]) == 1 and len(result["player"][0]) == 2  # the judge ended: restart


def test_masks_from_infos(relay):
    env = PettingZooEnvironment(relay, {"info_masks": True})
    players, _ = env.reset()["player"]
    assert players.action_mask is not None and players.action_mask.tolist() == [[False, True, True]] * 2
    result = env.step({"player": discrete([[1], [2]]), "judge": discrete([[0, 0]])})
    assert result["player"][0].action_mask.tolist() == [[True, False, True]] * 2
    assert result["judge"][0].action_mask is None


@pytest.mark.filterwarnings("ignore:The old environment creation API:DeprecationWarning")
def test_discrete_observations_are_one_hot():
    env = PettingZooEnvironment("pettingzoo.classic.rps_v2")
    assert set(env.specs) == {"player"} and env.specs["player"].observation_specs[0].shape == (4,)
    players, _ = env.reset()["player"]
    assert players.obs[0].tolist() == [[0, 0, 0, 1]] * 2  # "no move yet" is the last of 4 values
    players, _ = env.step({"player": discrete([[0], [1]])})["player"]
    assert players.obs[0].tolist() == [[0, 1, 0, 0], [1, 0, 0, 0]]  # each sees the other's move


def test_agents_of_one_behavior_with_different_spaces_are_refused(relay):
    with pytest.raises(EnvError) as error:
        PettingZooEnvironment(relay, {"mismatch": True})
    message = str(error.value)
    assert "'player_0' and 'player_1'" in message and "behavior 'player'" in message
    assert "Box(-inf, inf, (3,), float32)" in message and "Dict(" in message


def test_missing_modules_say_what_to_install(monkeypatch):
    with pytest.raises(EnvError, match=r"needs the package 'mlx_no_such_package'.*pip install"):
        PettingZooEnvironment("mlx_no_such_package.env_v0")
    with pytest.raises(EnvError, match=r"'mpe2' is installed but has no module 'mpe2.simple_nothing_v0'"):
        PettingZooEnvironment("mpe2.simple_nothing_v0")
    with pytest.raises(EnvError, match=r"has no function 'nothing'"):
        PettingZooEnvironment("mpe2.simple_adversary_v3:nothing")
    with pytest.raises(EnvError, match=r"with arguments \{'max_cyclez': 5\}"):
        PettingZooEnvironment(ADVERSARY, {"max_cyclez": 5})
    monkeypatch.setitem(sys.modules, "pettingzoo", None)  # what an environment without pettingzoo sees
    with pytest.raises(EnvError, match=r'not installed: pip install "mlx-core\[pettingzoo\]"'):
        PettingZooEnvironment(ADVERSARY)


def test_factory_refuses_a_wrong_target_before_starting_workers():
    options = RunOptions(env_settings=EnvSettings(env_args=["max_cycles=5"]))
    with pytest.raises(EnvError, match="has no module"):
        make_pettingzoo("mpe2.simple_nothing_v0", options=options, num_envs=2, seed=0)


def test_factory_makes_a_pool_of_seeded_copies():
    options = RunOptions(env_settings=EnvSettings(env_args=["max_cycles=5"]))
    env = make_pettingzoo(ADVERSARY, options=options, num_envs=2, seed=3)
    assert set(env.specs) == {"adversary", "agent"}
    result = env.reset()
    assert {name: len(d) for name, (d, _) in result.items()} == {"adversary": 2, "agent": 4}
    assert len(set(result["agent"][0].agent_id.tolist())) == 4  # ids unique across copies
    single = make_one(ADVERSARY, {"max_cycles": 5}, seed=4)  # copy 1 is seeded with seed + 1
    np.testing.assert_array_equal(result["agent"][0].obs[0][2:], single.reset()["agent"][0].obs[0])
    env.close()


def test_copies_run_in_worker_processes():
    # The factory handed to the pool must pickle into spawned processes.
    options = RunOptions(env_settings=EnvSettings(env_args=["max_cycles=2"], executor="subprocess"))
    env = make_pettingzoo(ADVERSARY, options=options, num_envs=2, seed=0)
    try:
        result = env.reset()
        for _ in range(2):
            result = env.step(random_actions(result, np.random.default_rng(1)))
        decisions, terminal = result["agent"]
        assert len(terminal) == 4 and terminal.interrupted.all() and len(decisions) == 4
    finally:
        env.close()
