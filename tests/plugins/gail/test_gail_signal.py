"""The ``gail`` signal on its own: every action kind, both demonstration formats, the reward's
form, VAIL's beta, and user mistakes reported through ``mlx run``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mlx_core.config.settings import NetworkSettings
from mlx_core.demos import DemoWriter
from mlx_core.env.base import ActionSpec, BehaviorSpec, ObservationSpec
from mlx_core.errors import DemoError
from mlx_gail.reward import GAILRewardSignal
from mlx_gail.settings import GAILSettings
from tests.conftest import run_mlx

MLAGENTS_TEST_DEMO = Path(__file__).resolve().parents[4] / "shared" / "data" / "mlagents-demos" / "test.demo"
NET = NetworkSettings(hidden_units=32, num_layers=2)
ACTIONS = {
    "continuous": ActionSpec(continuous_size=2),
    "discrete": ActionSpec(discrete_branches=(3, 2)),
    "hybrid": ActionSpec(continuous_size=1, discrete_branches=(4,)),
}


def expert_actions(n: int, spec: ActionSpec) -> tuple[np.ndarray, np.ndarray]:
    """The expert's actions: always 0.8 on every continuous component and the last choice of
    every branch (only actions tell it from a random policy: both see the same observations)."""
    continuous = np.full((n, spec.continuous_size), 0.8, np.float32)
    discrete = np.tile(np.asarray(spec.discrete_branches, np.int64) - 1, (n, 1)).reshape(n, len(spec.discrete_branches))
    return continuous, discrete


def write_demo(path: Path, spec: BehaviorSpec, episodes: int = 20, length: int = 10) -> Path:
    """``episodes`` episodes of the expert's rule on random observations, the last record of each
    an episode end (its action zeros, as recorders write it)."""
    rng = np.random.default_rng(0)
    n = episodes * length
    obs = rng.uniform(-1, 1, (n, *spec.observation_specs[0].shape)).astype(np.float32)
    continuous, discrete = expert_actions(n, spec.action_spec)
    dones = np.zeros(n, bool)
    dones[length - 1 :: length] = True
    continuous[dones], discrete[dones] = 0.0, 0
    with DemoWriter(path, "Test", spec) as writer:
        writer.add([obs], continuous, discrete, np.full(n, 0.1, np.float32), dones, np.zeros(n, bool))
    return path


def policy_batch(spec: BehaviorSpec, n: int, seed: int = 1) -> dict[str, Any]:
    """Random observations with random actions: a policy that has learned nothing."""
    rng = np.random.default_rng(seed)
    actions = spec.action_spec
    return {
        "obs": [rng.uniform(-1, 1, (n, *spec.observation_specs[0].shape)).astype(np.float32)],
        "continuous_actions": rng.normal(0, 1, (n, actions.continuous_size)).astype(np.float32),
        "discrete_actions": rng.integers(0, actions.discrete_branches or (1,), (n, len(actions.discrete_branches))),
        "env_rewards": np.zeros(n, np.float32),
        "done": np.zeros(n, bool),
    }


@pytest.mark.parametrize("kind", list(ACTIONS))
@pytest.mark.parametrize("vail", [False, True], ids=["gail", "vail"])
def test_discriminator_with_actions_rewards_expert_actions_over_others(tmp_path: Path, kind: str, vail: bool) -> None:
    torch.manual_seed(0)
    spec = BehaviorSpec((ObservationSpec((4,)),), ACTIONS[kind])
    demo = write_demo(tmp_path / "expert.demo", spec)
    settings = GAILSettings(
        demo_path=str(demo), use_actions=True, use_vail=vail, learning_rate=3e-3, encoding_size=16, network_settings=NET
    )
    signal = GAILRewardSignal(spec, settings)
    assert len(signal.expert_actions) == 20 * 9, "episode-end records are not training samples"
    batch = policy_batch(spec, 256)
    for _ in range(15):
        stats = signal.update(batch)
    assert stats["Policy/GAIL Expert Estimate"] > stats["Policy/GAIL Policy Estimate"] + 0.2
    # the same states, once with the expert's actions and once with others
    continuous, discrete = expert_actions(256, spec.action_spec)
    flipped = np.zeros_like(discrete)  # the first choice of every branch, never the expert's
    good = signal.evaluate({**batch, "continuous_actions": continuous, "discrete_actions": discrete})
    bad = signal.evaluate({**batch, "continuous_actions": -continuous, "discrete_actions": flipped})
    assert good.dtype == np.float32 and good.shape == (256,)
    assert good.mean() > bad.mean() + 0.3
    assert (good >= 0).all() and (bad >= 0).all(), "-log(1 - D) is never negative"
    if vail:
        assert stats["Policy/GAIL KL"] > 0 and stats["Policy/GAIL Beta"] >= 0
        assert signal.beta > 0, "beta rises while the code carries more than the target KL"
    else:
        assert "Policy/GAIL KL" not in stats


def test_logit_reward_form_is_log_d_minus_log_one_minus_d(tmp_path: Path) -> None:
    torch.manual_seed(0)
    spec = BehaviorSpec((ObservationSpec((4,)),), ACTIONS["discrete"])
    demo = write_demo(tmp_path / "expert.demo", spec)
    positive = GAILRewardSignal(spec, GAILSettings(demo_path=str(demo), strength=0.5, network_settings=NET))
    logit = GAILRewardSignal(
        spec, GAILSettings(demo_path=str(demo), strength=0.5, reward_form="logit", network_settings=NET)
    )
    logit.discriminator.load_state_dict(positive.discriminator.state_dict())
    batch = policy_batch(spec, 64)
    obs = [torch.as_tensor(batch["obs"][0])]
    with torch.no_grad():
        d = torch.sigmoid(positive.discriminator(obs, torch.zeros(64, 5))[0]).double().numpy()
    np.testing.assert_allclose(positive.evaluate(batch), 0.5 * -np.log(1 - d), rtol=1e-4)
    np.testing.assert_allclose(logit.evaluate(batch), 0.5 * (np.log(d) - np.log(1 - d)), rtol=1e-4, atol=1e-5)


def test_reads_ml_agents_demonstrations(tmp_path: Path) -> None:
    if not MLAGENTS_TEST_DEMO.is_file():
        pytest.skip(f"ML-Agents' test.demo is not at {MLAGENTS_TEST_DEMO} (the shared test data is absent)")
    spec = BehaviorSpec((ObservationSpec((8,)),), ActionSpec(continuous_size=2))
    signal = GAILRewardSignal(
        spec, GAILSettings(demo_path=str(MLAGENTS_TEST_DEMO), use_actions=True, network_settings=NET)
    )
    assert signal.expert_obs[0].shape[1] == 8 and signal.expert_actions.shape[1] == 2
    assert np.isfinite(list(signal.update(policy_batch(spec, 64)).values())).all()
    wrong = BehaviorSpec((ObservationSpec((8,)),), ActionSpec(discrete_branches=(2,)))
    with pytest.raises(DemoError, match="reward_signals.gail.demo_path"):
        GAILRewardSignal(wrong, GAILSettings(demo_path=str(MLAGENTS_TEST_DEMO), network_settings=NET))


CONFIG = """
behaviors:
  Goal1DDiscrete:
    trainer: ppo
    reward_signals:
      gail: {gail}
    max_steps: 100
env_settings: {{env: Goal1DDiscrete}}
"""


def test_missing_demo_path_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG.format(gail="{strength: 1.0}"))
    proc = run_mlx("run", "config.yaml", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "behaviors.Goal1DDiscrete.reward_signals.gail.demo_path (line 6): missing" in proc.stderr


def test_demonstrations_for_another_spec_show_both_specs(tmp_path: Path) -> None:
    spec = BehaviorSpec((ObservationSpec((2,)),), ActionSpec(continuous_size=1))
    demo = write_demo(tmp_path / "continuous.demo", spec)
    (tmp_path / "config.yaml").write_text(CONFIG.format(gail=f"{{demo_path: {demo}}}"))
    proc = run_mlx("run", "config.yaml", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "reward_signals.gail.demo_path" in proc.stderr and str(demo) in proc.stderr
    assert "actions: continuous 1" in proc.stderr and "discrete 1 branch (3)" in proc.stderr
