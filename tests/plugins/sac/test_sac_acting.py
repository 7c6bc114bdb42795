"""SAC's numpy acting path computes what its torch actor computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlx_core.config.settings import NetworkSettings
from mlx_core.env.base import ActionSpec, BehaviorSpec, ObservationSpec
from mlx_sac.networks import SACNetwork


def network(action: ActionSpec) -> SACNetwork:
    torch.manual_seed(0)
    spec = BehaviorSpec((ObservationSpec((5,)),), action)
    net = SACNetwork(spec, NetworkSettings(hidden_units=32, num_layers=2, activation="relu", normalize=True), ["extrinsic"])
    with torch.no_grad():
        net.encoder.update_normalizer([torch.randn(40, 5) * 3])
    return net


def obs_and_mask(action: ActionSpec, n: int = 8) -> tuple[list[np.ndarray], np.ndarray | None]:
    obs = [np.random.default_rng(2).normal(size=(n, 5)).astype(np.float32)]
    if not action.discrete_branches:
        return obs, None
    mask = np.ones((n, sum(action.discrete_branches)), bool)
    mask[:, 1] = False
    return obs, mask


@pytest.mark.parametrize("action", [ActionSpec(2, ()), ActionSpec(0, (3, 2)), ActionSpec(1, (3,))], ids=["continuous", "discrete", "hybrid"])
def test_numpy_acting_matches_the_torch_actor(action: ActionSpec) -> None:
    net = network(action)
    act = net.numpy_actor()
    assert act is not None
    obs, mask = obs_and_mask(action)
    torch_obs = [torch.from_numpy(o) for o in obs]
    torch_mask = None if mask is None else torch.from_numpy(mask)

    # deterministic: the same actions
    continuous, discrete, _, values = act(obs, mask, True)
    with torch.no_grad():
        expected = net.act(torch_obs, torch_mask, True)
    assert values is None
    np.testing.assert_allclose(continuous, expected[0].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(discrete, expected[1].numpy())

    # stochastic: the log-probability torch gives the drawn action
    continuous, discrete, log_prob, _ = act(obs, mask, False)
    assert (np.abs(continuous) <= 1.0).all()
    with torch.no_grad():
        features = net.actor_features(torch_obs)
        expected_log_prob = torch.zeros(len(features))
        if action.continuous_size:
            mu, log_std = net.head.mu_log_std(features).chunk(2, dim=-1)
            pre_tanh = torch.atanh(torch.from_numpy(continuous).double()).float()
            noise = (pre_tanh - mu) / log_std.clamp(-20, 2).exp()
            expected_log_prob += net.head.rsample(features, noise)[1]
        if action.discrete_branches:
            for i, branch in enumerate(net.head.discrete.branch_log_probs(features, torch_mask)):  # type: ignore[union-attr]
                expected_log_prob += branch.gather(-1, torch.from_numpy(discrete[:, i : i + 1])).squeeze(-1)
    np.testing.assert_allclose(log_prob, expected_log_prob.numpy(), rtol=1e-3, atol=1e-3)
    if mask is not None:
        assert (discrete[:, 0] != 1).all()


def test_numpy_draws_follow_the_squashed_gaussian() -> None:
    net = network(ActionSpec(1, ()))
    obs = [np.repeat(obs_and_mask(ActionSpec(1, ()))[0][0][:1], 40000, axis=0)]
    continuous, _, _, _ = net.numpy_actor()(obs, None, False)  # type: ignore[misc]
    with torch.no_grad():
        mu, log_std = net.head.mu_log_std(net.actor_features([torch.from_numpy(obs[0][:1])])).chunk(2, dim=-1)
    pre_tanh = np.arctanh(np.clip(continuous.astype(np.float64), -1 + 1e-7, 1 - 1e-7))
    std = float(log_std.clamp(-20, 2).exp())
    assert abs(pre_tanh.mean() - float(mu)) < 0.03 * max(std, 1.0)
    assert abs(pre_tanh.std() / std - 1) < 0.03
