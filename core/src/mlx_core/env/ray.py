"""Environment workers as Ray actors (``env_settings.executor: ray``), on this machine or a cluster.

Each of the ``num_envs`` copies lives in its own actor, built there by the environment
type's own factory (the one ``executor: inline`` calls, with ``num_envs: 1``), so any
environment type works: gymnasium, built-in, PettingZoo, ``file.py:Class``, or a simulator
executable launched on the actor's node (copy ``i`` on ``base_port + i``). Simulators that are
already running (``grpc://``) are reached from the trainer directly and need no actor.

:class:`RayWorker` is a :class:`~mlx_core.env.workers.Worker`, so the pool's merging, ids,
restarts and limits are the local executor's: the pool sends every actor its request first
and then gathers the answers, so the copies step at the same time. An actor that dies (its
process killed, its node lost), raises, or does not answer within ``timeout_wait`` is a
:class:`~mlx_core.errors.WorkerFailure`: the pool kills it and starts a new actor, within the
restart limits of ``env_settings``. Every wait looks at :mod:`mlx_core.stopping` at least every
:data:`~mlx_core.stopping.POLL_S` seconds.

``env_settings.ray_address`` null starts a local Ray instance for the run, sized to the
actors (``num_envs * ray_num_cpus`` CPUs), and stops it when the pool closes; ``auto``,
``host:port`` or ``ray://host:port`` joins a cluster that someone else started and leaves it
running. A process that called ``ray.init`` itself keeps its instance. Ray is imported only
here, when a run asks for it; its log lines stay in its session folder, not on the console.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import signal
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from mlx_core import stopping
from mlx_core.env.base import BehaviorSpec, Environment, StepResult
from mlx_core.env.workers import EnvFactory, Worker, WorkerPool, _last_line, _run_request, copy_seeds, restart_limits
from mlx_core.errors import EnvError, MlxError, WorkerFailure
from mlx_core.logs import get_logger

if TYPE_CHECKING:
    from mlx_core.config.settings import RunOptions
    from mlx_core.plugins.types import EnvironmentType

log = get_logger()

INSTALL_HINT = 'pip install "mlx-core[ray]"'

# the local instance's object store: step messages are small, so a little shared memory will do
LOCAL_OBJECT_STORE_BYTES = 256 * 1024 * 1024


def import_ray() -> Any:
    """The ``ray`` module, or an :class:`EnvError` that says how to install it."""
    try:
        import ray
    except ImportError as error:
        raise EnvError(
            f"env_settings.executor is ray (or --executor ray), but Ray cannot be imported here ({error}). "
            f"Install it with {INSTALL_HINT}, or choose executor: inline or subprocess."
        ) from None
    return ray


# -- inside the actor ----------------------------------------------------------------------
class EnvironmentActor:
    """One environment copy inside a Ray actor; :class:`RayWorker` drives it."""

    def __init__(self) -> None:
        self.env: Environment | None = None

    def start(self, make: EnvFactory, seed: int, parameters: dict[str, float]) -> dict[str, BehaviorSpec]:
        """Create the copy (an exception here reaches the trainer as the actor's failure)."""
        self.env = make(seed)
        if parameters:
            self.env.set_parameters(parameters)
        return self.env.specs

    def request(self, kind: str, payload: Any) -> tuple[StepResult | None, dict[str, list[float]]]:
        """Answer ``reset``, ``step``, ``seed`` or ``set_parameters`` as a worker process does."""
        assert self.env is not None
        return _run_request(self.env, kind, payload)

    def pid(self) -> int:
        """The actor's process id (tests kill it to stand for a lost node)."""
        return os.getpid()

    def close(self) -> None:
        """Close the copy (its simulator, if it launched one)."""
        if self.env is not None:
            self.env.close()
            self.env = None


@functools.cache
def _actor_class() -> Any:
    # decorated on first use, so that importing this module does not need Ray;
    # mlx restarts failed actors itself, within its limits, so Ray must not (max_restarts=0)
    return import_ray().remote(max_restarts=0, max_task_retries=0)(EnvironmentActor)


# -- in the trainer ------------------------------------------------------------------------
class RayWorker(Worker):
    """A copy in a Ray actor: requests are actor calls, answers Ray object refs."""

    def __init__(self, make: EnvFactory, seed: int, index: int, options: RunOptions) -> None:
        settings = options.env_settings
        self.make, self.seed, self.timeout = make, seed, settings.timeout_wait
        self.label = f"Ray actor {index}"
        self.actor_options: dict[str, Any] = {"num_cpus": settings.ray_num_cpus}
        if settings.ray_resources:
            self.actor_options["resources"] = dict(settings.ray_resources)
        self.actor: Any = None
        self._starting: Any = None  # the ref of the actor's start() while it is being launched
        self._pending: Any = None  # the ref of the last request
        self._answered = True  # False while a request is out: a busy actor is killed, not asked to close

    def launch(self, parameters: Mapping[str, float]) -> None:
        """Create a new actor and ask it to build its copy, without waiting."""
        self.actor = _actor_class().options(**self.actor_options).remote()
        self._starting = self.actor.start.remote(self.make, self.seed, dict(parameters))
        self._answered = True

    def start(self, parameters: Mapping[str, float]) -> dict[str, BehaviorSpec]:
        """Wait (at most ``timeout_wait``) for the copy's specs, launching the actor first unless
        :meth:`launch` already did."""
        if self._starting is None:
            self.launch(parameters)
        starting, self._starting = self._starting, None
        return self._get(starting, starting=True)  # type: ignore[no-any-return]

    def submit(self, kind: str, payload: Any = None) -> None:
        """Call the actor without waiting for its answer."""
        self._pending = self.actor.request.remote(kind, payload)
        self._answered = False

    def collect(self) -> tuple[StepResult | None, dict[str, list[float]]]:
        """Wait for the answer to the last call."""
        answer = self._get(self._pending)
        self._answered = True
        return answer  # type: ignore[no-any-return]

    def pid(self) -> int:
        """The process id of the actor (on its node)."""
        return int(self._get(self.actor.pid.remote()))

    def _get(self, ref: Any, starting: bool = False) -> Any:
        ray = import_ray()
        exceptions = ray.exceptions
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                # short slices (an answer returns at once), so that a stop request is seen while waiting
                return ray.get(ref, timeout=max(0.0, min(stopping.POLL_S, deadline - time.monotonic())))
            except exceptions.GetTimeoutError:
                stopping.raise_if_stopped()
                if time.monotonic() >= deadline:
                    raise WorkerFailure(self._late(starting)) from None
            except exceptions.RayTaskError as error:  # the environment raised inside the actor
                cause = getattr(error, "cause", None) or error
                why = str(cause) if isinstance(cause, MlxError) else f"{type(cause).__name__}: {cause}"
                doing = "could not create its environment" if starting else "'s environment raised"
                raise WorkerFailure(f"{self.label}{' ' * starting}{doing}: {_last_line(why)}") from None
            except exceptions.RayError as error:  # RayActorError and kin: the actor was killed, its node lost, ...
                # Ray's messages run to a paragraph of possible causes: the first sentence says what happened
                why = _last_line(error).split(". ")[0].rstrip(".")
                raise WorkerFailure(f"{self.label} died ({type(error).__name__}: {why})") from None

    def _late(self, starting: bool) -> str:
        if not starting:
            return f"{self.label} did not answer within timeout_wait={self.timeout:g} s"
        wanted = ", ".join(
            f"{k}={v:g}"
            for k, v in {"CPU": self.actor_options["num_cpus"], **self.actor_options.get("resources", {})}.items()
        )
        return (
            f"{self.label} did not start within timeout_wait={self.timeout:g} s (it asks for {wanted}; "
            "`ray status` shows what the cluster has free)"
        )

    def kill(self) -> None:
        """Kill the actor at once (its process ends; Ray does not restart it)."""
        actor, self.actor, self._pending, self._starting = self.actor, None, None, None
        if actor is not None:
            with contextlib.suppress(Exception):  # already gone with its node
                import_ray().kill(actor, no_restart=True)

    def close(self) -> None:
        """Let an idle actor close its copy (a few seconds at most), then kill it."""
        if self.actor is not None and self._answered and self._starting is None:
            with contextlib.suppress(Exception):
                import_ray().get(self.actor.close.remote(), timeout=5.0)
        self.kill()


class RayPool(WorkerPool):
    """A :class:`WorkerPool` of Ray actors that stops the local Ray instance it started."""

    def __init__(self, workers: list[Worker], options: RunOptions, owns_ray: bool) -> None:
        self.owns_ray = owns_ray  # set first: a failing start closes the pool from WorkerPool.__init__
        for worker in workers:  # every actor builds its copy at the same time; the pool then waits for each
            if isinstance(worker, RayWorker):
                worker.launch({})
        super().__init__(workers, restart_limits(options))

    def close(self) -> None:
        """Stop every actor, then the local Ray instance if this run started it."""
        super().close()
        if self.owns_ray:
            self.owns_ray = False
            shutdown_ray()


def make_ray_pool(options: RunOptions, env_type: EnvironmentType, target: str, seed: int) -> Environment:
    """``num_envs`` copies of ``target`` (an environment of ``env_type``), one Ray actor each."""
    if env_type.name == "grpc":
        raise EnvError(
            f"env grpc:{target} names simulators that are already running; the trainer connects to them directly, "
            "so env_settings.executor: ray has nothing to place. Leave executor at inline for grpc:// targets."
        )
    reserved = sorted({"CPU", "GPU", "memory", "object_store_memory"} & set(options.env_settings.ray_resources or {}))
    if reserved:
        raise EnvError(
            f"env_settings.ray_resources names {', '.join(reserved)}, which Ray sets by its own keywords: give the "
            "CPUs per actor as ray_num_cpus and keep ray_resources for custom resources (e.g. {simulator: 1})."
        )
    ray = import_ray()
    num_envs = options.env_settings.num_envs
    owns_ray = connect(options, num_envs)
    try:
        stopping.raise_if_stopped()
        workers: list[Worker] = [
            RayWorker(functools.partial(make_copy, env_type.factory, target, copy_options(options, i)), s, i, options)
            for i, s in enumerate(copy_seeds(seed, num_envs))
        ]
        pool = RayPool(workers, options, owns_ray)
    except BaseException:
        if owns_ray:
            shutdown_ray()
        raise
    log.info("ray_actors_started", actors=num_envs, nodes=len([n for n in ray.nodes() if n.get("Alive")]))
    return pool


def make_copy(factory: Callable[..., Environment], target: str, options: RunOptions, seed: int) -> Environment:
    """One copy, built inside the actor by the environment type's factory."""
    return factory(target, options=options, num_envs=1, seed=seed)


def copy_options(options: RunOptions, index: int) -> RunOptions:
    """What copy ``index`` is built with: one copy in the actor's own process, its own port for a
    launched simulator, and only the sections environments read (no plugin classes to unpickle)."""
    from mlx_core.config.settings import RunOptions

    settings = attrs.evolve(
        options.env_settings, executor="inline", num_envs=1, base_port=options.env_settings.base_port + index
    )
    return RunOptions(env_settings=settings, engine_settings=options.engine_settings)


def connect(options: RunOptions, num_envs: int) -> bool:
    """Start or join Ray for this run; True when this run started a local instance (and must stop it)."""
    ray = import_ray()
    settings = options.env_settings
    if ray.is_initialized():  # the caller's own Ray (a library user, a test): use it, leave it running
        return False
    logging.getLogger("ray").setLevel(logging.ERROR)  # its start-up notices would land on the console
    arguments: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,  # the actors' output stays in Ray's session logs
        "logging_level": logging.ERROR,
    }
    if settings.ray_address is None:
        arguments.update(
            address="local",
            num_cpus=max(1, math.ceil(num_envs * settings.ray_num_cpus)),
            resources={name: num_envs * amount for name, amount in (settings.ray_resources or {}).items()},
            object_store_memory=LOCAL_OBJECT_STORE_BYTES,
        )
    else:
        arguments["address"] = settings.ray_address
    # ray.init installs its own SIGTERM handler (exit at once); the run's handler saves first
    handlers = {s: signal.getsignal(s) for s in stopping.STOP_SIGNALS}
    began = time.monotonic()
    try:
        ray.init(**arguments)
    except SystemExit:  # Ray's handler saw a SIGTERM while Ray was starting
        stopping.request_stop("SIGTERM")
    except (ConnectionError, ValueError, RuntimeError) as error:
        where = "a local instance" if settings.ray_address is None else f"ray_address={settings.ray_address}"
        raise EnvError(
            f"Ray could not start or join {where} (env_settings.ray_address): {_last_line(error)}. For a cluster, start "
            "it with `ray start --head` and set ray_address to auto or ray://HOST:10001; leave it null for a local one."
        ) from None
    finally:
        for signum, handler in handlers.items():
            if handler is not None:
                signal.signal(signum, handler)
    owns = settings.ray_address is None
    if stopping.stop_reason() is not None:  # a signal came while Ray was starting
        if owns:
            shutdown_ray()
        stopping.raise_if_stopped()
    log.info(
        "ray_started" if owns else "ray_joined",
        address=settings.ray_address or "local",
        cpus=ray.cluster_resources().get("CPU"),
        seconds=round(time.monotonic() - began, 1),
    )
    return owns


def shutdown_ray() -> None:
    """Stop the local Ray instance this process started (its actors and processes with it)."""
    ray = import_ray()
    with contextlib.suppress(Exception):  # already going down with the process
        ray.shutdown()
    log.info("ray_stopped")
