"""Shared by the ``test_stop_*`` modules: the ``faulty`` trainer plugin, really pip-installed,
and small configurations on the built-in Goal1DDiscrete task."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort

PLUGIN = Path(__file__).resolve().parent / "faulty_trainer"
DISTRIBUTION = "mlx-faulty-trainer"
BEHAVIOR = "Goal1DDiscrete"

# PPO on Goal1DDiscrete with 8 copies: an update every 256 experiences (every 32-40 steps).
FAULTY_CONFIG = """
behaviors:
  Goal1DDiscrete:
    trainer: faulty
    hyperparameters: {{batch_size: 64, buffer_size: 256, num_epoch: 2{faults}}}
    network_settings: {{hidden_units: 16, num_layers: 1}}
    max_steps: {max_steps}
    summary_freq: 400
    checkpoint_interval: 100000
    time_horizon: 32
env_settings: {{env: Goal1DDiscrete, num_envs: 8, seed: 1}}
torch_settings: {{device: cpu}}
"""


def faulty_config(max_steps: int, **faults: float) -> str:
    """:data:`FAULTY_CONFIG` with the ``faulty`` trainer's settings (``fail_on_update=3``, ...)."""
    return FAULTY_CONFIG.format(max_steps=max_steps, faults="".join(f", {k}: {v}" for k, v in faults.items()))


# A Goal1DDiscrete whose step() raises after ``fail_after`` calls (an environment's own bug).
BROKEN_ENV = '''
from mlx_core.env.builtin.goal import Goal1DDiscrete


class BrokenGoal(Goal1DDiscrete):
    """Goal1DDiscrete that raises from its step() once it made ``fail_after`` steps."""

    def __init__(self, fail_after: int = 100, num_envs: int = 8) -> None:
        super().__init__(num_envs)
        self.fail_after, self.steps = fail_after, 0

    def step(self, actions):
        self.steps += 1
        if self.steps > self.fail_after:
            raise RuntimeError(f"broken simulator gave up after {self.fail_after} steps")
        return super().step(actions)
'''

PPO_CONFIG = """
behaviors:
  Goal1DDiscrete:
    trainer: ppo
    hyperparameters: {{batch_size: 64, buffer_size: 256, num_epoch: 2}}
    network_settings: {{hidden_units: 16, num_layers: 1}}
    max_steps: {max_steps}
    summary_freq: 400
    time_horizon: 32
env_settings: {{env: {env}, num_envs: {num_envs}, seed: 1{extra_env}}}
torch_settings: {{device: cpu}}
"""


def write(folder: Path, name: str, text: str) -> Path:
    """Write a dedented file into ``folder``."""
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    """Run pip of this interpreter, offline."""
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def install_faulty_plugin(workdir: Path) -> Iterator[None]:
    """Install a copy of the ``faulty`` plugin (no build files in the repository); uninstall after."""
    source = workdir / "faulty_trainer"
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    proc = pip("install", "--no-deps", "--no-build-isolation", "--no-index", str(source))
    try:
        assert proc.returncode == 0, f"pip install failed:\n{proc.stdout}\n{proc.stderr}"
        yield
    finally:
        pip("uninstall", "-y", DISTRIBUTION)


def checkpoint_steps(folder: Path) -> list[int]:
    """Steps of the checkpoints in a behavior folder, ascending."""
    return sorted(int(p.stem.split("-")[1]) for p in folder.glob("checkpoint-*.pt"))


def run_onnx(path: Path) -> np.ndarray:
    """The exported model's deterministic actions for a few Goal1DDiscrete observations."""
    session = ort.InferenceSession(str(path))
    obs = np.array([[0.0, 1.0], [0.0, -1.0], [0.4, 1.0]], np.float32)
    masks = np.ones((3, 3), np.float32)
    (actions, *_) = session.run(["discrete_actions"], {"obs_0": obs, "action_masks": masks})
    return actions


def last_line(text: str) -> str:
    """The last non-empty line."""
    return [line for line in text.splitlines() if line.strip()][-1]


# Goal1DDiscrete that, once it made ``stall_after`` steps, writes ``stalled`` and blocks in
# step(): a simulator that stops answering. With ``start_seconds``, its constructor takes that
# long (a simulator that is slow to start).
STALLING_ENV = '''
import time
from pathlib import Path

from mlx_core.env.builtin.goal import Goal1DDiscrete


class StallingGoal(Goal1DDiscrete):
    """Goal1DDiscrete that blocks in step() after ``stall_after`` steps."""

    def __init__(self, stall_after: int = 100, start_seconds: float = 0.0, num_envs: int = 8) -> None:
        Path("starting").write_text("")
        time.sleep(start_seconds)
        super().__init__(num_envs)
        self.stall_after, self.steps = stall_after, 0

    def step(self, actions):
        self.steps += 1
        if self.steps > self.stall_after:
            Path("stalled").write_text("")
            time.sleep(600)
        return super().step(actions)
'''


def free_port() -> int:
    """A port that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """``mlx <args>`` in the background; stdout and stderr in files of ``cwd`` (read them after)."""
    name = args[0]
    with (cwd / f"{name}.out").open("w") as out, (cwd / f"{name}.err").open("w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "mlx_core.cli", *args],
            cwd=cwd,
            stdout=out,
            stderr=err,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def wait_for(path: Path, proc: subprocess.Popen[str], seconds: float = 120.0) -> None:
    """Wait until ``path`` exists (failing early if ``proc`` ended)."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, f"the process ended early with {proc.returncode}"
        assert time.monotonic() < deadline, f"{path} did not appear in {seconds} s"
        time.sleep(0.05)


def stop_and_time(proc: subprocess.Popen[str], signum: int = signal.SIGTERM, limit: float = 30.0) -> float:
    """Send ``signum``; the seconds until the process exited (killed after ``limit``)."""
    began = time.monotonic()
    proc.send_signal(signum)
    try:
        proc.wait(timeout=limit)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return time.monotonic() - began


# Goal1DDiscrete whose observations grow a third value after ``break_after`` steps: served over
# gRPC, its answers no longer match the shapes it announced (a malformed message).
MALFORMED_ENV = '''
import numpy as np

from mlx_core.env.builtin.goal import Goal1DDiscrete


class ShapeShifter(Goal1DDiscrete):
    """Goal1DDiscrete that sends 3 observation values per agent after ``break_after`` steps."""

    def __init__(self, break_after: int = 100, num_envs: int = 8) -> None:
        super().__init__(num_envs)
        self.break_after, self.steps = break_after, 0

    def step(self, actions):
        self.steps += 1
        return super().step(actions)

    def _observe(self):
        (obs,) = super()._observe()
        return [np.concatenate([obs, obs[:, :1]], axis=1)] if self.steps > self.break_after else [obs]
'''
