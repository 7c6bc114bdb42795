"""The ``mlx`` command: ``mlx run``, ``mlx plugins``, ``mlx config check|upgrade``."""

from __future__ import annotations

import hashlib
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import click

from mlx_core import __version__, stopping
from mlx_core.demos.cli import demo as demo_group
from mlx_core.errors import MlxError

if TYPE_CHECKING:
    from mlx_core.training.controller import TrainerController


class MlxGroup(click.Group):
    """Turns :class:`MlxError` into one paragraph on stderr and exit status 1, with no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MlxError as exc:
            from mlx_core.logs import close_log_file, file_only

            file_only("run_failed", error=str(exc))  # in log.jsonl when a run was open; stderr gets the paragraph
            close_log_file()
            raise click.ClickException(str(exc)) from None


@click.group(cls=MlxGroup)
@click.version_option(__version__, prog_name="mlx")
def main() -> None:
    """Train reinforcement and imitation learning agents from a YAML configuration."""


def _set(overrides: dict[str, Any], section: str, key: str, value: Any) -> None:
    if value is not None:
        overrides.setdefault(section, {})[key] = value


@main.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--env", "env_path", help="Environment: gymnasium id, built-in name, module:Class or executable.")
@click.option("--run-id", help="Name of the run; results go to <results-dir>/<run-id>/.  [default: ppo]")
@click.option("--results-dir", help="Folder for results.  [default: results]")
@click.option("--seed", type=int, help="Random seed; -1 picks one.  [default: -1]")
@click.option("--num-envs", type=click.IntRange(min=1), help="Environment copies.  [default: 1]")
@click.option(
    "--executor",
    type=click.Choice(["inline", "subprocess", "ray"]),
    help="Where copies of Python environments run: this process, worker processes, or Ray actors.  [default: inline]",
)
@click.option("--ray-address", help="With --executor ray: auto, host:port or ray://host:port of a cluster.  [default: a local instance]")
@click.option("--num-areas", type=click.IntRange(min=1), help="Training areas per environment.  [default: 1]")
@click.option("--base-port", type=click.IntRange(1024, 65535), help="First port for environment executables.  [default: 5005]")
@click.option("--env-args", multiple=True, help="Arguments passed to the environment (quoted string; repeatable).")
@click.option("--keep-checkpoints", type=click.IntRange(min=1), help="Checkpoints kept per behavior.  [default: 5]")
@click.option("--save-freq", type=click.IntRange(min=1), help="Steps between checkpoints (checkpoint_interval).")
@click.option("--train", "train_flag", is_flag=True, help="Accepted for compatibility: training is the default.")
@click.option("--resume", "--load", "resume", is_flag=True, help="Continue the run --run-id from its latest checkpoints.")
@click.option("--force", is_flag=True, help="Overwrite the results of an existing run with the same --run-id.")
@click.option("--initialize-from", help="Start from the weights of another run id.")
@click.option("--inference", is_flag=True, help="Run the policy without training.")
@click.option("--no-graphics", is_flag=True, default=None, help="Ask the simulator not to render.")
@click.option("--width", type=click.IntRange(min=1), help="Simulator window width.  [default: 84]")
@click.option("--height", type=click.IntRange(min=1), help="Simulator window height.  [default: 84]")
@click.option("--quality-level", type=click.IntRange(min=0), help="Simulator quality level.  [default: 5]")
@click.option("--time-scale", type=click.FloatRange(min=0, min_open=True), help="Simulator time scale.  [default: 20]")
@click.option("--target-frame-rate", type=int, help="Simulator frame-rate target.  [default: -1]")
@click.option("--capture-frame-rate", type=int, help="Simulator capture frame rate.  [default: 60]")
@click.option("--debug", is_flag=True, help="Debug-level log events and run_logs/update_metrics.csv.")
@click.option(
    "--log-format",
    type=click.Choice(["console", "json"]),
    default="console",
    show_default=True,
    help="Log events on stderr as readable text or as JSON lines (run_logs/log.jsonl is always JSON).",
)
@click.option("--cpu", is_flag=True, help="Train on the CPU even if a GPU is present.")
@click.option("--torch-device", help="torch device for training (cpu, cuda, cuda:1, ...).")
@click.option(
    "--curriculum",
    type=click.Path(exists=True, dir_okay=False),
    help="Curriculum file, JSON or YAML, lessons per behavior (needs the mlx-curriculum plugin).",
)
@click.option(
    "--sampler",
    type=click.Path(exists=True, dir_okay=False),
    help="Sampler file: resampling-interval and a sampler-type per environment parameter.",
)
@click.option("--lesson", type=click.IntRange(min=0), help="Curriculum lesson to start from (needs mlx-curriculum).")
def run(config: Path | None, **flags: Any) -> None:
    """Train the behaviors of CONFIG; results go to results/<run-id>/."""
    with stopping.handle_signals():  # from the start, a first SIGINT/SIGTERM stops the run cleanly
        _run_command(config, flags)


def _run_command(config: Path | None, flags: dict[str, Any]) -> None:
    """``mlx run``: options, checks, then :func:`_run_controller`."""
    from mlx_core.config.loader import load_run_options
    from mlx_core.logs import configure_logging
    from mlx_core.plugins.manager import get_plugins
    from mlx_core.training.controller import TrainerController

    configure_logging(flags["debug"], flags["log_format"])
    plugins = get_plugins()
    if flags.get("curriculum") or flags.get("lesson") is not None:
        plugins.get("parameter schedule", "curriculum", where="--curriculum/--lesson")
    overrides = _overrides(flags)
    for kind in ("sampler", "curriculum"):  # the reference's own files, merged over CONFIG's sections
        if flags.get(kind):
            from mlx_core.config.dialects import deep_merge
            from mlx_core.config.parameter_files import load_parameter_file

            overrides = deep_merge(overrides, load_parameter_file(flags[kind], kind, plugins))
    options = load_run_options(config, overrides, plugins)
    configure_logging(options.debug, flags["log_format"])
    if options.checkpoint_settings.load_model and not options.checkpoint_settings.resume:
        # ML-Agents 1.x files spell --resume as checkpoint_settings.load_model
        options = attrs.evolve(options, checkpoint_settings=attrs.evolve(options.checkpoint_settings, resume=True))
    cp = options.checkpoint_settings
    if cp.inference and not (cp.resume or cp.initialize_from):
        raise MlxError(
            "--inference runs a trained policy: add --resume to use this run id's latest checkpoint, or "
            "--initialize-from <run-id> to use another run's."
        )
    if cp.resume and cp.initialize_from:
        raise MlxError("--resume continues this run's own checkpoints and --initialize-from starts from another run's: pass only one.")
    if cp.force and cp.initialize_from == cp.run_id:
        raise MlxError(f"--force would delete run {cp.run_id} before --initialize-from reads it: choose a new --run-id.")
    run_dir = _check_run_dir(options)
    _run_controller(TrainerController(options, run_dir, plugins), run_dir)


def _run_controller(controller: TrainerController, run_dir: Path) -> None:
    """Start the environment, make the run folder, train; print how the run ended."""
    from mlx_core.config.loader import canonical_yaml, write_canonical
    from mlx_core.logs import close_log_file, get_logger, open_log_file

    options = controller.options
    cp = options.checkpoint_settings
    try:
        stopping.raise_if_stopped()  # a stop during start-up writes nothing
        controller.prepare()
        stopping.raise_if_stopped()
        _create_run_dir(options, run_dir)
    except stopping.StopRequested as stop:
        if controller.env is not None:
            controller.env.close()
        click.echo(f"Stopped by {stop.reason} during start-up, before training began; nothing was written.")
        return
    except BaseException:
        if controller.env is not None:
            controller.env.close()
        raise
    canonical = canonical_yaml(options)
    open_log_file(run_dir / "run_logs" / "log.jsonl")
    log = get_logger()
    log.info(
        "run_started",
        run_id=cp.run_id,
        run_dir=str(run_dir),
        config_sha256=hashlib.sha256(canonical.encode()).hexdigest(),
        mlx_version=__version__,
        inference=cp.inference,
        resume=cp.resume,
    )
    start = time.perf_counter()
    try:
        # an inference run leaves the trained run's configuration as it was
        keep_config = None if cp.inference else (lambda: write_canonical(options, run_dir / "configuration.yaml"))
        steps = controller.run(before_loop=keep_config)
    except BaseException as exc:
        if not isinstance(exc, MlxError):
            log.error("run_crashed", error=f"{type(exc).__name__}: {exc}")
        raise
    log.info("run_finished", steps=steps, seconds=round(time.perf_counter() - start, 3), seed=controller.seed,
             stopped_by=controller.stopped_by)
    close_log_file()
    if controller.stopped_by is not None:
        stopped = f"Stopped by {controller.stopped_by} at step {', '.join(f'{b} {s}' for b, s in steps.items())}"
        where = "." if cp.inference else f"; checkpoints and models are in {run_dir}. Continue with --resume."
        click.echo(stopped + where)


def _overrides(flags: dict[str, Any]) -> dict[str, Any]:
    """Command-line flags as a nested dict in the canonical config's shape."""
    o: dict[str, Any] = {}
    _set(o, "env_settings", "env", flags["env_path"])
    _set(o, "env_settings", "seed", flags["seed"])
    _set(o, "env_settings", "num_envs", flags["num_envs"])
    _set(o, "env_settings", "num_areas", flags["num_areas"])
    _set(o, "env_settings", "executor", flags["executor"])
    _set(o, "env_settings", "ray_address", flags["ray_address"])
    _set(o, "env_settings", "base_port", flags["base_port"])
    if flags["env_args"]:
        _set(o, "env_settings", "env_args", [a for s in flags["env_args"] for a in shlex.split(s)])
    for key in ("width", "height", "quality_level", "time_scale", "target_frame_rate", "capture_frame_rate", "no_graphics"):
        _set(o, "engine_settings", key, flags[key])
    _set(o, "checkpoint_settings", "run_id", flags["run_id"])
    _set(o, "checkpoint_settings", "results_dir", flags["results_dir"])
    _set(o, "checkpoint_settings", "initialize_from", flags["initialize_from"])
    _set(o, "checkpoint_settings", "lesson", flags["lesson"])
    if flags["inference"]:
        _set(o, "checkpoint_settings", "inference", True)
    if flags["resume"]:
        _set(o, "checkpoint_settings", "resume", True)
    if flags["force"]:
        _set(o, "checkpoint_settings", "force", True)
    if flags["train_flag"]:
        _set(o, "checkpoint_settings", "train_model", True)
    _set(o, "torch_settings", "device", "cpu" if flags["cpu"] else flags["torch_device"])
    _set(o, "behaviors_all", "keep_checkpoints", flags["keep_checkpoints"])
    _set(o, "behaviors_all", "checkpoint_interval", flags["save_freq"])
    if flags["debug"]:
        o["debug"] = True
    return o


