"""SAC's update functions: compiled by TorchScript they compute what they compute as Python."""

from __future__ import annotations

import pytest
import torch

from mlx_core.config.settings import NetworkSettings
from mlx_core.env.base import ActionSpec, BehaviorSpec, ObservationSpec
from mlx_core.networks.encoders import ACTIVATION_FUNCTIONS
from mlx_core.networks.heads import ActionHead
from mlx_core.networks.towers import activate
from mlx_sac import functional
from mlx_sac.networks import SACNetwork
from mlx_sac.optimizer import SACOptimizer
from mlx_sac.settings import SACSettings

N = 48


def _batch(spec: BehaviorSpec, seed: int, signals: int) -> dict[str, object]:
    g = torch.Generator().manual_seed(seed)
    branches = spec.action_spec.discrete_branches
    discrete = [torch.randint(0, b, (N,), generator=g) for b in branches]
    batch: dict[str, object] = {
        "obs": [torch.randn(N, 5, generator=g)],
        "next_obs": [torch.randn(N, 5, generator=g)],
        "continuous": torch.rand(N, spec.action_spec.continuous_size, generator=g) * 2 - 1,
        "discrete": torch.stack(discrete, 1) if discrete else torch.zeros(N, 0, dtype=torch.long),
        "rewards": torch.randn(N, signals, generator=g),
        "done": (torch.rand(N, generator=g) < 0.1).float(),
    }
    if branches:  # every choice allowed but the last of each branch, for half of the agents
        mask = torch.ones(N, sum(branches), dtype=torch.bool)
        ends = torch.tensor(branches).cumsum(0) - 1
        mask[: N // 2, ends] = False
        batch["masks"] = batch["next_masks"] = mask
    return batch


def _trained(
    spec: BehaviorSpec,
    compiled: bool,
    threads: int,
    activation: str,
    signals: list[str],
    layers: int,
    clip: float | None,
    updates: int = 3,
) -> list[torch.Tensor]:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        net = SACNetwork(spec, NetworkSettings(hidden_units=24, num_layers=layers, activation=activation), signals)
        hp = SACSettings(batch_size=N, learning_rate=1e-2, max_grad_norm=clip)
        optimizer = SACOptimizer(net, hp, [0.99] * len(signals), compiled=compiled)
        for i in range(updates):
            optimizer.update(_batch(spec, i, len(signals)), i, 1000)
        return [p.detach().clone() for p in [*optimizer.params, *net.target.parameters()]]
    finally:
        torch.set_num_threads(previous)


def test_the_update_functions_compile() -> None:
    """On this torch the update runs compiled (not on the fallback, which would hide a
    function TorchScript cannot read)."""
    run = functional.compiled()
    for name in ("critic_targets", "critic_losses", "actor_losses"):
        assert isinstance(getattr(run, name), torch.jit.ScriptFunction), name


@pytest.mark.parametrize(
    ("action", "activation", "signals", "layers", "clip"),
    [
        (ActionSpec(2, ()), "relu", ["extrinsic"], 2, None),
        (ActionSpec(2, ()), "tanh", ["extrinsic", "curiosity"], 2, None),
        (ActionSpec(0, (3, 2)), "swish", ["extrinsic"], 2, None),
        (ActionSpec(1, (3,)), "relu", ["extrinsic", "curiosity"], 2, 0.5),
        (ActionSpec(1, (3,)), "relu", ["extrinsic"], 0, None),
    ],
    ids=["continuous", "continuous-two-signals", "discrete-masked", "hybrid-two-signals-clipped", "hybrid-no-hidden-layers"],
)
@pytest.mark.parametrize("threads", [1, 2])
def test_compiled_updates_equal_the_python_ones(
    action: ActionSpec, activation: str, signals: list[str], layers: int, clip: float | None, threads: int
) -> None:
    spec = BehaviorSpec((ObservationSpec((5,)),), action)
    compiled = _trained(spec, True, threads, activation, signals, layers, clip)
    plain = _trained(spec, False, threads, activation, signals, layers, clip)
    for a, b in zip(compiled, plain, strict=True):
        assert torch.equal(a, b)
    initial = _trained(spec, True, threads, activation, signals, layers, clip, updates=0)
    assert all(not torch.equal(a, b) for a, b in zip(compiled[:1] + compiled[-1:], initial[:1] + initial[-1:]))  # moved


def test_every_activation_the_config_offers_is_a_layer_activation() -> None:
    x = torch.randn(7, 5)
    for name, function in ACTIVATION_FUNCTIONS.items():
        torch.testing.assert_close(activate(x.clone(), name), function(x))


def test_branch_log_probs_equal_the_core_heads() -> None:
    torch.manual_seed(0)
    head = ActionHead(8, ActionSpec(0, (3, 4)))
    features = torch.randn(N, 8)
    mask = torch.rand(N, 7) > 0.3
    mask[:, 0] = mask[:, 3] = True  # a choice left in each branch
    logits = torch.nn.functional.linear(features, head.logits.weight, head.logits.bias)
    for masks in (None, mask):
        got = functional.branch_log_probs(logits, masks, [3, 4])
        for a, b in zip(got, head.branch_log_probs(features, masks), strict=True):
            assert torch.equal(a, b)
