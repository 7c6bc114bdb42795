"""Picks the environment type for ``env_settings.env`` and creates the environment."""

from __future__ import annotations

from typing import Any

import attrs

from mlx_core.config.settings import RunOptions
from mlx_core.env.base import Environment
from mlx_core.errors import EnvError
from mlx_core.plugins.manager import Plugins


def make_environment(options: RunOptions, plugins: Plugins, seed: int) -> Environment:
    """Create the environment named by ``options.env_settings.env``.

    ``<type>:<target>`` picks an environment type by name; otherwise the first type whose
    ``accepts(target)`` is True wins.
    """
    target = options.env_settings.env
    if not target:
        raise EnvError(
            "No environment to train in: set env_settings.env in the configuration file or pass "
            "--env (a gymnasium id such as CartPole-v1, a built-in such as Goal1DDiscrete, or "
            "module.path:ClassName)."
        )
    types = plugins.all("environment")
    prefix, sep, rest = target.partition(":")
    by_name = {t.name: t for t in types}
    if sep and prefix in by_name:
        chosen, target = by_name[prefix], rest
    else:
        chosen = next((t for t in types if t.accepts(target)), None)
    if chosen is None:
        names = ", ".join(sorted(by_name))
        raise EnvError(
            f"No installed environment type accepts env '{target}'. Use a gymnasium id "
            f"(e.g. CartPole-v1), a built-in environment name, module.path:ClassName, or prefix "
            f"the target with a type name ({names})."
        )
    if options.env_settings.executor == "ray":  # one Ray actor per copy, each built by the same factory
        from mlx_core.env.ray import make_ray_pool

        return make_ray_pool(options, chosen, target, seed)
    return chosen.factory(target, options=options, num_envs=options.env_settings.num_envs, seed=seed)


def environment_for(target: str, plugins: Plugins, seed: int = -1, **env_settings: Any) -> Environment:
    """The environment ``target`` with default settings except the given ``env_settings`` keys
    (``num_envs``, ``env_args``, ``executor``, ...): for commands without a configuration file."""
    options = RunOptions()
    settings = attrs.evolve(options.env_settings, env=target, seed=seed, **env_settings)
    return make_environment(attrs.evolve(options, env_settings=settings), plugins, seed)
