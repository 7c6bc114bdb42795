"""The cloning loss on hybrid actions with masks, and the objective's state across --resume."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from mlx_bc.cloning import Cloner, DemoBatch
from mlx_core.config.loader import load_run_options
from mlx_core.config.settings import NetworkSettings
from mlx_core.env.base import ActionSpec, BehaviorSpec, ObservationSpec
from mlx_core.networks.actor_critic import ActorCritic
from mlx_core.plugins.manager import get_plugins
from mlx_core.training.checkpoints import latest_checkpoint, load_checkpoint
from mlx_core.training.controller import TrainerController
from tests.plugins.bc.conftest import record_demos, write_config

HYBRID = BehaviorSpec((ObservationSpec((4,)),), ActionSpec(continuous_size=2, discrete_branches=(3, 2)))


def expert_batch(n: int, rng: np.random.Generator) -> DemoBatch:
    """Demonstrations of a fixed rule on hybrid actions; the first branch's choice 0 is masked
    where the expert never takes it, so only the masked policy can match the expert there."""
    obs = rng.normal(size=(n, 4)).astype(np.float32)
    continuous = np.tanh(obs[:, :2])
    masks = np.ones((n, 5), bool)
    masks[:, 0] = obs[:, 2] > 0  # choice 0 allowed only where obs[2] > 0
    first = np.where(obs[:, 2] > 0, 0, np.where(obs[:, 3] > 0, 1, 2))
    second = (obs[:, 0] + obs[:, 1] > 0).astype(np.int64)
    discrete = np.stack([first, second], axis=1)
    return DemoBatch.from_arrays([obs], continuous, discrete, masks, torch.device("cpu"))


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread, as training runs use (torch_settings.num_threads): small networks on a
    shared machine are many times slower with several."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("one_thread")
def test_cloner_learns_hybrid_actions_under_masks() -> None:
    torch.manual_seed(0)
    demos = expert_batch(512, np.random.default_rng(0))
    network = ActorCritic(HYBRID, NetworkSettings(hidden_units=64), ["extrinsic"])
    cloner = Cloner(network, HYBRID, learning_rate=3e-3)

    first = cloner.train(demos, num_epoch=1, batch_size=64)
    for _ in range(60):
        last = cloner.train(demos, num_epoch=1, batch_size=64)

    assert last < 0.2 * first, (first, last)
    held_out = expert_batch(256, np.random.default_rng(1))
    continuous, discrete, _, _ = network.act(held_out.obs, held_out.masks, deterministic=True)
    assert (discrete == held_out.discrete).all(dim=1).float().mean() > 0.85
    assert (continuous - held_out.continuous).abs().mean() < 0.15
    assert held_out.masks is not None
    chosen_first = torch.nn.functional.one_hot(discrete[:, 0], 3).bool()
    assert not (chosen_first & ~held_out.masks[:, :3]).any()  # a masked choice is never taken


def test_resume_restores_the_behavioral_cloning_optimizer(tmp_path: Path) -> None:
    demos = record_demos(tmp_path, "Goal1DDiscrete", "goal_discrete", 8)
    text = f"""
    behaviors:
      Goal1DDiscrete:
        trainer: ppo
        hyperparameters: {{batch_size: 64, buffer_size: 256}}
        behavioral_cloning: {{demo_path: {demos}, steps: 10000}}
        network_settings: {{hidden_units: 16, num_layers: 1}}
        max_steps: 512
    env_settings: {{env: Goal1DDiscrete, num_envs: 4, seed: 1}}
    torch_settings: {{device: cpu}}
    checkpoint_settings: {{run_id: resumed, results_dir: {tmp_path / "results"}}}
    """
    run_dir = tmp_path / "results" / "resumed"
    TrainerController(load_run_options(write_config(tmp_path, text)), run_dir, get_plugins()).run()
    saved = load_checkpoint(latest_checkpoint(run_dir / "Goal1DDiscrete"))["state"]["objectives"]["behavioral_cloning"]

    options = load_run_options(write_config(tmp_path, text), {"checkpoint_settings": {"resume": True}})
    resumed = TrainerController(options, run_dir, get_plugins())
    resumed.prepare()
    objective = resumed.trainers["Goal1DDiscrete"].objectives["behavioral_cloning"]
    restored = objective.state_dict()["optimizer"]["state"]
    assert restored and restored.keys() == saved["optimizer"]["state"].keys()
    for key, moments in saved["optimizer"]["state"].items():
        assert torch.equal(restored[key]["exp_avg"], moments["exp_avg"])
