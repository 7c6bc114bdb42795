"""Where actions come from when no trainer is learning them: ``mlx record``'s policy, online_bc's teacher.

A MODEL (``--policy``) is one of:

- ``<Behavior>.onnx``: an exported policy, run in onnxruntime;
- ``checkpoint-<step>.pt``: a checkpoint; its trainer is rebuilt from its run's ``configuration.yaml``;
- ``results/<run-id>``: a run folder; the behavior's latest checkpoint;
- ``module:function`` or ``path/to/file.py:function``: a scripted heuristic, mlx's counterpart of
  ML-Agents' heuristic mode. It is called as ``function(observations, spec)`` with one
  (n, *shape) float32 array per observation spec (batched over the n agents that decide now)
  and the behavior's :class:`BehaviorSpec`, and returns an :class:`ActionTuple`, or one array:
  (n, continuous_size) floats for continuous actions, (n, branches) integers for discrete
  ones ((n,) is accepted where there is one continuous action or one branch).

The trained forms share their loading with ``mlx eval`` (:func:`mlx_core.shipping.load_policy`).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import torch

from mlx_core.env.base import ActionTuple, BehaviorSpec, DecisionSteps
from mlx_core.errors import MlxError
from mlx_core.shipping import Actor, Layout, OnnxPolicy, describe_layout, load_policy, spec_layout
from mlx_core.training.policy import Policy

# ``module.path:function`` or ``path/to/file.py:function``
_FILE_TARGET = re.compile(r"^(?P<file>.+\.py):(?P<name>[A-Za-z_]\w*)$")
_MODULE_TARGET = re.compile(r"^(?P<module>[A-Za-z_][\w.]*):(?P<name>[A-Za-z_]\w*)$")

Heuristic = Callable[[list[np.ndarray], BehaviorSpec], Any]


class ActionSource(Protocol):
    """Something that picks actions for a batch of decisions of one behavior."""

    def act(self, steps: DecisionSteps) -> ActionTuple:
        """One action row per agent of ``steps``, in the same order."""
        ...


def load_action_source(
    model: str,
    spec: BehaviorSpec,
    behavior: str,
    *,
    seed: int = 0,
    deterministic: bool = True,
    where: str = "--policy",
) -> ActionSource:
    """The :class:`ActionSource` that ``model`` names, checked against ``behavior``'s ``spec``.

    ``deterministic`` picks a trained policy's most likely actions; otherwise it samples, from
    generators seeded with ``seed`` (the process's global generators are left as they were).
    Anything that cannot be loaded, or whose observations and actions do not fit ``spec``,
    raises :class:`MlxError` naming ``where`` (the flag or key that gave ``model``).
    """
    path = Path(model)
    if path.is_dir():
        checkpoint = _run_folder_checkpoint(path, behavior, where)
        return _trained(checkpoint, f"{model} ({checkpoint})", spec, behavior, seed, deterministic, where)
    if path.is_file() or path.suffix in (".onnx", ".pt"):
        return _trained(path, model, spec, behavior, seed, deterministic, where)
    if _FILE_TARGET.match(model) or _MODULE_TARGET.match(model):
        return HeuristicSource(_import_heuristic(model, where), spec, behavior, f"{where} {model}")
    raise MlxError(
        f"{where} {model}: there is no such file or folder, and it is not a heuristic. Give an exported "
        f"<Behavior>.onnx, a checkpoint-<step>.pt, a run folder (results/<run-id>), or module:function / "
        f"path/to/file.py:function."
    )


# -- trained policies -------------------------------------------------------------------------
class PolicySource:
    """A trained policy (:class:`Policy` or :class:`OnnxPolicy`) as an :class:`ActionSource`.

    Its actions are what the environment receives: continuous actions clipped to [-1, 1].
    A sampling torch policy draws from its own generator state, so that neither the process's
    global torch generator nor anything else drawing from it changes its draws.
    """

    def __init__(self, actor: Actor, seed: int) -> None:
        self.actor = actor
        self._rng_state: torch.Tensor | None = None
        if isinstance(actor, Policy) and not actor.deterministic:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self._rng_state = torch.get_rng_state()

    def act(self, steps: DecisionSteps) -> ActionTuple:
        """The policy's actions for every agent of ``steps``."""
        if self._rng_state is None:
            return self.actor.act(steps).env_action
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self._rng_state)
            actions = self.actor.act(steps).env_action
            self._rng_state = torch.get_rng_state()
        return actions


