"""``mlx export`` and ``mlx eval`` end to end in subprocesses, on a real (tiny) training run."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from mlx_core.env.base import DecisionSteps
from mlx_core.env.builtin import Goal1DDiscrete
from mlx_core.shipping import load_policy

pytestmark = pytest.mark.slow

GOAL_CONFIG = """
behaviors:
  Goal1DDiscrete:
    trainer: ppo
    hyperparameters: {batch_size: 128, buffer_size: 512}
    max_steps: 3000
    summary_freq: 1000
env_settings: {env: Goal1DDiscrete, num_envs: 8, seed: 1}
"""

CARTPOLE_CONFIG = """
behaviors:
  CartPole-v1:
    trainer: ppo
    hyperparameters: {batch_size: 64, buffer_size: 512}
    max_steps: 2000
    summary_freq: 1000
env_settings: {env: CartPole-v1, num_envs: 4, seed: 1}
"""

MEAN_LINE = re.compile(r"^(\S+): mean return (-?\d+\.\d+) ± (\d+\.\d+) over (\d+) episodes$", re.MULTILINE)


def train(tmp_path_factory: pytest.TempPathFactory, config: str, *flags: str) -> Path:
    """A folder holding ``results/r`` from a real ``mlx run``."""
    from tests.conftest import run_mlx

    cwd = tmp_path_factory.mktemp("trained")
    (cwd / "config.yaml").write_text(textwrap.dedent(config))
    proc = run_mlx("run", "config.yaml", "--run-id", "r", *flags, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return cwd


@pytest.fixture(scope="module")
def goal_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Goal1DDiscrete trained for 3000 steps with checkpoints at 1000, 2000 and 3000."""
    return train(tmp_path_factory, GOAL_CONFIG, "--save-freq", "1000")


@pytest.fixture
def run_copy(goal_run: Path, tmp_path: Path) -> Path:
    """This test's own copy of ``results/r`` in the ``mlx`` fixture's folder (exports rewrite files)."""
    shutil.copytree(goal_run / "results", tmp_path / "results")
    return tmp_path / "results" / "r"


def mean_of(proc, behavior: str, episodes: int) -> float:
    assert proc.returncode == 0, proc.stderr
    (match,) = MEAN_LINE.findall(proc.stdout)
    assert match[0] == behavior and int(match[3]) == episodes, proc.stdout
    return float(match[1])


def assert_error(proc, *fragments: str) -> None:
    """Exit status 1, no traceback, the message on one ``Error:`` line."""
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: "), proc.stderr
    for fragment in fragments:
        assert fragment in error, f"{fragment!r} not in {error!r}"


def test_export_rewrites_the_onnx_from_the_named_checkpoint(run_copy: Path, mlx) -> None:
    folder = run_copy / "Goal1DDiscrete"
    onnx_path = folder / "Goal1DDiscrete.onnx"
    before = onnx_path.read_bytes()  # exported at the end of the run, step 3000

    proc = mlx("export", "results/r", "--checkpoint", "checkpoint-2000.pt")

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["results/r/Goal1DDiscrete/Goal1DDiscrete.onnx"]
    assert onnx_path.read_bytes() != before
    name, policy = load_policy(folder / "checkpoint-2000.pt")
    assert name == "Goal1DDiscrete"
    env = Goal1DDiscrete(num_envs=64, seed=11)
    first, _ = env.reset()["Goal1DDiscrete"]
    noise = np.random.default_rng(0).uniform(-2, 2, (256, *first.obs[0].shape[1:]))
    obs = np.concatenate([first.obs[0], noise]).astype(np.float32)  # states of the task, and beyond
    decisions = DecisionSteps(obs=[obs], reward=np.zeros(len(obs), np.float32), agent_id=np.arange(len(obs)))
    torch_actions = policy.act(decisions).env_action.discrete
    masks = np.ones((len(obs), sum(env.spec.action_spec.discrete_branches)), np.float32)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (onnx_actions,) = session.run(["discrete_actions"], {"obs_0": obs, "action_masks": masks})
    np.testing.assert_array_equal(onnx_actions, torch_actions)


def test_export_of_a_missing_run_folder_is_one_error_line(mlx) -> None:
    assert_error(mlx("export", "results/nowhere"), "results/nowhere")


def test_export_of_a_missing_checkpoint_lists_the_available_ones(run_copy: Path, mlx) -> None:
    assert_error(
        mlx("export", "results/r", "--checkpoint", "1500"),
        "checkpoint-1500.pt",
        "checkpoint-1000.pt, checkpoint-2000.pt, checkpoint-3000.pt",
    )


def test_eval_of_the_onnx_and_of_its_checkpoint_give_the_same_mean(run_copy: Path, mlx) -> None:
    folder = "results/r/Goal1DDiscrete"
    onnx = mean_of(
        mlx("eval", f"{folder}/Goal1DDiscrete.onnx", "--env", "Goal1DDiscrete", "--episodes", "20"),
        "Goal1DDiscrete",
        20,
    )
    checkpoint = mean_of(
        mlx("eval", f"{folder}/checkpoint-3000.pt", "--env", "Goal1DDiscrete", "--episodes", "20"), "Goal1DDiscrete", 20
    )
    assert onnx == checkpoint  # both deterministic, same environment seed (0)


def test_eval_video_of_an_environment_that_cannot_render_is_one_error_line(run_copy: Path, mlx) -> None:
    proc = mlx("eval", "results/r/Goal1DDiscrete/Goal1DDiscrete.onnx", "--env", "Goal1DDiscrete", "--video", "out.gif")
    assert_error(proc, "--video", "Goal1DDiscrete")


def test_eval_video_writes_a_gif_of_the_episodes(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, mlx) -> None:
    pytest.importorskip("pygame", reason="CartPole renders with pygame (gymnasium[classic-control])")
    from PIL import Image

    trained = train(tmp_path_factory, CARTPOLE_CONFIG)
    model = trained / "results/r/CartPole-v1/CartPole-v1.onnx"

    proc = mlx("eval", str(model), "--env", "CartPole-v1", "--episodes", "2", "--video", "out.gif")

    mean_of(proc, "CartPole-v1", 2)
    with Image.open(tmp_path / "out.gif") as gif:
        assert gif.n_frames > 1
        assert gif.size == (600, 400)
