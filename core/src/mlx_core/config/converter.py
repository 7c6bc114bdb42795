"""The one cattrs converter for settings, and its errors turned into readable problems.

The converter is strict where YAML is easy to get subtly wrong: ``2.5`` is not an integer
(a whole number written as a float, ``5.0e5``, is), ``"yes"`` is not a boolean, and a number
is not a string. Every failure in a structure call is collected (cattrs' detailed validation)
and reported as a :class:`Problem` with the YAML path of the offending value, so the loader
can add the line number and list them all at once.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar, get_origin

import attrs
import cattrs
from cattrs.cols import (
    is_mapping,
    is_sequence,
    list_structure_factory,
    mapping_structure_factory,
)
from cattrs.errors import (
    AttributeValidationNote,
    BaseValidationError,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn

from mlx_core.config.yaml_io import YamlPath

T = TypeVar("T")

converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)


@attrs.define(frozen=True)
class Problem:
    """One thing wrong in a configuration: the YAML path of the value, and what is wrong."""

    path: YamlPath
    detail: str

    def render(self, where: str | None) -> str:
        """``path (where): detail``, e.g. ``behaviors.X.max_steps (line 7): expected ...``."""
        at = f" ({where})" if where else ""
        return f"{render_path(self.path)}{at}: {self.detail}"


def render_path(path: YamlPath) -> str:
    """A YAML path as users write it: ``behaviors.CartPole.network_settings``, ``env_args[0]``."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else f".{step}" if text else str(step)
    return text or "the top level"


def structure(data: Any, cl: type[T], path: YamlPath = ()) -> tuple[T | None, list[Problem]]:
    """Structure ``data`` as ``cl``; return the object and no problems, or None and every problem.

    ``path`` is where ``data`` sits in the document, prefixed to each problem's path.
    Errors that do not come from the data (bugs in a settings class) propagate unchanged.
    """
    try:
        return converter.structure(data, cl), []
    except (BaseValidationError, ForbiddenExtraKeysError, ValueError, TypeError) as exc:
        problems = list(_collect(exc, path))
        if any(p is None for p in problems):
            raise
        return None, [p for p in problems if p is not None]


class _Mismatch(TypeError):
    """A value of the wrong YAML type; the message is the whole user-facing detail."""

    def __init__(self, expected: str, value: Any, hint: str = "") -> None:
        super().__init__(f"expected {expected}, got {describe(value)}{hint}")


