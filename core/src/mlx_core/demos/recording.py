"""``mlx record``: run a policy in an environment and write its decisions to a ``.demo`` file.

One behavior is recorded: the environment's only behavior, or the one ``--behavior`` names.
Every behavior whose agents ask for decisions needs a policy: ``--policy MODEL`` drives the
recorded behavior and ``--policy OTHER=MODEL`` another one; recording refuses to start while
one has none.

The file holds whole episodes only, exactly the first N to finish: each agent's records are
kept in memory until its episode ends and are then written together (decision records, then
the episode's ``done`` record with zero actions), so episodes still running when the N-th
ends are left out. A stop (Ctrl-C, SIGTERM) closes the file with the episodes finished so
far; if none finished, no file is left behind. A second signal exits at once (the records
so far stay in ``<output>.partial``).
"""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import numpy as np
import torch

from mlx_core import stopping
from mlx_core.config.settings import RunOptions
from mlx_core.demos import DemoInfo, DemoSteps, DemoWriter
from mlx_core.env.base import ActionTuple, BehaviorSpec, DecisionSteps, Environment, TerminalSteps
from mlx_core.errors import MlxError
from mlx_core.plugins.manager import Plugins
from mlx_core.policy_source import ActionSource, load_action_source


@attrs.frozen
class Recording:
    """What :func:`record` wrote: the file's summary, the seed used, and the signal that
    stopped it early (None when all episodes were recorded)."""

    info: DemoInfo | None  # None: stopped before any episode finished, no file written
    requested: int
    seed: int
    stopped_by: str | None


