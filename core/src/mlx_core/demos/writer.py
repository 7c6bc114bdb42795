"""Writing mlx ``.demo`` files: :class:`DemoWriter`."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import numpy as np

from mlx_core.demos.format import RecordLayout, encode_varint, header_message
from mlx_core.demos.records import DemoInfo, EpisodeTally
from mlx_core.env.base import BehaviorSpec


class DemoWriter:
    """Writes one behavior's agent records to an mlx ``.demo`` file; a context manager.

    Records go to ``<path>.partial`` and the file takes its name at :meth:`close`, once the
    header holds the final totals, so an interrupted recording never leaves a ``.demo`` file
    that looks whole.
    """

    def __init__(self, path: str | Path, behavior_name: str, spec: BehaviorSpec) -> None:
        self.path = Path(path)
        self.behavior_name = behavior_name
        self.spec = spec
        self._layout = RecordLayout.of(spec)
        self._tally = EpisodeTally()
        self._header = header_message(behavior_name, spec)
        self._header_size = self._header.ByteSize()
        self._partial = self.path.with_name(self.path.name + ".partial")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO | None = open(self._partial, "wb")  # noqa: SIM115 (closed in close())
        self._file.write(encode_varint(self._header_size) + self._header.SerializeToString())
        self._info: DemoInfo | None = None

    def add(
        self,
        observations: list[np.ndarray],
        continuous_actions: np.ndarray,
        discrete_actions: np.ndarray,
        rewards: np.ndarray,
        dones: np.ndarray,
        interrupted: np.ndarray,
        action_masks: np.ndarray | None = None,
        agent_ids: np.ndarray | None = None,
    ) -> None:
        """Append ``n`` records at once (row i of every array is record i).

        ``action_masks`` (n, sum(branches)) is True where a choice is allowed (None: all
        allowed); ``agent_ids`` None means every record is agent 0's. A done record's action is
        not used by learners: pass zeros.
        """
        if self._file is None:
            raise ValueError(f"DemoWriter for {self.path} is closed")
        n = len(rewards)
        if n == 0:
            return
        spec, fields = self.spec, self._layout.fields
        if len(observations) != len(spec.observation_specs):
            raise ValueError(f"expected {len(spec.observation_specs)} observation arrays, got {len(observations)}")
        rows = np.empty((n, self._layout.size), np.uint8)
        rows[:] = self._layout.template

        def put(name: str, values: np.ndarray, dtype: str, width: int) -> None:
            array = np.ascontiguousarray(values, dtype=dtype)
            if array.size * array.itemsize != n * width:
                raise ValueError(f"{name}: {array.shape} does not hold {n} records of {width // array.itemsize} values")
            rows[:, fields[name]] = array.reshape(n, -1).view(np.uint8)

        for i, (obs, o) in enumerate(zip(observations, spec.observation_specs)):
            if obs.shape != (n, *o.shape):
                raise ValueError(f"observation {i}: expected shape {(n, *o.shape)}, got {obs.shape}")
            put(f"obs{i}", obs, "<f4", fields[f"obs{i}"].stop - fields[f"obs{i}"].start)
        actions = spec.action_spec
        if actions.continuous_size:
            put("continuous", continuous_actions, "<f4", 4 * actions.continuous_size)
        if actions.discrete_branches:
            put("discrete", discrete_actions, "<i4", 4 * len(actions.discrete_branches))
            masks = np.ones((n, sum(actions.discrete_branches)), bool) if action_masks is None else action_masks
            put("mask", masks, "u1", sum(actions.discrete_branches))
        put("reward", rewards, "<f4", 4)
        put("done", dones, "u1", 1)
        put("interrupted", interrupted, "u1", 1)
        ids = np.zeros(n, np.int64) if agent_ids is None else agent_ids
        put("agent_id", ids, "<i8", 8)
        self._file.write(rows.data)
        self._tally.add(np.asarray(rewards, np.float32), np.asarray(dones, bool), np.asarray(ids, np.int64))

    def close(self) -> DemoInfo:
        """Write the header's totals, give the file its name, and return its summary (idempotent)."""
        if self._info is not None:
            return self._info
        assert self._file is not None
        tally = self._tally
        self._header.steps = tally.records
        self._header.episodes = tally.episodes
        self._header.mean_return = tally.mean_return
        self._header.complete = True
        data = self._header.SerializeToString()
        assert len(data) == self._header_size, "the header's totals are fixed-width"
        self._file.seek(len(encode_varint(self._header_size)))
        self._file.write(data)
        self._file.close()
        self._file = None
        os.replace(self._partial, self.path)
        self._info = DemoInfo(
            path=self.path,
            format="mlx",
            behavior_name=self.behavior_name,
            spec=self.spec,
            episodes=tally.episodes,
            steps=tally.records,
            mean_return=tally.mean_return,
        )
        return self._info

    def __enter__(self) -> DemoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        elif self._file is not None:  # leave the .partial file for inspection; no .demo appears
            self._file.close()
            self._file = None
