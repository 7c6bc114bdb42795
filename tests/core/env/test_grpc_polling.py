"""mlx chooses grpc core's polling engine for its own processes, and only when nobody else did."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mlx_core import grpc_polling

SHOW = "import os, mlx_core; print(repr(os.environ.get('GRPC_EXPERIMENTS')))"


def _run(code: str, **environ: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "GRPC_EXPERIMENTS"}
    return subprocess.run([sys.executable, "-c", code], env={**env, **environ}, capture_output=True, text=True, check=True).stdout.strip()


def test_importing_mlx_core_chooses_the_polling_engine() -> None:
    assert _run(SHOW) == repr(grpc_polling.POLLING_ENGINE)


def test_a_value_the_user_set_is_kept_even_an_empty_one() -> None:
    assert _run(SHOW, GRPC_EXPERIMENTS="") == "''"
    assert _run(SHOW, GRPC_EXPERIMENTS="-event_engine_dns") == "'-event_engine_dns'"


def test_nothing_is_chosen_once_grpc_is_imported() -> None:
    # grpc reads the variable when it starts: setting it afterwards would say something untrue
    assert _run("import grpc\n" + SHOW) == "None"


def test_launched_simulators_get_the_users_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grpc_polling, "chosen", True)
    monkeypatch.setenv("GRPC_EXPERIMENTS", grpc_polling.POLLING_ENGINE)
    assert "GRPC_EXPERIMENTS" not in grpc_polling.user_environ()
    monkeypatch.setenv("GRPC_EXPERIMENTS", "-event_engine_dns")  # changed since: the user's value now
    assert grpc_polling.user_environ()["GRPC_EXPERIMENTS"] == "-event_engine_dns"
    monkeypatch.setattr(grpc_polling, "chosen", False)
    monkeypatch.setenv("GRPC_EXPERIMENTS", grpc_polling.POLLING_ENGINE)  # the user's own, identical value
    assert grpc_polling.user_environ()["GRPC_EXPERIMENTS"] == grpc_polling.POLLING_ENGINE