def record(
    options: RunOptions,
    plugins: Plugins,
    policies: list[str],
    episodes: int,
    output: Path,
    *,
    behavior: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Recording:
    """Record ``episodes`` whole episodes of ``behavior`` into ``output`` (see the module docstring).

    The environment is the one ``mlx run`` would start for ``options`` (its ``env_settings``);
    ``env_settings.seed`` seeds it, the policies and the global generators (-1: a random
    seed), so one seed gives the same file byte for byte. ``progress`` is called with the
    number of episodes recorded so far after every step.
    """
    from mlx_core.env.factory import make_environment

    if output.suffix != ".demo":
        raise MlxError(f"--output {output}: a demonstration file's name ends in .demo (e.g. {output.stem}.demo).")
    seed = options.env_settings.seed if options.env_settings.seed >= 0 else random.randrange(2**31)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    with stopping.handle_signals():  # a first SIGINT/SIGTERM ends the recording after the current step
        try:
            env = make_environment(options, plugins, seed)
        except stopping.StopRequested as stop:
            return Recording(None, episodes, seed, stop.reason)
        try:
            info, stopped_by = _record_into(output, env, behavior, policies, episodes, seed, progress)
        finally:
            env.close()
    if info.episodes == 0:
        output.unlink()
        return Recording(None, episodes, seed, stopped_by)
    return Recording(info, episodes, seed, stopped_by)


def _record_into(
    output: Path,
    env: Environment,
    behavior: str | None,
    policies: list[str],
    episodes: int,
    seed: int,
    progress: Callable[[int], None] | None,
) -> tuple[DemoInfo, str | None]:
    """Write the file; a failing policy leaves no half-written file behind."""
    recorded = _choose_behavior(env.specs, behavior)
    sources = _sources(env.specs, recorded, policies, seed)
    spec = env.specs[recorded]
    try:
        with DemoWriter(output, recorded, spec) as writer:
            stopped_by = _run(env, recorded, sources, EpisodeWriter(writer, spec, episodes), progress)
            return writer.close(), stopped_by
    except BaseException:
        output.with_name(output.name + ".partial").unlink(missing_ok=True)
        raise


def _run(
    env: Environment,
    recorded: str,
    sources: dict[str, ActionSource],
    writer: EpisodeWriter,
    progress: Callable[[int], None] | None,
) -> str | None:
    """Step until the writer has its episodes or a stop is requested; the stop's reason or None."""
    try:
        result = env.reset()
        while True:
            actions: dict[str, ActionTuple] = {}
            for name, (decisions, terminals) in result.items():
                if len(decisions):
                    actions[name] = sources[name].act(decisions)
                if name == recorded:
                    writer.add(terminals, decisions, actions.get(name))
            if progress is not None:
                progress(writer.episodes)
            if writer.full or stopping.stop_reason() is not None:
                return stopping.stop_reason()
            result = env.step(actions)
    except stopping.StopRequested as stop:
        return stop.reason


def _choose_behavior(specs: dict[str, BehaviorSpec], behavior: str | None) -> str:
    if behavior is None:
        if len(specs) == 1:
            return next(iter(specs))
        raise MlxError(
            f"The environment has behaviors {', '.join(specs)}; choose the one to record with --behavior "
            f"(and give the others a policy each with --policy NAME=MODEL)."
        )
    if behavior not in specs:
        raise MlxError(f"--behavior {behavior}: the environment has no such behavior; it has {', '.join(specs)}.")
    return behavior


def _sources(specs: dict[str, BehaviorSpec], recorded: str, policies: list[str], seed: int) -> dict[str, ActionSource]:
    """One action source per behavior: ``MODEL`` for the recorded one, ``NAME=MODEL`` for any."""
    models: dict[str, str] = {}
    for value in policies:
        name, sep, model = value.partition("=")
        name, model = (name, model) if sep and name in specs else (recorded, value)
        if name in models:
            raise MlxError(f"--policy is given twice for behavior {name}; give one MODEL per behavior.")
        models[name] = model
    missing = [name for name in specs if name not in models]
    if missing:
        raise MlxError(
            f"No policy acts for behavior(s) {', '.join(missing)}; add --policy NAME=MODEL for each "
            f"(MODEL: an .onnx, a checkpoint, a run folder, or module:function)."
        )
    where = {name: "--policy" if name == recorded else f"--policy (behavior {name})" for name in models}
    return {name: load_action_source(models[name], specs[name], name, seed=seed, where=where[name]) for name in models}


class EpisodeWriter:
    """Keeps each agent's records until its episode ends, then writes the whole episode.

    Decision records are kept as the batches they arrived in (no per-agent work per step);
    when an episode ends, that agent's rows are picked out of the batches since its episode
    began. Batches that no running episode still needs are dropped.
    """

    def __init__(self, writer: DemoWriter, spec: BehaviorSpec, episodes: int) -> None:
        self.writer = writer
        self.spec = spec
        self.target = episodes
        self.episodes = 0
        self._batches: list[DemoSteps] = []
        self._first = 0  # the number of batches dropped so far: the index of _batches[0]
        self._start: dict[int, int] = {}  # agent id -> index of the batch with its episode's first record

    @property
    def full(self) -> bool:
        """True once the requested number of episodes is written."""
        return self.episodes >= self.target

    def add(self, terminals: TerminalSteps, decisions: DecisionSteps, actions: ActionTuple | None) -> None:
        """One step's result for the recorded behavior, and the actions taken for its decisions."""
        for row, agent in enumerate(terminals.agent_id.tolist()):
            if self.full:
                break
            self._write_episode(agent, terminals, row)
        end = self._first + len(self._batches)
        if len(decisions):
            assert actions is not None
            for agent in set(decisions.agent_id.tolist()).difference(self._start):
                self._start[agent] = end
            self._batches.append(_decision_records(decisions, actions, self.spec))
        oldest = min(self._start.values(), default=self._first + len(self._batches))
        del self._batches[: oldest - self._first]
        self._first = oldest

    def _write_episode(self, agent: int, terminals: TerminalSteps, row: int) -> None:
        begin = self._start.pop(agent, self._first + len(self._batches))
        parts = [batch.rows(batch.agent_ids == agent) for batch in self._batches[begin - self._first :]]
        parts.append(_terminal_record(terminals, row, self.spec))
        episode = DemoSteps.concat(parts)
        self.writer.add(
            observations=episode.observations,
            continuous_actions=episode.continuous_actions,
            discrete_actions=episode.discrete_actions,
            rewards=episode.rewards,
            dones=episode.dones,
            interrupted=episode.interrupted,
            action_masks=episode.action_masks,
            agent_ids=episode.agent_ids,
        )
        self.episodes += 1


def _decision_records(steps: DecisionSteps, actions: ActionTuple, spec: BehaviorSpec) -> DemoSteps:
    """Decision records: what the agents saw and the actions they took. Copies: environments
    may reuse their arrays from one step to the next."""
    n = len(steps)
    mask = _all_allowed(n, spec) if steps.action_mask is None else steps.action_mask.astype(bool)
    return DemoSteps(
        observations=[np.array(o, np.float32) for o in steps.obs],
        continuous_actions=np.array(actions.continuous, np.float32).reshape(n, spec.action_spec.continuous_size),
        discrete_actions=np.array(actions.discrete, np.int64).reshape(n, spec.action_spec.discrete_size),
        rewards=np.array(steps.reward, np.float32),
        dones=np.zeros(n, bool),
        interrupted=np.zeros(n, bool),
        action_masks=mask,
        agent_ids=np.array(steps.agent_id, np.int64),
    )


def _terminal_record(steps: TerminalSteps, row: int, spec: BehaviorSpec) -> DemoSteps:
    """The ``done`` record of row ``row``: the episode's last observation, zero actions."""
    pick = slice(row, row + 1)
    return DemoSteps(
        observations=[np.asarray(o[pick], np.float32) for o in steps.obs],
        continuous_actions=np.zeros((1, spec.action_spec.continuous_size), np.float32),
        discrete_actions=np.zeros((1, spec.action_spec.discrete_size), np.int64),
        rewards=np.asarray(steps.reward[pick], np.float32),
        dones=np.ones(1, bool),
        interrupted=np.asarray(steps.interrupted[pick], bool),
        action_masks=_all_allowed(1, spec),
        agent_ids=np.asarray(steps.agent_id[pick], np.int64),
    )


def _all_allowed(n: int, spec: BehaviorSpec) -> np.ndarray:
    return np.ones((n, sum(spec.action_spec.discrete_branches)), bool)


@contextlib.contextmanager
def record_progress(episodes: int) -> Iterator[Callable[[int], None]]:
    """A ``progress(done)`` callback: a rich progress bar on a terminal, else a plain line at
    every tenth of ``episodes`` (so logs and CI output stay short)."""
    if sys.stdout.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (
            TextColumn("Recording"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("episodes"),
            TimeElapsedColumn(),
        )
        with Progress(*columns) as bar:
            task = bar.add_task("record", total=episodes)
            yield lambda done: bar.update(task, completed=done)
        return
    step = max(1, episodes // 10)
    shown = [0]

    def plain(done: int) -> None:
        if done >= shown[0] + step or (done == episodes and done > shown[0]):
            shown[0] = done
            print(f"Recorded {done}/{episodes} episodes", flush=True)

    yield plain
