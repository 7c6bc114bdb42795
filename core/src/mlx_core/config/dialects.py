"""The three accepted configuration dialects, reshaped into the canonical form.

* canonical: ``behaviors.<Name>.{trainer, hyperparameters, network_settings, ...}``;
* ML-Agents 1.x: the same, with ``trainer_type`` for ``trainer`` and ``env_settings.env_path``
  for ``env_settings.env``. Keys that change nothing in mlx are dropped (``threaded``,
  ``output_path``, ``goal_conditioning_type``, ``deterministic: false``, ``even_checkpoints:
  false``, an extrinsic signal's ``network_settings``), as are the nulls of a written-out
  ``configuration.yaml``; ``even_checkpoints: true`` becomes its ``checkpoint_interval``.
  Release 3's ``parameter_randomization`` and ``curriculum`` sections (the sampler and
  curriculum files' content) become ``environment_parameters`` (both in
  :mod:`mlx_core.config.mlagents_keys`);
* seed (ML-Agents 0.x ``trainer_config.yaml``): no ``behaviors``; a ``default:`` section and
  one flat section per behavior (``batch_size``, ``use_recurrent``, ``hidden_units``, ...),
  for any trainer: ``trainer: offline_bc`` with ``demo_path``, ``batches_per_epoch``, ... at
  the top is as valid as ``trainer: ppo`` with ``beta``. ``pretraining`` is the old name of
  ``behavioral_cloning``, ``self_play.play_against_current_self_ratio`` of
  ``play_against_latest_model_ratio``; ``use_curiosity`` with ``curiosity_strength`` and
  ``curiosity_enc_size`` is the oldest way to write a ``curiosity`` reward signal.

Reshaping works on plain data and moves the line map along with the keys, so that problems
found later in the canonical form still point at the line the user wrote.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import attrs

from mlx_core.config.converter import Problem, describe
from mlx_core.config.mlagents_keys import drop_inert_mlagents_keys, move_release3_parameters
from mlx_core.config.settings import BehaviorSettings, NetworkSettings, RunOptions
from mlx_core.config.yaml_io import LineMap, YamlPath, carry_lines

CANONICAL = "canonical"
MLAGENTS = "ML-Agents 1.x"
SEED = "seed"

_TOP_KEYS = set(attrs.fields_dict(RunOptions))
_BEHAVIOR_KEYS = list(attrs.fields_dict(BehaviorSettings))
_DEFAULT_TRAINER = BehaviorSettings().trainer

# Where the seed's flat keys go. Keys not listed here end up in ``hyperparameters``, whose
# settings class (the trainer's) then rejects unknown ones with a close-match hint.
_SEED_NETWORK_KEYS = set(attrs.fields_dict(NetworkSettings)) - {"memory"}
_SEED_MEMORY_KEYS = {"memory_size", "sequence_length"}
_SEED_BEHAVIOR_KEYS = set(_BEHAVIOR_KEYS) - {"hyperparameters", "network_settings"}
# Behavior-level sections that the seed's era called by another name (the keys inside are the same).
_SEED_RENAMED = {"pretraining": "behavioral_cloning"}
# Keys inside a section that the seed's era called by another name (0.14's self-play).
_SEED_RENAMED_INSIDE = {("self_play", "play_against_current_self_ratio"): "play_against_latest_model_ratio"}
# ML-Agents 0.5-0.7 switched curiosity on with flat keys: where each goes in the signal's section.
_SEED_CURIOSITY_KEYS = {"curiosity_strength": "strength", "curiosity_enc_size": "encoding_size"}
# Every key that does not go to ``hyperparameters``: inherited from 'default' whatever the trainer.
_SEED_STRUCTURAL_KEYS = (
    {"use_recurrent", "gamma", "use_curiosity"}
    | _SEED_NETWORK_KEYS
    | _SEED_MEMORY_KEYS
    | _SEED_BEHAVIOR_KEYS
    | set(_SEED_RENAMED)
    | set(_SEED_CURIOSITY_KEYS)
)
# The seed's online_bc imitated a player driving another behavior live; mlx's imitates a model.
_BRAIN_TO_IMITATE = (
    "brain_to_imitate is not used: mlx's online_bc learns from a teacher model, not from a "
    "player; replace it with 'teacher: MODEL' (an exported .onnx, a checkpoint, a run folder, "
    "or module:function for a scripted heuristic)"
)
# Keys that mark a top-level mapping as a flat seed behavior section.
_SEED_HINT_KEYS = (
    {"batch_size", "buffer_size", "beta", "epsilon", "lambd", "learning_rate", "num_epoch"}
    | {"demo_path", "batches_per_epoch", "brain_to_imitate"}
    | _SEED_STRUCTURAL_KEYS
)


def detect_dialect(data: Mapping[str, Any]) -> str:
    """Which dialect ``data`` is written in: :data:`CANONICAL`, :data:`MLAGENTS` or :data:`SEED`."""
    if "behaviors" in data:
        sections = [data.get("default_settings")]
        if isinstance(data["behaviors"], Mapping):
            sections += list(data["behaviors"].values())
        if any(isinstance(s, Mapping) and "trainer_type" in s for s in sections):
            return MLAGENTS
        if isinstance(data.get("env_settings"), Mapping) and "env_path" in data["env_settings"]:
            return MLAGENTS
        return CANONICAL
    if "default" in data:
        return SEED
    # A seed file without 'default': some unknown top-level key holds a flat behavior. An
    # unknown key holding anything else is more likely a misspelt canonical section.
    for key, value in data.items():
        if key not in _TOP_KEYS and isinstance(value, Mapping) and _SEED_HINT_KEYS & set(value):
            return SEED
    return CANONICAL


def to_canonical(data: Mapping[str, Any], lines: LineMap) -> tuple[dict[str, Any], LineMap, list[Problem]]:
    """Reshape ``data`` of any dialect into the canonical form; return it, its line map, and
    problems that only the reshaping can see (their paths are canonical)."""
    if detect_dialect(data) == SEED:
        return _from_seed(data, lines)
    out = copy.deepcopy(dict(data))
    new_lines = dict(lines)
    problems: list[Problem] = []
    # ML-Agents 1.x names, and its keys that mean nothing here ('threaded' chose a trainer thread).
    for path, _ in behavior_sections(out):
        drop_inert_mlagents_keys(_get(out, path), path, problems)
        _rename(out, path, "trainer_type", "trainer", lines, new_lines)
    if isinstance(out.get("env_settings"), Mapping):
        _rename(out, ("env_settings",), "env_path", "env", lines, new_lines)
    if "environment_parameters" in out and out["environment_parameters"] is None:
        out["environment_parameters"] = {}  # how ML-Agents writes "none" in configuration.yaml
    move_release3_parameters(out, lines, new_lines, problems)
    return out, new_lines, problems


def inherit_defaults(data: dict[str, Any], lines: LineMap) -> tuple[dict[str, Any], LineMap]:
    """Deep-merge each behavior over ``default_settings`` (the behavior's keys win), as ML-Agents
    1.x does; hyperparameters are not inherited by a behavior that names another trainer."""
    default = data.get("default_settings")
    behaviors = data.get("behaviors")
    if not isinstance(default, Mapping) or not isinstance(behaviors, Mapping):
        return data, lines
    default_trainer = default.get("trainer", _DEFAULT_TRAINER)
    new_lines = dict(lines)
    merged = {}
    for name, section in behaviors.items():
        if not isinstance(section, Mapping):
            merged[name] = section
            continue
        base = dict(default)
        if section.get("trainer", default_trainer) != default_trainer:
            base.pop("hyperparameters", None)
        merged[name] = deep_merge(base, section)
        path = ("behaviors", name)
        carry_lines(lines, ("default_settings",), path, new_lines)
        carry_lines(lines, path, path, new_lines)
    return {**data, "behaviors": merged}, new_lines


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated with ``over``, recursing where both hold a mapping."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def behavior_sections(data: Mapping[str, Any]) -> list[tuple[YamlPath, Mapping[str, Any]]]:
    """``default_settings`` and every ``behaviors.<B>`` that is a mapping, with their paths."""
    found: list[tuple[YamlPath, Mapping[str, Any]]] = []
    if isinstance(data.get("default_settings"), Mapping):
        found.append((("default_settings",), data["default_settings"]))
    if isinstance(data.get("behaviors"), Mapping):
        for name, section in data["behaviors"].items():
            if isinstance(section, Mapping):
                found.append((("behaviors", name), section))
    return found


def _from_seed(data: Mapping[str, Any], lines: LineMap) -> tuple[dict[str, Any], LineMap, list[Problem]]:
    out: dict[str, Any] = {}
    new_lines: LineMap = {(): lines.get((), 1)}
    problems: list[Problem] = []
    default = data.get("default", {})
    default_trainer = default.get("trainer", _DEFAULT_TRAINER) if isinstance(default, Mapping) else None
    behaviors: dict[str, Any] = {}
    for key, value in data.items():
        if key in _TOP_KEYS:
            out[key] = value
            carry_lines(lines, (key,), (key,), new_lines)
            continue
        dest: YamlPath = ("default_settings",) if key == "default" else ("behaviors", key)
        if not isinstance(value, Mapping) or not isinstance(default, Mapping):
            # Left as written: structuring reports that it is not a mapping.
            section = value
            carry_lines(lines, (key,), dest, new_lines)
        else:
            # Merge flat, then nest: use_recurrent in 'default' may govern memory_size here.
            flat_lines: LineMap = {}
            carry_lines(lines, ("default",), (), flat_lines)
            carry_lines(lines, (key,), (), flat_lines)
            base = default
            if value.get("trainer", default_trainer) != default_trainer:
                # As inherit_defaults does for the newer dialects: another trainer's
                # hyperparameters (a ppo default's beta under an offline_bc behavior) would be
                # unknown keys; the seed's trainers simply ignored them.
                base = {k: v for k, v in default.items() if k in _SEED_STRUCTURAL_KEYS}
            flat = deep_merge(base, value) if key != "default" else dict(value)
            section = _nest_seed(flat, flat_lines, dest, new_lines, problems)
        if key == "default":
            out["default_settings"] = section
        else:
            behaviors[key] = section
    out["behaviors"] = behaviors
    return out, new_lines, problems


def _nest_seed(
    flat: Mapping[str, Any],
    flat_lines: LineMap,
    dest: YamlPath,
    new_lines: LineMap,
    problems: list[Problem],
) -> dict[str, Any]:
    """One flat seed section as a canonical behavior section placed at ``dest``."""
    section: dict[str, Any] = {}
    new_lines[dest] = flat_lines.get((), new_lines.get((), 1))

    def put(key: str, to: YamlPath, value: Any) -> None:
        # A copy: sections merged over 'default' share its nested mappings, which the gamma
        # step below writes into (and which the YAML dumper would print as anchors).
        _set(section, to, copy.deepcopy(value))
        carry_lines(flat_lines, (key,), (*dest, *to), new_lines)

    recurrent = flat.get("use_recurrent", False)
    memory_path = ("network_settings", "memory")
    if not isinstance(recurrent, bool):
        detail = f"use_recurrent must be true or false, got {describe(recurrent)}"
        problems.append(Problem((*dest, *memory_path), detail))
        carry_lines(flat_lines, ("use_recurrent",), (*dest, *memory_path), new_lines)
    for key, value in flat.items():
        if key == "use_recurrent":
            if recurrent is True:
                section.setdefault("network_settings", {}).setdefault("memory", {})
                carry_lines(flat_lines, (key,), (*dest, *memory_path), new_lines)
            elif recurrent is False:
                # Explicitly no memory, so that a recurrent default_settings is not inherited.
                put(key, memory_path, None)
        elif key in _SEED_MEMORY_KEYS:
            if recurrent is True:
                put(key, (*memory_path, key), value)
        elif key in _SEED_NETWORK_KEYS:
            put(key, ("network_settings", key), value)
        elif key in _SEED_BEHAVIOR_KEYS:
            put(key, (key,), _renamed_inside(key, value, flat_lines, dest, new_lines))
        elif key in _SEED_RENAMED:
            new_name = _SEED_RENAMED[key]
            if new_name in flat:
                detail = f"{key} is the old name of {new_name}; keep only one of the two"
                problems.append(Problem((*dest, key), detail))
                carry_lines(flat_lines, (key,), (*dest, key), new_lines)
            else:
                put(key, (new_name,), value)
        elif key == "brain_to_imitate":
            problems.append(Problem((*dest, "hyperparameters", key), _BRAIN_TO_IMITATE))
            carry_lines(flat_lines, (key,), (*dest, "hyperparameters", key), new_lines)
        elif key == "use_curiosity" or key in _SEED_CURIOSITY_KEYS:
            pass  # below, once every key of the section is known
        elif key != "gamma":
            put(key, ("hyperparameters", key), value)
    _nest_seed_curiosity(flat, section, put, problems, lambda key: _located(flat_lines, key, dest, new_lines))
    if "gamma" in flat:
        # The oldest format had one discount at the top: the extrinsic signal's. A gamma
        # written under reward_signals.extrinsic wins.
        signals = section.setdefault("reward_signals", {"extrinsic": {}})
        extrinsic = signals.setdefault("extrinsic", {}) if isinstance(signals, dict) else None
        if isinstance(extrinsic, dict) and "gamma" not in extrinsic:
            put("gamma", ("reward_signals", "extrinsic", "gamma"), flat["gamma"])
    order = {key: index for index, key in enumerate(_BEHAVIOR_KEYS)}
    return dict(sorted(section.items(), key=lambda item: order.get(item[0], len(order))))


def _renamed_inside(key: str, value: Any, flat_lines: LineMap, dest: YamlPath, new_lines: LineMap) -> Any:
    """``value`` of the section ``key`` with the seed era's names of its keys replaced (unless
    the new name is there too: then the old one stays, to be reported as an unknown key)."""
    if not isinstance(value, Mapping):
        return value
    renames = {old: new for (section, old), new in _SEED_RENAMED_INSIDE.items() if section == key}
    out = {}
    for inner, inner_value in value.items():
        new = renames.get(inner)
        if new is not None and new not in value:
            out[new] = inner_value
            carry_lines(flat_lines, (key, inner), (*dest, key, new), new_lines)
        else:
            out[inner] = inner_value
    return out


def _nest_seed_curiosity(
    flat: Mapping[str, Any], section: dict[str, Any], put: Any, problems: list[Problem], at: Any
) -> None:
    """ML-Agents 0.5-0.7's ``use_curiosity: true`` (with ``curiosity_strength`` and
    ``curiosity_enc_size``) as a ``curiosity`` reward signal beside the extrinsic one; with
    ``use_curiosity: false`` the other two configure nothing and are dropped."""
    enabled = flat.get("use_curiosity", False)
    if not isinstance(enabled, bool):
        problems.append(Problem(at("use_curiosity"), f"expected true or false, got {describe(enabled)}"))
        return
    if not enabled:
        return
    signals = section.setdefault("reward_signals", {"extrinsic": {}})
    if not isinstance(signals, dict):
        return  # structuring reports reward_signals' own type
    if "curiosity" in signals:
        detail = "use_curiosity and reward_signals.curiosity both set curiosity; keep only one"
        problems.append(Problem(at("use_curiosity"), detail))
        return
    put("use_curiosity", ("reward_signals", "curiosity"), {})
    for old, new in _SEED_CURIOSITY_KEYS.items():
        if old in flat:
            put(old, ("reward_signals", "curiosity", new), flat[old])
    if "gamma" in flat:  # one discount for everything then
        put("gamma", ("reward_signals", "curiosity", "gamma"), flat["gamma"])


def _located(flat_lines: LineMap, key: str, dest: YamlPath, new_lines: LineMap) -> YamlPath:
    """The path of flat ``key`` left where it was written (for a problem), its line carried along."""
    carry_lines(flat_lines, (key,), (*dest, key), new_lines)
    return (*dest, key)


def _rename(data: dict[str, Any], path: YamlPath, old: str, new: str, lines: LineMap, new_lines: LineMap) -> None:
    """Rename key ``old`` of the mapping at ``path`` to ``new``, unless ``new`` is also there
    (then ``old`` stays, to be reported as an unknown key)."""
    section = _get(data, path)
    if old in section and new not in section:
        # Rebuilt rather than popped, so that the key keeps its place for 'config upgrade'.
        _set(data, path, {new if key == old else key: value for key, value in section.items()})
        carry_lines(lines, (*path, old), (*path, new), new_lines)


def _get(data: dict[str, Any], path: YamlPath) -> Any:
    """``data[p0][p1]...``."""
    for step in path:
        data = data[step]
    return data


def _set(data: dict[str, Any], path: YamlPath, value: Any) -> None:
    """Set ``data[p0][p1]...`` = value, creating mappings on the way."""
    for step in path[:-1]:
        data = data.setdefault(step, {})
    data[path[-1]] = value
