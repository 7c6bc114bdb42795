"""Hierarchical wall-clock timers of the main loop phases, written to ``run_logs/timers.json``.

``with timers.block("env_step"):`` nests: a block opened inside another is recorded as its
child. Overhead is two ``perf_counter`` calls and a dict lookup per block.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class TimerNode:
    """Total seconds and count of one block, with its children."""

    __slots__ = ("total", "count", "children")

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0
        self.children: dict[str, TimerNode] = {}

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: total, count, and children by name."""
        out: dict[str, Any] = {"total": round(self.total, 6), "count": self.count}
        if self.children:
            out["children"] = {name: child.as_dict() for name, child in self.children.items()}
        return out


class Timers:
    """A tree of timed blocks."""

    def __init__(self) -> None:
        self.root = TimerNode()
        self._stack = [self.root]
        self._start = time.perf_counter()

    @contextmanager
    def block(self, name: str) -> Iterator[None]:
        """Time the enclosed code as ``name`` under the block that is open now."""
        parent = self._stack[-1]
        node = parent.children.get(name)
        if node is None:
            node = parent.children[name] = TimerNode()
        self._stack.append(node)
        start = time.perf_counter()
        try:
            yield
        finally:
            node.total += time.perf_counter() - start
            node.count += 1
            self._stack.pop()

    def as_dict(self) -> dict[str, Any]:
        """The whole tree; the root's total is the time since the timers were created."""
        self.root.total = time.perf_counter() - self._start
        self.root.count = 1
        return self.root.as_dict()

    def write(self, path: Path) -> None:
        """Write the tree as JSON."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_dict(), indent=2))
