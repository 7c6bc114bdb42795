"""Several environment copies as one environment: in this process, in worker processes, or
behind gRPC; crashed or hung copies are restarted within limits.

:class:`WorkerPool` merges the copies' results so that each behavior's agents from every
copy arrive together (one batched policy forward per step) and splits the actions back.
Agent ids are made unique across copies by adding ``(generation * copies + copy) << 40``
to each copy's own ids (one vectorised addition per step); a restarted copy gets a new
generation, so its fresh agents never collide with the ones it had before. A copy whose ids
do not fit below 2**40 (a pool served by ``mlx env serve --num-envs``, a simulator with
random 64-bit ids) gets a table instead, which gives each of its agents a compact id.

A copy that fails (its process exits, it raises, it does not answer within
``env_settings.timeout_wait`` seconds, its simulator goes away) is killed and started again;
its agents' episodes end as interrupted at their last observation, so their trajectories
bootstrap like any cut episode. Each restart is logged (``worker_restarted``). More than
``restarts_rate_limit_n`` restarts within ``restarts_rate_limit_period_s`` seconds, or more
than ``max_lifetime_restarts`` in the run, stops the run with an :class:`EnvError`
(-1 turns a limit off). Every attempt counts, failed or not; a failed attempt is followed
by a short pause that grows with each failure in a row, and no wait inside an attempt
exceeds ``timeout_wait``. A simulator mlx did not launch is reconnected to rather than
restarted (``executable.RemoteWorker``).

Every wait here (an answer, a worker starting, the pause between attempts) looks at
:mod:`mlx_core.stopping` at least every :data:`~mlx_core.stopping.POLL_S` seconds and raises
:class:`~mlx_core.stopping.StopRequested` once a stop was requested.
"""

from __future__ import annotations

import abc
import collections
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import numpy as np

from mlx_core import stopping
from mlx_core.env.base import (
    ActionTuple,
    BehaviorSpec,
    DecisionSteps,
    Environment,
    StepResult,
    TerminalSteps,
    metric_values,
)
from mlx_core.errors import EnvError, WorkerFailure
from mlx_core.logs import get_logger

if TYPE_CHECKING:
    from mlx_core.config.settings import RunOptions

log = get_logger()

ID_BITS = 40
"""Agent ids below 2**40 are offset per copy; the bits above tell copies apart."""

_TABLE_IDS = 1 << 62
"""Where the ids handed out by the table for out-of-range ids start (above every offset)."""

EnvFactory = Callable[[int], Environment]
"""Creates one copy from its seed (-1: unseeded); picklable for worker processes."""


def die_with_parent() -> None:
    """Ask Linux to kill this process when the process that started it dies (even by SIGKILL).

    Elsewhere this does nothing; the pool's close() and the trainer's exit handling remain.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass


# -- workers -------------------------------------------------------------------------------
class Worker(abc.ABC):
    """One environment copy driven by the pool: ``start`` (again after a failure), ``submit``
    a request, ``collect`` its answer (a :class:`WorkerFailure` when the copy failed)."""

    label: str = "worker"
    seed: int = -1  # the copy's seed, used again when it is restarted

    @abc.abstractmethod
    def start(self, parameters: Mapping[str, float]) -> dict[str, BehaviorSpec]:
        """Create (or re-create) the copy with these environment parameters; return its specs."""

    @abc.abstractmethod
    def submit(self, kind: str, payload: Any = None) -> None:
        """Send ``reset``, ``step`` (actions) or ``set_parameters`` without waiting."""

    @abc.abstractmethod
    def collect(self) -> tuple[StepResult | None, dict[str, list[float]]]:
        """Wait for the answer to the last request: (result or None, custom metrics)."""

    @abc.abstractmethod
    def kill(self) -> None:
        """Stop the copy at once (after a failure)."""

    def close(self) -> None:
        """Stop the copy politely; the default kills it."""
        self.kill()


class InlineWorker(Worker):
    """A copy in this process: requests run when their answer is collected."""

    def __init__(self, factory: EnvFactory, seed: int, index: int) -> None:
        self.factory, self.seed, self.label = factory, seed, f"copy {index}"
        self.env: Environment | None = None
        self._request: tuple[str, Any] = ("", None)

    def start(self, parameters: Mapping[str, float]) -> dict[str, BehaviorSpec]:
        """Create the copy."""
        self.env = self.factory(self.seed)
        if parameters:
            self.env.set_parameters(dict(parameters))
        return self.env.specs

    def submit(self, kind: str, payload: Any = None) -> None:
        """Remember the request."""
        self._request = (kind, payload)

    def collect(self) -> tuple[StepResult | None, dict[str, list[float]]]:
        """Run the request; an in-process copy's exception is a bug to see, not to restart."""
        assert self.env is not None
        return _run_request(self.env, *self._request)

    def kill(self) -> None:
        """Close the copy."""
        if self.env is not None:
            self.env.close()
            self.env = None