def _trained(
    path: Path, label: str, spec: BehaviorSpec, behavior: str, seed: int, deterministic: bool, where: str
) -> PolicySource:
    if not deterministic and path.suffix == ".onnx":
        import onnxruntime

        onnxruntime.set_seed(seed)  # the graph's random operators take their seeds when the session is made
    try:
        # a checkpoint's policy draws its numpy generator from torch's: seed it without touching the global one
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            _, actor = load_policy(path)
    except MlxError as exc:
        raise MlxError(f"{where} {label}: {exc}") from None
    if isinstance(actor, OnnxPolicy):
        layout: Layout = actor.layout
        fits = layout == spec_layout(spec) and actor.mask_width in (None, sum(spec.action_spec.discrete_branches))
        if not deterministic and len(actor.stochastic_names) < len(actor.output_names):
            raise MlxError(
                f"{where} {label}: this model has no stochastic_* outputs to sample from (it was exported by an "
                f"older mlx); act deterministically, or export it again with mlx export."
            )
        actor.deterministic = deterministic
    else:
        policy = cast(Policy, actor)
        layout = spec_layout(policy.spec)
        fits = layout == spec_layout(spec) and policy.spec.action_spec == spec.action_spec
        policy.deterministic = deterministic
    if not fits:
        raise MlxError(
            f"{where} {label}: the model expects {describe_layout(layout)}, but behavior {behavior} has "
            f"{describe_spec(spec)}. Give a model trained for this behavior (or an environment that fits the model)."
        )
    return PolicySource(actor, seed)


def _run_folder_checkpoint(run_dir: Path, behavior: str, where: str) -> Path:
    """The latest checkpoint of ``behavior`` in a run folder (of its only behavior, if named otherwise)."""
    from mlx_core.training.checkpoints import list_checkpoints
    from mlx_core.training.paths import safe_name

    folders = {p.name: found[-1] for p in sorted(run_dir.iterdir()) if p.is_dir() and (found := list_checkpoints(p))}
    if safe_name(behavior) in folders:
        return folders[safe_name(behavior)]
    if len(folders) == 1:
        return next(iter(folders.values()))
    if not folders:
        raise MlxError(
            f"{where} {run_dir}: the folder holds no checkpoints (<Behavior>/checkpoint-<step>.pt). Give the "
            f"folder of an mlx run (results/<run-id>) that saved one, or its exported <Behavior>.onnx."
        )
    raise MlxError(
        f"{where} {run_dir}: the run has checkpoints for {', '.join(folders)} but none for behavior {behavior}; "
        f"give the checkpoint to use, e.g. {next(iter(folders.values()))}."
    )


def describe_spec(spec: BehaviorSpec) -> str:
    """``spec`` in words: observation shapes, continuous size, discrete branches and their sizes."""
    action = spec.action_spec
    shapes = ", ".join(str(o.shape) for o in spec.observation_specs)
    sizes = f" of sizes {list(action.discrete_branches)}" if action.is_discrete else ""
    return f"observations {shapes}, {action.continuous_size} continuous actions, {action.discrete_size} discrete branches{sizes}"


# -- scripted heuristics ----------------------------------------------------------------------
def _import_heuristic(target: str, where: str) -> Heuristic:
    """The function that ``module:function`` or ``path/to/file.py:function`` names."""
    from mlx_core.env.python import load_file

    label = f"{where} {target}"
    file_match = _FILE_TARGET.match(target)
    if file_match:
        module = load_file(Path(file_match["file"]), label, MlxError)
        name = file_match["name"]
    else:
        match = _MODULE_TARGET.match(target)
        assert match is not None  # load_action_source only calls with one of the two forms
        try:
            module = importlib.import_module(match["module"])
        except ImportError as exc:
            raise MlxError(
                f"{label}: cannot import module {match['module']!r} ({exc}). Check the name, or give the "
                f"file instead: path/to/file.py:{match['name']}."
            ) from None
        name = match["name"]
    function = getattr(module, name, None)
    if not callable(function):
        raise MlxError(
            f"{label}: {module.__name__} has no function {name!r}. Name a function "
            f"f(observations, spec) that returns the actions."
        )
    return cast(Heuristic, function)


