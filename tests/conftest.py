"""Shared fixtures: running the real ``mlx`` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def run_mlx(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``mlx <args>`` with this interpreter, as a user would from a shell."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mlx_core.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture
def mlx(tmp_path: Path):
    """``mlx(*args)`` runs the CLI in ``tmp_path`` and returns the completed process."""

    def call(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return run_mlx(*args, cwd=tmp_path, timeout=timeout)

    return call
