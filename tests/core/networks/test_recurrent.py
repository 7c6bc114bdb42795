"""Recurrent memory: the per-agent store, sequence training equal to stepping, the policy carrying
and forgetting memories, and the memory settings' validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mlx_core.config.loader import load_run_options
from mlx_core.config.settings import MemorySettings, NetworkSettings
from mlx_core.env.base import ActionSpec, ActionTuple, BehaviorSpec, DecisionSteps, ObservationSpec, TerminalSteps
from mlx_core.errors import ConfigError, MlxError
from mlx_core.networks.actor_critic import ActorCritic
from mlx_core.training.agent_memories import AgentMemories
from mlx_core.training.agent_processor import AgentProcessor
from mlx_core.training.policy import ActionInfo, Policy

SPEC = BehaviorSpec((ObservationSpec((3,)), ObservationSpec((6, 6, 1))), ActionSpec(continuous_size=1, discrete_branches=(3,)))


def network(memory_size: int = 8, sequence_length: int = 4, shared: bool = False) -> ActorCritic:
    torch.manual_seed(0)
    settings = NetworkSettings(hidden_units=16, num_layers=1, memory=MemorySettings(memory_size, sequence_length))
    return ActorCritic(SPEC, settings, ["extrinsic"], shared=shared)


def test_memories_keep_rows_and_start_at_zero() -> None:
    store = AgentMemories(4, capacity=2)
    slots = store.slots(np.array([7, 3]))
    store.memories[slots] = [[1.0] * 4, [2.0] * 4]
    assert store.slots(np.array([7, 3])) is slots  # the same batch: no per-agent work
    grown = store.slots(np.array([3, 7, 11, 12]))  # new agents past the capacity
    assert grown[:2].tolist() == slots[::-1].tolist()
    np.testing.assert_array_equal(store.memories[grown], [[2.0] * 4, [1.0] * 4, [0.0] * 4, [0.0] * 4])
    store.end_episodes(np.array([7]))
    np.testing.assert_array_equal(store.memories[grown[1]], [0.0] * 4)
    np.testing.assert_array_equal(store.memories[grown[0]], [2.0] * 4)
    store.memories[grown] = 5.0
    store.end_episodes(np.array([12]))
    store.slots(np.array([3, 7, 11]))  # agent 12 did not come back: its row is free again
    assert 12 not in store.slot_of
    assert store.memories[store.slots(np.array([99]))[0]].tolist() == [0.0] * 4  # reused, zeroed


@pytest.mark.parametrize("shared", [False, True])
def test_training_on_padded_sequences_equals_acting_step_by_step(shared: bool) -> None:
    net = network(shared=shared)
    steps = 6  # one sequence of 4 and one of 2 real steps padded to 4
    obs = [torch.randn(steps, 3), torch.rand(steps, 6, 6, 1)]
    continuous, discrete = torch.randn(steps, 1), torch.randint(0, 3, (steps, 1))
    assert net.memory_size == (8 if shared else 16)  # a separate critic has an LSTM of its own
    assert net.actor_memory_size == 8
    memory = torch.randn(1, net.memory_size)
    start_memories, expected_log_probs, expected_values = [], [], []
    for t in range(steps):
        if t % 4 == 0:
            start_memories.append(memory)
        step_obs = [o[t : t + 1] for o in obs]
        features, actor_next = net.actor_features_recurrent(step_obs, memory[:, :8])
        log_prob, _ = net.head.evaluate(features, None, continuous[t : t + 1], discrete[t : t + 1])
        expected_log_probs.append(log_prob)
        expected_values.append(net.critic(step_obs, memory))
        next_memory = net.act_recurrent(step_obs, None, True, memory)[-1].clone()  # out of inference mode
        torch.testing.assert_close(next_memory[:, :8], actor_next)  # the actor's part comes first
        memory = next_memory
    valid = torch.tensor([True] * 6 + [False] * 2)
    padded = [torch.cat([o, torch.full((2, *o.shape[1:]), 9.0)]) for o in obs]  # padding of any value
    log_probs, entropy, values = net.evaluate(
        padded, None, continuous, discrete, True, torch.cat(start_memories), valid
    )
    torch.testing.assert_close(log_probs, torch.cat(expected_log_probs))
    torch.testing.assert_close(values, torch.cat(expected_values))
    assert entropy is not None and entropy.shape == (6,)


def test_policy_carries_memories_and_forgets_them_at_an_episode_end() -> None:
    policy = Policy(SPEC, network(), torch.device("cpu"))
    assert policy._numpy_act is None  # recurrent policies act through torch
    rng = np.random.default_rng(0)
    steps = DecisionSteps(
        obs=[rng.normal(size=(3, 3)).astype(np.float32), rng.random((3, 6, 6, 1), np.float32)],
        reward=np.zeros(3, np.float32),
        agent_id=np.array([10, 20, 30]),
        action_mask=None,
    )
    first = policy.act(steps)
    assert first.memories is not None and first.next_memories is not None
    assert not first.memories.any()  # new agents start from zeros
    second = policy.act(steps)
    np.testing.assert_array_equal(second.memories, first.next_memories)
    policy.end_episodes(np.array([20]))
    third = policy.act(steps)
    assert third.memories is not None
    assert not third.memories[1].any()
    np.testing.assert_array_equal(third.memories[[0, 2]], second.next_memories[[0, 2]])  # type: ignore[index]


def test_odd_memory_size_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("behaviors:\n  A:\n    network_settings:\n      memory: {memory_size: 7, sequence_length: 4}\n")
    with pytest.raises(ConfigError) as caught:
        load_run_options(config)
    assert any("network_settings.memory.memory_size" in p and "even" in p for p in caught.value.problems)


def test_single_step_actor_features_of_a_recurrent_network_are_refused() -> None:
    # behavioral cloning reads single steps without memories: a clear error, not wrong actions
    with pytest.raises(MlxError, match="network_settings.memory"):
        network().actor_features([torch.zeros(2, 3), torch.zeros(2, 6, 6, 1)])


def test_the_references_flat_use_recurrent_builds_a_recurrent_policy(tmp_path: Path) -> None:
    config = tmp_path / "trainer_config.yaml"
    config.write_text(
        "default:\n  trainer: ppo\n  hidden_units: 16\n  use_recurrent: false\n"
        "MemoryCue:\n  use_recurrent: true\n  memory_size: 12\n  sequence_length: 4\n"
    )
    settings = load_run_options(config).behaviors["MemoryCue"].network_settings
    spec = BehaviorSpec((ObservationSpec((2,)),), ActionSpec(discrete_branches=(2,)))
    net = ActorCritic(spec, settings, ["extrinsic"])
    assert (net.actor_memory_size, net.memory_size, net.sequence_length) == (12, 24, 4)
    policy = Policy(spec, net, torch.device("cpu"))
    steps = DecisionSteps(obs=[np.zeros((2, 2), np.float32)], reward=np.zeros(2, np.float32), agent_id=np.arange(2))
    info = policy.act(steps)
    assert info.next_memories is not None and info.next_memories.shape == (2, 24)


def test_trajectories_carry_each_steps_memory_and_the_one_after_across_store_growth() -> None:
    spec = BehaviorSpec((ObservationSpec((1,)),), ActionSpec(discrete_branches=(2,)))
    processor = AgentProcessor(spec, time_horizon=10, n_values=1, on_episodes=lambda r, n: None)
    ids = np.arange(20)  # more agents than the store's first 8 slots
    for t in range(3):
        steps = DecisionSteps(obs=[np.full((20, 1), t, np.float32)], reward=np.zeros(20, np.float32), agent_id=ids)
        processor.add_rewards(steps)
        before = (100 * ids + t)[:, None].repeat(2, 1).astype(np.float32)  # agent and step in each memory
        action = ActionTuple(continuous=np.zeros((20, 0), np.float32), discrete=np.zeros((20, 1), np.int64))
        info = ActionInfo(action, action, np.zeros(20, np.float32), np.zeros((20, 1), np.float32), before, before + 1)
        processor.add_actions(steps, info)
    done = TerminalSteps(
        obs=[np.full((20, 1), 3, np.float32)], reward=np.ones(20, np.float32), agent_id=ids, interrupted=np.zeros(20, bool)
    )
    trajectories = processor.add_terminal(done)
    assert len(trajectories) == 20
    for traj in trajectories:
        agent = traj.agent_id
        assert traj.memories is not None and traj.next_memory is not None
        np.testing.assert_array_equal(traj.memories[:, 0], [100 * agent, 100 * agent + 1, 100 * agent + 2])
        np.testing.assert_array_equal(traj.next_memory, [[100 * agent + 3] * 2])
