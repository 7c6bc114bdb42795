"""Builds the pluggy manager: core's defaults plus every ``mlx`` entry point, and name lookups."""

from __future__ import annotations

import difflib
from importlib import metadata
from types import ModuleType
from typing import Any

import attrs
import pluggy

from mlx_core import __version__, hookspecs
from mlx_core.errors import PluginError

ENTRY_POINT_GROUP = "mlx"

# Where first-party names come from, so an unknown name can say what to install.
FIRST_PARTY = {
    ("trainer", "ppo"): "mlx-ppo",
    ("trainer", "sac"): "mlx-sac",
    ("trainer", "bc"): "mlx-bc",
    ("trainer", "offline_bc"): "mlx-bc",
    ("trainer", "online_bc"): "mlx-bc",
    ("update objective", "behavioral_cloning"): "mlx-bc",
    ("trainer wrapper", "self_play"): "mlx-self-play",
    ("reward signal", "gail"): "mlx-gail",
    ("reward signal", "curiosity"): "mlx-curiosity",
    ("reward signal", "rnd"): "mlx-curiosity",
    ("parameter schedule", "curriculum"): "mlx-curriculum",
}

# ML-Agents names that no first-party distribution provides: what to do instead. Naming a
# distribution here would send users to pip-install a name that nobody publishes.
NOT_PROVIDED = {
    ("trainer", "poca"): (
        "POCA, ML-Agents' trainer for cooperating groups of agents, is not part of mlx: train the "
        "behavior with 'ppo' (each agent then learns from its own rewards, without POCA's shared "
        "critic), or install a third-party plugin that provides 'poca'."
    ),
}

# kind -> registry hook name
KINDS = {
    "trainer": "mlx_trainer_types",
    "reward signal": "mlx_reward_signal_types",
    "update objective": "mlx_update_objective_types",
    "trainer wrapper": "mlx_trainer_wrapper_types",
    "sampler": "mlx_sampler_types",
    "exporter": "mlx_exporter_types",
    "environment": "mlx_environment_types",
    "stats writer": "mlx_stats_writer_types",
    "parameter schedule": "mlx_parameter_schedule_types",
}


@attrs.define(frozen=True)
class PluginInfo:
    """One registered plugin module and the distribution that installed it."""

    name: str
    distribution: str
    version: str
    module: ModuleType


@attrs.define(frozen=True)
class Provided:
    """A type offered by a plugin, with where it came from."""

    kind: str
    type: Any
    plugin: PluginInfo


class Plugins:
    """The loaded plugins and the types they provide, looked up by kind and name."""

    def __init__(self, load_entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.infos: list[PluginInfo] = []
        from mlx_core.plugins import builtin

        self._register(PluginInfo("core", "mlx-core", __version__, builtin))
        if load_entry_points:
            for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
                self._load(ep)
        try:
            self.pm.check_pending()  # a misspelt hook name in a plugin is an error, not silence
        except pluggy.PluginValidationError as exc:
            raise PluginError(
                f"An installed mlx plugin implements a hook that mlx does not define: {exc}. Rename the function "
                f"to one of the mlx_* hooks (see mlx_core/hookspecs.py) or uninstall the plugin's distribution."
            ) from exc
        self._provided = self._collect()

    @property
    def hook(self) -> Any:
        """The pluggy hook relay, for calling event hooks."""
        return self.pm.hook

    def _load(self, ep: metadata.EntryPoint) -> None:
        dist = ep.dist.name if ep.dist is not None else "an unknown distribution"
        version = ep.dist.version if ep.dist is not None else "?"
        try:
            module = ep.load()
        except Exception as exc:  # any import failure of third-party code
            raise PluginError(
                f"The mlx plugin '{ep.name}' from the distribution {dist} {version} failed to "
                f"import ({type(exc).__name__}: {exc}). Reinstall it, or remove it with "
                f"'pip uninstall {dist}' to run without it."
            ) from exc
        self._register(PluginInfo(ep.name, dist, version, module))

    def _register(self, info: PluginInfo) -> None:
        if self.pm.is_registered(info.module):
            return
        try:
            self.pm.register(info.module, name=f"{info.distribution}:{info.name}")
        except pluggy.PluginValidationError as exc:
            raise PluginError(
                f"The mlx plugin '{info.name}' from {info.distribution} {info.version} does not match mlx's hook "
                f"specifications ({exc}); update or uninstall {info.distribution}."
            ) from exc
        self.infos.append(info)

    def _collect(self) -> dict[str, dict[str, Provided]]:
        by_module = {id(i.module): i for i in self.infos}
        provided: dict[str, dict[str, Provided]] = {kind: {} for kind in KINDS}
        for kind, hook_name in KINDS.items():
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                info = by_module[id(impl.plugin)]
                for item in impl.function() or []:
                    earlier = provided[kind].get(item.name)
                    if earlier is not None:
                        raise PluginError(
                            f"The {kind} name '{item.name}' is offered by both "
                            f"{earlier.plugin.distribution} and {info.distribution}; uninstall "
                            f"one of them."
                        )
                    provided[kind][item.name] = Provided(kind, item, info)
        return provided

    def names(self, kind: str) -> list[str]:
        """Installed names of one kind, sorted."""
        return sorted(self._provided[kind])

    def all(self, kind: str) -> list[Any]:
        """Every installed type of one kind."""
        return [p.type for p in self._provided[kind].values()]

    def provided(self, kind: str) -> list[Provided]:
        """Every installed type of one kind, with the plugin that offered it."""
        return list(self._provided[kind].values())

    def get(self, kind: str, name: str, where: str = "") -> Any:
        """The type called ``name``, or a :class:`PluginError` that lists the installed names."""
        found = self._provided[kind].get(name)
        if found is not None:
            return found.type
        raise PluginError(unknown_name_message(kind, name, self.names(kind), where))


def unknown_name_message(kind: str, name: str, installed: list[str], where: str = "") -> str:
    """One paragraph saying that no plugin provides ``name``, and what would."""
    at = f" ({where})" if where else ""
    text = f"No installed plugin provides the {kind} '{name}'{at}."
    dist = FIRST_PARTY.get((kind, name))
    if dist:
        text += f" It comes with the {dist} distribution: run 'pip install {dist}'."
    elif (kind, name) in NOT_PROVIDED:
        text += f" {NOT_PROVIDED[kind, name]}"
    else:
        close = difflib.get_close_matches(name, installed, n=1)
        if close:
            text += f" Did you mean '{close[0]}'?"
    listed = ", ".join(installed) if installed else "none"
    text += f" Installed {kind} names: {listed}."
    return text


_PLUGINS: Plugins | None = None


def get_plugins() -> Plugins:
    """The process-wide plugin registry, built on first use."""
    global _PLUGINS
    if _PLUGINS is None:
        _PLUGINS = Plugins()
    return _PLUGINS
