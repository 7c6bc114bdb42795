"""The ``gail`` signal through ``mlx run``: PPO and SAC learn built-in tasks from a heuristic's
demonstrations with GAIL as their only reward, the summaries are written, and ``--resume``
restores the discriminator, its optimizer and its sampling stream exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mlx_core.env.builtin import Goal1DDiscrete
from mlx_core.plugins.manager import get_plugins
from tests.conftest import run_mlx
from tests.state_equality import assert_same

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
THRESHOLD = 0.85  # Goal1D's learning threshold (optimum 0.96, random policy below 0)

# GAIL is the only reward signal: Environment/Cumulative Reward still reports the task's own
# reward, which the policy never sees. The discriminator sees actions (Goal1D's expert never
# stays put or steps away from the goal) and rewards log D - log(1 - D): the reference's
# -log(1 - D) is never negative, so it would also pay for dawdling until the step limit.
GAIL = (
    "{{demo_path: {demo}, use_actions: true, reward_form: logit, use_vail: {vail}, gamma: 0.9,"
    " learning_rate: 0.003, encoding_size: 32, network_settings: {{hidden_units: 64, num_layers: 2}}}}"
)
PPO_CONFIG = """
behaviors:
  Goal1DDiscrete:
    trainer: ppo
    hyperparameters: {{batch_size: 256, buffer_size: 1024, learning_rate: 0.003, learning_rate_schedule: constant, beta: 0.001, num_epoch: 3}}
    network_settings: {{hidden_units: 64, num_layers: 2}}
    reward_signals:
      gail: {gail}
    max_steps: {steps}
    summary_freq: 1024
    checkpoint_interval: {checkpoint}
env_settings: {{env: Goal1DDiscrete, num_envs: 8, seed: 1}}
torch_settings: {{device: cpu, num_threads: 1}}
"""
SAC_CONFIG = """
behaviors:
  Goal1DContinuous:
    trainer: sac
    hyperparameters: {{batch_size: 128, buffer_size: 20000, learning_rate: 0.001, buffer_init_steps: 500, train_interval: 4, init_entcoef: 0.05}}
    network_settings: {{hidden_units: 64, num_layers: 2, activation: relu}}
    reward_signals:
      gail: {gail}
    time_horizon: 16
    max_steps: {steps}
    summary_freq: 500
env_settings: {{env: Goal1DContinuous, num_envs: 8, seed: 1}}
torch_settings: {{device: cpu, num_threads: 1}}
"""


def record(folder: Path, task: str, expert: str) -> Path:
    """40 episodes of ``examples/heuristics.py:<expert>`` on ``task``, written by ``mlx record``."""
    output = folder / f"{task}.demo"
    proc = run_mlx(
        "record", "--env", task, "--num-envs", "4", "--seed", "1", "--policy", f"{EXAMPLES / 'heuristics.py'}:{expert}",
        "--episodes", "40", "--output", str(output), cwd=folder,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return output


@pytest.fixture(scope="module")
def demos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The scripted experts' demonstrations of both Goal1D tasks."""
    folder = tmp_path_factory.mktemp("demos")
    return {
        "Goal1DDiscrete": record(folder, "Goal1DDiscrete", "goal1d_discrete"),
        "Goal1DContinuous": record(folder, "Goal1DContinuous", "goal1d_continuous"),
    }