class HeuristicSource:
    """A scripted ``function(observations, spec)`` as an :class:`ActionSource`.

    Every result is checked against the spec (shapes, and discrete choices within their
    branch sizes), so a wrong heuristic fails at its first decision with a sentence, not
    inside the environment.
    """

    def __init__(self, function: Heuristic, spec: BehaviorSpec, behavior: str, label: str) -> None:
        self.function = function
        self.spec = spec
        self.behavior = behavior
        self.label = label

    def act(self, steps: DecisionSteps) -> ActionTuple:
        """The heuristic's actions for every agent of ``steps``."""
        return self._checked(self.function(steps.obs, self.spec), len(steps))

    def _checked(self, result: Any, n: int) -> ActionTuple:
        action = self.spec.action_spec
        if isinstance(result, ActionTuple):
            continuous, discrete = np.asarray(result.continuous), np.asarray(result.discrete)
        elif action.is_continuous and action.is_discrete:
            raise self._wrong(result, n, "an ActionTuple (this behavior has both continuous and discrete actions)")
        elif action.is_continuous:
            continuous, discrete = np.asarray(result), np.zeros((n, 0), np.int64)
        else:
            continuous, discrete = np.zeros((n, 0), np.float32), np.asarray(result)
        # (n,) is one action per agent: the natural return where there is one action or one branch
        if continuous.ndim == 1 and action.continuous_size == 1:
            continuous = continuous[:, None]
        if discrete.ndim == 1 and action.discrete_size == 1:
            discrete = discrete[:, None]
        if continuous.shape != (n, action.continuous_size) or discrete.shape != (n, action.discrete_size):
            raise self._wrong(result, n, self._expected(n))
        if not np.issubdtype(continuous.dtype, np.number) or not np.isfinite(continuous).all():
            raise self._wrong(result, n, "finite numbers for the continuous actions")
        whole = np.issubdtype(discrete.dtype, np.integer) or (
            np.issubdtype(discrete.dtype, np.floating) and np.array_equal(discrete, np.round(discrete))
        )
        if discrete.size and not whole:
            raise self._wrong(result, n, "whole numbers for the discrete choices")
        discrete = discrete.astype(np.int64)
        sizes = np.asarray(action.discrete_branches, np.int64)
        if discrete.size and ((discrete < 0) | (discrete >= sizes)).any():
            raise self._wrong(result, n, f"discrete choices 0 <= choice < branch size, for branch sizes {list(sizes)}")
        return ActionTuple(continuous=continuous.astype(np.float32), discrete=discrete)

    def _expected(self, n: int) -> str:
        action = self.spec.action_spec
        if action.is_continuous and action.is_discrete:
            return (
                f"an ActionTuple with continuous ({n}, {action.continuous_size}) floats and discrete "
                f"({n}, {action.discrete_size}) integers"
            )
        if action.is_continuous:
            return f"a ({n}, {action.continuous_size}) float array"
        return f"a ({n}, {action.discrete_size}) integer array (branch sizes {list(action.discrete_branches)})"

    def _wrong(self, result: Any, n: int, expected: str) -> MlxError:
        if isinstance(result, ActionTuple):
            got = (
                f"an ActionTuple with continuous {np.shape(result.continuous)} and discrete {np.shape(result.discrete)}"
            )
        else:
            got = (
                f"{type(result).__name__} of shape {np.shape(result)}" if _is_array_like(result) else repr(result)[:80]
            )
        return MlxError(
            f"{self.label} returned {got} for {n} agents, but behavior {self.behavior} ({describe_spec(self.spec)}) "
            f"needs {expected}. Fix the function's return value."
        )


def _is_array_like(value: Any) -> bool:
    try:
        np.shape(value)
    except Exception:  # noqa: BLE001 - ragged or exotic objects: shown by repr instead
        return False
    return True
