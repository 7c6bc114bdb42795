"""Shared pieces of the mlx-bc tests: TensorBoard read-back and config files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import run_mlx

HERE = Path(__file__).parent
MLAGENTS_TEST_DEMO = Path(__file__).resolve().parents[4] / "shared" / "data" / "mlagents-demos" / "test.demo"


def scalars(behavior_dir: Path, tag: str) -> list[tuple[int, float]]:
    """(step, value) of every summary of ``tag`` in a behavior's TensorBoard events."""
    events = EventAccumulator(str(behavior_dir), size_guidance={"scalars": 0})
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def write_config(folder: Path, text: str, name: str = "config.yaml") -> Path:
    """A configuration file from indented text."""
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture(scope="session")
def mlagents_test_demo() -> Path:
    """ML-Agents' own ``test.demo`` (3DBall, obs [8], 2 continuous actions), read in place."""
    if not MLAGENTS_TEST_DEMO.is_file():
        pytest.skip(f"ML-Agents' test.demo is not at {MLAGENTS_TEST_DEMO} (the shared test data is absent)")
    return MLAGENTS_TEST_DEMO


def record_demos(folder: Path, task: str, expert: str, episodes: int, seed: int = 1) -> Path:
    """``mlx record`` the heuristic ``heuristics.py:<expert>`` on the built-in ``task``; the .demo path."""
    output = folder / f"{task}-{expert}.demo"
    proc = run_mlx(
        "record", "--env", task, "--num-envs", "4", "--seed", str(seed), "--policy", f"{HERE / 'heuristics.py'}:{expert}",
        "--episodes", str(episodes), "--output", str(output), cwd=folder,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return output
