"""A stop request that every blocking wait of a run can see.

The run's entry point (the CLI's signal handler, through the trainer controller) calls
:func:`request_stop` on the first SIGINT/SIGTERM. Code that waits for something outside the
process (a step answer, a reconnect back-off, a worker restart, a simulator starting up)
waits through :func:`sleep` or checks :func:`raise_if_stopped` at least every
:data:`POLL_S` seconds, so a stop is honoured within a few seconds wherever the run is.

Nothing here is set on import: a library user who never calls :func:`request_stop` sees
no difference. :func:`handle_signals` installs the handlers for the length of a run only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

# The longest a wait may go without looking at the stop request.
POLL_S = 0.25

_event = threading.Event()
_reason: list[str] = []
_depth = [0]  # nesting of handle_signals(): only the outermost clears and restores
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequested(Exception):  # noqa: N818 - it names the event, like KeyboardInterrupt
    """Raised from a blocking wait after a stop was requested (not a user mistake).

    The trainer controller catches it, saves every behavior's progress and ends the run.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"stop requested ({reason})")
        self.reason = reason


def request_stop(reason: str) -> None:
    """Ask every wait of this process to give up soon (``reason``: e.g. ``"SIGTERM"``)."""
    if not _event.is_set():
        _reason[:] = [reason]
        _event.set()


def stop_reason() -> str | None:
    """The reason given to :func:`request_stop`, or None while no stop was requested."""
    return _reason[0] if _event.is_set() and _reason else None


def raise_if_stopped() -> None:
    """Raise :class:`StopRequested` if a stop was requested."""
    reason = stop_reason()
    if reason is not None:
        raise StopRequested(reason)


def sleep(seconds: float) -> None:
    """Sleep ``seconds``, or raise :class:`StopRequested` as soon as a stop is requested."""
    if _event.wait(max(0.0, seconds)):
        raise_if_stopped()


def clear() -> None:
    """Forget a stop request (a new run in the same process, or a test)."""
    _event.clear()
    _reason.clear()


def _on_signal(signum: int, _frame: Any) -> None:
    if _event.is_set():  # a second signal: leave at once, without saving
        os._exit(128 + signum)
    name = signal.Signals(signum).name
    request_stop(name)
    from mlx_core.logs import get_logger

    # the handler may interrupt a write to stderr or the log file: Python then refuses the
    # nested write (RuntimeError), which must not surface at an arbitrary point of the run
    with contextlib.suppress(Exception):
        get_logger().warning("stop_requested", signal=name, action="stopping cleanly; a second signal exits at once")


@contextlib.contextmanager
def handle_signals() -> Iterator[None]:
    """For the length of a run: the first SIGINT/SIGTERM requests a stop, a second exits at once.

    The outermost use forgets an earlier stop request (a library user may run twice in one
    process) and puts the previous handlers back at the end; nested uses change nothing.
    Outside the main thread, where Python cannot install handlers, it only clears.
    """
    outermost = _depth[0] == 0
    previous: dict[int, Any] = {}
    if outermost:
        clear()
        if threading.current_thread() is threading.main_thread():
            previous = {s: signal.signal(s, _on_signal) for s in STOP_SIGNALS}
    _depth[0] += 1
    try:
        yield
    finally:
        _depth[0] -= 1
        for s, handler in previous.items():
            signal.signal(s, handler)
