"""The exported ONNX graph, run in onnxruntime: deterministic actions equal torch's; sampled
actions are valid draws (in range, never masked) and differ between calls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from mlx_core.config.settings import NetworkSettings
from mlx_core.env.base import ActionSpec, BehaviorSpec, ObservationSpec
from mlx_core.export.onnx import export_onnx
from mlx_core.networks.actor_critic import ActorCritic
from mlx_core.training.policy import Policy
from mlx_sac.networks import SACNetwork

SPEC = BehaviorSpec((ObservationSpec((5,)),), ActionSpec(continuous_size=2, discrete_branches=(3, 4)))
SETTINGS = NetworkSettings(hidden_units=16, num_layers=2)


def exported(network: torch.nn.Module, tmp_path: Path) -> ort.InferenceSession:
    path = export_onnx(Policy(SPEC, network, torch.device("cpu")), tmp_path / "model")
    return ort.InferenceSession(str(path))


def inputs(n: int = 256) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    masks = np.ones((n, 7), np.float32)
    masks[:, 0] = 0.0  # branch 0: choice 0 never allowed
    masks[::2, 4] = 0.0  # branch 1: choice 1 forbidden on even rows
    return {"obs_0": rng.normal(size=(n, 5)).astype(np.float32), "action_masks": masks}


def check(network: torch.nn.Module, session: ort.InferenceSession) -> None:
    feed = inputs()
    names = [o.name for o in session.get_outputs()]
    assert names == [
        "continuous_actions",
        "discrete_actions",
        "stochastic_continuous_actions",
        "stochastic_discrete_actions",
    ]
    cont, disc, s_cont, s_disc = session.run(None, feed)
    mask = torch.from_numpy(feed["action_masks"]) > 0.5
    t_cont, t_disc, _, _ = network.act([torch.from_numpy(feed["obs_0"])], mask, deterministic=True)
    np.testing.assert_allclose(cont, np.clip(t_cont.numpy(), -1, 1), atol=1e-5)
    np.testing.assert_array_equal(disc, t_disc.numpy())
    assert np.abs(s_cont).max() <= 1.0
    allowed = feed["action_masks"].astype(bool)
    offsets = np.array([0, 3])
    for taken in (disc, s_disc):
        assert allowed[np.arange(len(taken))[:, None], taken + offsets].all()
    again_cont, again_disc = session.run(["stochastic_continuous_actions", "stochastic_discrete_actions"], feed)
    assert not np.allclose(again_cont, s_cont)
    assert len(np.unique(s_disc[:, 1])) > 1


def test_ppo_actor_critic_export(tmp_path: Path) -> None:
    torch.manual_seed(0)
    network = ActorCritic(SPEC, SETTINGS, ["extrinsic"])
    check(network, exported(network, tmp_path))


def test_sac_network_export(tmp_path: Path) -> None:
    torch.manual_seed(0)
    network = SACNetwork(SPEC, SETTINGS, ["extrinsic"])
    check(network, exported(network, tmp_path))
