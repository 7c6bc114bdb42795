"""Shared fixtures for the demonstration tests: a spec and a real mlx file written by DemoWriter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlx_core.demos import DemoWriter
from mlx_core.env.base import ActionSpec, BehaviorSpec, ObservationSpec

SPEC = BehaviorSpec(
    observation_specs=(ObservationSpec((3,), "position"), ObservationSpec((4, 5, 2), "camera")),
    action_spec=ActionSpec(continuous_size=2, discrete_branches=(3, 2)),
)


def random_records(n: int, seed: int = 0, n_agents: int = 3) -> dict:
    """``n`` records of SPEC as DemoWriter.add's keyword arguments (agents interleaved, some episodes ending)."""
    rng = np.random.default_rng(seed)
    return {
        "observations": [rng.standard_normal((n, *o.shape)).astype(np.float32) for o in SPEC.observation_specs],
        "continuous_actions": rng.uniform(-1, 1, (n, 2)).astype(np.float32),
        "discrete_actions": np.stack([rng.integers(0, 3, n), rng.integers(0, 2, n)], axis=1),
        "rewards": rng.standard_normal(n).astype(np.float32),
        "dones": rng.random(n) < 0.1,
        "interrupted": rng.random(n) < 0.05,
        "action_masks": rng.random((n, 5)) < 0.8,
        "agent_ids": rng.integers(0, n_agents, n).astype(np.int64),
    }


@pytest.fixture
def demo_file(tmp_path: Path) -> tuple[Path, dict]:
    """A 1000-record mlx file written in three batches, and the records it holds."""
    records = random_records(1000)
    path = tmp_path / "expert.demo"
    with DemoWriter(path, "Walker", SPEC) as writer:
        for part in (slice(0, 1), slice(1, 600), slice(600, 1000)):
            writer.add(**{k: v[part] if not isinstance(v, list) else [o[part] for o in v] for k, v in records.items()})
    return path, records


def mlagents_demo_dir() -> Path:
    """/work/shared/data/mlagents-demos, found from the repository root as ../shared (may be absent)."""
    repo = Path(__file__).resolve().parents[3]
    return repo.parent / "shared" / "data" / "mlagents-demos"
