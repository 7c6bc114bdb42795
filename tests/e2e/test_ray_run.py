"""``mlx run --executor ray`` for real: each run starts its own local Ray instance (2 actors,
2 CPUs), trains through the actors, survives an actor killed mid-run, stops cleanly on
SIGTERM, and without Ray installed says in one line what to install."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import run_mlx
from tests.core.env.test_workers import FLAKY, pids, wait_gone
from tests.e2e.test_cli_errors import assert_one_paragraph_error

pytest.importorskip("ray")

BEHAVIOR = "Goal1DDiscrete"
CONFIG = """\
behaviors:
  Goal1DDiscrete:
    trainer: ppo
    hyperparameters: {{batch_size: 64, buffer_size: 256, learning_rate: 0.003, num_epoch: 3}}
    network_settings: {{hidden_units: 32, num_layers: 1}}
    max_steps: {max_steps}
    summary_freq: 500
    time_horizon: 32
env_settings:
  env: {env}
  num_envs: 2
  seed: 1
  executor: ray
  env_args: {env_args}
torch_settings: {{device: cpu}}
"""
SUMMARY = re.compile(r"^Goal1DDiscrete\. Step: (\d+)\. .*Mean Reward: (-?[\d.]+)\.", re.M)
# what Ray's own loggers print ("2026-01-01 10:00:00,123 WARNING worker.py:1234 -- ...")
RAY_LOG_LINE = re.compile(r"^\S+ \S+ (INFO|WARNING|ERROR) \w+\.py:\d+ -- ", re.M)


def write_config(folder: Path, max_steps: int, env: str = BEHAVIOR, env_args: str = "[]") -> Path:
    path = folder / "ray.yaml"
    path.write_text(CONFIG.format(max_steps=max_steps, env=env, env_args=env_args))
    return path


def events(run_dir: Path) -> list[dict]:
    lines = (run_dir / "run_logs" / "log.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def start(config: Path, run_id: str, cwd: Path) -> subprocess.Popen[str]:
    """``mlx run`` in the background with stdout readable line by line (its summaries)."""
    return subprocess.Popen(
        [sys.executable, "-m", "mlx_core.cli", "run", str(config), "--run-id", run_id],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def read_until_summary(trainer: subprocess.Popen[str]) -> str:
    """stdout up to the first summary line: training runs through the actors by then."""
    assert trainer.stdout is not None
    seen = ""
    for line in trainer.stdout:
        seen += line
        if SUMMARY.search(line):
            return seen
    raise AssertionError(f"the run ended before its first summary: {seen}{trainer.communicate()[1]}")


@pytest.mark.slow
def test_two_ray_actors_train_goal1d_to_its_threshold(tmp_path: Path) -> None:
    proc = run_mlx("run", str(write_config(tmp_path, 3000)), "--run-id", "ray", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summaries = [(int(step), float(reward)) for step, reward in SUMMARY.findall(proc.stdout)]
    assert summaries[-1][0] == 3000 and summaries[-1][1] >= 0.85, summaries
    assert not RAY_LOG_LINE.search(proc.stderr + proc.stdout), "Ray's own log lines reached the console"
    assert "ray_started" in proc.stderr and "ray_actors_started" in proc.stderr
    assert "ray_stopped" in [e["event"] for e in events(tmp_path / "results" / "ray")]


@pytest.mark.slow
def test_an_actor_killed_mid_run_is_replaced_and_training_completes(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    config = write_config(tmp_path, 1500, env=FLAKY, env_args=f"[pid_file={pid_file}]")
    trainer = start(config, "killed", tmp_path)
    try:
        read_until_summary(trainer)
        first = pids(pid_file)
        assert len(first) == 2
        os.kill(first[0], signal.SIGKILL)  # the actor's process, as when its node goes away
        stdout, stderr = trainer.communicate(timeout=300)
    finally:
        if trainer.poll() is None:
            trainer.kill()
    assert trainer.returncode == 0, stderr
    restarts = [e for e in events(tmp_path / "results" / "killed") if e["event"] == "worker_restarted"]
    # the actors build their copies at the same time: either may have written the first pid
    assert len(restarts) == 1 and restarts[0]["worker"] in ("Ray actor 0", "Ray actor 1"), restarts
    assert f"{restarts[0]['worker']} died (" in restarts[0]["reason"]
    assert len(pids(pid_file)) == 3  # the replacement built its copy
    assert (tmp_path / "results" / "killed" / BEHAVIOR / "checkpoint-1500.pt").exists()
    assert SUMMARY.findall(stdout)[-1][0] == "1500"


@pytest.mark.slow
def test_sigterm_stops_the_actors_and_the_local_ray_instance(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    config = write_config(tmp_path, 10_000_000, env=FLAKY, env_args=f"[pid_file={pid_file}]")
    trainer = start(config, "stopped", tmp_path)
    try:
        read_until_summary(trainer)
        ray_processes = children(trainer.pid)  # gcs_server, raylet, ... that the run started
        assert any("raylet" in name for name in ray_processes.values()), ray_processes
        trainer.send_signal(signal.SIGTERM)
        stdout, stderr = trainer.communicate(timeout=120)
    finally:
        if trainer.poll() is None:
            trainer.kill()
    assert trainer.returncode == 0, stderr
    assert "Stopped by SIGTERM" in stdout.strip().splitlines()[-1]
    names = [e["event"] for e in events(tmp_path / "results" / "stopped")]
    assert "ray_stopped" in names and "checkpoint_saved" in names
    assert wait_gone(pids(pid_file) + list(ray_processes)) == [], "actors or Ray processes outlived the run"


def children(pid: int) -> dict[int, str]:
    """The direct child processes of ``pid`` and their names."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
        if int(rest[1]) == pid:
            found[int(stat.parent.name)] = name
    return found


def test_without_ray_executor_ray_says_what_to_install(tmp_path: Path) -> None:
    """Ray hidden from the import path (a meta-path finder in sitecustomize): one line, exit 1."""
    hide = tmp_path / "hide_ray"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        textwrap.dedent(
            """\
            import sys

            class HideRay:
                def find_spec(self, name, path=None, target=None):
                    if name == "ray" or name.startswith("ray."):
                        raise ImportError(f"No module named {name!r}")
                    return None

            sys.meta_path.insert(0, HideRay())
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", "mlx_core.cli", "run", "--env", BEHAVIOR, "--executor", "ray"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(hide)},
    )
    assert_one_paragraph_error(proc, "env_settings.executor is ray", 'pip install "mlx-core[ray]"')
    assert len(proc.stderr.strip().splitlines()) == 1
