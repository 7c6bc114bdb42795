"""Trained models after the run: re-export a checkpoint, load a model, evaluate it (``mlx export|eval``).

A model is either an exported ``<Behavior>.onnx`` (run with onnxruntime by :class:`OnnxPolicy`)
or a checkpoint ``results/<run-id>/<Behavior>/checkpoint-<step>.pt`` (its trainer is rebuilt
from the run's ``configuration.yaml``). Evaluation acts deterministically, so the same model,
environment and seed give the same returns.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

import numpy as np
import torch

from mlx_core.config.settings import RunOptions
from mlx_core.env.base import ActionTuple, BehaviorSpec, DecisionSteps, Environment
from mlx_core.errors import EnvError, MlxError
from mlx_core.plugins.manager import Plugins, get_plugins
from mlx_core.training.agent_memories import AgentMemories
from mlx_core.training.checkpoints import list_checkpoints, load_checkpoint, spec_from_dict
from mlx_core.training.paths import safe_name
from mlx_core.training.policy import ActionInfo, Policy
from mlx_core.training.trainer import Trainer
from mlx_core.video import Recorder, video_opener

if TYPE_CHECKING:
    from mlx_core.env.gymnasium import GymnasiumEnvironment

# (observation shapes, continuous action size, number of discrete branches): what a model and an
# environment's behavior must agree on.
Layout = tuple[list[tuple[int, ...]], int, int]


class Actor(Protocol):
    """Anything that acts like a :class:`Policy` for evaluation."""

    def act(self, steps: DecisionSteps) -> ActionInfo:
        """Actions for every agent in ``steps``."""
        ...


# -- export ---------------------------------------------------------------------------------
def export_run(run_dir: str | Path, checkpoint: str | None = None) -> list[Path]:
    """Rewrite every exporter's model file of a run from its latest (or the named) checkpoint.

    ``checkpoint`` is a file name (``checkpoint-2000.pt``), a step (``2000``) or
    ``<Behavior>/checkpoint-2000.pt`` to export that behavior only. Returns the written paths.
    """
    from mlx_core.training.controller import export_all

    run_dir = Path(run_dir)
    options = _run_options(run_dir)
    plugins = get_plugins()
    written: list[Path] = []
    for path in _chosen_checkpoints(run_dir, checkpoint):
        name, trainer = _restore_trainer(path, options, plugins, run_dir)
        written += export_all(plugins, name, trainer, run_dir)
    return written


def _run_options(run_dir: Path) -> RunOptions:
    from mlx_core.config.loader import load_run_options

    if not run_dir.is_dir():
        raise MlxError(f"There is no run folder {run_dir}; give the results folder of a run, e.g. results/<run-id>.")
    config = run_dir / "configuration.yaml"
    if not config.is_file():
        raise MlxError(
            f"{run_dir} is not a run folder: it has no configuration.yaml (mlx run writes one into "
            f"results/<run-id>/); give the folder of a run, e.g. results/<run-id>."
        )
    return load_run_options(config)


def _chosen_checkpoints(run_dir: Path, checkpoint: str | None) -> list[Path]:
    """Per behavior folder, the checkpoint to load: the latest, or the one ``checkpoint`` names."""
    folders = {p.name: found for p in sorted(run_dir.iterdir()) if p.is_dir() and (found := list_checkpoints(p))}
    if not folders:
        raise MlxError(
            f"{run_dir} holds no checkpoints (<Behavior>/checkpoint-<step>.pt): the run saved none yet. "
            f"Train longer, or lower --save-freq (checkpoint_interval)."
        )
    if checkpoint is None:
        return [found[-1] for found in folders.values()]
    behavior, _, name = checkpoint.replace("\\", "/").rpartition("/")
    name = f"checkpoint-{name}.pt" if name.isdigit() else name
    if behavior:
        folder = Path(behavior).name
        if folder not in folders:
            raise MlxError(
                f"--checkpoint {checkpoint}: {run_dir} has no behavior folder {folder} with checkpoints; "
                f"the behavior folders are {', '.join(folders)}."
            )
        folders = {folder: folders[folder]}
    chosen = []
    for folder, found in folders.items():
        by_name = {p.name: p for p in found}
        if name not in by_name:
            hint = " Name one behavior's checkpoint as <Behavior>/<file>." if len(folders) > 1 else ""
            raise MlxError(
                f"--checkpoint {checkpoint}: {run_dir / folder} has no {name}; its checkpoints are "
                f"{', '.join(by_name)}.{hint}"
            )
        chosen.append(by_name[name])
    return chosen


def _restore_trainer(path: Path, options: RunOptions, plugins: Plugins, run_dir: Path) -> tuple[str, Trainer]:
    """The behavior name and its trainer, rebuilt on the CPU with the checkpoint's state loaded."""
    from mlx_core.config.loader import default_behavior_settings
    from mlx_core.stats.reporter import StatsReporter
    from mlx_core.training.controller import build_trainer, load_into

    data = load_checkpoint(path)
    name = data["behavior"]
    settings = options.behavior(name) or default_behavior_settings(plugins)
    seed = max(options.env_settings.seed, 0)
    spec = spec_from_dict(data["spec"])
    trainer = build_trainer(
        name, spec, settings, options, plugins, torch.device("cpu"), StatsReporter([]), run_dir, seed
    )
    load_into(trainer, data, path, f"loading with {run_dir / 'configuration.yaml'}")
    return name, trainer