def _check_run_dir(options: Any) -> Path:
    """``results/<run-id>/``, or an error when it exists without --resume/--force (nothing is touched)."""
    cp = options.checkpoint_settings
    run_dir = Path(cp.results_dir) / cp.run_id
    exists = run_dir.exists() and any(run_dir.iterdir())
    if exists and not (cp.resume or cp.force):
        raise MlxError(
            f"The results folder {run_dir} already exists and nothing in it was changed. "
            f"Pass --resume to continue that run, --force to overwrite it, or choose another "
            f"--run-id."
        )
    if cp.resume and not exists:
        raise MlxError(f"--resume was given but {run_dir} holds no previous run to continue; drop --resume.")
    return run_dir


def _create_run_dir(options: Any, run_dir: Path) -> None:
    """Make the folder (after --force, empty it first)."""
    cp = options.checkpoint_settings
    if cp.force and not cp.resume and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)


@main.command()
def plugins() -> None:
    """List installed plugin distributions and what each provides."""
    from mlx_core.plugins.manager import KINDS, get_plugins

    registry = get_plugins()
    for info in registry.infos:
        click.echo(f"{info.distribution} {info.version} (plugin '{info.name}', module {info.module.__name__})")
        for kind in KINDS:
            names = [p.type.name for p in registry.provided(kind) if p.plugin is info]
            if names:
                click.echo(f"  {kind}: {', '.join(sorted(names))}")


