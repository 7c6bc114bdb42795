"""Reading configuration YAML with line numbers, and writing plain dicts back as YAML.

The round-trip loader is used only for its position marks: it builds no arbitrary objects
(like a safe loader), and every mapping key and list item remembers its line, so that later
errors can point into the user's file. Everything handed on is plain ``dict``/``list``/scalars.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

from mlx_core.errors import ConfigError

# A position in the document: mapping keys and list indexes from the top, e.g.
# ("behaviors", "CartPole", "hyperparameters", "batch_size").
YamlPath = tuple[Any, ...]
LineMap = dict[YamlPath, int]


def carry_lines(lines: LineMap, src: YamlPath, dst: YamlPath, into: LineMap) -> None:
    """Record in ``into`` the lines of ``src`` and everything under it, as if moved to ``dst``."""
    n = len(src)
    for path, line in lines.items():
        if path[:n] == src:
            into[dst + path[n:]] = line


def read_yaml(path: str | Path) -> tuple[dict[str, Any], LineMap]:
    """Load a YAML mapping from ``path``; return it as plain data and a path -> 1-based line map.

    Raises :class:`ConfigError` for a missing or unreadable file, a syntax error, an empty
    file, or a document whose top level is not a mapping of sections.
    """
    source = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        where = Path(path).absolute().parent
        problem = f"no such file (looked in {where}); check the path, relative to the current directory"
        raise ConfigError(source, [problem]) from None
    except IsADirectoryError:
        raise ConfigError(source, ["this is a directory; give the path of a .yaml file"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [f"the file is not UTF-8 text (byte {exc.start}); save it as UTF-8"]) from None
    except OSError as exc:
        raise ConfigError(source, [f"the file cannot be read ({exc.strerror})"]) from None
    return parse_yaml(text, source)


def parse_yaml(text: str, source: str = "<string>") -> tuple[dict[str, Any], LineMap]:
    """Like :func:`read_yaml` for text already in memory; ``source`` names it in errors."""
    try:
        document = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        raise ConfigError(source, [_syntax_problem(exc)]) from None
    except YAMLError as exc:  # unmarked errors are rare (e.g. bad stream encoding)
        raise ConfigError(source, [f"not valid YAML: {exc}"]) from None
    if document is None:
        problem = "the file is empty; write at least one section, e.g. 'behaviors:' with a behavior under it"
        raise ConfigError(source, [problem])
    if not isinstance(document, Mapping):
        kind = _kind(document)
        problem = f"the top level must be a mapping of sections such as 'behaviors:', not {kind}"
        raise ConfigError(source, [problem])
    lines: LineMap = {}
    data = _plain(document, (), 1, lines)
    return data, lines


def dump_yaml(data: Mapping[str, Any]) -> str:
    """Plain data as block-style YAML text, keys in the order given."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    # Insertion order is the attrs field order, which reads better than alphabetical.
    yaml.representer.sort_base_mapping_type_on_output = False
    stream = io.StringIO()
    yaml.dump(dict(data), stream)
    return stream.getvalue()


def _plain(node: Any, path: YamlPath, line: int, lines: LineMap) -> Any:
    """Copy ``node`` into builtin types, recording the line of every key and list item."""
    lines[path] = line
    if isinstance(node, CommentedMap):
        out = {}
        for key, value in node.items():
            plain_key = _plain_scalar(key)
            # Keys that came from a '<<' merge have no mark of their own: use the mapping's.
            mark = node.lc.data.get(key)
            out[plain_key] = _plain(value, (*path, plain_key), mark[0] + 1 if mark else line, lines)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, value in enumerate(node):
            mark = node.lc.data.get(index)
            items.append(_plain(value, (*path, index), mark[0] + 1 if mark else line, lines))
        return items
    return _plain_scalar(node)


def _plain_scalar(value: Any) -> Any:
    # ruamel's ScalarFloat/ScalarInt/ScalarBoolean and string subclasses keep formatting
    # details; downstream code (and equality with defaults) wants the builtin types.
    # ScalarBoolean (an anchored true/false) subclasses int, not bool.
    if isinstance(value, ScalarBoolean):
        return bool(value)
    for builtin in (bool, int, float, str):
        if isinstance(value, builtin):
            return builtin(value)
    return value


def _syntax_problem(exc: MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
    what = exc.problem or "invalid YAML"
    context = f" ({exc.context})" if exc.context else ""
    if isinstance(exc, DuplicateKeyError):
        return (
            f"YAML error at {where}: {what}; a key may appear only once in a mapping, so remove or rename one of them"
        )
    return (
        f"YAML syntax error at {where}: {what}{context}. Check the indentation there (spaces, "
        "not tabs), that each 'key: value' has a space after the colon, that brackets are "
        "closed, and quote values that contain ': ' or start with a special character"
    )


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    return f"the single value {value!r}"
