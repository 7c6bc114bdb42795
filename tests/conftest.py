"""Shared fixtures: running the real ``mlx`` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
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


def start_mlx(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """Start ``mlx <args>`` in the background (stdout dropped, stderr kept) for tests that
    signal or watch a running trainer."""
    return subprocess.Popen(
        [sys.executable, "-m", "mlx_core.cli", *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_until(condition: Callable[[], object], seconds: float = 60.0) -> None:
    """Poll ``condition`` every 0.1 s until it is true or ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
