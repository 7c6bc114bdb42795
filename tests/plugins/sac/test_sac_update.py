"""The SAC update: one thread or two give the same parameters, and each loss moves only its own."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from mlx_core.config.settings import NetworkSettings
from mlx_core.env.base import ActionSpec, BehaviorSpec, ObservationSpec
from mlx_sac import functional
from mlx_sac.networks import SACNetwork
from mlx_sac.optimizer import SACOptimizer
from mlx_sac.settings import SACSettings

N = 64


def _batch(spec: BehaviorSpec, seed: int) -> dict[str, torch.Tensor | list[torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    branches = spec.action_spec.discrete_branches
    discrete = torch.stack([torch.randint(0, b, (N,), generator=g) for b in branches], 1) if branches else torch.zeros(N, 0, dtype=torch.long)
    return {
        "obs": [torch.randn(N, 5, generator=g)],
        "next_obs": [torch.randn(N, 5, generator=g)],
        "continuous": torch.rand(N, spec.action_spec.continuous_size, generator=g) * 2 - 1,
        "discrete": discrete,
        "rewards": torch.randn(N, 1, generator=g),
        "done": (torch.rand(N, generator=g) < 0.1).float(),
    }


def _trained(spec: BehaviorSpec, threads: int, updates: int = 4) -> tuple[SACOptimizer, list[dict[str, float]], set[str]]:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        net = SACNetwork(spec, NetworkSettings(hidden_units=32, num_layers=2, activation="relu", normalize=False), ["extrinsic"])
        optimizer = SACOptimizer(net, SACSettings(batch_size=N, learning_rate=1e-2), [0.99])
        names_before = {t.name for t in threading.enumerate()}
        stats = [optimizer.update(_batch(spec, i), i, 1000) for i in range(updates)]
        new_threads = {t.name for t in threading.enumerate()} - names_before
        assert torch.get_num_threads() == threads  # the update leaves the setting as it found it
        return optimizer, stats, new_threads
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize(
    "action_spec", [ActionSpec(2, ()), ActionSpec(0, (3, 2)), ActionSpec(1, (3,))], ids=["continuous", "discrete", "hybrid"]
)
def test_two_threads_give_the_same_update_as_one(action_spec: ActionSpec) -> None:
    spec = BehaviorSpec(observation_specs=(ObservationSpec(shape=(5,)),), action_spec=action_spec)
    one, stats_one, threads_one = _trained(spec, threads=1)
    two, stats_two, threads_two = _trained(spec, threads=2)
    assert not threads_one
    assert any(name.startswith("mlx-sac-actor") for name in threads_two)  # the halves did run apart
    for (name, a), b in zip(one.network.named_parameters(), two.network.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    torch.testing.assert_close(one.log_alpha_continuous, two.log_alpha_continuous)
    torch.testing.assert_close(one.log_alpha_discrete, two.log_alpha_discrete)
    for a, b in zip(stats_one, stats_two, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key


def test_actor_loss_does_not_move_the_critics() -> None:
    """The actor's loss goes through the critics as constants: the critics' gradients in an
    update equal those of the Q losses alone, computed by hand from the same draws."""
    spec = BehaviorSpec(observation_specs=(ObservationSpec(shape=(5,)),), action_spec=ActionSpec(2, ()))
    torch.manual_seed(0)
    net = SACNetwork(spec, NetworkSettings(hidden_units=16, num_layers=2, activation="relu", normalize=False), ["extrinsic"])
    optimizer = SACOptimizer(net, SACSettings(batch_size=N, learning_rate=1e-3), [0.99])
    batch = _batch(spec, 0)
    captured: dict[str, torch.Tensor] = {}
    original = optimizer.critic_adam.apply_gradients

    def capture(*args: object, **kwargs: object) -> object:
        for name, p in net.critic.named_parameters():
            captured[name] = p.grad.clone()
        return original(*args, **kwargs)

    optimizer.critic_adam.apply_gradients = capture  # type: ignore[method-assign]
    optimizer.update(batch, 0, 1000)
    # the Q losses alone, from the same parameters and the same random draws
    optimizer.critic_adam.apply_gradients = original  # type: ignore[method-assign]
    torch.manual_seed(0)
    net2 = SACNetwork(spec, NetworkSettings(hidden_units=16, num_layers=2, activation="relu", normalize=False), ["extrinsic"])
    opt2 = SACOptimizer(net2, SACSettings(batch_size=N, learning_rate=1e-3), [0.99])
    features = net2.encoder(batch["obs"])
    next_noise = torch.randn(2, N, 2)[0]
    with torch.no_grad():
        next_features = net2.encoder(batch["next_obs"])
        next_c, next_lp, _ = functional.policy_terms(next_features, net2.actor_weights(), None, next_noise)
        t1, t2 = net2.target(next_features, next_c)
        alpha = opt2.log_alpha_continuous.exp()
        q_target = batch["rewards"] + 0.99 * (1 - batch["done"]).unsqueeze(1) * (torch.min(t1, t2)[:, :, 0] - alpha * next_lp.unsqueeze(1))
    q1, q2 = net2.critic(features, batch["continuous"])
    (0.5 * (q1[:, :, 0] - q_target).square().mean() + 0.5 * (q2[:, :, 0] - q_target).square().mean()).backward()
    for name, p in net2.critic.named_parameters():
        torch.testing.assert_close(captured[name], p.grad, rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.parametrize("signals", [["extrinsic"], ["extrinsic", "curiosity"]])
def test_twin_q_output_layer_is_the_batched_product(signals: list[str]) -> None:
    """One output per critic takes a weighted sum instead of the batched product; both forms
    give the same values and the same gradients for the weights and the actions."""
    torch.manual_seed(0)
    spec = BehaviorSpec((ObservationSpec((5,)),), ActionSpec(continuous_size=2))
    critic = SACNetwork(spec, NetworkSettings(hidden_units=32, num_layers=2, activation="relu"), signals).critic
    features = torch.randn(N, 5)
    actions = (torch.rand(N, 2) * 2 - 1).requires_grad_()
    q1, q2 = critic(features, actions)
    (q1.square().sum() + 3 * q2.sum()).backward()
    got = [critic.q_weight.grad.clone(), critic.q_bias.grad.clone(), actions.grad.clone()]

    critic.zero_grad()
    actions.grad = None
    h = critic.towers.stacked(torch.cat([features, actions], 1))
    q = torch.baddbmm(critic.q_bias, h, critic.q_weight)  # the textbook form, (2, n, outputs)
    assert q1.shape == (N, len(signals), 1)
    torch.testing.assert_close(q1.flatten(), q[0].flatten())
    torch.testing.assert_close(q2.flatten(), q[1].flatten())
    (q[0].square().sum() + 3 * q[1].sum()).backward()
    expected = [critic.q_weight.grad, critic.q_bias.grad, actions.grad]
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)


def test_a_checkpoint_with_one_adam_loads_into_the_two() -> None:
    """Checkpoints written when one Adam stepped the actor, the critics and the entropy
    coefficients (in that order) resume with each parameter's moments in the Adam that now
    steps it."""
    spec = BehaviorSpec((ObservationSpec((5,)),), ActionSpec(2, (3,)))
    torch.manual_seed(0)
    net = SACNetwork(spec, NetworkSettings(hidden_units=16, num_layers=2), ["extrinsic"])
    optimizer = SACOptimizer(net, SACSettings(batch_size=N, learning_rate=1e-3), [0.99])
    actor = list(net.actor_body.parameters()) + list(net.head.parameters())
    critics = list(net.critic.parameters()) + list(net.encoder.parameters())
    alphas = [optimizer.log_alpha_continuous, optimizer.log_alpha_discrete]
    old_order = actor + critics + alphas
    single = torch.optim.Adam(old_order, lr=1e-3)
    for i, p in enumerate(old_order):
        p.grad = torch.full_like(p, float(i + 1))
    single.step()
    state = {**optimizer.state_dict(), "adam": single.state_dict()}
    del state["actor_adam"], state["critic_adam"]

    optimizer.load_state_dict(state)
    for adam, params in ((optimizer.actor_adam, actor + alphas), (optimizer.critic_adam, critics)):
        assert adam.param_groups[0]["params"] == params
        for p in params:
            torch.testing.assert_close(adam.state[p]["exp_avg"], single.state[p]["exp_avg"])
            torch.testing.assert_close(adam.state[p]["exp_avg_sq"], single.state[p]["exp_avg_sq"])
    optimizer.update(_batch(spec, 0), 1, 1000)  # and it steps from there
    assert int(optimizer.critic_adam.state[critics[0]]["step"]) == 2


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("failing", ["actor", "critics"])
def test_an_update_with_a_failing_half_raises_and_changes_nothing(failing: str, threads: int) -> None:
    """An exception in either half reaches the caller (instead of leaving the other half waiting
    for it), no parameter moves, then or later, and the next update runs."""
    spec = BehaviorSpec((ObservationSpec((5,)),), ActionSpec(1, (3,)))
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        net = SACNetwork(spec, NetworkSettings(hidden_units=16, num_layers=2), ["extrinsic"])
        optimizer = SACOptimizer(net, SACSettings(batch_size=N, learning_rate=1e-3), [0.99])
        assert (optimizer._actor_thread is not None) == (threads == 2)
        batch = _batch(spec, 0)
        if failing == "critics":  # rewards that do not fit the targets (only the critics read them)
            broken = dict(batch, rewards=torch.zeros(N + 3, 1))
        else:  # masks that do not fit the branch (only the actor's loss reads them)
            broken = dict(batch, masks=torch.ones(N, 5, dtype=torch.bool))

        def parameters() -> list[torch.Tensor]:
            return [p.detach().clone() for p in [*optimizer.params, *net.target.parameters()]]

        before = parameters()
        outcome: list[object] = []

        def run() -> None:
            try:
                optimizer.update(broken, 0, 1000)
            except Exception as error:  # noqa: BLE001 - the test inspects it
                outcome.append(error)
            outcome.append(parameters())
            time.sleep(0.3)  # a half still running would change them now
            outcome.append(parameters())
            outcome.append(optimizer.update(batch, 1, 1000))

        worker = threading.Thread(target=run, daemon=True)  # a hang fails the test, not the suite
        worker.start()
        worker.join(timeout=60)
        assert not worker.is_alive(), "an update hung"
        error, right_after, later, stats = outcome
        assert isinstance(error, RuntimeError)
        for snapshot in (right_after, later):
            assert all(torch.equal(a, b) for a, b in zip(before, snapshot, strict=True))  # type: ignore[call-overload]
        assert isinstance(stats, dict) and all(v == v for v in stats.values())  # numbers, not NaN
        assert not all(torch.equal(a, b) for a, b in zip(before, parameters(), strict=True))
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize("private_op", [True, False])
def test_soft_update_moves_targets_tau_of_the_way_with_or_without_torchs_private_op(
    monkeypatch: pytest.MonkeyPatch, private_op: bool
) -> None:
    if not private_op:
        monkeypatch.delattr(torch, "_foreach_lerp_")
    torch.manual_seed(0)
    spec = BehaviorSpec((ObservationSpec((5,)),), ActionSpec(continuous_size=2))
    net = SACNetwork(spec, NetworkSettings(hidden_units=16, num_layers=1), ["extrinsic"])
    with torch.no_grad():
        for p in net.critic.parameters():
            p.add_(1.0)  # critic and target apart
    before = [t.clone() for t in net.target.parameters()]
    net.soft_update(0.25)
    for old, critic, target in zip(before, net.critic.parameters(), net.target.parameters(), strict=True):
        torch.testing.assert_close(target, old + 0.25 * (critic - old))
