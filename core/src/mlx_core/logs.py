"""structlog set-up: events, not prose (``log.info("checkpoint_saved", step=...)``).

Every event goes to two places: stderr (readable by default, JSON with ``--log-format json``)
and, once a run folder exists, ``run_logs/log.jsonl`` (always JSON, one event per line).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import MutableMapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import structlog

_FILE: TextIO | None = None


def _tee_to_file(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Append the event as one JSON line to the run's log file (if one is open)."""
    if _FILE is not None:
        _FILE.write(json.dumps(event, default=str) + "\n")
        _FILE.flush()
    return event


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time of the call, so a live terminal view
    that redirects stderr (rich's Live) prints log events above itself instead of over it."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(debug: bool = False, log_format: str = "console") -> None:
    """Events at info level (debug with ``--debug``) on stderr, as text or JSON lines."""
    renderer: Any = structlog.processors.JSONRenderer() if log_format == "json" else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _tee_to_file,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG if debug else logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )


def open_log_file(path: Path) -> None:
    """Start appending every event to ``path`` (``run_logs/log.jsonl``); a resumed run appends."""
    global _FILE
    close_log_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    _FILE = path.open("a", encoding="utf-8")


def file_only(event: str, **fields: Any) -> None:
    """Record an event in the run's log file only (the CLI prints its own message on stderr)."""
    if _FILE is not None:
        record = {**fields, "event": event, "level": "error", "timestamp": datetime.now(timezone.utc).isoformat()}
        _FILE.write(json.dumps(record, default=str) + "\n")
        _FILE.flush()


def close_log_file() -> None:
    """Stop writing the run's log file."""
    global _FILE
    if _FILE is not None:
        _FILE.close()
        _FILE = None


def get_logger() -> Any:
    """The mlx logger."""
    return structlog.get_logger("mlx")
