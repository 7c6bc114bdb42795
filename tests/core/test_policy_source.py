"""Policy sources (``mlx record --policy``, online_bc's teacher): every MODEL form loads and acts,
on a real training run's checkpoint and ONNX file; bad inputs are one sentence naming the flag."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from mlx_core.env.base import ActionTuple, DecisionSteps
from mlx_core.env.builtin import Goal1DContinuous, Goal1DDiscrete
from mlx_core.errors import MlxError
from mlx_core.policy_source import load_action_source

ROOT = Path(__file__).resolve().parents[2]
HEURISTICS = ROOT / "examples" / "heuristics.py"
CONFIG = """
behaviors:
  Goal1DDiscrete:
    trainer: ppo
    hyperparameters: {batch_size: 64, buffer_size: 256}
    max_steps: 512
    summary_freq: 512
env_settings: {env: Goal1DDiscrete, num_envs: 4, seed: 1}
"""
SPEC = Goal1DDiscrete.spec
BEHAVIOR = "Goal1DDiscrete"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``results/r`` of a real 512-step ``mlx run`` on Goal1DDiscrete (checkpoint-512.pt and the ONNX)."""
    from tests.conftest import run_mlx

    cwd = tmp_path_factory.mktemp("trained")
    (cwd / "config.yaml").write_text(textwrap.dedent(CONFIG))
    proc = run_mlx("run", "config.yaml", "--run-id", "r", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return cwd / "results" / "r"


def decisions(n: int = 64) -> DecisionSteps:
    """Decisions of Goal1DDiscrete's start states and of random states beyond them."""
    env = Goal1DDiscrete(num_envs=n, seed=3)
    first, _ = env.reset()[BEHAVIOR]
    obs = np.concatenate([first.obs[0], np.random.default_rng(0).uniform(-1, 1, (n, 2))]).astype(np.float32)
    return DecisionSteps(obs=[obs], reward=np.zeros(len(obs), np.float32), agent_id=np.arange(len(obs)))


def onnx_actions(path: Path, steps: DecisionSteps) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    masks = np.ones((len(steps), 3), np.float32)
    (actions,) = session.run(["discrete_actions"], {"obs_0": steps.obs[0], "action_masks": masks})
    return actions


def assert_error(call, *fragments: str) -> None:
    with pytest.raises(MlxError) as info:
        call()
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in {str(info.value)!r}"


# -- the four forms -----------------------------------------------------------------------------
def test_onnx_model_acts_as_onnxruntime_runs_it(run_dir: Path) -> None:
    path = run_dir / BEHAVIOR / f"{BEHAVIOR}.onnx"
    steps = decisions()
    actions = load_action_source(str(path), SPEC, BEHAVIOR).act(steps)
    assert actions.discrete.shape == (len(steps), 1) and actions.discrete.dtype == np.int64
    assert actions.continuous.shape == (len(steps), 0)
    np.testing.assert_array_equal(actions.discrete, onnx_actions(path, steps))


def test_checkpoint_and_run_folder_act_as_the_exported_model(run_dir: Path) -> None:
    steps = decisions()
    expected = onnx_actions(run_dir / BEHAVIOR / f"{BEHAVIOR}.onnx", steps)  # exported from the same step
    checkpoint = load_action_source(str(run_dir / BEHAVIOR / "checkpoint-512.pt"), SPEC, BEHAVIOR).act(steps)
    folder = load_action_source(str(run_dir), SPEC, BEHAVIOR).act(steps)
    np.testing.assert_array_equal(checkpoint.discrete, expected)
    np.testing.assert_array_equal(folder.discrete, expected)


@pytest.mark.parametrize("target", [f"{HEURISTICS}:goal1d_discrete", "tests.core.test_policy_source:toward_goal"])
def test_heuristic_from_a_file_or_a_module_walks_toward_the_goal(target: str) -> None:
    steps = decisions()
    actions = load_action_source(target, SPEC, BEHAVIOR).act(steps)
    np.testing.assert_array_equal(actions.discrete[:, 0], np.where(steps.obs[0][:, 1] > 0, 2, 0))


def toward_goal(observations: list[np.ndarray], spec) -> ActionTuple:
    """A module-level heuristic returning a full ActionTuple (found as tests.core.test_policy_source:toward_goal)."""
    n = len(observations[0])
    return ActionTuple(np.zeros((n, 0), np.float32), np.where(observations[0][:, 1:] > 0, 2, 0))


def test_continuous_heuristic_accepts_one_action_per_agent_as_a_flat_array() -> None:
    steps = decisions()
    actions = load_action_source(f"{HEURISTICS}:goal1d_continuous", Goal1DContinuous.spec, "Goal1DContinuous").act(
        steps
    )
    assert actions.continuous.shape == (len(steps), 1) and actions.continuous.dtype == np.float32
    np.testing.assert_array_equal(actions.continuous[:, 0], np.sign(steps.obs[0][:, 1]))


@pytest.mark.parametrize("model", ["onnx", "checkpoint"])
def test_sampling_repeats_with_the_seed_and_leaves_torch_global_generator_alone(run_dir: Path, model: str) -> None:
    path = run_dir / BEHAVIOR / (f"{BEHAVIOR}.onnx" if model == "onnx" else "checkpoint-512.pt")
    steps = decisions(512)

    def draws(seed: int) -> np.ndarray:
        source = load_action_source(str(path), SPEC, BEHAVIOR, seed=seed, deterministic=False)
        return np.stack([source.act(steps).discrete for _ in range(3)])

    before = torch.get_rng_state()
    first, again, other = draws(1), draws(1), draws(2)
    np.testing.assert_array_equal(first, again)
    assert (first != other).any()
    assert (first[0] != first[1]).any()  # each call draws anew
    assert torch.equal(torch.get_rng_state(), before)


# -- bad inputs ---------------------------------------------------------------------------------
def test_model_for_other_shapes_shows_both_specs(run_dir: Path) -> None:
    for path in (run_dir / BEHAVIOR / f"{BEHAVIOR}.onnx", run_dir / BEHAVIOR / "checkpoint-512.pt", run_dir):
        assert_error(
            lambda p=path: load_action_source(str(p), Goal1DContinuous.spec, "Goal1DContinuous", where="teacher"),
            "teacher",
            "1 discrete branches",
            "behavior Goal1DContinuous has observations (2,), 1 continuous actions, 0 discrete branches",
        )


def test_missing_file_names_the_flag_and_the_forms() -> None:
    assert_error(
        lambda: load_action_source("nowhere/model.onnx", SPEC, BEHAVIOR), "--policy nowhere/model.onnx", "no model file"
    )
    assert_error(lambda: load_action_source("nothing-here", SPEC, BEHAVIOR), "--policy nothing-here", "module:function")


def test_a_file_that_is_no_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "broken.onnx").write_bytes(b"not a graph")
    assert_error(lambda: load_action_source(str(tmp_path / "notes.txt"), SPEC, BEHAVIOR), "--policy", "neither")
    assert_error(
        lambda: load_action_source(str(tmp_path / "broken.onnx"), SPEC, BEHAVIOR), "--policy", "onnxruntime cannot load"
    )


