"""The main loop: step the environment, act, cut trajectories, update, summarise, save."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlx_core import stopping
from mlx_core.config.loader import WRAPPER_SECTIONS
from mlx_core.config.settings import BehaviorSettings, RunOptions
from mlx_core.env.base import (
    ActionTuple,
    DecisionSteps,
    Environment,
    StepResult,
    TerminalSteps,
    closed_mask_branch,
    metric_values,
)
from mlx_core.env.factory import make_environment
from mlx_core.errors import EnvError, MlxError
from mlx_core.logs import file_only, get_logger
from mlx_core.plugins.manager import Plugins
from mlx_core.stats.reporter import StatsReporter
from mlx_core.timers import Timers
from mlx_core.training.agent_processor import AgentProcessor
from mlx_core.training.checkpoints import (
    detached_copy,
    latest_checkpoint,
    load_checkpoint,
    restore_rng,
    rng_state,
    save_checkpoint,
    spec_to_dict,
)
from mlx_core.training.failures import (
    EnvironmentFailed,
    TrainerFailed,
    describe_environment_failure,
    describe_trainer_failure,
    first_line,
    traceback_text,
)
from mlx_core.training.memory import keep_freed_memory
from mlx_core.training.parameters import EnvironmentParameterManager
from mlx_core.training.paths import behavior_dir, behavior_path, safe_name
from mlx_core.training.status import TrainingStatus
from mlx_core.training.trainer import Trainer, TrainerContext
from mlx_core.training.update_metrics import UpdateMetricsCSV

log = get_logger()

PROGRESS_INTERVAL_S = 0.5
# A trainer's snapshot after each completed update may cost at most this share of its
# update time; a trainer with a costlier state (a saved replay buffer) is snapshotted less often.
SNAPSHOT_BUDGET = 0.05


def pick_device(options: RunOptions) -> torch.device:
    """``torch_settings.device``, else CUDA when present, else CPU."""
    name = options.torch_settings.device
    if name is None:
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise MlxError(f"torch_settings.device '{name}' is not a valid torch device ({exc}).") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise MlxError(
            f"torch_settings.device is '{name}' but this torch build sees no CUDA device; use "
            f"'cpu' or pass --cpu."
        )
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise MlxError(
            f"torch_settings.device is '{name}' but only {torch.cuda.device_count()} CUDA device(s) are visible; "
            f"use cuda:0 .. cuda:{torch.cuda.device_count() - 1}."
        )
    if device.type not in ("cpu", "cuda"):
        raise MlxError(f"torch_settings.device '{name}': mlx trains on 'cpu' or 'cuda[:N]' devices.")
    return device


def build_trainer(
    name: str,
    spec: Any,
    settings: BehaviorSettings,
    options: RunOptions,
    plugins: Plugins,
    device: torch.device,
    stats: StatsReporter,
    run_dir: Path,
    seed: int,
) -> Trainer:
    """Create the trainer of one behavior with its reward signals (also used by ``mlx export``)."""
    trainer_type = plugins.get("trainer", settings.trainer, where=f"behaviors.{name}.trainer")
    objective_types = {}
    if settings.behavioral_cloning is not None:
        where = f"behaviors.{name}.behavioral_cloning"
        objective_types["behavioral_cloning"] = plugins.get("update objective", "behavioral_cloning", where=where)
    signals = {}
    for signal_name, signal_settings in settings.reward_signals.items():
        signal_type = plugins.get("reward signal", signal_name, where=f"behaviors.{name}.reward_signals")
        signals[signal_name] = signal_type.factory(spec=spec, settings=signal_settings, device=device)
    context = TrainerContext(
        behavior_name=name,
        spec=spec,
        settings=settings,
        options=options,
        reward_signals=signals,
        device=device,
        seed=seed,
        stats=stats,
        artifact_dir=behavior_path(run_dir, name),
    )
    trainer = trainer_type.factory(context)
    for section, objective_type in objective_types.items():
        section_settings = getattr(settings, section)
        trainer.objectives[section] = objective_type.factory(
            context=context, policy=trainer.policy, settings=section_settings
        )
    for section in WRAPPER_SECTIONS:  # e.g. self_play: the wrapper is what the controller drives
        wrapper_settings = getattr(settings, section)
        if wrapper_settings is not None:
            wrapper_type = plugins.get("trainer wrapper", section, where=f"behaviors.{name}.{section}")
            trainer = wrapper_type.factory(trainer=trainer, context=context, settings=wrapper_settings)
    return trainer


class TrainerController:
    """Runs one training (or inference) session over one environment, one trainer per behavior.

    SIGINT/SIGTERM end the session wherever it is (after the current step or update, or
    from a blocking wait through :mod:`mlx_core.stopping`): checkpoints and models are saved
    and :attr:`stopped_by` names the signal. A second signal exits at once.

    Once training has started, any other ending (an environment error, a worker past its
    restart limits, an exception in a trainer, reward-signal or environment plugin) saves
    too, then raises an :class:`MlxError` whose last line says where the files are and how to
    ``--resume``. A behavior whose trainer code raised is saved as of its last completed
    update (a snapshot taken after each one), since that update may have stopped halfway.
    """

    def __init__(self, options: RunOptions, run_dir: Path, plugins: Plugins) -> None:
        self.options = options
        self.run_dir = run_dir
        self.plugins = plugins
        seed = options.env_settings.seed
        self.seed = seed if seed >= 0 else random.randrange(2**31)
        self.device = pick_device(options)
        self.inference = options.checkpoint_settings.inference
        writers = [w for t in plugins.all("stats writer") if (w := t.factory(run_dir=run_dir, options=options))]
        self.stats = StatsReporter(writers)
        self.trainers: dict[str, Trainer] = {}
        self.processors: dict[str, AgentProcessor] = {}
        self._next_summary: dict[str, int] = {}
        self._next_checkpoint: dict[str, int] = {}
        self._returns_since_update: dict[str, list[float]] = {}
        self._last_update_end: dict[str, float] = {}
        self.timers = Timers()
        self.status: TrainingStatus | None = None  # read in run(), once the run folder is final
        self.update_csv: UpdateMetricsCSV | None = None
        self.env: Environment | None = None
        self.parameters: EnvironmentParameterManager | None = None  # environment_parameters, when the file has any
        self.stopped_by: str | None = None
        self._last_reward: dict[str, float | None] = {}
        self._snapshots: dict[str, dict[str, Any]] = {}  # trainer state after its last completed update
        self._snapshot_cost: dict[str, list[float]] = {}  # [seconds snapshotting, seconds updating]
        self._start = time.perf_counter()

    # -- set-up ----------------------------------------------------------------------------
    def _seed_everything(self) -> None:
        random.seed(self.seed)
        np.random.seed(self.seed)
        torch.manual_seed(self.seed)
        torch.set_num_threads(self.options.torch_settings.num_threads)
        if self.options.torch_settings.keep_freed_memory:
            keep_freed_memory()

    def _behavior_settings(self, name: str) -> BehaviorSettings:
        settings = self.options.behavior(name)
        if settings is None:
            from mlx_core.config.loader import default_behavior_settings

            log.warning("behavior_defaulted", behavior=name, reason="no section in the configuration; using defaults")
            settings = default_behavior_settings(self.plugins)
        return settings

    def _create_trainer(self, name: str, env: Environment) -> Trainer:
        settings = self._behavior_settings(name)
        if settings.init_path is not None:
            raise MlxError(
                f"behaviors.{name}.init_path is not supported; use --initialize-from <run-id> to start "
                f"from another run's weights."
            )
        spec = env.specs[name]
        trainer = build_trainer(
            name, spec, settings, self.options, self.plugins, self.device, self.stats, self.run_dir, self.seed
        )
        stats, returns = self.stats, self._returns_since_update.setdefault(name, [])
        debug = self.options.debug  # only the --debug update CSV reads the returns since an update

        def on_episodes(episode_returns: np.ndarray, lengths: np.ndarray, behavior: str = name) -> None:
            stats.extend(behavior, "Environment/Cumulative Reward", episode_returns)
            stats.extend(behavior, "Environment/Episode Length", lengths)
            if self.parameters is not None:  # curricula measure finished episodes
                self.parameters.episodes_ended(behavior, episode_returns)
            if debug:
                returns.extend(episode_returns.tolist())

        # policies with a critic (``value_heads``) get their values stored for advantage estimation
        n_values = len(getattr(trainer.policy.network, "value_heads", ()))
        self.processors[name] = AgentProcessor(spec, settings.time_horizon, n_values, on_episodes)
        self._next_summary[name] = settings.summary_freq
        self._next_checkpoint[name] = settings.checkpoint_interval
        trainer.policy.deterministic = self.inference
        log.info("trainer_created", behavior=name, trainer=settings.trainer, device=str(self.device))
        return trainer

    def _restore(self) -> None:
        """Continue from each behavior's latest checkpoint (``--resume``)."""
        for name, trainer in self.trainers.items():
            found = latest_checkpoint(behavior_path(self.run_dir, name))
            if found is None:
                if self.inference:
                    raise MlxError(
                        f"--inference --resume: {behavior_path(self.run_dir, name)} holds no checkpoint for behavior "
                        f"{name}, so there is no trained policy to run."
                    )
                log.warning("checkpoint_missing", behavior=name, reason="starting this behavior from scratch")
                continue
            data = load_checkpoint(found)
            load_into(trainer, data, found, "--resume")
            restore_rng(data["rng"])
            self._advance_schedules(name, trainer)
            log.info("checkpoint_loaded", behavior=name, step=trainer.step, path=str(found))

    def _initialize_from(self, run_id: str) -> None:
        """Start from another run's latest weights, with fresh step counters (``--initialize-from``)."""
        source = Path(self.options.checkpoint_settings.results_dir) / run_id
        if not source.is_dir():
            raise MlxError(f"--initialize-from {run_id}: there is no run folder {source} to take weights from.")
        for name, trainer in self.trainers.items():
            found = latest_checkpoint(behavior_path(source, name))
            if found is None:
                raise MlxError(f"--initialize-from {run_id}: {behavior_path(source, name)} holds no checkpoint for behavior {name}.")
            load_into(trainer, load_checkpoint(found), found, f"--initialize-from {run_id}", weights_only=True)
            log.info("weights_initialized", behavior=name, path=str(found))

    def _advance_schedules(self, name: str, trainer: Trainer) -> None:
        settings = trainer.settings
        self._next_summary[name] = _next_multiple(trainer.step, settings.summary_freq)
        self._next_checkpoint[name] = _next_multiple(trainer.step, settings.checkpoint_interval)

    # -- the run ---------------------------------------------------------------------------
    def prepare(self) -> None:
        """Start the environment and build every trainer, loading checkpoints or weights.

        Nothing is written to disk here: the CLI calls this before it makes the run folder,
        so a wrong ``env``, plugin or checkpoint leaves no half-made run behind. A stop signal
        meanwhile raises :class:`~mlx_core.stopping.StopRequested` from the wait it cut short.
        """
        if self.trainers:
            return
        with stopping.handle_signals():
            self._prepare()

    def _prepare(self) -> None:
        env = self.open_environment()
        for name in self.options.behaviors:
            if name not in env.specs:
                log.warning("behavior_not_in_environment", behavior=name, available=sorted(env.specs))
        self.trainers = {name: self._create_trainer(name, env) for name in env.specs}
        cp = self.options.checkpoint_settings
        if cp.resume:
            self._restore()
        elif cp.initialize_from:
            self._initialize_from(cp.initialize_from)
        if self.inference:  # inference counts its own max_steps decisions from 0
            for name, trainer in self.trainers.items():
                trainer.step = 0
                self._advance_schedules(name, trainer)
        self._start_parameters(env)

    def _start_parameters(self, env: Environment) -> None:
        """Build the parameter manager (lessons and sampler state from training_status.json on
        --resume) and send every parameter's first value, before the first reset."""
        if not self.options.environment_parameters:
            return
        cp = self.options.checkpoint_settings
        self.parameters = EnvironmentParameterManager(
            self.options.environment_parameters,
            self.plugins,
            self.seed,
            self.options.env_settings.resampling_interval,
            cp.lesson,
        )
        self.parameters.bind(list(env.specs), self.stats)
        if cp.resume:
            saved = TrainingStatus(self.run_dir / "run_logs" / "training_status.json").data.get("environment_parameters")
            if saved:
                self.parameters.load_state_dict(saved)
        env.set_parameters(self.parameters.first_values())
        log.info("environment_parameters_set", values=self.parameters.values, lessons=self.parameters.lessons())

    def open_environment(self) -> Environment:
        """Seed the generators and start the environment (before anything is written to disk,
        so a wrong ``env`` leaves no half-made run folder behind)."""
        if self.env is None:
            self._seed_everything()
            with self.timers.block("env_start"):
                self.env = make_environment(self.options, self.plugins, self.seed)
            log.info(
                "environment_started",
                env=self.options.env_settings.env,
                behaviors=sorted(self.env.specs),
                num_envs=self.options.env_settings.num_envs,
            )
        return self.env

    def run(self, before_loop: Callable[[], object] | None = None) -> dict[str, int]:
        """Train (or run inference) until every behavior reached ``max_steps`` or a stop signal.

        ``before_loop`` runs once everything is set up (checkpoints loaded), before the first
        step: the CLI writes ``configuration.yaml`` there, so a failed ``--resume`` leaves the
        run's files as they were. A stop signal before training started ends the run with
        nothing saved (:attr:`stopped_by` set, no trainers when it came during start-up).
        """
        with stopping.handle_signals():  # the outermost use forgets an earlier run's stop request
            return self._run(before_loop)

    def _run(self, before_loop: Callable[[], object] | None) -> dict[str, int]:
        env: Environment | None = None
        started = False
        failure: BaseException | None = None
        if self.options.debug:
            self.update_csv = UpdateMetricsCSV(self.run_dir / "run_logs" / "update_metrics.csv")
        try:
            self.prepare()
            env = self.env
            assert env is not None
            self.status = TrainingStatus(self.run_dir / "run_logs" / "training_status.json")
            started = True  # from here on, every ending saves
            for name, trainer in self.trainers.items():
                if not self.inference:
                    self._snapshot(name, trainer)
            if before_loop is not None:
                before_loop()
            self.plugins.hook.mlx_run_started(options=self.options, run_dir=self.run_dir)
            self._loop(env)
            self.stopped_by = stopping.stop_reason()
        except stopping.StopRequested as stop:
            self.stopped_by = stop.reason
        except BaseException as error:  # noqa: BLE001 - saved for, then raised below
            failure = error
        saved, all_saved = "", True
        try:
            if env is not None:
                env.close()
            if started and not self.inference:
                saved, all_saved = self._save_on_exit(failure)
        finally:
            self.stats.close()
            if self.update_csv is not None:
                self.update_csv.close()
            if started:
                self.timers.write(self.run_dir / "run_logs" / "timers.json")
        if failure is not None:
            ending = self._failure_error(failure, saved)
            if ending is failure:
                raise failure
            raise ending from failure
        if not all_saved:  # a finished or stopped run whose final save failed is a failure
            raise MlxError(saved)
        steps = {name: t.step for name, t in self.trainers.items()}
        self.plugins.hook.mlx_run_finished(options=self.options, run_dir=self.run_dir, steps=steps)
        return steps

    def _loop(self, env: Environment) -> None:
        timer = self.timers.block
        with timer("env_reset"):
            result = _environment_call(env.reset)
        next_progress = 0.0
        while not all(t.finished for t in self.trainers.values()) and stopping.stop_reason() is None:
            actions: dict[str, ActionTuple] = {}
            for name, (decisions, terminals) in result.items():
                trainer = self.trainers[name]
                try:  # free in Python 3.11 unless something raises
                    self._behavior_step(name, trainer, decisions, terminals, actions)
                except stopping.StopRequested:
                    raise
                except Exception as error:
                    raise TrainerFailed(name, error) from error
                with timer("summaries_and_checkpoints"):
                    self._periodic(name, trainer)
            if time.perf_counter() >= next_progress:
                next_progress = time.perf_counter() + PROGRESS_INTERVAL_S
                for name, trainer in self.trainers.items():
                    self.stats.progress(name, trainer.step, trainer.settings.max_steps, self._state(trainer))
            with timer("env_step"):
                if self.parameters is not None and self.parameters.take_reset_request():
                    result = self._reset_for_lesson(env, result)
                else:
                    result = _environment_call(env.step, actions)
            if self.parameters is not None:
                self._step_parameters(env)
            custom = _environment_call(env.stats)
            if custom:  # metrics the simulator reports: every behavior's summaries show them
                for key, values in custom.items():
                    floats = metric_values(values)
                    for name in self.trainers:
                        self.stats.extend(name, key, floats)

    def _step_parameters(self, env: Environment) -> None:
        """Send the parameters that changed after this step (new draws, a new lesson)."""
        assert self.parameters is not None
        progress = {name: t.step / t.settings.max_steps for name, t in self.trainers.items()}
        values = self.parameters.after_step(progress)
        if values:
            _environment_call(env.set_parameters, values)

    def _reset_for_lesson(self, env: Environment, last: StepResult) -> StepResult:
        """Reset the environment for a lesson with ``require_reset``: every agent that was
        waiting for this step ends its episode as interrupted at its last observation."""
        fresh = _environment_call(env.reset)
        log.info("environment_reset_for_lesson", lessons=self.parameters.lessons() if self.parameters else {})
        combined: StepResult = {}
        for name in {*last, *fresh}:
            waiting = last[name][0] if name in last else None
            spec = env.specs[name]
            ended = TerminalSteps.empty(spec)
            if waiting is not None and len(waiting):
                ended = TerminalSteps(
                    obs=list(waiting.obs),
                    reward=np.zeros(len(waiting), np.float32),  # their last reward was already credited
                    agent_id=waiting.agent_id,
                    interrupted=np.ones(len(waiting), bool),
                    team_id=waiting.team_id,
                )
            decisions = fresh[name][0] if name in fresh else DecisionSteps.empty(spec)
            combined[name] = (decisions, ended)
        return combined

    def _behavior_step(
        self, name: str, trainer: Trainer, decisions: Any, terminals: Any, actions: dict[str, ActionTuple]
    ) -> None:
        """One behavior's part of a step: record it, act, hand over cut trajectories, update."""
        timer = self.timers.block
        processor = self.processors[name]
        learning = not (trainer.finished or self.inference)
        with timer("process_steps"):
            cut = processor.add_terminal(terminals) + processor.add_rewards(decisions)
            if getattr(trainer.policy, "memory_size", 0):  # a recurrent policy starts new episodes from zero memories
                trainer.policy.end_episodes(terminals.agent_id)
        if len(decisions):
            self._check_mask(name, trainer, decisions)
            with timer("policy_act"):
                info = trainer.policy.act(decisions)
            with timer("process_steps"):
                processor.add_actions(decisions, info)
            actions[name] = info.env_action
        if trainer.finished:
            return
        trainer.step += len(decisions)
        if learning:
            if cut:
                with timer("process_trajectories"):
                    trainer.process_trajectories(cut)
            if trainer.ready_to_update():
                self._update(name, trainer)

    def _check_mask(self, name: str, trainer: Trainer, decisions: DecisionSteps) -> None:
        """Refuse an action mask with a branch whose every choice is forbidden (every kind of
        environment; the protocol layer refuses a gRPC simulator's sooner, in its own words)."""
        if decisions.action_mask is None:
            return
        closed = closed_mask_branch(decisions.action_mask, trainer.context.spec.action_spec.discrete_branches)
        if closed is not None:
            row, branch = closed
            raise EnvError(
                f"The environment '{self.options.env_settings.env}' sent behavior {name} an action mask that "
                f"forbids every choice of branch {branch} for agent id {int(decisions.agent_id[row])}: the policy "
                "would have nothing to choose from. Allow at least one choice (true) in each branch of every "
                "agent that is asked to decide, or end that agent's episode instead."
            )

    def _state(self, trainer: Trainer) -> str:
        if self.inference:
            return "inference"
        return "finished" if trainer.finished else "training"

    def _update(self, name: str, trainer: Trainer) -> None:
        start = time.perf_counter()
        with self.timers.block("update"):
            trainer.update()
        end = time.perf_counter()
        cost = self._snapshot_cost[name]
        cost[1] += end - start
        if cost[0] <= SNAPSHOT_BUDGET * cost[1]:
            with self.timers.block("snapshot"):
                self._snapshot(name, trainer)
            cost[0] += time.perf_counter() - end
        returns = self._returns_since_update[name]
        log.debug("policy_updated", behavior=name, step=trainer.step, seconds=round(end - start, 6))
        if self.update_csv is not None:
            self.update_csv.add(
                name,
                update=end - start,
                since_start=end - self._start,
                collection=start - self._last_update_end.get(name, self._start),
                experiences=trainer.last_update_size,
                mean_return=float(np.mean(returns)) if returns else None,
            )
        returns.clear()
        self._last_update_end[name] = end

    def _periodic(self, name: str, trainer: Trainer) -> None:
        settings = trainer.settings
        if trainer.step >= self._next_summary[name]:
            if self.parameters is not None:
                self.parameters.record(self.stats, name)
            summary = self.stats.flush(name, trainer.step, settings.max_steps, training=not self.inference)
            reward = summary.get("Environment/Cumulative Reward")
            self._last_reward[name] = None if reward is None else reward.mean
            self._next_summary[name] = _next_multiple(trainer.step, settings.summary_freq)
        if trainer.step >= self._next_checkpoint[name] and not trainer.finished and not self.inference:
            try:
                self._save(name, trainer)
            except Exception as error:  # a full disk, or a state that cannot be written
                file_only("save_failed_traceback", behavior=name, traceback=traceback_text(error))
                raise MlxError(
                    f"Saving behavior {name}'s checkpoint at step {trainer.step} failed ({first_line(error)})."
                ) from error
            self._snapshot(name, trainer)  # a later failure saves no older state than this checkpoint
            self._next_checkpoint[name] = _next_multiple(trainer.step, settings.checkpoint_interval)

    # -- outputs ---------------------------------------------------------------------------
    def _save(self, name: str, trainer: Trainer) -> Path:
        folder = behavior_dir(self.run_dir, name)
        payload = {
            "behavior": name,
            "trainer": trainer.settings.trainer,
            "step": trainer.step,
            "spec": spec_to_dict(trainer.context.spec),
            "rng": rng_state(),
            "state": trainer.state_dict(),
        }
        with self.timers.block("save_checkpoint"):
            path = save_checkpoint(payload, folder, trainer.step, trainer.settings.keep_checkpoints)
        reward = self._last_reward.get(name)
        assert self.status is not None
        if self.parameters is not None:  # --resume continues these lessons and this sampler sequence
            self.status.data["environment_parameters"] = self.parameters.state_dict()
            self.status.behavior(name)["lesson"] = self.parameters.lessons(behavior=name) or None
        self.status.checkpoint(name, trainer.step, path, reward, trainer.settings.keep_checkpoints)
        log.info("checkpoint_saved", behavior=name, step=trainer.step, path=str(path))
        self.plugins.hook.mlx_checkpoint_saved(behavior=name, step=trainer.step, path=path)
        return path

    def _snapshot(self, name: str, trainer: Trainer) -> None:
        """Keep a copy of the trainer's state that a half-done later update cannot change."""
        self._snapshots[name] = detached_copy(trainer.state_dict())
        self._snapshot_cost.setdefault(name, [0.0, 0.0])

    def _save_on_exit(self, failure: BaseException | None) -> tuple[str, bool]:
        """Checkpoint and models of every behavior; the sentence that says what was saved, and
        whether every behavior was.

        A behavior whose trainer code raised goes back to its snapshot first. A behavior whose
        save fails keeps its earlier files (written under temporary names) and the others are
        still saved.
        """
        tainted = failure.behavior if isinstance(failure, TrainerFailed) else None
        saved, problems = [], []
        for name, trainer in self.trainers.items():
            try:
                if name == tainted:
                    trainer.load_state_dict(self._snapshots[name])
                self._save(name, trainer)
                export_all(self.plugins, name, trainer, self.run_dir)
            except Exception as error:  # noqa: BLE001 - the others are still worth saving
                log.error("save_failed", behavior=name, error=first_line(error))
                file_only("save_failed_traceback", behavior=name, traceback=traceback_text(error))
                problems.append(f"{name} could not be saved ({first_line(error)}); its earlier checkpoints are untouched")
                continue
            note = " (its last completed update)" if name == tainted else ""
            saved.append(f"{name} {trainer.step}{note}")
        where = f"checkpoints and models are in {self.run_dir}. Continue with --resume."
        if not problems:
            return f"Saved at step {', '.join(saved)}; {where}", True
        done = f". Saved at step {', '.join(saved)}" if saved else ""
        return "; ".join(problems) + done + f"; {where}", False

    def _failure_error(self, failure: BaseException, saved: str) -> BaseException:
        """The exception the run ends with: one line on what failed, then ``saved`` (if any)."""
        if isinstance(failure, (TrainerFailed, EnvironmentFailed)):
            if isinstance(failure, TrainerFailed):
                settings = self.trainers[failure.behavior].settings
                what = describe_trainer_failure(failure, self.plugins, settings)
            else:
                what = describe_environment_failure(failure, self.plugins, self.options.env_settings.env)
            error = failure.error
            fields = {"error": first_line(error), "traceback": traceback_text(error)}
            if self.options.debug:
                log.error("plugin_failed", **fields)
            else:  # the traceback goes to log.jsonl only; stderr gets the one line
                file_only("plugin_failed", **fields)
        elif isinstance(failure, MlxError) and saved:
            what = str(failure)
        else:  # nothing saved, a bug in mlx itself, or KeyboardInterrupt without our handler
            if saved:
                failure.add_note(saved)  # printed last, under the traceback
            return failure
        return MlxError(f"{what}\n{saved}" if saved else what)