# -- loading a model ------------------------------------------------------------------------
class OnnxPolicy:
    """Runs an exported ``<Behavior>.onnx`` in onnxruntime: deterministic actions, no values.

    Agents without an action mask get an all-allowed one. ``layout`` is what the model
    expects, read from its inputs and outputs. With ``deterministic`` False it returns the
    model's ``stochastic_*`` outputs instead (drawn by the graph's own random operators, which
    ``onnxruntime.set_seed`` before loading makes repeatable). A recurrent model (input
    ``recurrent_in``, output ``recurrent_out``) gets each agent's memory back at its next step,
    zero again after :meth:`end_episodes`.
    """

    def __init__(self, path: Path) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise MlxError(f'Running {path} needs onnxruntime: pip install "mlx-core[onnxruntime]".') from None
        try:
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime has its own exception types for unreadable graphs
            raise MlxError(f"onnxruntime cannot load {path} ({str(exc).strip().splitlines()[0]}).") from exc
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        outputs = {o.name: o.shape for o in self.session.get_outputs()}
        self.obs_names = sorted((n for n in inputs if n.startswith("obs_")), key=lambda n: int(n[4:]))
        self.output_names = [n for n in ("continuous_actions", "discrete_actions") if n in outputs]
        if not self.obs_names or not self.output_names:
            raise MlxError(
                f"{path} is not an mlx model: it needs inputs obs_0, obs_1, ... and outputs continuous_actions "
                f"and/or discrete_actions (it has inputs {', '.join(inputs)} and outputs {', '.join(outputs)})."
            )
        self.stochastic_names = [f"stochastic_{n}" for n in self.output_names if f"stochastic_{n}" in outputs]
        self.deterministic = True
        self.mask_width: int | None = inputs["action_masks"][1] if "action_masks" in inputs else None
        self.layout: Layout = (
            [tuple(inputs[n][1:]) for n in self.obs_names],
            outputs["continuous_actions"][1] if "continuous_actions" in outputs else 0,
            outputs["discrete_actions"][1] if "discrete_actions" in outputs else 0,
        )
        self.memories = AgentMemories(int(inputs["recurrent_in"][1])) if "recurrent_in" in inputs else None

    def act(self, steps: DecisionSteps) -> ActionInfo:
        """Actions for every agent in ``steps``; ``log_probs`` is empty (n, 0) and ``values`` None."""
        n = len(steps)
        feed = {name: np.asarray(obs, np.float32) for name, obs in zip(self.obs_names, steps.obs)}
        if self.mask_width is not None:
            mask = steps.action_mask
            feed["action_masks"] = (
                np.ones((n, self.mask_width), np.float32) if mask is None else mask.astype(np.float32)
            )
        names = self.output_names if self.deterministic else self.stochastic_names
        if self.memories is not None:
            slots = self.memories.slots(steps.agent_id)
            feed["recurrent_in"] = self.memories.memories[slots]
            names = [*names, "recurrent_out"]
        fetched = self.session.run(names, feed)
        if self.memories is not None:
            self.memories.memories[slots] = fetched.pop()
        results = dict(zip(self.output_names, fetched))
        actions = ActionTuple(
            continuous=np.asarray(results.get("continuous_actions", np.zeros((n, 0))), np.float32),
            discrete=np.asarray(results.get("discrete_actions", np.zeros((n, 0))), np.int64),
        )
        return ActionInfo(action=actions, env_action=actions, log_probs=np.zeros((n, 0), np.float32), values=None)

    def end_episodes(self, agent_ids: np.ndarray) -> None:
        """The episodes of ``agent_ids`` ended: a recurrent model starts their next ones from zeros."""
        if self.memories is not None and len(agent_ids):
            self.memories.end_episodes(agent_ids)