@main.group(cls=MlxGroup)
def config() -> None:
    """Validate or upgrade configuration files."""


@config.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def config_check(file: Path) -> None:
    """Validate FILE without starting anything; print its canonical form."""
    from mlx_core.config.loader import canonical_dict, load_run_options
    from mlx_core.config.parameter_files import FLAGS, detect_parameter_file, load_parameter_file
    from mlx_core.config.yaml_io import dump_yaml, read_yaml

    kind = detect_parameter_file(read_yaml(file)[0])
    if kind is not None:  # the reference's --sampler/--curriculum files: valid on their own, not as CONFIG
        overrides = load_parameter_file(file, kind)
        click.echo(
            f"{file} is a {kind} file: pass it with 'mlx run CONFIG {FLAGS[kind]} {file}', or put the section "
            f"below ('mlx config upgrade {file}') in CONFIG.",
            err=True,
        )
        click.echo(dump_yaml(overrides), nl=False)
        return
    options = load_run_options(file)
    click.echo(dump_yaml(canonical_dict(options)), nl=False)


@config.command("upgrade")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
def config_upgrade(file: Path, output: Path | None) -> None:
    """Rewrite a seed-format or ML-Agents 1.x FILE in the canonical form."""
    from mlx_core.config.loader import upgrade
    from mlx_core.config.parameter_files import FLAGS, detect_parameter_file, read_parameter_file
    from mlx_core.config.yaml_io import dump_yaml, read_yaml

    kind = detect_parameter_file(read_yaml(file)[0])
    if kind is not None:  # a --sampler/--curriculum file becomes the sections CONFIG would hold
        text = dump_yaml(read_parameter_file(file, kind))
        click.echo(f"{file} is a {kind} file (for {FLAGS[kind]}); in canonical form it is:", err=True)
    else:
        text = upgrade(file)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        click.echo(f"Wrote {output}", err=True)