def _environment_call(call: Callable[..., Any], *args: Any) -> Any:
    """``call(*args)`` on the environment, its own exceptions wrapped in :class:`EnvironmentFailed`
    (MlxError and StopRequested already say what happened)."""
    try:
        return call(*args)
    except (MlxError, stopping.StopRequested):
        raise
    except Exception as error:
        raise EnvironmentFailed(error) from error


def _next_multiple(step: int, every: int) -> int:
    """The first multiple of ``every`` after ``step`` (when the next summary or checkpoint is due)."""
    return (step // every + 1) * every


def load_into(trainer: Trainer, data: dict[str, Any], path: Path, why: str, weights_only: bool = False) -> None:
    """Load a checkpoint's trainer state (or only its weights) into ``trainer``, or explain in one
    paragraph why it does not fit (another trainer type, network settings or environment)."""
    name = trainer.context.behavior_name
    if data.get("trainer") != trainer.settings.trainer:
        raise MlxError(
            f"{why}: {path} was written by the '{data.get('trainer')}' trainer but behavior {name} now uses "
            f"'{trainer.settings.trainer}'; use the same trainer or start a new run id."
        )
    try:
        if weights_only:
            trainer.load_weights(data["state"])
        else:
            trainer.load_state_dict(data["state"])
    except (RuntimeError, KeyError, ValueError) as exc:
        raise MlxError(
            f"{why}: the state in {path} does not fit behavior {name}'s trainer ({str(exc).splitlines()[0]}); "
            f"the network settings or the environment differ from that run's."
        ) from exc


def export_all(plugins: Plugins, name: str, trainer: Trainer, run_dir: Path) -> list[Path]:
    """Run every installed exporter on one behavior's policy."""
    written = []
    for exporter in plugins.all("exporter"):
        path = exporter.export(trainer.policy, behavior_dir(run_dir, name) / safe_name(name))
        log.info("export_written", behavior=name, exporter=exporter.name, path=str(path))
        plugins.hook.mlx_export_written(behavior=name, path=path)
        written.append(path)
    return written
