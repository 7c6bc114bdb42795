"""``environment_parameters``: how each parameter's value is written in the canonical configuration.

A parameter is one of three things:

* a constant: ``gravity: 9.81``;
* a sampler: ``{sampler_type: uniform, sampler_parameters: {min_value: 1, max_value: 2}}``,
  structured as :class:`SamplerSettings` whose ``sampler_parameters`` is the settings object of
  the sampler type's plugin;
* a schedule: a mapping under the name of a parameter-schedule type (``curriculum: [...]``),
  structured by that type's settings class (mlx-curriculum's lessons hold constants and
  samplers, which structure through this module's hooks too).

Sampler types come from plugins, so structuring a sampler looks its type up in the plugin
registry that :func:`structure_environment_parameters` was given.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import Any, Union

import attrs
from cattrs.errors import AttributeValidationNote, BaseValidationError, ClassValidationError, ForbiddenExtraKeysError
from cattrs.gen import make_dict_structure_fn

from mlx_core.config.converter import Problem, _Mismatch, converter, structure
from mlx_core.config.yaml_io import YamlPath
from mlx_core.errors import PluginError
from mlx_core.plugins.manager import Plugins, get_plugins, unknown_name_message

# The registry that sampler and schedule names are looked up in while a file is structured.
_REGISTRY: contextvars.ContextVar[Plugins | None] = contextvars.ContextVar("mlx_parameter_plugins", default=None)


@attrs.define(frozen=True)
class SamplerSettings:
    """A parameter drawn from a distribution: ``sampler_type`` names a sampler plugin type and
    ``sampler_parameters`` holds that type's settings object (its arguments)."""

    sampler_type: str
    sampler_parameters: Any = attrs.field(factory=dict)


ParameterValue = Union[float, SamplerSettings]  # noqa: UP007 - a runtime value that cattrs dispatches on
"""A constant or a sampler: what a plain parameter, or one curriculum lesson, holds."""


def registry() -> Plugins:
    """The plugin registry of the configuration being structured (the process-wide one otherwise)."""
    return _REGISTRY.get() or get_plugins()


def _noted(error: Exception, field: str) -> Exception:
    error.add_note(AttributeValidationNote(f"Structuring {field}", field, Any))
    return error


_plain_sampler = make_dict_structure_fn(SamplerSettings, converter)


def _structure_sampler(data: Any, _: type) -> SamplerSettings:
    if not isinstance(data, Mapping):
        raise _Mismatch("a mapping with sampler_type and sampler_parameters", data)
    plain = _plain_sampler(data, SamplerSettings)
    plugins = registry()
    try:
        sampler_type = plugins.get("sampler", plain.sampler_type)
    except PluginError as error:
        raise ClassValidationError("sampler", [_noted(ValueError(str(error)), "sampler_type")], SamplerSettings) from None
    try:
        arguments = converter.structure(plain.sampler_parameters, sampler_type.settings)
    except (BaseValidationError, ForbiddenExtraKeysError, ValueError, TypeError) as error:
        raise ClassValidationError("sampler", [_noted(error, "sampler_parameters")], SamplerSettings) from None
    return SamplerSettings(plain.sampler_type, arguments)


def _structure_value(data: Any, _: Any) -> float | SamplerSettings:
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        return float(data)
    if isinstance(data, Mapping) and "sampler_type" in data:
        return _structure_sampler(data, SamplerSettings)
    raise _Mismatch("a number or a sampler (a mapping with sampler_type and sampler_parameters)", data)


converter.register_structure_hook(SamplerSettings, _structure_sampler)
converter.register_structure_hook(ParameterValue, _structure_value)


def schedule_name(value: Any, plugins: Plugins) -> str | None:
    """The parameter-schedule type that a parameter's mapping is written for (its key), if any."""
    if isinstance(value, Mapping):
        for key in value:
            if isinstance(key, str) and key in plugins.names("parameter schedule"):
                return key
    return None


def structure_environment_parameters(raw: Any, plugins: Plugins) -> tuple[dict[str, Any], list[Problem]]:
    """Each parameter of ``environment_parameters`` structured as a float, a
    :class:`SamplerSettings` or a schedule plugin's settings object, and every problem found."""
    if not isinstance(raw, Mapping):
        return {}, []  # the first pass reports a section that is not a mapping
    token = _REGISTRY.set(plugins)
    try:
        parameters: dict[str, Any] = {}
        problems: list[Problem] = []
        for name, value in raw.items():
            path: YamlPath = ("environment_parameters", name)
            schedule = schedule_name(value, plugins)
            if schedule is not None:
                settings_class = plugins.get("parameter schedule", schedule).settings
                obj, found = structure(value, settings_class, path)
            elif isinstance(value, Mapping) and "curriculum" in value:
                # the curriculum schedule is a plugin: say which distribution brings it
                text = unknown_name_message("parameter schedule", "curriculum", plugins.names("parameter schedule"))
                obj, found = None, [Problem((*path, "curriculum"), text)]
            else:
                obj, found = structure(value, ParameterValue, path)  # type: ignore[arg-type]
            problems.extend(found)
            if obj is not None:
                parameters[str(name)] = obj
        return parameters, problems
    finally:
        _REGISTRY.reset(token)

