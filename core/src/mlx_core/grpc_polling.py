"""grpc core's polling engine for mlx's processes, chosen before anything imports grpc.

grpc core (1.6x and later) does its network I/O on threads of its own (the "event engine")
and hands each finished read or write to the thread waiting on a completion queue. mlx's
environment transport waits on its completion queues itself (``env/remote/calls.py``), and
with the older polling engine that waiting thread does the I/O too: no hand-off between
threads on either side. Measured on a 2-core machine, one 3 KB round trip on an open stream:
0.22 ms with the event engine, 0.15 ms with the polling engine.

The engine is read once per process, when grpc starts, from ``$GRPC_EXPERIMENTS``. So
importing ``mlx_core`` sets that variable, unless it is already set (set it, even to an
empty string, to keep grpc's default) or grpc is already imported. Simulators launched as
executables get the environment without mlx's value.
"""

from __future__ import annotations

import os
import sys

VARIABLE = "GRPC_EXPERIMENTS"
POLLING_ENGINE = "-event_engine_client,-event_engine_listener,-event_engine_for_all_other_endpoints"
"""The experiments switched off: the event engine for client channels, listeners and other endpoints."""

chosen = False
"""Whether this process set ``$GRPC_EXPERIMENTS`` (rather than the user, or nobody)."""


def choose_polling_engine() -> bool:
    """Set ``$GRPC_EXPERIMENTS`` to :data:`POLLING_ENGINE` if nobody set it and grpc is not
    imported yet; whether it was set."""
    global chosen
    if VARIABLE not in os.environ and "grpc" not in sys.modules:
        os.environ[VARIABLE] = POLLING_ENGINE
        chosen = True
    return chosen


def user_environ() -> dict[str, str]:
    """This process's environment without the value mlx set (for processes that are not mlx's)."""
    environ = dict(os.environ)
    if chosen and environ.get(VARIABLE) == POLLING_ENGINE:
        del environ[VARIABLE]
    return environ
