"""The curiosity and rnd signals on their own: action and observation kinds, what their rewards
single out, strength, checkpoints."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

from mlx_core.config.settings import NetworkSettings
from mlx_core.env.base import ActionSpec, BehaviorSpec, ObservationSpec
from mlx_curiosity.curiosity import CuriositySignal
from mlx_curiosity.rnd import RNDSignal
from mlx_curiosity.settings import CuriositySettings, RNDSettings

NET = NetworkSettings(hidden_units=32, num_layers=1)


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Small networks on a shared CI machine: torch's thread pool only waits for busy cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


ACTIONS = {
    "continuous": ActionSpec(continuous_size=2),
    "discrete": ActionSpec(discrete_branches=(3, 2)),
    "hybrid": ActionSpec(continuous_size=1, discrete_branches=(4,)),
}


def batch(spec: BehaviorSpec, steps: int, seed: int = 0, cells: range = range(8)) -> dict[str, Any]:
    """A trajectory batch on a ring of cells: the observation is the cell (one-hot, padded to
    each observation spec), the first action component moves one cell left or right."""
    rng = np.random.default_rng(seed)
    actions = spec.action_spec
    continuous = rng.uniform(-1, 1, (steps, actions.continuous_size)).astype(np.float32)
    discrete = (
        np.stack([rng.integers(0, n, steps) for n in actions.discrete_branches], axis=1)
        if actions.discrete_branches
        else np.zeros((steps, 0), np.int64)
    )
    move = np.where(continuous[:, 0] > 0, 1, -1) if actions.continuous_size else np.where(discrete[:, 0] > 0, 1, -1)
    first = cells.start + rng.integers(0, len(cells))
    cell = (first + np.concatenate([[0], np.cumsum(move)])) % len(cells) + cells.start

    def observe(c: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        obs = np.zeros((len(c), int(np.prod(shape))), np.float32)
        obs[np.arange(len(c)), c] = 1.0
        return obs.reshape(len(c), *shape)

    return {
        "obs": [observe(cell[:-1], o.shape) for o in spec.observation_specs],
        "next_obs": [observe(cell[1:], o.shape) for o in spec.observation_specs],
        "continuous_actions": continuous,
        "discrete_actions": discrete.astype(np.int64),
        "env_rewards": np.zeros(steps, np.float32),
        "done": np.zeros(steps, bool),
    }


@pytest.mark.parametrize("kind", list(ACTIONS))
def test_curiosity_learns_forward_and_inverse_models_for_every_action_kind(kind: str) -> None:
    torch.manual_seed(0)
    spec = BehaviorSpec((ObservationSpec((16,)),), ACTIONS[kind])
    signal = CuriositySignal(spec, CuriositySettings(encoding_size=16, learning_rate=3e-3, network_settings=NET))
    data = batch(spec, 256)
    first = signal.update(data)
    for _ in range(20):
        last = signal.update(data)
    assert set(first) == {"Forward Loss", "Inverse Loss"}
    assert last["Forward Loss"] < 0.5 * first["Forward Loss"]
    assert last["Inverse Loss"] < first["Inverse Loss"]
    rewards = signal.evaluate(data)
    assert rewards.shape == (256,) and rewards.dtype == np.float32 and (rewards >= 0).all()


@pytest.mark.parametrize("make", [CuriositySignal, RNDSignal])
def test_images_go_through_cores_encoder(make: type) -> None:
    torch.manual_seed(0)
    spec = BehaviorSpec((ObservationSpec((8, 8, 1)), ObservationSpec((4,))), ACTIONS["discrete"])
    settings_type = CuriositySettings if make is CuriositySignal else RNDSettings
    signal = make(spec, settings_type(encoding_size=8, network_settings=NET))
    encoder = signal.encoder if make is CuriositySignal else signal.predictor
    assert encoder.observations.visual_indices == [0]
    data = batch(spec, 64, cells=range(4))
    assert np.isfinite(list(signal.update(data).values())).all()
    assert signal.evaluate(data).shape == (64,)


@pytest.mark.parametrize("make", [CuriositySignal, RNDSignal])
def test_familiar_states_earn_less_than_new_ones(make: type) -> None:
    torch.manual_seed(0)
    spec = BehaviorSpec((ObservationSpec((16,)),), ACTIONS["discrete"])
    settings_type = CuriositySettings if make is CuriositySignal else RNDSettings
    signal = make(spec, settings_type(encoding_size=16, learning_rate=3e-3, network_settings=NET))
    familiar, new = batch(spec, 256, cells=range(0, 8)), batch(spec, 256, seed=1, cells=range(8, 16))
    for _ in range(20):
        signal.update(familiar)
    assert signal.evaluate(new).mean() > 3 * signal.evaluate(familiar).mean()


@pytest.mark.parametrize("make", [CuriositySignal, RNDSignal])
def test_reward_scales_with_strength(make: type) -> None:
    spec = BehaviorSpec((ObservationSpec((16,)),), ACTIONS["hybrid"])
    settings_type = CuriositySettings if make is CuriositySignal else RNDSettings
    data = batch(spec, 32)
    rewards = []
    for strength in (1.0, 0.25):
        torch.manual_seed(3)
        rewards.append(make(spec, settings_type(strength=strength, network_settings=NET)).evaluate(data))
    np.testing.assert_allclose(rewards[1], 0.25 * rewards[0], rtol=1e-5)


@pytest.mark.parametrize("make", [CuriositySignal, RNDSignal])
def test_state_dict_restores_networks_optimizer_and_minibatch_order(make: type) -> None:
    spec = BehaviorSpec((ObservationSpec((16,)),), ACTIONS["discrete"])
    settings_type = CuriositySettings if make is CuriositySignal else RNDSettings
    settings = settings_type(network_settings=NetworkSettings(hidden_units=32, num_layers=1, normalize=True))
    torch.manual_seed(0)
    trained = make(spec, settings)
    trained.update(batch(spec, 300))
    torch.manual_seed(1)  # a different initialisation, overwritten by the load
    restored = make(spec, settings)
    saved = io.BytesIO()
    torch.save(trained.state_dict(), saved)  # as checkpoints are written and read
    saved.seek(0)
    restored.load_state_dict(torch.load(saved, weights_only=True))
    data = batch(spec, 300, seed=5)
    np.testing.assert_array_equal(restored.evaluate(data), trained.evaluate(data))
    # the next update follows the same minibatches and Adam moments: still identical
    assert restored.update(data) == trained.update(data)
    for (name, a), b in zip(trained.networks.state_dict().items(), restored.networks.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_rnd_target_stays_fixed() -> None:
    torch.manual_seed(0)
    spec = BehaviorSpec((ObservationSpec((16,)),), ACTIONS["discrete"])
    signal = RNDSignal(spec, RNDSettings(network_settings=NET))
    target = {k: v.clone() for k, v in signal.target.state_dict().items()}
    losses = [signal.update(batch(spec, 256))["Loss"] for _ in range(20)]
    assert losses[-1] < losses[0]
    for key, value in signal.target.state_dict().items():
        torch.testing.assert_close(value, target[key], rtol=0, atol=0)


@pytest.mark.parametrize("make", [CuriositySignal, RNDSignal])
def test_scoring_trajectories_together_gives_each_the_rewards_it_gets_alone(make: type) -> None:
    """Trainers score an update's trajectories in one call: the rows must not affect each other."""
    from mlx_core.rewards.base import evaluate_signals

    torch.manual_seed(4)
    spec = BehaviorSpec((ObservationSpec((16,)),), ACTIONS["hybrid"])
    settings_type = CuriositySettings if make is CuriositySignal else RNDSettings
    signal = make(spec, settings_type(network_settings=NET))
    batches = [batch(spec, steps, seed=steps) for steps in (5, 64, 17)]
    together = evaluate_signals(batches, {"intrinsic": signal})
    for data, rewards in zip(batches, together):
        np.testing.assert_allclose(rewards[:, 0], signal.evaluate(data), rtol=1e-5, atol=1e-7)