def load_policy(path: str | Path, options: RunOptions | None = None) -> tuple[str, Actor]:
    """The behavior name and a deterministic policy from an ``.onnx`` file or a checkpoint ``.pt``.

    An ONNX model's behavior is its file stem. A checkpoint's trainer is rebuilt with
    ``options``, by default the ``configuration.yaml`` of its run (two folders up).
    """
    path = Path(path)
    if not path.is_file():
        raise MlxError(f"There is no model file {path}; give a <Behavior>.onnx or a checkpoint-<step>.pt of a run.")
    if path.suffix == ".onnx":
        return path.stem, OnnxPolicy(path)
    if path.suffix != ".pt":
        raise MlxError(f"{path} is neither an exported model (.onnx) nor a checkpoint (.pt).")
    run_dir = path.parent.parent
    name, trainer = _restore_trainer(path, options or _run_options(run_dir), get_plugins(), run_dir)
    trainer.policy.deterministic = True
    return name, trainer.policy


def spec_layout(spec: BehaviorSpec) -> Layout:
    """What a model must agree on with ``spec``: observation shapes, continuous size, branches."""
    return [o.shape for o in spec.observation_specs], spec.action_spec.continuous_size, spec.action_spec.discrete_size


def describe_layout(layout: Layout) -> str:
    """``layout`` in words, for errors about a model that does not fit an environment."""
    shapes, continuous, branches = layout
    return f"observations {', '.join(map(str, shapes))}, {continuous} continuous actions, {branches} discrete branches"


# -- evaluation -----------------------------------------------------------------------------
def eval_model(
    model_path: str | Path, env: str, episodes: int, seed: int, video_path: str | Path | None = None, num_envs: int = 1
) -> dict[str, tuple[float, float, np.ndarray]]:
    """Run ``episodes`` episodes of ``env`` with a model; per behavior, (mean, std, returns).

    With ``video_path`` (``.gif``, or ``.mp4`` with the ``video`` extra), the first environment
    copy is rendered at every step and written there; only gymnasium environments that offer
    ``render_mode="rgb_array"`` can be recorded.
    """
    from mlx_core.training.evaluation import evaluate

    open_video = video_opener(Path(video_path)) if video_path is not None else None
    name, policy = load_policy(model_path)
    plugins = get_plugins()
    environment = _make_env(env, num_envs, seed, plugins, render=open_video is not None)
    try:
        behavior = _match_behavior(name, environment, model_path, env, policy)
        if open_video is not None:
            environment = Recorder(cast("GymnasiumEnvironment", environment), open_video)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        # evaluate only calls act(), which OnnxPolicy offers as well
        returns = evaluate(environment, cast(dict[str, Policy], {behavior: policy}), episodes)
    finally:
        environment.close()
    return {b: (float(r.mean()), float(r.std()), r) for b, r in returns.items()}


def _make_env(target: str, num_envs: int, seed: int, plugins: Plugins, render: bool) -> Environment:
    """The environment; with ``render``, a gymnasium one re-created with ``render_mode="rgb_array"``."""
    from mlx_core.env.factory import environment_for
    from mlx_core.env.gymnasium import GymnasiumEnvironment

    environment = environment_for(target, plugins, seed, num_envs=num_envs)
    if not render:
        return environment
    environment.close()
    if not isinstance(environment, GymnasiumEnvironment):
        raise MlxError(
            f"--video records gymnasium environments that render RGB frames (render_mode='rgb_array'); "
            f"{target} is not a gymnasium environment and cannot render. Drop --video."
        )
    try:
        return environment_for(target, plugins, seed, num_envs=num_envs, env_args=["render_mode=rgb_array"])
    except EnvError as exc:
        raise MlxError(
            f"--video: {target} cannot be created with render_mode='rgb_array', so it cannot render RGB frames; "
            f"drop --video."
        ) from exc


def _match_behavior(name: str, env: Environment, model_path: str | Path, target: str, policy: Actor) -> str:
    """The env's behavior that the model drives (by name or folder-safe name), checked for fit."""
    behaviors = list(env.specs)
    match = [b for b in behaviors if name in (b, safe_name(b))]
    if not match or len(behaviors) > 1:
        raise MlxError(
            f"The model {model_path} drives behavior {name}, but {target} has behavior(s) "
            f"{', '.join(behaviors)}; mlx eval runs one model in an environment with that one behavior (an "
            f".onnx model's behavior is its file name, <Behavior>.onnx)."
        )
    wanted = spec_layout(env.specs[match[0]])
    layout = policy.layout if isinstance(policy, OnnxPolicy) else spec_layout(cast(Policy, policy).spec)
    if layout != wanted:
        raise MlxError(
            f"The model {model_path} expects {describe_layout(layout)}, but {target} gives {describe_layout(wanted)}; "
            f"evaluate it in the environment it was trained in."
        )
    return match[0]
