"""``mlx record`` end to end: the real CLI in a subprocess, the .demo files read back with mlx's reader."""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from mlx_core.demos import load_demos, read_info
from mlx_core.env.builtin import Goal1DDiscrete
from tests.conftest import run_mlx, start_mlx, wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
HEURISTICS = ROOT / "examples" / "heuristics.py"
GOAL_CONFIG = "env_settings: {env: Goal1DDiscrete, num_envs: 4}\n"
CARTPOLE_TRAINING = """
behaviors:
  CartPole-v1:
    trainer: ppo
    hyperparameters: {batch_size: 64, buffer_size: 256}
    max_steps: 512
    summary_freq: 512
env_settings: {env: CartPole-v1, num_envs: 2, seed: 1}
"""


@pytest.fixture(scope="module")
def cartpole_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The exported model of a real (short, so still clumsy) PPO run on CartPole-v1."""
    cwd = tmp_path_factory.mktemp("cartpole")
    (cwd / "config.yaml").write_text(textwrap.dedent(CARTPOLE_TRAINING))
    proc = run_mlx("run", "config.yaml", "--run-id", "r", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return cwd / "results" / "r" / "CartPole-v1" / "CartPole-v1.onnx"


@pytest.fixture
def goal_config(tmp_path: Path) -> str:
    (tmp_path / "goal.yaml").write_text(GOAL_CONFIG)
    return "goal.yaml"


def record(mlx, *args: str) -> str:
    proc = mlx("record", *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def assert_whole_episodes(path: Path) -> None:
    """Every agent's records form whole episodes written one after another, each ending in one done record."""
    _, steps = load_demos(path)
    ends = np.flatnonzero(steps.dones)
    assert ends[-1] == len(steps.dones) - 1
    for start, end in zip(np.r_[0, ends[:-1] + 1], ends):
        assert (steps.agent_ids[start : end + 1] == steps.agent_ids[end]).all()
    # the done record's action is zeros
    assert not steps.discrete_actions[ends].any() and not steps.continuous_actions[ends].any()


def test_heuristic_on_a_builtin_task_records_the_requested_whole_episodes(
    tmp_path: Path, goal_config: str, mlx
) -> None:
    stdout = record(
        mlx,
        goal_config,
        "--policy",
        f"{HEURISTICS}:goal1d_discrete",
        "--episodes",
        "7",
        "--output",
        "demos/goal.demo",
        "--seed",
        "5",
    )

    info = read_info(tmp_path / "demos" / "goal.demo")
    assert (info.format, info.behavior_name, info.spec) == ("mlx", "Goal1DDiscrete", Goal1DDiscrete.spec)
    assert info.episodes == 7  # 4 copies end together: the 8th episode is left out
    assert info.steps == 7 * 6  # 5 moves to the goal, then the done record
    assert info.mean_return == pytest.approx(0.96, abs=1e-5)
    assert "Wrote demos/goal.demo: behavior Goal1DDiscrete, 7 episodes, 42 steps, mean return 0.960, seed 5." in stdout
    assert "Recorded 7/7 episodes" in stdout  # not a terminal: plain progress lines
    assert_whole_episodes(tmp_path / "demos" / "goal.demo")
    shown = mlx("demo", "info", "demos/goal.demo").stdout
    assert "episodes:     7" in shown and "steps:        42" in shown, shown
    _, steps = load_demos(tmp_path / "demos" / "goal.demo")
    moves = ~steps.dones
    np.testing.assert_array_equal(steps.discrete_actions[moves, 0], np.where(steps.observations[0][moves, 1] > 0, 2, 0))


def test_the_same_seed_gives_the_same_file_byte_for_byte(tmp_path: Path, goal_config: str, mlx) -> None:
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        record(
            mlx,
            goal_config,
            "--policy",
            f"{HEURISTICS}:goal1d_discrete",
            "--episodes",
            "20",
            "--output",
            f"{name}.demo",
            "--seed",
            seed,
        )
    a, b, c = ((tmp_path / f"{name}.demo").read_bytes() for name in "abc")
    assert a == b
    assert a != c  # another seed draws other goals


def test_onnx_policy_on_gymnasium_cartpole_records_its_own_actions(cartpole_onnx: Path, tmp_path: Path, mlx) -> None:
    stdout = record(
        mlx,
        "--env",
        "CartPole-v1",
        "--num-envs",
        "3",
        "--policy",
        str(cartpole_onnx),
        "--episodes",
        "5",
        "--output",
        "cp.demo",
        "--seed",
        "2",
    )

    info = read_info(tmp_path / "cp.demo")
    assert (info.behavior_name, info.episodes) == ("CartPole-v1", 5)
    assert [o.shape for o in info.spec.observation_specs] == [(4,)] and info.spec.action_spec.discrete_branches == (2,)
    assert f"{info.steps} steps" in stdout
    assert_whole_episodes(tmp_path / "cp.demo")
    _, steps = load_demos(tmp_path / "cp.demo")
    assert info.mean_return == pytest.approx(steps.rewards.sum() / 5, rel=1e-6)
    moves = ~steps.dones
    session = ort.InferenceSession(str(cartpole_onnx), providers=["CPUExecutionProvider"])
    obs = steps.observations[0][moves]
    (expected,) = session.run(["discrete_actions"], {"obs_0": obs, "action_masks": np.ones((len(obs), 2), np.float32)})
    np.testing.assert_array_equal(steps.discrete_actions[moves], expected)


