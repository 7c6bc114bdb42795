"""grpc core's settings for mlx's processes, chosen before anything imports grpc: its polling
engine, and no log lines of its own.

grpc core (1.6x and later) does its network I/O on threads of its own (the "event engine")
and hands each finished read or write to the thread waiting on a completion queue. mlx's
environment transport waits on its completion queues itself (``env/remote/calls.py``), and
with the older polling engine that waiting thread does the I/O too: no hand-off between
threads on either side. Measured on a 2-core machine, one 3 KB round trip on an open stream:
0.22 ms with the event engine, 0.15 ms with the polling engine.

The engine is read once per process, when grpc starts, from ``$GRPC_EXPERIMENTS``. So
importing ``mlx_core`` sets that variable, unless it is already set (set it, even to an
empty string, to keep grpc's default) or grpc is already imported. Likewise
``$GRPC_VERBOSITY`` becomes NONE: grpc core otherwise prints notices such as a peer's
GOAWAY, and errors that mlx reports itself in a sentence (a port in use, a simulator gone).

Once mlx's gRPC modules have imported grpc (which reads the variables then),
:func:`hand_back` takes mlx's values out of the environment again, so that processes the
user starts do not inherit them; simulators launched as executables get the environment
without them in any case.
"""

from __future__ import annotations

import os
import sys

POLLING_ENGINE = "-event_engine_client,-event_engine_listener,-event_engine_for_all_other_endpoints"
"""The experiments switched off: the event engine for client channels, listeners and other endpoints."""

DEFAULTS = {"GRPC_EXPERIMENTS": POLLING_ENGINE, "GRPC_VERBOSITY": "NONE"}
"""The variables mlx sets when nobody has, and their values."""

chosen: dict[str, str] = {}
"""The variables this process set (rather than the user, or nobody)."""


def choose_defaults() -> dict[str, str]:
    """Set each of :data:`DEFAULTS` that nobody set, if grpc is not imported yet; those set."""
    if "grpc" not in sys.modules:
        for name, value in DEFAULTS.items():
            if name not in os.environ:
                os.environ[name] = chosen[name] = value
    return chosen


def user_environ() -> dict[str, str]:
    """This process's environment without the values mlx set (for processes that are not mlx's)."""
    environ = dict(os.environ)
    for name, value in chosen.items():
        if environ.get(name) == value:
            del environ[name]
    return environ


def hand_back() -> None:
    """Take the values mlx set out of ``os.environ`` (grpc has read them: they stay in force
    in this process)."""
    for name, value in list(chosen.items()):
        if os.environ.get(name) == value:
            del os.environ[name]
        del chosen[name]
