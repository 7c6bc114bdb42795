"""One PPO update on synthetic batches: direction of the policy change, value clipping, stats."""

from __future__ import annotations

import pytest
import torch

from mlx_core.config.settings import NetworkSettings
from mlx_core.env.base import ActionSpec, BehaviorSpec, ObservationSpec
from mlx_core.networks.actor_critic import ActorCritic
from mlx_core.training.schedules import scheduled
from mlx_ppo.optimizer import PPOOptimizer, RolloutBatch
from mlx_ppo.settings import PPOSettings

SPEC = BehaviorSpec(observation_specs=(ObservationSpec((4,)),), action_spec=ActionSpec(discrete_branches=(2,)))
N = 64
CPU = torch.device("cpu")


def make_network(seed: int = 0) -> ActorCritic:
    torch.manual_seed(seed)
    return ActorCritic(SPEC, NetworkSettings(hidden_units=16, num_layers=1), ["extrinsic"])


def make_settings(**changes: object) -> PPOSettings:
    values: dict = {
        "batch_size": N,
        "buffer_size": N,
        "learning_rate": 1e-2,
        "learning_rate_schedule": "constant",
        "num_epoch": 1,
        "beta": 0.0,
    }
    values.update(changes)
    return PPOSettings(**values)


def make_batch(
    network: ActorCritic, returns_offset: float = 0.0, old_values_offset: float = 0.0, sign: float = 1.0
) -> RolloutBatch:
    """Half the steps took action 0 (advantage +sign), half action 1 (advantage -sign)."""
    generator = torch.Generator().manual_seed(1)
    obs = [torch.randn(N, 4, generator=generator)]
    discrete = (torch.arange(N) % 2).unsqueeze(1)
    continuous = torch.zeros(N, 0)
    with torch.no_grad():
        log_probs, _, values = network.evaluate(obs, None, continuous, discrete)
    return RolloutBatch(
        obs=obs,
        continuous=continuous,
        discrete=discrete,
        masks=None,
        old_log_probs=log_probs,
        old_values=values + old_values_offset,
        advantages=torch.where(discrete[:, 0] == 0, sign, -sign),
        returns=values + returns_offset,
    )


def prob_of_action_zero(network: ActorCritic, batch: RolloutBatch) -> float:
    with torch.no_grad():
        zeros = torch.zeros(N, 1, dtype=torch.long)
        log_probs, _, _ = network.evaluate(batch.obs, None, torch.zeros(N, 0), zeros)
    return float(log_probs.exp().mean())


def critic_parameters(network: ActorCritic) -> list[torch.Tensor]:
    # the value layer is the critic's own (the towers' weights are one tensor for actor and critic)
    return [p.detach().clone() for p in network.values.parameters()]


def test_update_raises_probability_of_the_action_with_positive_advantage() -> None:
    network = make_network()
    batch = make_batch(network)
    before = prob_of_action_zero(network, batch)
    PPOOptimizer(network, make_settings(), CPU).update(batch, step=0, max_steps=1000)
    assert prob_of_action_zero(network, batch) > before + 0.003


def test_update_lowers_probability_of_the_action_with_negative_advantage() -> None:
    network = make_network()
    batch = make_batch(network, sign=-1.0)
    before = prob_of_action_zero(network, batch)
    PPOOptimizer(network, make_settings(), CPU).update(batch, step=0, max_steps=1000)
    assert prob_of_action_zero(network, batch) < before - 0.003


def test_update_moves_values_towards_the_returns() -> None:
    network = make_network()
    batch = make_batch(network, returns_offset=1.0)
    error_before = (batch.returns - batch.old_values).abs().mean()
    PPOOptimizer(network, make_settings(), CPU).update(batch, step=0, max_steps=1000)
    with torch.no_grad():
        values = network.critic(batch.obs)
    assert (batch.returns - values).abs().mean() < error_before


@pytest.mark.parametrize(("value_clip", "critic_moves"), [(None, True), (0.2, False)])
def test_value_clip_stops_critic_once_values_are_past_the_clip_towards_the_returns(
    value_clip: float | None, critic_moves: bool
) -> None:
    network = make_network()
    # values already sit 2 * clip above their old estimates, and the returns lie further above
    batch = make_batch(network, returns_offset=5.0, old_values_offset=-0.4)
    before = critic_parameters(network)
    PPOOptimizer(network, make_settings(value_clip=value_clip), CPU).update(batch, step=0, max_steps=1000)
    after = critic_parameters(network)
    unchanged = all(torch.equal(a, b) for a, b in zip(before, after))
    assert unchanged is not critic_moves


def test_update_returns_losses_entropy_and_learning_rate() -> None:
    network = make_network()
    stats = PPOOptimizer(network, make_settings(), CPU).update(make_batch(network), step=0, max_steps=1000)
    for key in ("Losses/Policy Loss", "Losses/Value Loss", "Policy/Entropy", "Policy/Learning Rate"):
        assert isinstance(stats[key], float), key
    assert stats["Policy/Entropy"] == pytest.approx(0.693, abs=0.01)  # two nearly uniform actions: log 2


def test_linear_schedule_halves_the_learning_rate_at_half_of_max_steps() -> None:
    network = make_network()
    optimizer = PPOOptimizer(network, make_settings(learning_rate=3e-4, learning_rate_schedule="linear"), CPU)
    stats = optimizer.update(make_batch(network), step=500, max_steps=1000)
    assert stats["Policy/Learning Rate"] == pytest.approx(1.5e-4)
    assert optimizer.adam.param_groups[0]["lr"] == pytest.approx(1.5e-4)


def test_epsilon_and_beta_follow_the_learning_rate_schedule_by_default() -> None:
    network = make_network()
    settings = make_settings(learning_rate_schedule="linear", epsilon=0.2, beta=0.01)
    stats = PPOOptimizer(network, settings, CPU).update(make_batch(network), step=250, max_steps=1000)
    assert stats["Policy/Epsilon"] == pytest.approx(0.15)
    assert stats["Policy/Beta"] == pytest.approx(0.0075)


def test_linear_schedule_value_at_half_of_max_steps_is_half_the_initial() -> None:
    assert scheduled(0.1, "linear", 500, 1000) == pytest.approx(0.05)


def test_linear_schedule_stops_at_the_minimum_after_max_steps() -> None:
    assert scheduled(0.1, "linear", 2000, 1000, minimum=1e-10) == 1e-10


def test_constant_schedule_ignores_the_step() -> None:
    assert scheduled(0.1, "constant", 999, 1000) == 0.1


def test_entropy_bonus_changes_the_update_only_when_beta_is_positive() -> None:
    """With beta > 0 the entropy is in the loss (a different step); with beta 0 it is only measured."""
    results = []
    for beta in (0.0, 0.5):
        network = make_network()
        stats = PPOOptimizer(network, make_settings(beta=beta), CPU).update(make_batch(network), step=0, max_steps=1000)
        results.append((stats["Policy/Entropy"], [p.detach().clone() for p in network.parameters()]))
    (entropy_0, params_0), (entropy_b, params_b) = results
    assert entropy_0 == pytest.approx(0.693, abs=0.01) and entropy_b == pytest.approx(0.693, abs=0.01)
    assert any(not torch.equal(a, b) for a, b in zip(params_0, params_b, strict=True))