def describe(value: Any) -> str:
    """A value as it looks in YAML (strings quoted, ``true``, ``null``), or its kind."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, (str, int, float)):
        return repr(value)
    return f"a {type(value).__name__}"


def _int(value: Any, _: type) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    # ML-Agents' own configs write counts as floats ('max_steps: 5.0e5'); a whole number is
    # meant, so every integer field of every dialect and plugin takes one. 1.5 is not whole.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise _Mismatch("an integer", value)


def _float(value: Any, _: type) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise _Mismatch("a number", value)


def _bool(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    raise _Mismatch("true or false", value)


def _str(value: Any, _: type) -> str:
    if isinstance(value, str):
        return value
    hint = f" (quote it: '{value}')" if isinstance(value, (int, float)) else ""
    raise _Mismatch("a string", value, hint)


def _checked(inner: Callable[..., Any], kinds: tuple[type, ...], expected: str) -> Callable:
    # cattrs' own hooks would iterate a string into a list, or fail with an AttributeError on
    # a list given for a mapping; check the container kind first for a clear message.
    def hook(value: Any, cl: Any) -> Any:
        if not isinstance(value, kinds):
            raise _Mismatch(expected, value)
        return inner(value, cl)

    return hook


def _is_list(tp: Any) -> bool:
    return is_sequence(tp) and (tp is list or get_origin(tp) is list)


converter.register_structure_hook(int, _int)
converter.register_structure_hook(float, _float)
converter.register_structure_hook(bool, _bool)
converter.register_structure_hook(str, _str)
converter.register_structure_hook_factory(
    attrs.has, lambda cl: _checked(make_dict_structure_fn(cl, converter), (Mapping,), "a mapping")
)
converter.register_structure_hook_factory(
    is_mapping,
    lambda tp: _checked(mapping_structure_factory(tp, converter), (Mapping,), "a mapping"),
)
converter.register_structure_hook_factory(
    _is_list, lambda tp: _checked(list_structure_factory(tp, converter), (list, tuple), "a list")
)


def _collect(exc: BaseException, path: YamlPath) -> Iterator[Problem | None]:
    """Problems in an exception (group) from cattrs; None for an error that is not the data's."""
    if isinstance(exc, ForbiddenExtraKeysError):
        names = [a.name for a in attrs.fields(exc.cl)]
        for key in sorted(exc.extra_fields, key=str):
            yield Problem((*path, key), unknown_key_detail(key, names))
    elif isinstance(exc, BaseValidationError):
        for sub in exc.exceptions:
            step = _step(sub)
            if step is None and isinstance(exc, ClassValidationError) and _is_leaf(sub):
                # No note: raised by the class's __init__ (an attrs validator or
                # __attrs_post_init__) after all its fields structured cleanly.
                yield _init_problem(sub, path, exc.cl)
            else:
                yield from _collect(sub, (*path, *(step or ())))
    elif isinstance(exc, KeyError) and _step(exc):
        # cattrs raises KeyError(name) for a required field that is absent.
        yield Problem(path, "missing; this key is required")
    elif isinstance(exc, (ValueError, TypeError)):
        yield Problem(path, _message(exc))
    else:
        yield None


def _is_leaf(exc: BaseException) -> bool:
    return not isinstance(exc, (BaseValidationError, ForbiddenExtraKeysError))


def _step(exc: BaseException) -> tuple[Any, ...] | None:
    """The path step that cattrs noted on ``exc``: an attribute name or a mapping key/list index."""
    for note in getattr(exc, "__notes__", ()):
        if isinstance(note, AttributeValidationNote):
            return (note.name,)
        if isinstance(note, IterableValidationNote):
            return (note.index,)
    return None


# attrs validators say "'name' must be > 0: -1" or "'name' must be in [...] (got 'x')".
_VALIDATOR_MESSAGE = re.compile(r"^'(?P<name>\w+)' (?P<rest>must .*)$", re.DOTALL)
_BOUND_MESSAGE = re.compile(r"^(?P<rule>must be [<>=!]+ \S+): (?P<value>.*)$", re.DOTALL)
_LEADING_NAME = re.compile(r"^(?P<name>\w+)\W")


def _init_problem(exc: BaseException, path: YamlPath, cl: type) -> Problem:
    names = {a.name for a in attrs.fields(cl)}
    message = _message(exc)
    validator = _VALIDATOR_MESSAGE.match(message)
    if validator and validator["name"] in names:
        rest = validator["rest"]
        bound = _BOUND_MESSAGE.match(rest)
        detail = f"{bound['rule']}, got {bound['value']}" if bound else rest
        return Problem((*path, validator["name"]), detail)
    # A cross-field check in __attrs_post_init__ usually starts with the field it is about;
    # pointing at that field gives the most useful line.
    leading = _LEADING_NAME.match(message)
    if leading and leading["name"] in names:
        return Problem((*path, leading["name"]), message)
    return Problem(path, message)


def _message(exc: BaseException) -> str:
    # attrs' in_ validator passes extra arguments, which str() would show as a tuple.
    first = exc.args[0] if exc.args else ""
    return first if isinstance(first, str) and first else str(exc) or type(exc).__name__


def unknown_key_detail(key: Any, valid: list[str]) -> str:
    """``unknown key 'x'; did you mean 'y'?``, or the list of valid keys when nothing is close."""
    close = difflib.get_close_matches(str(key), valid, n=1)
    if close:
        return f"unknown key '{key}'; did you mean '{close[0]}'?"
    return f"unknown key '{key}'; valid keys are: {', '.join(valid)}"
