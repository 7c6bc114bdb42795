"""Shared fixtures: running the real ``mlx`` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

# Runs the CLI in an interpreter that sees every installed distribution's entry points except
# those of the distributions named in argv[1] (comma-separated): a plugin as if not installed.
_WITHOUT_PLUGINS = """
import sys
from importlib import metadata

hidden = set(sys.argv[1].split(","))
installed = metadata.entry_points

def visible(**selection):
    found = installed(**selection)
    return metadata.EntryPoints(ep for ep in found if ep.dist is None or ep.dist.name not in hidden)

metadata.entry_points = visible
from mlx_core.cli import main

sys.argv = ["mlx", *sys.argv[2:]]
main()
"""


def run_mlx(
    *args: str, cwd: Path, timeout: float = 300, without: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run ``mlx <args>`` with this interpreter, as a user would from a shell; ``without`` names
    plugin distributions to treat as not installed."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = ["-c", _WITHOUT_PLUGINS, ",".join(without)] if without else ["-m", "mlx_core.cli"]
    return subprocess.run(
        [sys.executable, *command, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture
def mlx(tmp_path: Path):
    """``mlx(*args, without=("mlx-x",))`` runs the CLI in ``tmp_path`` (with those plugin
    distributions hidden) and returns the completed process."""

    def call(*args: str, timeout: float = 300, without: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
        return run_mlx(*args, cwd=tmp_path, timeout=timeout, without=without)

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