def test_folder_without_checkpoints_is_refused(tmp_path: Path) -> None:
    assert_error(lambda: load_action_source(str(tmp_path), SPEC, BEHAVIOR), f"--policy {tmp_path}", "no checkpoints")


def test_missing_heuristic_module_file_or_function(tmp_path: Path) -> None:
    assert_error(
        lambda: load_action_source("no_such_module_xyz:act", SPEC, BEHAVIOR),
        "cannot import module 'no_such_module_xyz'",
    )
    assert_error(lambda: load_action_source(f"{tmp_path}/absent.py:act", SPEC, BEHAVIOR), "there is no file")
    assert_error(
        lambda: load_action_source(f"{HEURISTICS}:no_such_function", SPEC, BEHAVIOR),
        "has no function 'no_such_function'",
    )


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("return np.zeros((len(observations[0]), 2), np.int64)", "needs a (128, 1) integer array"),
        ("return np.full(len(observations[0]), 3)", "0 <= choice < branch size"),
        ("return np.full(len(observations[0]), 0.5)", "whole numbers"),
        ("return None", "returned None"),
    ],
)
def test_heuristic_returning_wrong_actions_is_refused_at_its_first_decision(
    tmp_path: Path, body: str, fragment: str
) -> None:
    (tmp_path / "bad.py").write_text(f"import numpy as np\n\ndef act(observations, spec):\n    {body}\n")
    source = load_action_source(f"{tmp_path}/bad.py:act", SPEC, BEHAVIOR)
    assert_error(
        lambda: source.act(decisions()), f"--policy {tmp_path}/bad.py:act returned", "behavior Goal1DDiscrete", fragment
    )