def _run_request(env: Environment, kind: str, payload: Any) -> tuple[StepResult | None, dict[str, list[float]]]:
    result: StepResult | None = None
    if kind == "reset":
        result = env.reset()
    elif kind == "step":
        result = env.step(payload)
    elif kind == "seed":
        env.seed(payload)
    else:
        env.set_parameters(payload)
    return result, {key: metric_values(value) for key, value in env.stats().items()}


def _process_main(conn: Connection, factory: EnvFactory, seed: int, parameters: dict[str, float]) -> None:
    """The loop of a worker process: create the copy, answer requests until told to stop."""
    die_with_parent()
    # Ctrl-C, or a SIGTERM to the whole process group, is the trainer's to handle: it stops us in order
    if hasattr(os, "setsid"):
        os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        env = factory(seed)
        if parameters:
            env.set_parameters(parameters)
        conn.send(("ready", env.specs))
    except Exception:  # noqa: BLE001 - sent to the trainer, which reports it
        conn.send(("error", traceback.format_exc()))
        return
    try:
        while True:
            try:
                kind, payload = conn.recv()
            except EOFError:  # the trainer is gone
                break
            if kind == "close":
                break
            try:
                answer = _run_request(env, kind, payload)
            except Exception:  # noqa: BLE001 - sent to the trainer, which restarts this worker
                conn.send(("error", traceback.format_exc()))
                break
            conn.send(("ok", answer))
    finally:
        env.close()


