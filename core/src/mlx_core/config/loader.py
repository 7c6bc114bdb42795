"""Loading run options: YAML file -> canonical dialect -> command-line overrides -> attrs.

Structuring happens in two passes over the same canonical data. The first builds
:class:`RunOptions` with ``hyperparameters`` and reward-signal sections left as plain data;
the second structures each of those with the settings class of the plugin the behavior
names. Both passes always run, so one :class:`ConfigError` lists every problem in the file.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from mlx_core.config.converter import Problem, converter, render_path, structure
from mlx_core.config.dialects import behavior_sections, inherit_defaults, to_canonical
from mlx_core.config.parameters import structure_environment_parameters
from mlx_core.config.settings import BehaviorSettings, RunOptions
from mlx_core.config.yaml_io import LineMap, YamlPath, dump_yaml, read_yaml
from mlx_core.errors import ConfigError, PluginError
from mlx_core.plugins.manager import Plugins, get_plugins

# The key of ``overrides`` that sets a key on every behavior and on default_settings.
BEHAVIORS_ALL = "behaviors_all"

_DEFAULT_TRAINER = BehaviorSettings().trainer
_DEFAULT_SIGNALS = BehaviorSettings().reward_signals


def load_run_options(
    path: str | Path | None,
    overrides: dict[str, Any] | None = None,
    plugins: Plugins | None = None,
) -> RunOptions:
    """Run options from a configuration file of any dialect (None: no file) plus overrides.

    ``overrides`` is a nested dict in canonical shape whose keys replace the file's, e.g.
    ``{"env_settings": {"num_envs": 4}}``; its ``behaviors_all`` mapping is set on every
    behavior and on ``default_settings``. Overrides apply after behaviors have inherited
    ``default_settings``, so to change every behavior use ``behaviors_all``. Raises :class:`ConfigError` listing every problem,
    each with its YAML path and line (or "command line").
    """
    plugins = plugins if plugins is not None else get_plugins()
    source = str(path) if path is not None else "the command-line options"
    data, lines = read_yaml(path) if path is not None else ({}, {})
    data, lines, problems = to_canonical(data, lines)
    data, lines = inherit_defaults(data, lines)
    data, from_cli = _apply_overrides(data, overrides or {}, lines)
    report = _Report(lines, from_cli).extend(problems)

    options, found = structure(data, RunOptions)
    report.extend(found)
    resolved = {at: _plugin_settings(section, at, plugins, report) for at, section in behavior_sections(data)}
    wrappers = {at: _wrapper_settings(section, at, plugins, report) for at, section in behavior_sections(data)}
    parameters, found = structure_environment_parameters(data.get("environment_parameters", {}), plugins)
    report.extend(found)
    if report.texts():
        raise ConfigError(source, report.texts())
    assert options is not None  # no problems means the first pass structured

    def evolve(settings: BehaviorSettings, at: YamlPath) -> BehaviorSettings:
        hyperparameters, signals, cloning = resolved[at]
        return attrs.evolve(
            settings, hyperparameters=hyperparameters, reward_signals=signals, behavioral_cloning=cloning, **wrappers[at]
        )

    behaviors = {name: evolve(b, ("behaviors", name)) for name, b in options.behaviors.items()}
    default = options.default_settings
    return attrs.evolve(
        options,
        behaviors=behaviors,
        default_settings=evolve(default, ("default_settings",)) if default is not None else None,
        environment_parameters=parameters,
    )


def default_behavior_settings(plugins: Plugins | None = None) -> BehaviorSettings:
    """Settings for a behavior that the configuration does not mention (and that has no
    ``default_settings``): every default, with the default trainer's hyperparameters and the
    default reward signals structured by their plugins."""
    plugins = plugins if plugins is not None else get_plugins()
    report = _Report({}, set())
    hyperparameters, signals, _ = _plugin_settings({}, ("default_settings",), plugins, report)
    if report.texts():
        raise ConfigError("the default behavior settings", report.texts())
    return attrs.evolve(BehaviorSettings(), hyperparameters=hyperparameters, reward_signals=signals)


def canonical_dict(options: RunOptions) -> dict[str, Any]:
    """``options`` as plain YAML-ready data in the canonical dialect, every default filled in."""
    # hyperparameters and reward signals are typed Any; cattrs unstructures them by their
    # runtime (plugin settings) class.
    return converter.unstructure(options)


def canonical_yaml(options: RunOptions) -> str:
    """``options`` as canonical YAML text."""
    return dump_yaml(canonical_dict(options))


def write_canonical(options: RunOptions, path: str | Path) -> str:
    """Write ``options`` to ``path`` as canonical YAML, which loads back to equal options; return the text."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = canonical_yaml(options)
    path.write_text(text, encoding="utf-8")
    return text


