"""``mlx run`` end to end in a subprocess: outputs on disk, read back with real readers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mlx_core.config.loader import canonical_dict, load_run_options
from mlx_core.env.builtin import make_builtin
from mlx_core.networks.actor_critic import ActorCritic

pytestmark = pytest.mark.slow

CONFIG = """
behaviors:
  MaskedGrid:
    trainer: ppo
    hyperparameters: {batch_size: 128, buffer_size: 1024, learning_rate: 0.003, num_epoch: 3}
    network_settings: {hidden_units: 32, num_layers: 2, normalize: true}
    max_steps: 4000
    summary_freq: 1000
    time_horizon: 32
env_settings: {env: MaskedGrid, num_envs: 8, seed: 3}
"""

SCALARS = [
    "Environment/Cumulative Reward",
    "Environment/Episode Length",
    "Losses/Policy Loss",
    "Losses/Value Loss",
    "Policy/Entropy",
    "Policy/Learning Rate",
]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory):
    """One real training run shared by the tests of this module."""
    from tests.conftest import run_mlx

    cwd = tmp_path_factory.mktemp("run")
    (cwd / "config.yaml").write_text(textwrap.dedent(CONFIG))
    proc = run_mlx("run", "config.yaml", "--run-id", "e2e", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return cwd, proc


def test_console_prints_a_summary_line_every_summary_freq(finished_run) -> None:
    _, proc = finished_run
    lines = [line for line in proc.stdout.splitlines() if line.startswith("MaskedGrid. Step:")]
    assert [line.split("Step: ")[1].split(".")[0] for line in lines] == ["1000", "2000", "3000", "4000"]
    assert all("Mean Reward:" in line and "Std of Reward:" in line for line in lines)


def test_tensorboard_scalars_read_back(finished_run) -> None:
    cwd, _ = finished_run
    acc = EventAccumulator(str(cwd / "results/e2e/MaskedGrid"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    for tag in SCALARS:
        assert tag in tags, f"{tag} missing from {tags}"
    steps = [e.step for e in acc.Scalars("Environment/Cumulative Reward")]
    assert steps == [1000, 2000, 3000, 4000]
    assert all(np.isfinite(e.value) for e in acc.Scalars("Losses/Value Loss"))


def test_onnx_actions_equal_the_torch_policy(finished_run) -> None:
    cwd, _ = finished_run
    folder = cwd / "results/e2e/MaskedGrid"
    options = load_run_options(cwd / "results/e2e/configuration.yaml")
    env = make_builtin("MaskedGrid", options=options, num_envs=64, seed=11)
    spec = env.specs["MaskedGrid"]
    decisions, _ = env.reset()["MaskedGrid"]
    network = ActorCritic(spec, options.behaviors["MaskedGrid"].network_settings, ["extrinsic"])
    network.load_state_dict(torch.load(folder / "checkpoint-4000.pt", weights_only=True)["state"]["network"])
    obs = [torch.as_tensor(o) for o in decisions.obs]
    mask = torch.as_tensor(decisions.action_mask)
    _, torch_actions, _, _ = network.act(obs, mask, deterministic=True)

    session = ort.InferenceSession(str(folder / "MaskedGrid.onnx"))
    (onnx_actions,) = session.run(
        ["discrete_actions"], {"obs_0": decisions.obs[0], "action_masks": decisions.action_mask.astype(np.float32)}
    )
    np.testing.assert_array_equal(onnx_actions, torch_actions.numpy())
    # the exported policy never picks a masked move
    chosen_allowed = np.take_along_axis(decisions.action_mask, onnx_actions, axis=1)
    assert chosen_allowed.all()


def test_configuration_yaml_reproduces_the_settings(finished_run) -> None:
    cwd, _ = finished_run
    written = load_run_options(cwd / "results/e2e/configuration.yaml")
    original = load_run_options(cwd / "config.yaml", {"checkpoint_settings": {"run_id": "e2e"}})
    assert written == original
    assert canonical_dict(written)["behaviors"]["MaskedGrid"]["hyperparameters"]["batch_size"] == 128


def test_existing_run_id_is_refused_and_left_untouched(finished_run) -> None:
    cwd, _ = finished_run
    checkpoint = cwd / "results/e2e/MaskedGrid/checkpoint-4000.pt"
    before = checkpoint.stat().st_mtime_ns
    from tests.conftest import run_mlx

    proc = run_mlx("run", "config.yaml", "--run-id", "e2e", cwd=cwd)
    assert proc.returncode != 0
    assert "already exists" in proc.stderr and "--force" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert checkpoint.stat().st_mtime_ns == before


def test_force_overwrites_and_gym_env_flag_overrides_file(tmp_path: Path, mlx) -> None:
    config = textwrap.dedent(CONFIG).replace("max_steps: 4000", "max_steps: 400")
    # CartPole-v1 has no section of its own: it trains with default_settings
    config += "default_settings: {max_steps: 400, summary_freq: 200}\n"
    (tmp_path / "config.yaml").write_text(config)
    assert mlx("run", "config.yaml", "--run-id", "x").returncode == 0
    proc = mlx("run", "config.yaml", "--run-id", "x", "--force", "--env", "CartPole-v1", "--num-envs", "2")
    assert proc.returncode == 0, proc.stderr
    assert "CartPole-v1. Step: 400." in proc.stdout
    assert (tmp_path / "results/x/CartPole-v1/CartPole-v1.onnx").exists()
    assert not (tmp_path / "results/x/MaskedGrid").exists()