class ProcessWorker(Worker):
    """A copy in its own process (multiprocessing, spawn): requests go through a pipe."""

    def __init__(self, factory: EnvFactory, seed: int, index: int, timeout: float) -> None:
        self.factory, self.seed, self.timeout = factory, seed, timeout
        self.label = f"worker process {index}"
        self.process: Any = None
        self.conn: Connection | None = None
        self.ready = False  # the copy in the process exists and answers requests

    def start(self, parameters: Mapping[str, float]) -> dict[str, BehaviorSpec]:
        """Start the process and wait for the copy's specs."""
        context = multiprocessing.get_context("spawn")  # no forked torch or gRPC threads in the child
        parent_end, child_end = context.Pipe()
        process = context.Process(
            target=_process_main, args=(child_end, self.factory, self.seed, dict(parameters)), daemon=True
        )
        try:
            process.start()
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()  # so that a dead child shows as EOF here
        self.process = process
        self.conn = parent_end
        self.ready = False
        kind, payload = self._receive()
        if kind != "ready":
            raise WorkerFailure(f"{self.label} could not create its environment: {_last_line(payload)}")
        self.ready = True
        return payload  # type: ignore[no-any-return]

    def submit(self, kind: str, payload: Any = None) -> None:
        """Send the request down the pipe."""
        assert self.conn is not None
        with contextlib.suppress(BrokenPipeError, OSError):  # a dead worker shows in collect()
            self.conn.send((kind, payload))

    def collect(self) -> tuple[StepResult | None, dict[str, list[float]]]:
        """Wait up to ``timeout`` seconds for the answer."""
        kind, payload = self._receive()
        if kind != "ok":
            raise WorkerFailure(f"{self.label}'s environment raised: {_last_line(payload)}")
        return payload  # type: ignore[no-any-return]

    def _receive(self) -> tuple[str, Any]:
        assert self.conn is not None
        deadline = time.monotonic() + self.timeout
        try:
            # short polls (an answer returns at once), so that a stop request is seen while waiting
            while not self.conn.poll(min(stopping.POLL_S, max(0.0, deadline - time.monotonic()))):
                stopping.raise_if_stopped()
                if time.monotonic() >= deadline:
                    raise WorkerFailure(f"{self.label} did not answer within timeout_wait={self.timeout:g} s")
            return self.conn.recv()  # type: ignore[no-any-return]
        except (EOFError, OSError):
            self.process.join(timeout=1.0)
            raise WorkerFailure(f"{self.label} exited (exit code {self.process.exitcode})") from None

    def kill(self) -> None:
        """Kill the process."""
        if self.process is not None and self.process.is_alive():
            self.process.kill()
        self._reap()

    def close(self) -> None:
        """Ask the process to stop, then make sure it did (one still starting is killed: it
        would read the request only once its environment exists)."""
        if self.ready and self.conn is not None and self.process is not None and self.process.is_alive():
            try:
                self.conn.send(("close", None))
                self.process.join(timeout=5.0)
            except (BrokenPipeError, OSError):
                pass
        self.kill()

    def _reap(self) -> None:
        if self.process is not None:
            self.process.join(timeout=5.0)
            self.process = None
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _last_line(text: Any) -> str:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[-1] if lines else str(text)


# -- the pool ------------------------------------------------------------------------------
class RestartLimits:
    """Counts restarts and says when too many happened (``-1`` turns a limit off)."""

    def __init__(self, lifetime: int, rate_n: int, period_s: float) -> None:
        self.lifetime, self.rate_n, self.period_s = lifetime, rate_n, period_s
        self.total = 0
        self._recent: collections.deque[float] = collections.deque()

    def record(self) -> str | None:
        """Count one restart; a reason to stop the run, or None to go on."""
        now = time.monotonic()
        self.total += 1
        self._recent.append(now)
        while self._recent and now - self._recent[0] > self.period_s:
            self._recent.popleft()
        if 0 <= self.lifetime < self.total:
            return f"more than env_settings.max_lifetime_restarts={self.lifetime} restarts in this run"
        if 0 <= self.rate_n < len(self._recent):
            return (
                f"more than env_settings.restarts_rate_limit_n={self.rate_n} restarts within "
                f"restarts_rate_limit_period_s={self.period_s:g} s"
            )
        return None


