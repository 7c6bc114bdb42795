"""In-process mlx environments written in Python: ``path/to/file.py:ClassName`` or ``module:ClassName``.

The class subclasses :class:`mlx_core.env.Environment`; it is constructed with the
``env_args`` (``key=value``, Python literals) as keyword arguments and seeded with
``seed(seed + copy)``. ``num_envs`` copies are combined into one environment by
:class:`mlx_core.env.workers.WorkerPool` (in this process, or in worker processes with
``env_settings.executor: subprocess``).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mlx_core.env.base import Environment
from mlx_core.errors import EnvError, MlxError

if TYPE_CHECKING:
    from mlx_core.config.settings import RunOptions

_FILE_TARGET = re.compile(r"^(?P<file>.+\.py):(?P<name>[A-Za-z_]\w*)$")
_MODULE_TARGET = re.compile(r"^(?P<module>[A-Za-z_][\w.]*):(?P<name>[A-Za-z_]\w*)$")


def accepts(target: str) -> bool:
    """True for ``file.py:Class``, or ``module:Class`` naming an mlx Environment subclass.

    A ``module:Class`` target is imported to find out (gymnasium classes use the same form).
    """
    if _FILE_TARGET.match(target):
        return True
    match = _MODULE_TARGET.match(target)
    if not match:
        return False
    try:
        module = importlib.import_module(match["module"])
    except Exception:  # noqa: BLE001 - not importable here: let other environment types try
        return False
    found = getattr(module, match["name"], None)
    return isinstance(found, type) and issubclass(found, Environment)


def environment_class(target: str) -> type[Environment]:
    """The :class:`Environment` subclass that ``target`` names."""
    file_match = _FILE_TARGET.match(target)
    if file_match:
        module = load_file(Path(file_match["file"]), f"Environment {target!r}")
        name = file_match["name"]
    else:
        match = _MODULE_TARGET.match(target)
        if not match:
            raise EnvError(
                f"Environment target {target!r} is not path/to/file.py:ClassName or module.path:ClassName."
            )
        try:
            module = importlib.import_module(match["module"])
        except ImportError as error:
            raise EnvError(f"Cannot import module {match['module']!r} of environment {target!r}: {error}.") from None
        name = match["name"]
    found = getattr(module, name, None)
    if not (isinstance(found, type) and issubclass(found, Environment)):
        raise EnvError(
            f"{target!r}: {module.__name__} has no mlx Environment subclass named {name!r}. Name a class "
            "that subclasses mlx_core.env.Environment."
        )
    return found


def load_file(path: Path, label: str, error: type[MlxError] = EnvError) -> ModuleType:
    """Import a Python file by path (once per process: its module is cached under a fixed name).

    ``label`` starts the messages of the ``error`` raised for a missing or failing file (an
    environment target here; ``mlx record`` uses it for heuristic policies too).
    """
    if not path.is_file():
        raise error(f"{label}: there is no file {path}.")
    module_name = f"mlx_user_env_{abs(hash(str(path.resolve())))}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise error(f"{label}: {path} cannot be imported as a Python module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise error(f"{label}: importing {path} failed: {type(exc).__name__}: {exc}.") from None
    return module


def make_one(target: str, kwargs: dict[str, Any], seed: int) -> Environment:
    """One copy of the environment class ``target``, constructed with ``kwargs`` and seeded."""
    env_class = environment_class(target)
    try:
        env = env_class(**kwargs)
    except TypeError as error:
        raise EnvError(
            f"Cannot create environment {target!r} with arguments {kwargs}: {error}. Check env_args "
            "(key=value pairs for the constructor)."
        ) from None
    if seed >= 0:
        env.seed(seed)
    return env


def make_python(target: str, options: RunOptions, num_envs: int, seed: int, **_: Any) -> Environment:
    """``num_envs`` copies of the class ``target`` as one environment."""
    from mlx_core.env.gymnasium import parse_env_args
    from mlx_core.env.workers import make_pool

    kwargs = parse_env_args(options.env_settings.env_args, target)
    environment_class(target)  # fail here, in the trainer, with a clear message
    return make_pool(options, num_envs, seed, functools.partial(make_one, target, kwargs))
