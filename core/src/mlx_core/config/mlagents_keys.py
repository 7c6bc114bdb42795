"""ML-Agents 1.x/2.x config keys that mean nothing in mlx, and release 3's parameter sections.

ML-Agents writes keys into its files (and into the ``configuration.yaml`` a run dumps) that have
no counterpart here: they are dropped where they cannot change a run, refused in one sentence
where they would (``deterministic: true``). Release 3 put the sampler and curriculum files'
content at the top of the trainer config; it becomes ``environment_parameters``, through the
same conversion as ``--sampler`` and ``--curriculum`` files.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlx_core.config.converter import Problem, describe
from mlx_core.config.parameter_files import curriculum_overrides, sampler_overrides
from mlx_core.config.settings import BehaviorSettings
from mlx_core.config.yaml_io import LineMap, YamlPath, carry_lines
from mlx_core.errors import ConfigError

# ML-Agents 1.x/2.x keys that change nothing in mlx, with the values that may be dropped (None:
# any value). mlx has no goal-signal observations for goal_conditioning_type to act on.
_MLAGENTS_INERT_BEHAVIOR_KEYS: dict[str, tuple[Any, ...] | None] = {"threaded": None, "output_path": None}
_MLAGENTS_INERT_NETWORK_KEYS: dict[str, tuple[Any, ...] | None] = {
    "goal_conditioning_type": None,
    "deterministic": (False,),
}
_DETERMINISTIC = (
    "deterministic: true (always take the most likely action) is not supported: mlx's policies "
    "sample their actions while training; remove the key or set it to false"
)


def drop_inert_mlagents_keys(section: dict[str, Any], path: YamlPath, problems: list[Problem]) -> None:
    """Remove from one behavior section the ML-Agents 1.x/2.x keys that change nothing in mlx;
    turn ``even_checkpoints: true`` into the ``checkpoint_interval`` it stands for."""
    _drop_inert(section, _MLAGENTS_INERT_BEHAVIOR_KEYS)
    even = section.pop("even_checkpoints", False)
    if even is True:
        # ML-Agents: keep_checkpoints checkpoints spread evenly over max_steps
        defaults = BehaviorSettings()
        max_steps = section.get("max_steps", defaults.max_steps)
        keep = section.get("keep_checkpoints", defaults.keep_checkpoints)
        if isinstance(max_steps, (int, float)) and isinstance(keep, int) and keep > 0:
            section["checkpoint_interval"] = max(1, int(max_steps) // keep)
    elif even is not False:
        problems.append(Problem((*path, "even_checkpoints"), f"expected true or false, got {describe(even)}"))
    if section.get("self_play", 0) is None:
        del section["self_play"]
    networks: list[tuple[YamlPath, Any]] = [(("network_settings",), section.get("network_settings"))]
    signals = section.get("reward_signals")
    if isinstance(signals, dict):
        for name, signal in signals.items():
            if not isinstance(signal, dict):
                continue
            if signal.get("encoding_size", 0) is None:
                del signal["encoding_size"]  # ML-Agents 2.x writes null for its deprecated key
            if name == "extrinsic":
                # ML-Agents writes every signal's network_settings; the extrinsic reward has no network
                signal.pop("network_settings", None)
            networks.append((("reward_signals", name, "network_settings"), signal.get("network_settings")))
    for where, network in networks:
        if isinstance(network, dict):
            if network.get("deterministic") is True:
                problems.append(Problem((*path, *where, "deterministic"), _DETERMINISTIC))
            _drop_inert(network, _MLAGENTS_INERT_NETWORK_KEYS)


def _drop_inert(section: dict[str, Any], inert: Mapping[str, tuple[Any, ...] | None]) -> None:
    for key, values in inert.items():
        if key in section and (values is None or any(section[key] is v for v in values)):
            del section[key]


def move_release3_parameters(out: dict[str, Any], lines: LineMap, new_lines: LineMap, problems: list[Problem]) -> None:
    """ML-Agents release 3's top-level ``parameter_randomization`` (a sampler file's content) and
    ``curriculum`` (a curriculum file's content, per behavior) as ``environment_parameters``."""
    for key, convert in (("parameter_randomization", sampler_overrides), ("curriculum", curriculum_overrides)):
        section = out.pop(key, None)
        if section is None:
            continue
        if not isinstance(section, Mapping):
            problems.append(Problem((key,), f"expected a mapping, got {describe(section)}"))
            carry_lines(lines, (key,), (key,), new_lines)
            continue
        if key == "parameter_randomization":
            # release 4 wrote its samplers in today's shape already
            as_is = {k: v for k, v in section.items() if isinstance(v, Mapping) and "sampler_type" in v}
            section = {k: v for k, v in section.items() if k not in as_is}
        else:
            as_is = {}
        try:
            converted = convert(section, Path(key)) if section else {"environment_parameters": {}}
        except ConfigError as error:
            problems.extend(Problem((key,), text) for text in error.problems)
            carry_lines(lines, (key,), (key,), new_lines)
            continue
        parameters = {**as_is, **converted["environment_parameters"]}
        existing = out.setdefault("environment_parameters", {})
        if not isinstance(existing, dict):
            continue  # structuring reports environment_parameters' own type
        for name, value in parameters.items():
            if name in existing:
                detail = f"{name} is also set in environment_parameters; keep only one of the two"
                problems.append(Problem((key,), detail))
                continue
            existing[name] = value
            source = (key, name) if (key, name) in lines else (key, _curriculum_owner(section, name))
            carry_lines(lines, source, ("environment_parameters", name), new_lines)
        if "env_settings" in converted:
            interval = converted["env_settings"]["resampling_interval"]
            settings = out.setdefault("env_settings", {})
            if isinstance(settings, dict):
                settings.setdefault("resampling_interval", interval)
                carry_lines(lines, (key, "resampling-interval"), ("env_settings", "resampling_interval"), new_lines)


def _curriculum_owner(curricula: Mapping[str, Any], parameter: str) -> str:
    """The behavior whose curriculum (in release 3's ``curriculum`` section) sets ``parameter``."""
    for behavior, section in curricula.items():
        if isinstance(section, Mapping) and parameter in (section.get("parameters") or {}):
            return str(behavior)
    return parameter