class WorkerPool(Environment):
    """Several environment copies (:class:`Worker`) as one environment; see the module docstring."""

    # the pause after a failed restart attempt, doubled for each further failure in a row, up to the maximum
    RESTART_PAUSE_S = 0.25
    MAX_RESTART_PAUSE_S = 4.0

    def __init__(self, workers: list[Worker], limits: RestartLimits) -> None:
        self.workers = workers
        self.limits = limits
        self._parameters: dict[str, float] = {}
        self._generation = [0] * len(workers)
        self._last: list[StepResult | None] = [None] * len(workers)
        self._counts: dict[str, list[int]] = {}
        self._stats: dict[str, list[float]] = {}
        self._lost: dict[str, list[TerminalSteps]] = {}
        self._tables: dict[tuple[int, str], dict[int, int]] = {}  # (copy, behavior) -> raw id -> id
        self._next_table_id = _TABLE_IDS
        try:
            specs = [self._start(w) for w in range(len(workers))]
            for index, other in enumerate(specs[1:], start=1):
                if other != specs[0]:
                    raise EnvError(
                        f"Environment copies disagree on their behaviors: {workers[0].label} has {specs[0]} but "
                        f"{workers[index].label} has {other}. Every copy must declare the same behaviors."
                    )
        except BaseException:
            self.close()
            raise
        self._specs = specs[0]

    def _start(self, index: int) -> dict[str, BehaviorSpec]:
        try:
            return self.workers[index].start(self._parameters)
        except WorkerFailure as failure:
            self.workers[index].kill()
            raise EnvError(f"Could not start {self.workers[index].label}: {failure}") from None

    @property
    def specs(self) -> dict[str, BehaviorSpec]:
        """The behaviors every copy shares."""
        return self._specs

    def reset(self) -> StepResult:
        """Reset every copy (at the same time) and merge their first decision requests."""
        for worker in self.workers:
            worker.submit("reset")
        return self._merge([self._collect(w) for w in range(len(self.workers))])

    def step(self, actions: dict[str, ActionTuple]) -> StepResult:
        """Send each copy its rows of the actions, then merge the answers (restarting failures)."""
        if len(self.workers) == 1:  # one copy (a single simulator): its actions are all of them
            self.workers[0].submit("step", actions)
            return self._merge([self._collect(0)])
        offsets = {name: np.cumsum([0, *counts]) for name, counts in self._counts.items()}
        for w, worker in enumerate(self.workers):
            part = {
                name: ActionTuple(
                    continuous=action.continuous[offsets[name][w] : offsets[name][w + 1]],
                    discrete=action.discrete[offsets[name][w] : offsets[name][w + 1]],
                )
                for name, action in actions.items()
                if name in offsets
            }
            worker.submit("step", part)
        return self._merge([self._collect(w) for w in range(len(self.workers))])

    def seed(self, seed: int) -> None:
        """Re-seed the copies (copy ``i`` with ``seed + i``), e.g. when a trainer's Initialize
        reaches a pool served by ``mlx env serve --num-envs``."""
        seeds = copy_seeds(seed, len(self.workers))
        for worker, copy_seed in zip(self.workers, seeds):
            worker.seed = copy_seed  # a copy started again later uses it too
        self._broadcast("seed", seeds)

    def set_parameters(self, parameters: dict[str, float]) -> None:
        """Send the parameters to every copy (and to copies started later)."""
        self._parameters.update(parameters)
        self._broadcast("set_parameters", [dict(parameters)] * len(self.workers))

    def stats(self) -> dict[str, Any]:
        """Every copy's custom metrics since the last call."""
        stats, self._stats = self._stats, {}
        return stats

    def close(self) -> None:
        """Stop every copy."""
        for worker in self.workers:
            try:
                worker.close()
            except Exception as error:  # noqa: BLE001 - closing the others matters more
                log.warning("worker_close_failed", worker=worker.label, error=str(error))

    # -- helpers ---------------------------------------------------------------------------
    def _broadcast(self, kind: str, payloads: list[Any]) -> None:
        """A request without a result to every copy (at the same time); a failure stops the run."""
        for worker, payload in zip(self.workers, payloads):
            worker.submit(kind, payload)
        for w in range(len(self.workers)):
            self._collect(w, restart=False)

    def _collect(self, index: int, restart: bool = True) -> StepResult | None:
        worker = self.workers[index]
        try:
            result, stats = worker.collect()
        except WorkerFailure as failure:
            if not restart:
                raise EnvError(f"{worker.label} failed while being seeded or given parameters: {failure}") from None
            return self._restart(index, str(failure))
        return self._absorb(index, result, stats)

    def _absorb(self, index: int, result: StepResult | None, stats: dict[str, list[float]]) -> StepResult | None:
        """Keep a copy's metrics for :meth:`stats` and its result for a restart's lost agents."""
        for name, values in stats.items():
            self._stats.setdefault(name, []).extend(values)
        if result is not None:
            self._last[index] = result
        return result

    def _restart(self, index: int, reason: str) -> StepResult:
        """Replace a failed copy (again, while restarting fails, within the limits); its waiting
        agents' episodes end as interrupted at their last observation, with the ids they had,
        and the new copy's agents get a new generation."""
        worker = self.workers[index]
        lost, self._last[index] = self._last[index], None
        if lost is not None:
            for name, (waiting, _) in lost.items():
                if len(waiting):
                    self._lost.setdefault(name, []).append(
                        TerminalSteps(
                            obs=list(waiting.obs),
                            reward=np.zeros(len(waiting), np.float32),
                            agent_id=self._ids(index, name, waiting.agent_id),
                            interrupted=np.ones(len(waiting), bool),
                            team_id=waiting.team_id,
                        )
                    )
        for key in [key for key in self._tables if key[0] == index]:
            del self._tables[key]
        failures = 0
        while True:
            stopping.raise_if_stopped()
            stop = self.limits.record()
            log.warning("worker_restarted", worker=worker.label, reason=reason, restarts=self.limits.total)
            worker.kill()
            if stop is not None:
                raise EnvError(
                    f"Stopping: {worker.label} failed ({reason}) and that makes {stop}. Fix the environment, or "
                    "raise the limits in env_settings (max_lifetime_restarts, restarts_rate_limit_n, "
                    "restarts_rate_limit_period_s; -1 turns a limit off)."
                )
            self._generation[index] += 1
            try:
                specs = worker.start(self._parameters)
                if specs != self._specs:
                    worker.kill()
                    raise EnvError(
                        f"{worker.label} came back with other behaviors ({specs}) than it had ({self._specs}); "
                        "restart the run for the changed environment."
                    )
                worker.submit("reset")
                fresh, stats = worker.collect()
            except WorkerFailure as failure:
                reason = f"restarting failed: {failure}"
                failures += 1
                stopping.sleep(min(self.RESTART_PAUSE_S * 2 ** (failures - 1), self.MAX_RESTART_PAUSE_S))
                continue
            absorbed = self._absorb(index, fresh, stats)
            assert absorbed is not None
            return absorbed

    def _ids(self, index: int, behavior: str, ids: np.ndarray, asking: np.ndarray | None = None) -> np.ndarray:
        """This copy's ids made unique across copies and generations (see the module docstring).

        For terminal ids, ``asking`` holds the raw ids that ask for a decision in the same
        result: the table forgets the ended agents that are not among them.
        """
        if len(self.workers) == 1 and self._generation[index] == 0:
            return ids  # a lone copy that never restarted: its ids are unique as they are
        if not len(ids) or (int(ids.min()) >= 0 and int(ids.max()) < 1 << ID_BITS):
            return ids + np.int64((self._generation[index] * len(self.workers) + index) << ID_BITS)
        table = self._tables.setdefault((index, behavior), {})
        out = np.empty(len(ids), np.int64)
        for i, raw in enumerate(ids.tolist()):  # per agent, but only for ids the offsets cannot take
            found = table.get(raw)
            if found is None:
                found = table[raw] = self._next_table_id
                self._next_table_id += 1
            out[i] = found
        if asking is not None:
            for raw in set(ids.tolist()) - set(asking.tolist()):
                table.pop(raw, None)
        return out

    def _merge(self, results: list[StepResult | None]) -> StepResult:
        if len(self.workers) == 1 and self._generation[0] == 0:
            # one copy that never restarted: its ids need no offset, its result passes as it is
            only = results[0]
            assert only is not None
            for name, spec in self._specs.items():
                if name not in only:
                    only[name] = (DecisionSteps.empty(spec), TerminalSteps.empty(spec))
            return only
        merged: StepResult = {}
        for name, spec in self._specs.items():
            decisions: list[DecisionSteps] = []
            terminals: list[TerminalSteps] = self._lost.pop(name, [])
            counts = []
            for w, result in enumerate(results):
                assert result is not None
                d, t = result.get(name, (DecisionSteps.empty(spec), TerminalSteps.empty(spec)))
                ids = self._ids(w, name, d.agent_id)
                decisions.append(DecisionSteps(d.obs, d.reward, ids, d.action_mask, d.team_id))
                if len(t):
                    ids = self._ids(w, name, t.agent_id, asking=d.agent_id)
                    terminals.append(TerminalSteps(t.obs, t.reward, ids, t.interrupted, t.team_id))
                counts.append(len(d))
            self._counts[name] = counts
            merged[name] = (_concat_decisions(decisions, spec), _concat_terminals(terminals, spec))
        return merged


