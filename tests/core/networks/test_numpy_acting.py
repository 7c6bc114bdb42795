"""Acting through numpy computes what the torch networks compute, and follows their weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlx_core.config.settings import NetworkSettings
from mlx_core.env.base import ActionSpec, BehaviorSpec, DecisionSteps, ObservationSpec
from mlx_core.networks.actor_critic import ActorCritic
from mlx_core.training.policy import Policy

SPECS = {
    "discrete": ActionSpec(0, (3,)),
    "branches": ActionSpec(0, (2, 4)),
    "continuous": ActionSpec(2, ()),
    "hybrid": ActionSpec(2, (3,)),
}


def network(action: ActionSpec, *, activation: str = "tanh", normalize: bool = True, shared: bool = False) -> ActorCritic:
    torch.manual_seed(0)
    spec = BehaviorSpec((ObservationSpec((3,)), ObservationSpec((2, 2))), action)
    settings = NetworkSettings(hidden_units=16, num_layers=2, activation=activation, normalize=normalize)
    net = ActorCritic(spec, settings, ["extrinsic", "curiosity"], shared=shared)
    with torch.no_grad():  # weights and statistics away from their initial values
        for parameter in net.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
        if net.encoder.normalizer is not None:
            net.encoder.update_normalizer([torch.randn(50, 3) * 2 + 1, torch.randn(50, 2, 2)])
    return net


def observations(n: int = 6, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, 3)).astype(np.float32), rng.normal(size=(n, 2, 2)).astype(np.float32)]


def mask_for(action: ActionSpec, n: int = 6) -> np.ndarray | None:
    if not action.discrete_branches:
        return None
    mask = np.ones((n, sum(action.discrete_branches)), bool)
    mask[::2, 0] = False  # every other agent may not pick the first choice of the first branch
    return mask


def torch_evaluate(net: ActorCritic, obs: list[np.ndarray], mask: np.ndarray | None, continuous: np.ndarray, discrete: np.ndarray):
    with torch.no_grad():
        log_prob, _, values = net.evaluate(
            [torch.from_numpy(o) for o in obs],
            None if mask is None else torch.from_numpy(mask),
            torch.from_numpy(continuous),
            torch.from_numpy(discrete),
        )
    return log_prob.numpy(), values.numpy()


@pytest.mark.parametrize("kind", sorted(SPECS))
@pytest.mark.parametrize("shared", [False, True])
def test_sampled_actions_have_torchs_log_probs_and_values(kind: str, shared: bool) -> None:
    action = SPECS[kind]
    net = network(action, shared=shared)
    act = net.numpy_actor()
    assert act is not None
    obs, mask = observations(), mask_for(action)
    continuous, discrete, log_prob, values = act(obs, mask, False)
    assert continuous.shape == (6, action.continuous_size) and continuous.dtype == np.float32
    assert discrete.shape == (6, len(action.discrete_branches)) and discrete.dtype == np.int64
    expected_log_prob, expected_values = torch_evaluate(net, obs, mask, continuous, discrete)
    np.testing.assert_allclose(log_prob, expected_log_prob, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(values, expected_values, rtol=1e-4, atol=1e-5)
    if mask is not None:
        assert (discrete[::2, 0] != 0).all()


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_deterministic_actions_equal_torchs(kind: str) -> None:
    action = SPECS[kind]
    net = network(action, activation="relu")
    obs, mask = observations(), mask_for(action)
    continuous, discrete, log_prob, values = net.numpy_actor()(obs, mask, True)  # type: ignore[misc]
    with torch.no_grad():
        expected = net.act([torch.from_numpy(o) for o in obs], None if mask is None else torch.from_numpy(mask), True)
    np.testing.assert_allclose(continuous, expected[0].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(discrete, expected[1].numpy())
    np.testing.assert_allclose(log_prob, expected[2].numpy(), atol=1e-6)
    np.testing.assert_allclose(values, expected[3].numpy(), rtol=1e-5, atol=1e-6)


def test_draws_follow_the_policy_probabilities() -> None:
    net = network(SPECS["branches"])
    obs = [np.repeat(o[:1], 20000, axis=0) for o in observations()]
    _, discrete, _, _ = net.numpy_actor()(obs, None, False)  # type: ignore[misc]
    with torch.no_grad():
        features = net.actor_features([torch.from_numpy(o[:1]) for o in obs])
        probs = [p.exp()[0].numpy() for p in net.head.branch_log_probs(features, None)]
    for branch, p in enumerate(probs):
        frequencies = np.bincount(discrete[:, branch], minlength=len(p)) / len(discrete)
        np.testing.assert_allclose(frequencies, p, atol=0.015)


def test_acting_follows_weights_changed_in_place() -> None:
    """Optimizer steps, checkpoint loads and normaliser updates write into the parameters:
    acting sees them without being rebuilt."""
    net = network(SPECS["continuous"])
    act = net.numpy_actor()
    obs = observations()
    before = act(obs, None, True)  # type: ignore[misc]
    other = network(SPECS["continuous"], normalize=True)
    with torch.no_grad():
        for parameter in other.parameters():
            parameter.mul_(1.5)
    net.load_state_dict(other.state_dict())
    net.encoder.update_normalizer([torch.randn(30, 3) * 5, torch.randn(30, 2, 2)])
    after = act(obs, None, True)  # type: ignore[misc]
    with torch.no_grad():
        expected = net.act([torch.from_numpy(o) for o in obs], None, True)
    assert not np.allclose(before[0], after[0])
    np.testing.assert_allclose(after[0], expected[0].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(after[3], expected[3].numpy(), rtol=1e-5, atol=1e-6)


def test_policy_uses_numpy_on_the_cpu_and_torch_otherwise() -> None:
    spec = BehaviorSpec((ObservationSpec((3,)),), SPECS["discrete"])
    numpy_policy = Policy(spec, network(SPECS["discrete"]), torch.device("cpu"))
    assert numpy_policy._numpy_act is not None
    swish = ActorCritic(spec, NetworkSettings(hidden_units=8, activation="swish"), ["extrinsic"])
    assert swish.numpy_actor() is None  # an activation only torch has here
    images = BehaviorSpec((ObservationSpec((8, 8, 1)),), SPECS["discrete"])
    assert ActorCritic(images, NetworkSettings(hidden_units=8), ["extrinsic"]).numpy_actor() is None
    torch_policy = Policy(spec, swish, torch.device("cpu"))
    assert torch_policy._numpy_act is None
    steps = DecisionSteps([np.zeros((4, 3), np.float32)], np.zeros(4, np.float32), np.arange(4))
    info = torch_policy.act(steps)
    assert info.action.discrete.shape == (4, 1) and info.values is not None and info.values.shape == (4, 1)


def test_a_seed_fixes_the_numpy_draws() -> None:
    spec = BehaviorSpec((ObservationSpec((3,)), ObservationSpec((2, 2))), SPECS["hybrid"])
    steps = DecisionSteps(observations(32), np.zeros(32, np.float32), np.arange(32))
    runs = []
    for _ in range(2):
        net = network(SPECS["hybrid"])
        torch.manual_seed(7)
        policy = Policy(spec, net, torch.device("cpu"))
        runs.append(policy.act(steps))
    np.testing.assert_array_equal(runs[0].action.continuous, runs[1].action.continuous)
    np.testing.assert_array_equal(runs[0].action.discrete, runs[1].action.discrete)


def test_numpy_acting_keeps_openblas_to_one_thread() -> None:
    from threadpoolctl import threadpool_info

    spec = BehaviorSpec((ObservationSpec((3,)), ObservationSpec((2, 2))), SPECS["discrete"])
    Policy(spec, network(SPECS["discrete"]), torch.device("cpu"))
    openblas = [pool for pool in threadpool_info() if pool["internal_api"] == "openblas"]
    assert all(pool["num_threads"] == 1 for pool in openblas)
