"""Built-in learning problems in small numpy form, for tests and benchmarks without downloads.

``BUILTIN_ENVS`` maps each task's name (also its behavior name) to a factory
``(num_envs, seed, params) -> Environment``; ``params`` are the task's parameters, which
``env_args`` (``key=value``) can set at creation and ``set_parameters`` later.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlx_core.env.base import Environment
from mlx_core.env.builtin.goal import Goal1DContinuous, Goal1DDiscrete
from mlx_core.env.builtin.masked import MaskedGrid
from mlx_core.env.builtin.memory import MemoryCue
from mlx_core.env.builtin.pong import Pong
from mlx_core.env.builtin.sparse import SparseCorridor
from mlx_core.env.builtin.visual_goal import VisualGoal
from mlx_core.errors import EnvError

if TYPE_CHECKING:
    from mlx_core.config.settings import RunOptions

BUILTIN_ENVS: dict[str, Callable[[int, int, dict[str, float]], Environment]] = {
    "Goal1DDiscrete": Goal1DDiscrete,
    "Goal1DContinuous": Goal1DContinuous,
    "MaskedGrid": MaskedGrid,
    "MemoryCue": MemoryCue,
    "Pong": Pong,
    "SparseCorridor": SparseCorridor,
    "VisualGoal": VisualGoal,
}


def accepts(target: str) -> bool:
    """True when ``target`` names a built-in task."""
    return target in BUILTIN_ENVS


def make_builtin(
    target: str, options: RunOptions, num_envs: int, seed: int, **_: Any
) -> Environment:
    """Create ``num_envs`` copies of the built-in task ``target``; ``env_args`` set parameters."""
    if target not in BUILTIN_ENVS:
        raise EnvError(
            f"Unknown built-in environment {target!r}; the built-in environments are "
            f"{', '.join(BUILTIN_ENVS)}."
        )
    factory = BUILTIN_ENVS[target]
    params = _parameters(target, options.env_settings.env_args)
    known = getattr(factory, "defaults", params)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise EnvError(
            f"The built-in environment {target!r} has no parameter {', '.join(unknown)}; "
            f"its parameters are {', '.join(known)}."
        )
    if options.env_settings.executor == "subprocess":
        from mlx_core.env.workers import make_pool

        return make_pool(options, num_envs, seed, functools.partial(make_one, target, params))
    return factory(num_envs, seed, params)


def make_one(target: str, params: dict[str, float], seed: int) -> Environment:
    """One copy of the built-in task ``target`` (for a worker process)."""
    return BUILTIN_ENVS[target](1, seed, params)


def _parameters(target: str, env_args: list[str] | None) -> dict[str, float]:
    """``["step_size=0.1", ...]`` as a parameter dict."""
    params: dict[str, float] = {}
    for arg in env_args or []:
        key, _, text = arg.partition("=")
        try:
            params[key] = float(text)
        except ValueError:
            raise EnvError(
                f"env_args for the built-in environment {target!r} must be key=value pairs with "
                f"numeric values (e.g. max_steps=20); got {arg!r}."
            ) from None
    return params


__all__ = [
    "BUILTIN_ENVS",
    "Goal1DContinuous",
    "Goal1DDiscrete",
    "MaskedGrid",
    "MemoryCue",
    "Pong",
    "SparseCorridor",
    "VisualGoal",
    "accepts",
    "make_builtin",
]