def _concat_decisions(parts: list[DecisionSteps], spec: BehaviorSpec) -> DecisionSteps:
    """One DecisionSteps from several copies' (a copy without masks allows everything)."""
    if len(parts) == 1:
        return parts[0]
    masks = [p.action_mask for p in parts]
    mask = None
    if any(m is not None for m in masks):
        width = sum(spec.action_spec.discrete_branches)
        mask = np.concatenate([np.ones((len(p), width), bool) if m is None else m for p, m in zip(parts, masks)])
    return DecisionSteps(
        obs=[np.concatenate(arrays) for arrays in zip(*(p.obs for p in parts))],
        reward=np.concatenate([p.reward for p in parts]),
        agent_id=np.concatenate([p.agent_id for p in parts]),
        action_mask=mask,
        team_id=_concat_teams(parts),
    )


def _concat_terminals(parts: list[TerminalSteps], spec: BehaviorSpec) -> TerminalSteps:
    """One TerminalSteps from several copies' (most steps have none)."""
    if not parts:
        return TerminalSteps.empty(spec)
    if len(parts) == 1:
        return parts[0]
    return TerminalSteps(
        obs=[np.concatenate(arrays) for arrays in zip(*(p.obs for p in parts))],
        reward=np.concatenate([p.reward for p in parts]),
        agent_id=np.concatenate([p.agent_id for p in parts]),
        interrupted=np.concatenate([p.interrupted for p in parts]),
        team_id=_concat_teams(parts),
    )


