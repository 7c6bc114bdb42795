"""Demonstrations: mlx's ``.demo`` files (reader and writer) and ML-Agents' ``.demo`` files (reader).

Both formats hold one record per agent per decision point; readers return the same
:class:`DemoInfo` and :class:`DemoSteps` for either, recognising the format by the file's
content. The README's "Demonstrations" section documents mlx's format.
"""

from mlx_core.demos.loading import demo_files, detect_format, iter_steps, load_demos, read_info
from mlx_core.demos.records import DemoInfo, DemoSteps, spec_summary
from mlx_core.demos.writer import DemoWriter
from mlx_core.errors import DemoError

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
