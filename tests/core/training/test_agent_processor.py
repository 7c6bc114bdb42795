"""AgentProcessor: batched decision/terminal steps become per-agent trajectories.

Observations are ``[agent_id, t]`` so every stored row says whose step it is and when; the
fake policy's actions encode the same pair, so rows of a trajectory can be matched up.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlx_core.env.base import ActionSpec, ActionTuple, BehaviorSpec, DecisionSteps, ObservationSpec, TerminalSteps
from mlx_core.training.agent_processor import AgentProcessor
from mlx_core.training.policy import ActionInfo
from mlx_core.training.trajectory import Trajectory

SPEC = BehaviorSpec(
    observation_specs=(ObservationSpec((2,)),),
    action_spec=ActionSpec(continuous_size=1, discrete_branches=(3, 2)),
)


def decisions(ids: list[int], times: list[int], rewards: list[float], mask: np.ndarray | None = None) -> DecisionSteps:
    agent_id = np.asarray(ids, np.int64)
    obs = np.stack([agent_id, np.asarray(times)], axis=1).astype(np.float32)
    return DecisionSteps(obs=[obs], reward=np.asarray(rewards, np.float32), agent_id=agent_id, action_mask=mask)


def terminals(ids: list[int], times: list[int], rewards: list[float], interrupted: list[bool]) -> TerminalSteps:
    agent_id = np.asarray(ids, np.int64)
    obs = np.stack([agent_id, np.asarray(times)], axis=1).astype(np.float32)
    return TerminalSteps(
        obs=[obs], reward=np.asarray(rewards, np.float32), agent_id=agent_id, interrupted=np.asarray(interrupted, bool)
    )


def act(steps: DecisionSteps) -> ActionInfo:
    """A fake policy: continuous = 1000 * id + t, discrete = (t % 3, t % 2), log_prob = -t, value = 10 t."""
    ids, t = steps.obs[0][:, 0], steps.obs[0][:, 1]
    action = ActionTuple(
        continuous=(1000 * ids + t).astype(np.float32)[:, None],
        discrete=np.stack([t % 3, t % 2], axis=1).astype(np.int64),
    )
    return ActionInfo(action=action, env_action=action, log_probs=-t.astype(np.float32), values=(10 * t)[:, None])


class Driver:
    """Calls the processor the way the training controller does, once per environment step."""

    def __init__(self, time_horizon: int) -> None:
        self.episodes: list[tuple[float, int]] = []
        self.processor = AgentProcessor(SPEC, time_horizon, 1, self._on_episodes)

    def _on_episodes(self, returns: np.ndarray, lengths: np.ndarray) -> None:
        self.episodes.extend(zip(returns.tolist(), lengths.tolist()))

    def step(self, decided: DecisionSteps, ended: TerminalSteps | None = None) -> list[Trajectory]:
        cut = self.processor.add_terminal(ended or TerminalSteps.empty(SPEC))
        cut += self.processor.add_rewards(decided)
        if len(decided):
            self.processor.add_actions(decided, act(decided))
        return cut


def test_trajectory_is_cut_at_exactly_time_horizon_with_current_obs_as_next_obs() -> None:
    driver = Driver(time_horizon=3)
    for t in range(3):
        assert driver.step(decisions([7], [t], [0.0])) == []
    (traj,) = driver.step(decisions([7], [3], [0.0]))
    assert len(traj) == 3
    np.testing.assert_array_equal(traj.obs[0], [[7, 0], [7, 1], [7, 2]])
    np.testing.assert_array_equal(traj.next_obs[0], [[7, 3]])
    assert traj.done is False
    assert traj.interrupted is False
    assert traj.bootstrap is True
    assert traj.agent_id == 7


def test_steps_after_a_horizon_cut_start_the_next_trajectory() -> None:
    driver = Driver(time_horizon=2)
    cuts = [traj for t in range(7) for traj in driver.step(decisions([1], [t], [0.0]))]
    assert [traj.obs[0][:, 1].tolist() for traj in cuts] == [[0, 1], [2, 3], [4, 5]]
    assert [traj.next_obs[0][0, 1] for traj in cuts] == [2, 4, 6]


def test_reward_at_index_t_belongs_to_the_action_taken_at_t() -> None:
    driver = Driver(time_horizon=4)
    # the reward delivered with the decision at t + 1 was earned by the action at t
    cut = []
    for t in range(5):
        cut += driver.step(decisions([3], [t], [0.0 if t == 0 else 100.0 + (t - 1)]))
    (traj,) = cut
    np.testing.assert_array_equal(traj.env_rewards, [100.0, 101.0, 102.0, 103.0])
    np.testing.assert_array_equal(traj.continuous_actions[:, 0], [3000, 3001, 3002, 3003])


def test_actions_log_probs_and_values_are_stored_per_step() -> None:
    driver = Driver(time_horizon=3)
    cut = []
    for t in range(4):
        cut += driver.step(decisions([2], [t], [0.0]))
    (traj,) = cut
    np.testing.assert_array_equal(traj.discrete_actions, [[0, 0], [1, 1], [2, 0]])
    np.testing.assert_array_equal(traj.log_probs, [0.0, -1.0, -2.0])
    assert traj.values is not None
    np.testing.assert_array_equal(traj.values, [[0.0], [10.0], [20.0]])


def test_true_terminal_cuts_with_done_and_no_bootstrap() -> None:
    driver = Driver(time_horizon=10)
    driver.step(decisions([5], [0], [0.0]))
    driver.step(decisions([5], [1], [1.0]))
    (traj,) = driver.step(decisions([], [], []), terminals([5], [2], [2.0], [False]))
    assert traj.done is True
    assert traj.interrupted is False
    assert traj.bootstrap is False
    np.testing.assert_array_equal(traj.obs[0], [[5, 0], [5, 1]])
    np.testing.assert_array_equal(traj.next_obs[0], [[5, 2]])
    np.testing.assert_array_equal(traj.env_rewards, [1.0, 2.0])


def test_interrupted_terminal_cuts_with_done_and_bootstrap() -> None:
    driver = Driver(time_horizon=10)
    driver.step(decisions([5], [0], [0.0]))
    (traj,) = driver.step(decisions([], [], []), terminals([5], [1], [0.5], [True]))
    assert traj.done is True
    assert traj.interrupted is True
    assert traj.bootstrap is True
    np.testing.assert_array_equal(traj.next_obs[0], [[5, 1]])


def test_terminal_that_coincides_with_the_horizon_is_cut_once_as_done() -> None:
    driver = Driver(time_horizon=2)
    driver.step(decisions([4], [0], [0.0]))
    driver.step(decisions([4], [1], [0.0]))
    (traj,) = driver.step(decisions([], [], []), terminals([4], [2], [1.0], [False]))
    assert len(traj) == 2
    assert traj.done is True


def test_agent_in_terminal_and_decision_steps_ends_one_trajectory_and_starts_another() -> None:
    driver = Driver(time_horizon=10)
    driver.step(decisions([9], [0], [0.0]))
    driver.step(decisions([9], [1], [1.0]))
    # the episode ends (last obs t=2) and the next one asks for its first decision (t=100)
    (first,) = driver.step(decisions([9], [100], [55.0]), terminals([9], [2], [2.0], [False]))
    assert first.done is True
    np.testing.assert_array_equal(first.obs[0], [[9, 0], [9, 1]])
    np.testing.assert_array_equal(first.next_obs[0], [[9, 2]])
    np.testing.assert_array_equal(first.env_rewards, [1.0, 2.0])

    driver.step(decisions([9], [101], [3.0]))
    (second,) = driver.step(decisions([], [], []), terminals([9], [102], [4.0], [True]))
    np.testing.assert_array_equal(second.obs[0], [[9, 100], [9, 101]])
    # the reward that came with the new episode's first decision belongs to no action
    np.testing.assert_array_equal(second.env_rewards, [3.0, 4.0])
    assert second.interrupted is True
    assert driver.episodes == [(3.0, 2), (7.0, 2)]


def test_terminal_of_an_agent_that_never_acted_cuts_nothing() -> None:
    driver = Driver(time_horizon=10)
    assert driver.step(decisions([], [], []), terminals([42], [0], [1.0], [False])) == []


def test_episode_returns_and_lengths_reach_the_callback_when_episodes_end() -> None:
    driver = Driver(time_horizon=2)  # horizon cuts must not reset the episode totals
    driver.step(decisions([1, 2], [0, 0], [0.0, 0.0]))
    driver.step(decisions([1, 2], [1, 1], [1.0, 10.0]))
    driver.step(decisions([1, 2], [2, 2], [1.0, 10.0]))
    assert driver.episodes == []
    driver.step(decisions([2], [3], [10.0]), terminals([1], [3], [1.0], [False]))
    assert driver.episodes == [(3.0, 3)]
    driver.step(decisions([], [], []), terminals([2], [4], [-5.0], [True]))
    assert driver.episodes == [(3.0, 3), (25.0, 4)]


def test_action_masks_are_stored_with_each_step() -> None:
    driver = Driver(time_horizon=2)
    masks = [
        np.array([[True, False, True, True, False], [False, True, True, False, True]]),
        np.array([[False, False, True, True, True], [True, True, False, True, False]]),
        np.ones((2, 5), bool),
    ]
    cut = []
    for t, mask in enumerate(masks):
        cut += driver.step(decisions([0, 1], [t, t], [0.0, 0.0], mask))
    by_agent = {traj.agent_id: traj for traj in cut}
    for row, agent in enumerate([0, 1]):
        stored = by_agent[agent].action_masks
        assert stored is not None
        np.testing.assert_array_equal(stored, [masks[0][row], masks[1][row]])


def test_missing_action_mask_is_stored_as_all_allowed() -> None:
    driver = Driver(time_horizon=1)
    driver.step(decisions([0], [0], [0.0]))
    (traj,) = driver.step(decisions([0], [1], [0.0]))
    assert traj.action_masks is not None
    assert traj.action_masks.shape == (1, 5)
    assert traj.action_masks.all()


def test_processor_without_discrete_branches_stores_no_masks() -> None:
    spec = BehaviorSpec(observation_specs=(ObservationSpec((2,)),), action_spec=ActionSpec(continuous_size=1))
    processor = AgentProcessor(spec, 1, 0, lambda returns, lengths: None)
    steps = decisions([0], [0], [0.0])
    info = ActionInfo(
        action=spec.action_spec.empty(1), env_action=spec.action_spec.empty(1), log_probs=np.zeros(1), values=None
    )
    processor.add_actions(steps, info)
    (traj,) = processor.add_rewards(decisions([0], [1], [1.0]))
    assert traj.action_masks is None
    assert traj.values is None


def test_twenty_agents_arriving_and_ending_at_different_times_get_their_own_trajectories() -> None:
    """Agents arrive four per step, so the store grows past 8 slots while episodes are running."""
    n_agents, horizon = 20, 100
    ids = [1000 + 7 * i for i in range(n_agents)]  # sparse, non-contiguous ids
    arrival = {a: i // 4 for i, a in enumerate(ids)}
    lifetime = {a: 3 + i % 5 for i, a in enumerate(ids)}  # actions taken before the episode ends
    acted = dict.fromkeys(ids, 0)
    driver = Driver(horizon)
    cut: list[Trajectory] = []
    for step in range(20):
        present = [a for a in ids if arrival[a] <= step and acted[a] <= lifetime[a]]
        ending = [a for a in present if acted[a] == lifetime[a]]
        deciding = [a for a in reversed(present) if acted[a] < lifetime[a]]  # order differs from arrival
        # the reward for an agent's action k is its id + k / 10
        reward = {a: 0.0 if acted[a] == 0 else a + (acted[a] - 1) / 10 for a in present}
        cut += driver.step(
            decisions(deciding, [acted[a] for a in deciding], [reward[a] for a in deciding]),
            terminals(ending, [acted[a] for a in ending], [reward[a] for a in ending], [False] * len(ending)),
        )
        for a in present:
            acted[a] += 1
    assert driver.processor.capacity >= n_agents
    assert sorted(traj.agent_id for traj in cut) == ids
    for traj in cut:
        a, n = traj.agent_id, lifetime[traj.agent_id]
        assert len(traj) == n
        assert traj.done is True
        np.testing.assert_array_equal(traj.obs[0], [[a, t] for t in range(n)])
        np.testing.assert_array_equal(traj.continuous_actions[:, 0], [1000 * a + t for t in range(n)])
        np.testing.assert_allclose(traj.env_rewards, [a + t / 10 for t in range(n)], rtol=1e-6)
        np.testing.assert_array_equal(traj.next_obs[0], [[a, n]])
    expected = sorted((sum(a + t / 10 for t in range(lifetime[a])), lifetime[a]) for a in ids)
    got = sorted(driver.episodes)
    assert [length for _, length in got] == [length for _, length in expected]
    np.testing.assert_allclose([r for r, _ in got], [r for r, _ in expected], rtol=1e-6)


@pytest.mark.parametrize("horizon", [1, 3])
def test_growing_the_store_keeps_running_trajectories_intact(horizon: int) -> None:
    driver = Driver(horizon)
    first = list(range(8))
    for t in range(horizon):
        assert driver.step(decisions(first, [t] * 8, [float(t)] * 8)) == []
    # twelve newcomers force the store to grow before the first eight's full trajectories are cut
    everyone = first + list(range(100, 112))
    cut = driver.step(decisions(everyone, [horizon] * 8 + [0] * 12, [float(horizon)] * 20))
    assert driver.processor.capacity >= 20
    assert sorted(traj.agent_id for traj in cut) == first
    for traj in cut:
        np.testing.assert_array_equal(traj.obs[0], [[traj.agent_id, s] for s in range(horizon)])
        np.testing.assert_array_equal(traj.env_rewards, range(1, horizon + 1))