def _concat_teams(parts: list[DecisionSteps] | list[TerminalSteps]) -> np.ndarray | None:
    """The copies' team ids in one array (None when no copy has teams)."""
    if all(p.team_id is None for p in parts):
        return None
    return np.concatenate([p.teams() for p in parts])


def restart_limits(options: RunOptions) -> RestartLimits:
    """The restart limits of ``env_settings``."""
    settings = options.env_settings
    return RestartLimits(
        settings.max_lifetime_restarts, settings.restarts_rate_limit_n, settings.restarts_rate_limit_period_s
    )


def copy_seeds(seed: int, copies: int) -> list[int]:
    """Copy ``i`` gets ``seed + i``; a negative seed leaves every copy unseeded."""
    return [seed + i if seed >= 0 else -1 for i in range(copies)]


def make_pool(options: RunOptions, num_envs: int, seed: int, factory: EnvFactory) -> Environment:
    """``num_envs`` copies made by ``factory`` as one environment.

    ``env_settings.executor: inline`` (default) keeps the copies in this process (one copy
    is returned as it is); ``subprocess`` runs each copy in a worker process.
    """
    seeds = copy_seeds(seed, num_envs)
    if options.env_settings.executor == "subprocess":
        timeout = options.env_settings.timeout_wait
        workers: list[Worker] = [ProcessWorker(factory, s, i, timeout) for i, s in enumerate(seeds)]
    elif num_envs == 1:
        return factory(seeds[0])
    else:
        workers = [InlineWorker(factory, s, i) for i, s in enumerate(seeds)]
    return WorkerPool(workers, restart_limits(options))
