"""Demonstrations: mlx's ``.demo`` files (reader and writer) and ML-Agents' ``.demo`` files (reader).

Both formats hold one record per agent per decision point; readers return the same
:class:`DemoInfo` and :class:`DemoSteps` for either, recognising the format by the file's
content. The README's "Demonstrations" section documents mlx's format.

The names below load on first use, so that ``mlx``'s command line (which registers
``mlx demo``) does not import numpy and protobuf for every command.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlx_core.demos.loading import demo_files, detect_format, iter_steps, load_demos, read_info
    from mlx_core.demos.records import DemoInfo, DemoSteps, spec_summary
    from mlx_core.demos.writer import DemoWriter
    from mlx_core.errors import DemoError

_HOMES = {
    "DemoError": "mlx_core.errors",
    "DemoInfo": "mlx_core.demos.records",
    "DemoSteps": "mlx_core.demos.records",
    "spec_summary": "mlx_core.demos.records",
    "DemoWriter": "mlx_core.demos.writer",
    "demo_files": "mlx_core.demos.loading",
    "detect_format": "mlx_core.demos.loading",
    "iter_steps": "mlx_core.demos.loading",
    "load_demos": "mlx_core.demos.loading",
    "read_info": "mlx_core.demos.loading",
}
__all__ = [
    "DemoError",
    "DemoInfo",
    "DemoSteps",
    "DemoWriter",
    "demo_files",
    "detect_format",
    "iter_steps",
    "load_demos",
    "read_info",
    "spec_summary",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'mlx_core.demos' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value