def upgrade(path: str | Path) -> str:
    """The seed-format or ML-Agents 1.x file at ``path`` as canonical YAML text.

    Only the shape changes: the keys the file sets, under their canonical names. Nothing is
    validated or filled in (``load_run_options`` does that), so a file for a trainer that is
    not installed can still be upgraded.
    """
    data, lines = read_yaml(path)
    data, lines, problems = to_canonical(data, lines)
    if problems:
        raise ConfigError(str(path), _Report(lines, set()).extend(problems).texts())
    return dump_yaml(data)


def _apply_overrides(
    data: dict[str, Any], overrides: Mapping[str, Any], lines: LineMap
) -> tuple[dict[str, Any], set[YamlPath]]:
    """``data`` with ``overrides`` merged in, and the paths that the overrides set."""
    data = copy.deepcopy(data)  # merged behaviors may share nested mappings with defaults
    from_cli: set[YamlPath] = set()
    _merge_into(data, (), {k: v for k, v in overrides.items() if k != BEHAVIORS_ALL}, lines, from_cli)
    if overrides.get(BEHAVIORS_ALL) and data.get("default_settings") is None:
        # behaviors the file does not name must get --keep-checkpoints/--save-freq too
        data["default_settings"] = {}
    for path, _ in behavior_sections(data):
        _merge_into(data, path, overrides.get(BEHAVIORS_ALL, {}), lines, from_cli)
    return data, from_cli


def _merge_into(
    data: dict[str, Any],
    path: YamlPath,
    values: Mapping[str, Any],
    lines: LineMap,
    from_cli: set[YamlPath],
) -> None:
    target = data
    for step in path:
        target = target[step]
    for key, value in values.items():
        here = (*path, key)
        if isinstance(value, Mapping) and isinstance(target.get(key), Mapping):
            _merge_into(data, here, value, lines, from_cli)
            continue
        target[key] = copy.deepcopy(value)
        from_cli.add(here)
        # Lines of what the file had under the replaced value would misplace problems.
        for stale in [p for p in lines if p[: len(here)] == here]:
            del lines[stale]


def _plugin_settings(
    section: Mapping[str, Any], path: YamlPath, plugins: Plugins, report: _Report
) -> tuple[Any, dict[str, Any], Any]:
    """The trainer's hyperparameters object, each reward signal's settings object and the
    ``behavioral_cloning`` objective's settings object of one behavior section (None / left
    out where a problem was reported or the section is absent)."""
    hyperparameters = None
    trainer = section.get("trainer", _DEFAULT_TRAINER)
    if isinstance(trainer, str):  # otherwise the first pass reports the type
        trainer_type = _lookup(plugins, "trainer", trainer, (*path, "trainer"), report)
        if trainer_type is not None:
            raw = section.get("hyperparameters", {})
            hyperparameters = report.structure(raw, trainer_type.settings, (*path, "hyperparameters"))
    signals: dict[str, Any] = {}
    raw_signals = section.get("reward_signals", _DEFAULT_SIGNALS)
    if isinstance(raw_signals, Mapping):
        for name, raw in raw_signals.items():
            where = (*path, "reward_signals", name)
            signal_type = _lookup(plugins, "reward signal", name, where, report)
            if signal_type is not None:
                signals[name] = report.structure(raw, signal_type.settings, where)
    cloning = None
    if section.get("behavioral_cloning") is not None:
        where = (*path, "behavioral_cloning")
        objective_type = _lookup(plugins, "update objective", "behavioral_cloning", where, report)
        if objective_type is not None:
            cloning = report.structure(section["behavioral_cloning"], objective_type.settings, where)
    return hyperparameters, signals, cloning


