"""The signals' YAML sections are checked like every other: each problem with its path and line."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_mlx

CONFIG = """
behaviors:
  SparseCorridor:
    reward_signals:
      extrinsic: {}
      curiosity: {strenght: 0.1, encoding_size: big}
      rnd:
        network_settings: {memory: {memory_size: 8}}
env_settings: {env: SparseCorridor}
"""


def test_signal_sections_report_every_problem_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG)
    proc = run_mlx("config", "check", "config.yaml", cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "reward_signals.curiosity.encoding_size (line 6): expected an integer, got 'big'" in proc.stderr
    assert "reward_signals.curiosity.strenght (line 6): unknown key 'strenght'; did you mean 'strength'?" in proc.stderr
    assert (
        "reward_signals.rnd (line 7): the curiosity and rnd networks have no memory; remove network_settings.memory"
        in proc.stderr
    )
