"""mlx chooses grpc core's settings for its own processes, and only where nobody else did."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mlx_core import grpc_defaults

SHOW = "import os, mlx_core; print(repr(os.environ.get('GRPC_EXPERIMENTS')), repr(os.environ.get('GRPC_VERBOSITY')))"


def _run(code: str, **environ: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in grpc_defaults.DEFAULTS}
    return subprocess.run([sys.executable, "-c", code], env={**env, **environ}, capture_output=True, text=True, check=True).stdout.strip()


def test_importing_mlx_core_chooses_the_polling_engine_and_no_grpc_logs() -> None:
    assert _run(SHOW) == f"{grpc_defaults.POLLING_ENGINE!r} 'NONE'"


def test_values_the_user_set_are_kept_even_empty_ones() -> None:
    assert _run(SHOW, GRPC_EXPERIMENTS="") == "'' 'NONE'"
    assert _run(SHOW, GRPC_EXPERIMENTS="-event_engine_dns", GRPC_VERBOSITY="INFO") == "'-event_engine_dns' 'INFO'"


def test_nothing_is_chosen_once_grpc_is_imported() -> None:
    # grpc reads the variables when it starts: setting them afterwards would say something untrue
    assert _run("import grpc\n" + SHOW) == "None None"


def test_launched_simulators_get_the_users_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grpc_defaults, "chosen", dict(grpc_defaults.DEFAULTS))
    for name, value in grpc_defaults.DEFAULTS.items():
        monkeypatch.setenv(name, value)
    assert not set(grpc_defaults.DEFAULTS) & set(grpc_defaults.user_environ())
    monkeypatch.setenv("GRPC_EXPERIMENTS", "-event_engine_dns")  # changed since: the user's value now
    assert grpc_defaults.user_environ()["GRPC_EXPERIMENTS"] == "-event_engine_dns"
    monkeypatch.setattr(grpc_defaults, "chosen", {})
    monkeypatch.setenv("GRPC_EXPERIMENTS", grpc_defaults.POLLING_ENGINE)  # the user's own, identical value
    assert grpc_defaults.user_environ()["GRPC_EXPERIMENTS"] == grpc_defaults.POLLING_ENGINE


def test_once_grpc_is_imported_the_values_leave_the_environment_but_stay_in_force() -> None:
    code = (
        "import os, socket, sys\n"
        "from mlx_core.env.remote.calls import CallServer\n"
        "import mlx_core.env.remote\n"
        "taken = socket.create_server(('127.0.0.1', 0))\n"
        "port = taken.getsockname()[1]\n"
        "print(CallServer({}).add_port(f'127.0.0.1:{port}'), os.environ.get('GRPC_EXPERIMENTS'), os.environ.get('GRPC_VERBOSITY'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in grpc_defaults.DEFAULTS}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "0 None None"  # not bound; nothing left for child processes to inherit
    assert done.stderr == ""  # GRPC_VERBOSITY=NONE still holds: grpc core logged nothing about the failed bind