WRAPPER_SECTIONS = tuple(
    f.name for f in attrs.fields(BehaviorSettings) if f.metadata.get("section_kind") == "trainer wrapper"
)
"""Behavior sections that a trainer-wrapper plugin structures (``self_play``)."""


def _wrapper_settings(section: Mapping[str, Any], path: YamlPath, plugins: Plugins, report: _Report) -> dict[str, Any]:
    """The settings object of each trainer-wrapper section written in one behavior section, by
    key (left out where the section is absent, None where a problem was reported)."""
    found = {}
    for key in WRAPPER_SECTIONS:
        if section.get(key) is not None:
            wrapper_type = _lookup(plugins, "trainer wrapper", key, (*path, key), report)
            found[key] = None if wrapper_type is None else report.structure(section[key], wrapper_type.settings, (*path, key))
    return found


def _lookup(plugins: Plugins, kind: str, name: Any, path: YamlPath, report: _Report) -> Any:
    """The plugin type called ``name``, or None after reporting that nothing provides it."""
    if not isinstance(name, str):
        return None  # the first pass reports a name that is not a string
    _, where = report.where(path)
    at = f"{render_path(path)} ({where})" if where else render_path(path)
    try:
        return plugins.get(kind, name, where=at)
    except PluginError as exc:
        report.add_text(path, f"{kind} {name}", str(exc))
        return None


@attrs.define
class _Entry:
    line: int | None
    path: YamlPath
    same_as: tuple[Any, ...]
    text: str


class _Report:
    """Problems found so far, located in the file (or on the command line) and ordered by line."""

    def __init__(self, lines: LineMap, from_cli: set[YamlPath]) -> None:
        self._lines = lines
        self._from_cli = from_cli
        self._entries: list[_Entry] = []

    def where(self, path: YamlPath) -> tuple[int | None, str | None]:
        """The line of ``path`` (or of its nearest written ancestor) and how to say it."""
        for n in range(len(path), -1, -1):
            if path[:n] in self._from_cli:
                return None, "command line"
            if path[:n] in self._lines:
                line = self._lines[path[:n]]
                return line, f"line {line}"
        return None, None

    def extend(self, problems: list[Problem]) -> _Report:
        """Add converter problems."""
        for problem in problems:
            _, where = self.where(problem.path)
            self.add_text(problem.path, problem.detail, problem.render(where))
        return self

    def add_text(self, path: YamlPath, detail: str, text: str) -> None:
        """Add a problem already worded; ``detail`` identifies it apart from its path."""
        line, where = self.where(path)
        # A value inherited from default_settings (or set by behaviors_all) is wrong in every
        # behavior at once; one report at its source is enough.
        same_as = (where, path[-1:], detail) if where else (text,)
        self._entries.append(_Entry(line, path, same_as, text))

    def structure(self, data: Any, cl: type, path: YamlPath) -> Any:
        """``data`` structured as ``cl``, or None after adding its problems."""
        obj, problems = structure(data, cl, path)
        self.extend(problems)
        return obj

    def texts(self) -> list[str]:
        """Every distinct problem, in the order of the file's lines."""
        ordered = sorted(
            self._entries,
            key=lambda e: (e.line is None, e.line or 0, e.path[:1] != ("default_settings",)),
        )
        seen: set[tuple[Any, ...]] = set()
        texts = []
        for entry in ordered:
            if entry.same_as not in seen:
                seen.add(entry.same_as)
                texts.append(entry.text)
        return texts