@main.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--checkpoint",
    help="Checkpoint to export: a file name (checkpoint-2000.pt), a step (2000) or <Behavior>/checkpoint-2000.pt.  "
    "[default: the latest of each behavior]",
)
def export_command(run_dir: Path, checkpoint: str | None) -> None:
    """Rewrite the model files (<Behavior>.onnx) of RUN_DIR from a checkpoint; print their paths."""
    from mlx_core.logs import configure_logging
    from mlx_core.shipping import export_run

    configure_logging()
    for path in export_run(run_dir, checkpoint):
        click.echo(str(path))


@main.command("eval")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--env", "env_path", required=True, help="Environment: gymnasium id, built-in name, module:Class or executable."
)
@click.option("--episodes", type=click.IntRange(min=1), default=10, show_default=True, help="Episodes to run.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed of the environment.")
@click.option("--num-envs", type=click.IntRange(min=1), default=1, show_default=True, help="Environment copies.")
@click.option(
    "--video", type=click.Path(dir_okay=False, path_type=Path), help="Record the first copy to a .gif or .mp4."
)
def eval_command(model: Path, env_path: str, episodes: int, seed: int, num_envs: int, video: Path | None) -> None:
    """Run MODEL (<Behavior>.onnx or checkpoint-<step>.pt) deterministically; print the mean return."""
    from mlx_core.logs import configure_logging
    from mlx_core.shipping import eval_model

    configure_logging()
    results = eval_model(model, env_path, episodes, seed, video_path=video, num_envs=num_envs)
    for behavior, (mean, std, returns) in results.items():
        click.echo(f"{behavior}: mean return {mean:.3f} ± {std:.3f} over {len(returns)} episodes")
    if video is not None:
        click.echo(f"Wrote {video}", err=True)


