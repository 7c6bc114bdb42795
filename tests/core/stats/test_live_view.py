"""The live terminal view: rendered by rich on a terminal, plain summary lines anywhere else."""

from __future__ import annotations

import fcntl
import io
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from rich.console import Console

from mlx_core.stats.console import ConsoleWriter
from mlx_core.stats.live import LiveViewWriter, console_writer
from mlx_core.stats.reporter import StatSummary

CONFIG = """
behaviors:
  Goal1DDiscrete:
    trainer: ppo
    hyperparameters: {batch_size: 128, buffer_size: 512}
    max_steps: 3000
    summary_freq: 1000
env_settings: {env: Goal1DDiscrete, num_envs: 8, seed: 1}
"""

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
REWARD = "Environment/Cumulative Reward"


def _state(elapsed: float = 1.0) -> dict[str, object]:
    return {"elapsed": elapsed, "max_steps": 3000, "training": True, "steps_per_second": 500.0}


def _writer() -> tuple[LiveViewWriter, io.StringIO]:
    out = io.StringIO()
    return LiveViewWriter(Console(file=out, force_terminal=True, width=120, color_system=None)), out


def _last_frame(out: io.StringIO) -> str:
    """The table as the final redraw left it (each redraw starts by erasing the previous one)."""
    return ANSI.sub("", out.getvalue().split("\x1b[2K")[-1])


def _row(frame: str, behavior: str) -> str:
    return next(line for line in frame.splitlines() if line.startswith(behavior))


def test_live_view_prints_summary_lines_above_a_row_per_behavior() -> None:
    writer, out = _writer()
    try:
        writer.progress("Walker", 400, 3000, "training")
        writer.write("Walker", 1000, {REWARD: StatSummary(0.25, 0.5, 4)}, _state())
        writer.progress("Crawler", 10, 5000, "inference")
    finally:
        writer.close()
    text = ANSI.sub("", out.getvalue())
    assert "Walker. Step: 1000. Time Elapsed: 1.0 s. Mean Reward: 0.250. Std of Reward: 0.500. Training." in text
    walker, crawler = _row(_last_frame(out), "Walker"), _row(_last_frame(out), "Crawler")
    assert "1000/3000" in walker and "0.250 ± 0.500" in walker
    assert "10/5000" in crawler and "inference" in crawler


def test_reward_and_lesson_show_a_dash_until_a_summary_reports_them() -> None:
    writer, out = _writer()
    try:
        writer.progress("Walker", 400, 3000, "training")
        before = _row(_last_frame(out), "Walker")
        summary = {REWARD: StatSummary(1.0, 0.0, 2), "Environment/Lesson": StatSummary(2.0, 0.0, 1)}
        writer.write("Walker", 1000, summary, _state())
        after = _row(_last_frame(out), "Walker")
    finally:
        writer.close()
    assert before.split("400/3000")[1].split()[0] == "—"  # reward
    assert before.split()[-2] == "—"  # lesson
    assert "1.000 ± 0.000" in after and after.split()[-2] == "2"


def test_a_summary_before_any_progress_shows_waiting_for_env() -> None:
    writer, out = _writer()
    try:
        writer.write("Walker", 1000, {}, _state())
        assert "waiting for env" in _last_frame(out)
    finally:
        writer.close()
    assert "No episode was completed since last summary." in out.getvalue()


def test_close_marks_a_completed_behavior_finished_and_shows_the_cursor_again() -> None:
    writer, out = _writer()
    writer.progress("Walker", 3000, 3000, "training")
    writer.close()
    writer.close()  # the controller may close twice on error paths; the second is a no-op
    assert "finished" in _last_frame(out)
    assert out.getvalue().endswith("\x1b[?25h")


def test_console_writer_prints_plain_lines_when_stdout_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert isinstance(console_writer(), ConsoleWriter)


def _run_in_terminal(cwd: Path, *args: str, timeout: float = 300) -> tuple[int, str]:
    """Run ``mlx <args>`` with a 120x40 pseudo-terminal as stdin, stdout and stderr."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "PYTHONUNBUFFERED": "1"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlx_core.cli", *args], cwd=cwd, stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not select.select([master], [], [], 1.0)[0]:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer of the terminal has exited
                break
            if not chunk:
                break
            chunks.append(chunk)
        returncode = proc.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return returncode, b"".join(chunks).decode("utf-8", errors="replace")


@pytest.mark.slow
def test_training_in_a_terminal_draws_the_live_table(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG)
    returncode, output = _run_in_terminal(
        tmp_path, "run", "config.yaml", "--run-id", "live", "--results-dir", str(tmp_path / "results")
    )
    assert returncode == 0, output
    assert "Traceback" not in output
    text = ANSI.sub("", output)
    assert "Goal1DDiscrete. Step: 1000." in text
    assert "3000/3000" in text
    assert "━" in text
    assert re.search(r"Goal1DDiscrete .*3000/3000.*finished", text), text[-2000:]


@pytest.mark.slow
def test_training_through_a_pipe_prints_three_plain_summary_lines(tmp_path: Path) -> None:
    from tests.conftest import run_mlx

    (tmp_path / "config.yaml").write_text(CONFIG)
    proc = run_mlx("run", "config.yaml", "--run-id", "plain", "--results-dir", str(tmp_path / "results"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "\x1b[" not in proc.stdout
    lines = [line for line in proc.stdout.splitlines() if line.startswith("Goal1DDiscrete. Step:")]
    assert [line.split("Step: ")[1].split(".")[0] for line in lines] == ["1000", "2000", "3000"]
