"""The reference's own environment-parameter files, read into canonical ``environment_parameters``.

* a sampler file (``mlx run --sampler FILE``)::

      resampling-interval: 5000          # optional: steps between draws (else every episode)
      gravity:
        sampler-type: uniform            # then the sampler's own arguments
        min_value: 7
        max_value: 12

* a curriculum file (``mlx run --curriculum FILE``, JSON or YAML): per behavior, ``measure``
  (``reward`` or ``progress``), ``thresholds`` (one per lesson change), ``min_lesson_length``,
  ``signal_smoothing`` and ``parameters``, each parameter with one value per lesson. A file
  holding one such curriculum at its top level is for the behavior its file name names
  (``Wall.json`` for behavior ``Wall``), as the oldest releases read a folder of them.

Both become the same settings as the canonical sections written by hand, so ``mlx config
upgrade`` can print them and ``mlx run`` merges them over the configuration file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlx_core.config.yaml_io import read_yaml
from mlx_core.errors import ConfigError

SAMPLER = "sampler"
CURRICULUM = "curriculum"
FLAGS = {SAMPLER: "--sampler", CURRICULUM: "--curriculum"}
_CURRICULUM_KEYS = {"measure", "thresholds", "min_lesson_length", "signal_smoothing", "parameters"}


def detect_parameter_file(data: Any) -> str | None:
    """:data:`SAMPLER` or :data:`CURRICULUM` when ``data`` is one of the reference's parameter files."""
    if not isinstance(data, Mapping) or not data:
        return None
    if "resampling-interval" in data or any(isinstance(v, Mapping) and "sampler-type" in v for v in data.values()):
        return SAMPLER
    if "thresholds" in data or "parameters" in data:
        return CURRICULUM
    if all(isinstance(v, Mapping) and ("thresholds" in v or "parameters" in v) for v in data.values()):
        return CURRICULUM
    return None


def read_parameter_file(path: str | Path, kind: str) -> dict[str, Any]:
    """The file at ``path`` (a ``kind`` file) as canonical overrides: ``environment_parameters``
    and, for a sampler file with ``resampling-interval``, ``env_settings.resampling_interval``."""
    path = Path(path)
    data, _ = read_yaml(path)
    found = detect_parameter_file(data)
    if found != kind:
        what = f"a {found} file, for {FLAGS[found]}" if found else "neither a sampler nor a curriculum file"
        raise ConfigError(str(path), [f"{FLAGS[kind]} takes a {kind} file, but this is {what}"])
    return sampler_overrides(data, path) if kind == SAMPLER else curriculum_overrides(data, path)


def sampler_overrides(data: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """A sampler file's content in canonical form."""
    out: dict[str, Any] = {"environment_parameters": {}}
    for name, section in data.items():
        if name == "resampling-interval":
            out["env_settings"] = {"resampling_interval": section}
            continue
        if not isinstance(section, Mapping) or "sampler-type" not in section:
            raise ConfigError(str(path), [f"{name}: expected a mapping with sampler-type and its arguments"])
        arguments = {k: v for k, v in section.items() if k != "sampler-type"}
        out["environment_parameters"][name] = {"sampler_type": section["sampler-type"], "sampler_parameters": arguments}
    return out


def curriculum_overrides(data: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """A curriculum file's content in canonical form: one ``curriculum`` per parameter."""
    per_behavior = {path.stem: data} if ("thresholds" in data or "parameters" in data) else dict(data)
    parameters: dict[str, Any] = {}
    problems: list[str] = []
    for behavior, section in per_behavior.items():
        unknown = sorted(set(section) - _CURRICULUM_KEYS)
        if unknown:
            problems.append(f"{behavior}: unknown key {', '.join(map(repr, unknown))}; the keys are {', '.join(sorted(_CURRICULUM_KEYS))}")
            continue
        thresholds = list(section.get("thresholds", []))
        lessons = len(thresholds) + 1
        for name, values in dict(section.get("parameters", {})).items():
            if not isinstance(values, list) or len(values) != lessons:
                problems.append(
                    f"{behavior}.parameters.{name}: expected a list of {lessons} values (one per lesson: "
                    f"thresholds has {len(thresholds)}), got {values!r}"
                )
                continue
            if name in parameters:
                problems.append(f"{behavior}.parameters.{name}: another behavior's curriculum sets {name} too")
                continue
            criteria = {
                "behavior": behavior,
                "measure": section.get("measure", "reward"),
                "min_lesson_length": section.get("min_lesson_length", 0),
                "signal_smoothing": section.get("signal_smoothing", True),
            }
            parameters[name] = {
                "curriculum": [
                    {"name": f"Lesson{i}", "value": value}
                    | ({"completion_criteria": {**criteria, "threshold": thresholds[i]}} if i < len(thresholds) else {})
                    for i, value in enumerate(values)
                ]
            }
    if problems:
        raise ConfigError(str(path), problems)
    return {"environment_parameters": parameters}


def load_parameter_file(path: str | Path, kind: str, plugins: Any = None) -> dict[str, Any]:
    """:func:`read_parameter_file`, checked on its own so that a problem names this file."""
    from mlx_core.config.loader import load_run_options

    overrides = read_parameter_file(path, kind)
    try:
        load_run_options(None, overrides, plugins)
    except ConfigError as error:
        problems = [p.replace(" (command line)", "") for p in error.problems]
        raise ConfigError(f"{path} (read as {FLAGS[kind]} {kind} file)", problems) from None
    return overrides