@main.command("record")
@click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--policy",
    "policies",
    multiple=True,
    required=True,
    help="What acts: a <Behavior>.onnx, a checkpoint-<step>.pt, a run folder, or module:function / file.py:function "
    "(a heuristic). NAME=MODEL gives another behavior its policy (repeatable).",
)
@click.option("--episodes", type=click.IntRange(min=1), required=True, help="Whole episodes to record.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The .demo file to write.")
@click.option("--behavior", help="The behavior to record (needed when the environment has several).")
@click.option("--env", "env_path", help="Environment, instead of CONFIG's env_settings.env.")
@click.option("--seed", type=int, help="Seed of the environment and the policies; -1 picks one.  [default: CONFIG's, else -1]")
@click.option("--num-envs", type=click.IntRange(min=1), help="Environment copies.  [default: CONFIG's, else 1]")
def record_command(config: Path | None, policies: tuple[str, ...], episodes: int, output: Path, behavior: str | None,
                   env_path: str | None, seed: int | None, num_envs: int | None) -> None:
    """Run a policy in CONFIG's environment and write EPISODES whole episodes to a .demo file."""
    from mlx_core.config.loader import load_run_options
    from mlx_core.demos.recording import record, record_progress
    from mlx_core.logs import configure_logging
    from mlx_core.plugins.manager import get_plugins

    configure_logging()
    plugins = get_plugins()
    overrides: dict[str, Any] = {}
    _set(overrides, "env_settings", "env", env_path)
    _set(overrides, "env_settings", "seed", seed)
    _set(overrides, "env_settings", "num_envs", num_envs)
    options = load_run_options(config, overrides, plugins)
    with record_progress(episodes) as progress:
        done = record(options, plugins, list(policies), episodes, output, behavior=behavior, progress=progress)
    if done.info is None:
        click.echo(f"Stopped by {done.stopped_by} before an episode finished; no file was written.")
        return
    info = done.info
    stopped = f" (stopped by {done.stopped_by} after {info.episodes} of {done.requested})" if done.stopped_by else ""
    click.echo(
        f"Wrote {info.path}: behavior {info.behavior_name}, {info.episodes} episodes{stopped}, {info.steps} steps, "
        f"mean return {info.mean_return:.3f}, seed {done.seed}."
    )


@main.group("env", cls=MlxGroup)
def env_group() -> None:
    """Serve environments to trainers on this or other machines."""


@env_group.command("serve")
@click.argument("env_name", metavar="ENV")
@click.option("--port", type=click.IntRange(0, 65535), default=5005, show_default=True, help="Port to listen on (0: any free one).")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 0.0.0.0 for every interface (then use --token and TLS).",
)
@click.option("--num-envs", type=click.IntRange(min=1), default=1, show_default=True, help="Copies served as one environment.")
@click.option("--env-args", multiple=True, help="Arguments passed to the environment (quoted string; repeatable).")
@click.option("--seed", type=int, default=-1, show_default=True, help="Seed when the trainer sends none.")
@click.option("--token", help="Shared token every call must carry.  [default: $MLX_ENV_TOKEN]")
@click.option("--tls-cert", type=click.Path(dir_okay=False), help="PEM certificate for TLS (with --tls-key).")
@click.option("--tls-key", type=click.Path(dir_okay=False), help="PEM private key for TLS (with --tls-cert).")
@click.option("--max-message-mb", type=click.IntRange(min=1), default=64, show_default=True, help="Largest message accepted or sent.")
def env_serve(
    env_name: str,
    port: int,
    host: str,
    num_envs: int,
    env_args: tuple[str, ...],
    seed: int,
    token: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    max_message_mb: int,
) -> None:
    """Serve ENV (a gymnasium id, built-in name, file.py:Class, module:Class or pettingzoo:module)
    over the mlx gRPC protocol until the trainer closes the session; trainers connect with
    env: grpc://HOST:PORT."""
    from mlx_core.env.factory import environment_for
    from mlx_core.env.remote import serve
    from mlx_core.logs import configure_logging
    from mlx_core.plugins.manager import get_plugins

    configure_logging()
    arguments = [a for text in env_args for a in shlex.split(text)]
    environment = environment_for(env_name, get_plugins(), seed, num_envs=num_envs, env_args=arguments or None)
    serve(environment, port, host, token=token, tls_cert=tls_cert, tls_key=tls_key, max_message_mb=max_message_mb)


main.add_command(demo_group)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
