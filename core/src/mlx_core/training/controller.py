"""The main loop: step the environment, act, cut trajectories, update, summarise, save."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from mlx_core.config.settings import BehaviorSettings, RunOptions
from mlx_core.env.base import ActionTuple, Environment
from mlx_core.env.factory import make_environment
from mlx_core.errors import MlxError
from mlx_core.logs import get_logger
from mlx_core.plugins.manager import Plugins
from mlx_core.stats.reporter import StatsReporter
from mlx_core.timers import Timers
from mlx_core.training.agent_processor import AgentProcessor
from mlx_core.training.checkpoints import list_checkpoints, load_checkpoint, save_checkpoint
from mlx_core.training.paths import behavior_dir, safe_name
from mlx_core.training.trainer import Trainer, TrainerContext

log = get_logger()


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
    return device


class TrainerController:
    """Runs one training session over one environment with one trainer per behavior."""

    def __init__(self, options: RunOptions, run_dir: Path, plugins: Plugins) -> None:
        self.options = options
        self.run_dir = run_dir
        self.plugins = plugins
        seed = options.env_settings.seed
        self.seed = seed if seed >= 0 else random.randrange(2**31)
        self.device = pick_device(options)
        writers = [w for t in plugins.all("stats writer") if (w := t.factory(run_dir=run_dir, options=options))]
        self.stats = StatsReporter(writers)
        self.trainers: dict[str, Trainer] = {}
        self.processors: dict[str, AgentProcessor] = {}
        self._next_summary: dict[str, int] = {}
        self._next_checkpoint: dict[str, int] = {}
        self.timers = Timers()

    # -- set-up ----------------------------------------------------------------------------
    def _seed_everything(self) -> None:
        random.seed(self.seed)
        np.random.seed(self.seed)
        torch.manual_seed(self.seed)
        torch.set_num_threads(self.options.torch_settings.num_threads)

    def _behavior_settings(self, name: str) -> BehaviorSettings:
        settings = self.options.behavior(name)
        if settings is None:
            from mlx_core.config.loader import default_behavior_settings

            log.warning("behavior_defaulted", behavior=name, reason="no section in the configuration; using defaults")
            settings = default_behavior_settings(self.plugins)
        return settings

    def _create_trainer(self, name: str, env: Environment) -> Trainer:
        settings = self._behavior_settings(name)
        spec = env.specs[name]
        trainer_type = self.plugins.get("trainer", settings.trainer, where=f"behaviors.{name}.trainer")
        if settings.behavioral_cloning is not None:
            self.plugins.get("trainer", "bc", where=f"behaviors.{name}.behavioral_cloning")
        if settings.init_path is not None:
            raise MlxError(
                f"behaviors.{name}.init_path: starting from saved weights arrives with run management "
                f"(planned for mlx-core's next release); remove init_path to train from scratch."
            )
        signals = {}
        for signal_name, signal_settings in settings.reward_signals.items():
            signal_type = self.plugins.get("reward signal", signal_name, where=f"behaviors.{name}.reward_signals")
            signals[signal_name] = signal_type.factory(spec=spec, settings=signal_settings, device=self.device)
        context = TrainerContext(
            behavior_name=name,
            spec=spec,
            settings=settings,
            options=self.options,
            reward_signals=signals,
            device=self.device,
            seed=self.seed,
            stats=self.stats,
            artifact_dir=behavior_dir(self.run_dir, name),
        )
        trainer = trainer_type.factory(context)
        stats = self.stats

        def on_episodes(returns: np.ndarray, lengths: np.ndarray, behavior: str = name) -> None:
            stats.extend(behavior, "Environment/Cumulative Reward", returns)
            stats.extend(behavior, "Environment/Episode Length", lengths)

        # policies with a critic (``value_heads``) get their values stored for advantage estimation
        n_values = len(getattr(trainer.policy.network, "value_heads", ()))
        self.processors[name] = AgentProcessor(spec, settings.time_horizon, n_values, on_episodes)
        self._next_summary[name] = settings.summary_freq
        self._next_checkpoint[name] = settings.checkpoint_interval
        log.info("trainer_created", behavior=name, trainer=settings.trainer, device=str(self.device))
        return trainer

    def _restore(self) -> None:
        """Load each behavior's latest checkpoint (``--resume``)."""
        for name, trainer in self.trainers.items():
            found = list_checkpoints(behavior_dir(self.run_dir, name))
            if not found:
                log.warning("checkpoint_missing", behavior=name, reason="starting this behavior from scratch")
                continue
            trainer.load_state_dict(load_checkpoint(found[-1]))
            settings = trainer.settings
            self._next_summary[name] = (trainer.step // settings.summary_freq + 1) * settings.summary_freq
            interval = settings.checkpoint_interval
            self._next_checkpoint[name] = (trainer.step // interval + 1) * interval
            log.info("checkpoint_loaded", behavior=name, step=trainer.step, path=str(found[-1]))

    # -- the loop --------------------------------------------------------------------------
    def run(self) -> dict[str, int]:
        """Train until every behavior reached ``max_steps``; save and export at the end."""
        self._seed_everything()
        env = make_environment(self.options, self.plugins, self.seed)
        try:
            for name in self.options.behaviors:
                if name not in env.specs:
                    log.warning("behavior_not_in_environment", behavior=name, available=sorted(env.specs))
            self.trainers = {name: self._create_trainer(name, env) for name in env.specs}
            if self.options.checkpoint_settings.resume:
                self._restore()
            self.plugins.hook.mlx_run_started(options=self.options, run_dir=self.run_dir)
            log.info("run_started", run_dir=str(self.run_dir), seed=self.seed, behaviors=sorted(self.trainers))
            self._loop(env)
        finally:
            env.close()
            self._finish()
        steps = {name: t.step for name, t in self.trainers.items()}
        self.plugins.hook.mlx_run_finished(options=self.options, run_dir=self.run_dir, steps=steps)
        log.info("run_finished", steps=steps)
        return steps

    def _loop(self, env: Environment) -> None:
        timer = self.timers.block
        with timer("env_reset"):
            result = env.reset()
        while not all(t.finished for t in self.trainers.values()):
            actions: dict[str, ActionTuple] = {}
            for name, (decisions, terminals) in result.items():
                trainer, processor = self.trainers[name], self.processors[name]
                training = not trainer.finished
                with timer("process_steps"):
                    cut = processor.add_terminal(terminals) + processor.add_rewards(decisions)
                if len(decisions):
                    with timer("policy_act"):
                        info = trainer.policy.act(decisions)
                    with timer("process_steps"):
                        processor.add_actions(decisions, info)
                    actions[name] = info.env_action
                if not training:
                    continue
                if cut:
                    with timer("process_trajectories"):
                        trainer.process_trajectories(cut)
                trainer.step += len(decisions)
                if trainer.ready_to_update():
                    with timer("update"):
                        trainer.update()
                with timer("summaries_and_checkpoints"):
                    self._periodic(name, trainer)
            with timer("env_step"):
                result = env.step(actions)

    def _periodic(self, name: str, trainer: Trainer) -> None:
        settings = trainer.settings
        if trainer.step >= self._next_summary[name]:
            self.stats.flush(name, trainer.step, settings.max_steps)
            self._next_summary[name] = (trainer.step // settings.summary_freq + 1) * settings.summary_freq
        if trainer.step >= self._next_checkpoint[name] and not trainer.finished:
            self._save(name, trainer)
            interval = settings.checkpoint_interval
            self._next_checkpoint[name] = (trainer.step // interval + 1) * interval

    # -- outputs ---------------------------------------------------------------------------
    def _save(self, name: str, trainer: Trainer) -> Path:
        folder = behavior_dir(self.run_dir, name)
        path = save_checkpoint(trainer.state_dict(), folder, trainer.step, trainer.settings.keep_checkpoints)
        log.info("checkpoint_saved", behavior=name, step=trainer.step, path=str(path))
        self.plugins.hook.mlx_checkpoint_saved(behavior=name, step=trainer.step, path=path)
        return path

    def _finish(self) -> None:
        for name, trainer in self.trainers.items():
            self._save(name, trainer)
            for exporter in self.plugins.all("exporter"):
                path = exporter.export(trainer.policy, behavior_dir(self.run_dir, name) / safe_name(name))
                log.info("export_written", behavior=name, exporter=exporter.name, path=str(path))
                self.plugins.hook.mlx_export_written(behavior=name, path=path)
        self.stats.close()
        self.timers.write(self.run_dir / "run_logs" / "timers.json")