def scalars(behavior_dir: Path) -> dict[str, list[float]]:
    """Every scalar tag of a behavior's TensorBoard events, read with tensorboard's reader."""
    events = EventAccumulator(str(behavior_dir), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [e.value for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def train(folder: Path, text: str, run_id: str, *extra: str) -> Path:
    """``mlx run`` a configuration; the run folder."""
    (folder / f"{run_id}.yaml").write_text(text)
    proc = run_mlx("run", f"{run_id}.yaml", "--run-id", run_id, *extra, cwd=folder, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return folder / "results" / run_id


@pytest.mark.parametrize("vail", [False, True], ids=["gail", "vail"])
def test_ppo_with_gail_alone_reaches_goal1d_threshold(tmp_path: Path, demos: dict[str, Path], vail: bool) -> None:
    gail = GAIL.format(demo=demos["Goal1DDiscrete"], vail=str(vail).lower())
    run = train(tmp_path, PPO_CONFIG.format(gail=gail, steps=16384, checkpoint=16384), "ppo")
    found = scalars(run / "Goal1DDiscrete")
    returns = found["Environment/Cumulative Reward"]
    print(f"{'VAIL' if vail else 'GAIL'}: mean return per summary {np.round(returns, 2).tolist()}")
    assert returns[0] < 0.5, "the untrained policy already solves the task: the threshold proves nothing"
    assert max(returns[-3:]) >= THRESHOLD, returns
    assert "Policy/Extrinsic Reward" not in found  # GAIL alone: the task's reward never reached the policy
    for tag in (
        "Losses/GAIL Loss",
        "Losses/GAIL Gradient Penalty",
        "Policy/GAIL Reward",
        "Policy/GAIL Value Estimate",
        "Policy/GAIL Expert Estimate",
        "Policy/GAIL Policy Estimate",
    ):
        assert tag in found, f"{tag} missing from {sorted(found)}"
    # the discriminator tells the two apart: demonstrated steps score higher than the policy's
    expert, policy = found["Policy/GAIL Expert Estimate"], found["Policy/GAIL Policy Estimate"]
    assert np.mean(expert) > np.mean(policy)
    if vail:
        kl, beta = found["Policy/GAIL KL"], found["Policy/GAIL Beta"]
        assert all(k >= 0 for k in kl)
        # beta rises while the code carries more than the 0.5 nats it is held to
        assert beta[0] >= 0 and max(beta) > 0
    else:
        assert "Policy/GAIL KL" not in found and "Policy/GAIL Beta" not in found


def test_sac_with_gail_alone_learns_goal1d_continuous(tmp_path: Path, demos: dict[str, Path]) -> None:
    gail = GAIL.format(demo=demos["Goal1DContinuous"], vail="false")
    run = train(tmp_path, SAC_CONFIG.format(gail=gail, steps=3000), "sac")
    found = scalars(run / "Goal1DContinuous")
    returns = found["Environment/Cumulative Reward"]
    print(f"SAC + GAIL: mean return per summary {np.round(returns, 2).tolist()}")
    assert returns[0] < 0.5 and max(returns[-3:]) >= THRESHOLD, returns
    for tag in ("Losses/GAIL Loss", "Policy/GAIL Reward", "Policy/GAIL Expert Estimate", "Losses/Q1 Loss"):
        assert tag in found, f"{tag} missing from {sorted(found)}"


def test_resume_restores_discriminator_optimizer_and_beta_exactly(tmp_path: Path, demos: dict[str, Path]) -> None:
    gail = GAIL.format(demo=demos["Goal1DDiscrete"], vail="true")
    run = train(tmp_path, PPO_CONFIG.format(gail=gail, steps=2048, checkpoint=2048), "r")
    checkpoint = run / "Goal1DDiscrete" / "checkpoint-2048.pt"
    saved = torch.load(checkpoint, weights_only=True)["state"]["reward_signals"]["gail"]
    assert set(saved) == {"discriminator", "optimizer", "beta", "generator"}
    assert saved["optimizer"]["state"], "the discriminator's Adam has taken no step"
    assert saved["beta"] > 0

    # --resume with max_steps unchanged loads the checkpoint and saves it again at once
    resumed = run_mlx("run", "r.yaml", "--run-id", "r", "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "checkpoint_loaded" in resumed.stderr
    assert_same(saved, torch.load(checkpoint, weights_only=True)["state"]["reward_signals"]["gail"], "gail")

    # a signal built afresh and loaded from the checkpoint continues exactly as the saved one
    # would: two such copies take the same next update (same demonstrated samples, same noise)
    from mlx_core.config.loader import load_run_options

    settings = load_run_options(tmp_path / "r.yaml").behaviors["Goal1DDiscrete"].reward_signals["gail"]
    factory = get_plugins().get("reward signal", "gail", where="test").factory
    copies = []
    for seed in (1, 2):  # different construction seeds: everything that matters comes from the checkpoint
        torch.manual_seed(seed)
        signal = factory(spec=Goal1DDiscrete.spec, settings=settings, device=torch.device("cpu"))
        signal.load_state_dict(torch.load(checkpoint, weights_only=True)["state"]["reward_signals"]["gail"])
        assert_same(saved["discriminator"], signal.discriminator.state_dict(), "loaded discriminator")
        copies.append(signal)
    rng = np.random.default_rng(0)
    batch = {
        "obs": [np.stack([rng.uniform(-1, 1, 256), rng.choice([-1.0, 1.0], 256)], axis=1).astype(np.float32)],
        "continuous_actions": np.zeros((256, 0), np.float32),
        "discrete_actions": rng.integers(0, 3, (256, 1)),
        "env_rewards": np.zeros(256, np.float32),
        "done": np.zeros(256, bool),
    }
    stats = [signal.update(batch) for signal in copies]
    assert stats[0] == stats[1]
    assert_same(copies[0].state_dict(), copies[1].state_dict(), "after one more update")
    assert not torch.equal(copies[0].discriminator.code.weight, saved["discriminator"]["code.weight"])