def test_ctrl_c_keeps_the_episodes_finished_so_far(tmp_path: Path) -> None:
    out = tmp_path / "long.demo"
    proc = start_mlx(
        "record",
        "--env",
        "CartPole-v1",
        "--policy",
        f"{HEURISTICS}:cartpole",
        "--episodes",
        "100000",
        "--output",
        str(out),
        cwd=tmp_path,
    )
    partial = tmp_path / "long.demo.partial"
    wait_until(lambda: partial.exists() and partial.stat().st_size > 100_000, seconds=120)  # a few 500-step episodes
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    info = read_info(out)
    assert 0 < info.episodes < 100000 and info.mean_return == 500.0
    assert not partial.exists()
    assert_whole_episodes(out)


def test_a_heuristic_with_wrong_actions_is_one_error_line_and_leaves_no_file(
    tmp_path: Path, goal_config: str, mlx
) -> None:
    (tmp_path / "wrong.py").write_text(
        "import numpy as np\n\ndef act(observations, spec):\n    return np.zeros((len(observations[0]), 4))\n"
    )
    proc = mlx("record", goal_config, "--policy", "wrong.py:act", "--episodes", "2", "--output", "w.demo")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: --policy wrong.py:act returned ndarray of shape (4, 4) for 4 agents"), error
    assert list(tmp_path.glob("w.demo*")) == []


def test_a_model_for_another_environment_is_refused_before_recording(
    cartpole_onnx: Path, goal_config: str, mlx
) -> None:
    proc = mlx("record", goal_config, "--policy", str(cartpole_onnx), "--episodes", "2", "--output", "w.demo")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert (
        "the model expects observations (4,)" in proc.stderr
        and "behavior Goal1DDiscrete has observations (2,)" in proc.stderr
    )


TWO_BEHAVIORS = """
from mlx_core.env.base import Environment
from mlx_core.env.builtin import Goal1DContinuous, Goal1DDiscrete


class TwoGoals(Environment):
    \"\"\"Two behaviors side by side: Walker (discrete goal task) and Runner (continuous goal task).\"\"\"

    def __init__(self):
        self.walker, self.runner = Goal1DDiscrete(num_envs=2), Goal1DContinuous(num_envs=1)

    @property
    def specs(self):
        return {"Walker": self.walker.spec, "Runner": self.runner.spec}

    def seed(self, seed):
        self.walker.seed(seed)
        self.runner.seed(seed + 1)

    def reset(self):
        return {"Walker": self.walker.reset()["Goal1DDiscrete"], "Runner": self.runner.reset()["Goal1DContinuous"]}

    def step(self, actions):
        walker = self.walker.step({"Goal1DDiscrete": actions["Walker"]})["Goal1DDiscrete"]
        runner = self.runner.step({"Goal1DContinuous": actions["Runner"]})["Goal1DContinuous"]
        return {"Walker": walker, "Runner": runner}
"""


def test_several_behaviors_need_behavior_and_a_policy_each(tmp_path: Path, mlx) -> None:
    (tmp_path / "two_goals.py").write_text(TWO_BEHAVIORS)
    common = ("--env", "two_goals.py:TwoGoals", "--episodes", "3", "--output", "runner.demo")
    runner_policy = ("--policy", f"{HEURISTICS}:goal1d_continuous")

    missing_behavior = mlx("record", *common, *runner_policy)
    assert missing_behavior.returncode == 1 and "--behavior" in missing_behavior.stderr
    assert "Walker, Runner" in missing_behavior.stderr
    missing_policy = mlx("record", *common, *runner_policy, "--behavior", "Runner")
    assert missing_policy.returncode == 1 and "No policy acts for behavior(s) Walker" in missing_policy.stderr

    record(mlx, *common, *runner_policy, "--behavior", "Runner", "--policy", f"Walker={HEURISTICS}:goal1d_discrete")
    info = read_info(tmp_path / "runner.demo")
    assert (info.behavior_name, info.spec.action_spec.continuous_size, info.episodes) == ("Runner", 1, 3)
    assert info.mean_return == pytest.approx(0.96, abs=1e-5)  # the heuristic walks straight to the goal


def test_the_environment_action_masks_are_recorded(tmp_path: Path, mlx) -> None:
    record(
        mlx,
        "--env",
        "MaskedGrid",
        "--num-envs",
        "4",
        "--policy",
        f"{HEURISTICS}:masked_grid",
        "--episodes",
        "30",
        "--output",
        "grid.demo",
    )

    info, steps = load_demos(tmp_path / "grid.demo")
    assert info[0].episodes == 30 and info[0].mean_return > 0.9  # the expert never takes a masked move
    moves = ~steps.dones
    x, y = steps.observations[0][moves, 0], steps.observations[0][moves, 1]
    allowed = steps.action_masks[moves]  # (records, 4): up, down, right, left
    np.testing.assert_array_equal(allowed, np.stack([y < 1, y > 0, x < 1, x > 0], axis=1))
    assert not allowed.all()  # agents did stand at an edge
