"""What demonstration readers return: a file's summary (:class:`DemoInfo`) and batches of records (:class:`DemoSteps`)."""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np

from mlx_core.env.base import ActionSpec, BehaviorSpec


@attrs.frozen
class DemoInfo:
    """One demonstration file as a whole: its format, behavior, spec and totals.

    ``steps`` is the number of agent records (for ML-Agents files, the figure their metadata
    states); ``episodes`` the number of finished episodes; ``mean_return`` the mean over
    finished episodes of the sum of their records' rewards.
    """

    path: Path
    format: str  # "mlx" or "ml-agents"
    behavior_name: str
    spec: BehaviorSpec
    episodes: int
    steps: int
    mean_return: float

    @property
    def behavior_base_name(self) -> str:
        """The behavior name without ML-Agents' ``?team=N`` suffix, for matching against an environment's names."""
        return self.behavior_name.split("?", 1)[0]


@attrs.define
class DemoSteps:
    """``n`` agent records, in file order, as arrays (one row per record)."""

    observations: list[np.ndarray]  # one per observation spec, (n, *shape) float32
    continuous_actions: np.ndarray  # (n, continuous_size) float32
    discrete_actions: np.ndarray  # (n, n_branches) int64
    rewards: np.ndarray  # (n,) float32, reward received since the agent's previous record
    dones: np.ndarray  # (n,) bool: this record ends the agent's episode (its action is meaningless)
    interrupted: np.ndarray  # (n,) bool: ended by a step limit, not a terminal state
    action_masks: np.ndarray | None  # (n, sum(branch sizes)) bool, True = allowed; None without discrete actions
    agent_ids: np.ndarray  # (n,) int64

    def __len__(self) -> int:
        return len(self.rewards)

    def acted(self) -> DemoSteps:
        """The records that carry an action: a record that ends an episode holds the final
        observation and no action, so it is left out."""
        return self.rows(~np.asarray(self.dones, dtype=bool))

    def rows(self, keep: np.ndarray) -> DemoSteps:
        """The records that ``keep`` (a boolean mask or indices) selects."""
        return DemoSteps(
            observations=[o[keep] for o in self.observations],
            continuous_actions=self.continuous_actions[keep],
            discrete_actions=self.discrete_actions[keep],
            rewards=self.rewards[keep],
            dones=self.dones[keep],
            interrupted=self.interrupted[keep],
            action_masks=None if self.action_masks is None else self.action_masks[keep],
            agent_ids=self.agent_ids[keep],
        )

    @classmethod
    def concat(cls, parts: list[DemoSteps]) -> DemoSteps:
        """All records of ``parts`` (at least one, of one spec) in order, as one batch."""
        if len(parts) == 1:
            return parts[0]
        masks = [p.action_masks for p in parts]
        return cls(
            observations=[np.concatenate(obs) for obs in zip(*(p.observations for p in parts))],
            continuous_actions=np.concatenate([p.continuous_actions for p in parts]),
            discrete_actions=np.concatenate([p.discrete_actions for p in parts]),
            rewards=np.concatenate([p.rewards for p in parts]),
            dones=np.concatenate([p.dones for p in parts]),
            interrupted=np.concatenate([p.interrupted for p in parts]),
            action_masks=None if any(m is None for m in masks) else np.concatenate(masks),  # type: ignore[arg-type]
            agent_ids=np.concatenate([p.agent_ids for p in parts]),
        )


def spec_summary(spec: BehaviorSpec) -> str:
    """One line of text for a behavior spec, e.g. ``observations [8] and [84x84x3]; actions: continuous 2``."""
    return f"observations {observation_summary(spec)}; actions: {action_summary(spec.action_spec)}"


def observation_summary(spec: BehaviorSpec) -> str:
    """The observation shapes of a spec, e.g. ``[8] and [84x84x3]`` (``none`` without observations)."""
    return " and ".join("[" + "x".join(str(d) for d in o.shape) + "]" for o in spec.observation_specs) or "none"


def action_summary(actions: ActionSpec) -> str:
    """One phrase for an action spec, e.g. ``continuous 2 + discrete branches (3, 2)``."""
    parts = []
    if actions.continuous_size:
        parts.append(f"continuous {actions.continuous_size}")
    if actions.discrete_branches:
        branches = ", ".join(str(b) for b in actions.discrete_branches)
        parts.append(
            f"discrete {len(actions.discrete_branches)} branch{'es' if len(actions.discrete_branches) > 1 else ''} ({branches})"
        )
    return " + ".join(parts) or "none"


def same_shapes(a: BehaviorSpec, b: BehaviorSpec) -> bool:
    """True when two specs have the same observation shapes and actions (observation names aside)."""
    return [o.shape for o in a.observation_specs] == [
        o.shape for o in b.observation_specs
    ] and a.action_spec == b.action_spec


class EpisodeTally:
    """Counts finished episodes and their returns over records that arrive in batches.

    Agents interleave, so each agent's unfinished episode carries its reward sum over to the
    next batch. The work per batch is vectorised: records are grouped by agent with a stable
    sort, split into episode segments, and summed with one ``bincount``.
    """

    def __init__(self) -> None:
        self.records = 0
        self.episodes = 0
        self.return_sum = 0.0
        self._carry: dict[int, float] = {}  # agent id -> reward sum of its unfinished episode

    @property
    def mean_return(self) -> float:
        """Mean return of the finished episodes (0.0 before any finished)."""
        return self.return_sum / self.episodes if self.episodes else 0.0

    def add(self, rewards: np.ndarray, dones: np.ndarray, agent_ids: np.ndarray) -> None:
        """Account for one batch of records (in file order)."""
        n = len(rewards)
        self.records += n
        if n == 0:
            return
        order = np.argsort(agent_ids, kind="stable")
        ids = agent_ids[order]
        r = rewards[order].astype(np.float64)
        d = dones[order].astype(bool)
        group_start = np.ones(n, bool)
        group_start[1:] = ids[1:] != ids[:-1]
        starts = np.flatnonzero(group_start)
        r[starts] += [self._carry.pop(int(a), 0.0) for a in ids[starts]]
        # a segment (one episode's records in this batch) starts at an agent's first record or after a done
        seg_start = group_start.copy()
        seg_start[1:] |= d[:-1]
        segment = np.cumsum(seg_start) - 1
        sums = np.bincount(segment, weights=r)
        finished = d[np.r_[np.flatnonzero(seg_start)[1:] - 1, n - 1]]  # does each segment end with a done?
        self.episodes += int(finished.sum())
        self.return_sum += float(sums[finished].sum())
        group_end = np.r_[starts[1:] - 1, n - 1]
        for last in group_end[~d[group_end]]:  # agents still inside an episode at the batch's end
            self._carry[int(ids[last])] = float(sums[segment[last]])
