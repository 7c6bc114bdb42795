"""What ended a run that failed after training started, told in one line that names the plugin.

The controller wraps an exception raised by a behavior's trainer code (its trainer, policy or
reward signals) in :class:`TrainerFailed`, and one raised by the environment's code (other
than an :class:`~mlx_core.errors.MlxError`, which already reads as a sentence) in
:class:`EnvironmentFailed`. The plugin at fault is found from the traceback: the innermost
frame that belongs to the package of a plugin registered for that behavior's trainer or
reward signals (for a trainer that subclasses another plugin's trainer, the subclass's own
plugin), else the behavior's trainer plugin.
"""

from __future__ import annotations

import traceback
from types import TracebackType

from mlx_core.config.settings import BehaviorSettings
from mlx_core.plugins.manager import Plugins, Provided


class TrainerFailed(Exception):
    """A behavior's trainer, policy or reward signal raised: its state may be half-changed."""

    def __init__(self, behavior: str, error: BaseException) -> None:
        super().__init__(f"behavior {behavior}: {type(error).__name__}: {error}")
        self.behavior = behavior
        self.error = error


class EnvironmentFailed(Exception):
    """The environment's own code raised something other than an MlxError."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error


def first_line(error: BaseException) -> str:
    """``Type: first line of the message`` (the type alone for an empty message)."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0]}" if text else type(error).__name__


def traceback_text(error: BaseException) -> str:
    """The full traceback, for the JSON log and ``--debug``."""
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


def _package(module_name: str) -> str:
    return module_name.partition(".")[0]


def _frame_packages(tb: TracebackType | None) -> list[str]:
    """Top-level package of each frame, innermost first."""
    found = []
    while tb is not None:
        found.append(_package(str(tb.tb_frame.f_globals.get("__name__", ""))))
        tb = tb.tb_next
    return found[::-1]


def culprit(error: BaseException, candidates: list[Provided]) -> Provided | None:
    """The candidate whose plugin package holds the innermost frame of ``error``'s traceback.

    mlx-core's own types (extrinsic reward, ...) are never blamed for a frame: core's helpers
    run inside every plugin's calls.
    """
    by_package = {_package(p.plugin.module.__name__): p for p in candidates if p.plugin.distribution != "mlx-core"}
    for package in _frame_packages(error.__traceback__):
        if package in by_package:
            return by_package[package]
    return None


def _provided(plugins: Plugins, kind: str, name: str) -> Provided | None:
    return next((p for p in plugins.provided(kind) if p.type.name == name), None)


def _label(provided: Provided) -> str:
    info = provided.plugin
    return f"{provided.kind} '{provided.type.name}' (plugin {info.distribution} {info.version})"


def describe_trainer_failure(failure: TrainerFailed, plugins: Plugins, settings: BehaviorSettings) -> str:
    """One line: which behavior, which plugin's trainer or reward signal, and the exception."""
    trainer = _provided(plugins, "trainer", settings.trainer)
    candidates = [p for p in [trainer] if p is not None]
    if settings.behavioral_cloning is not None:
        candidates += [p for p in [_provided(plugins, "update objective", "behavioral_cloning")] if p is not None]
    candidates += [p for n in settings.reward_signals if (p := _provided(plugins, "reward signal", n)) is not None]
    blamed = culprit(failure.error, candidates) or trainer
    who = _label(blamed) if blamed is not None else f"trainer '{settings.trainer}'"
    return f"Behavior {failure.behavior}: the {who} raised {first_line(failure.error)}"


def describe_environment_failure(failure: EnvironmentFailed, plugins: Plugins, env_name: str | None) -> str:
    """One line: the environment (and the plugin distribution its code came from) and the exception."""
    blamed = culprit(failure.error, plugins.provided("environment"))
    source = f" (plugin {blamed.plugin.distribution} {blamed.plugin.version})" if blamed is not None else ""
    return f"The environment '{env_name}'{source} raised {first_line(failure.error)}"
