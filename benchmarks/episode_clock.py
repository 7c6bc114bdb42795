"""A gymnasium wrapper that timestamps every finished episode, shared by both frameworks.

Both mlx and Stable-Baselines3 create their environments through gymnasium from the same
registered id, so both are measured by the same clock: wall time and total environment
steps (over all copies in the process) at each episode's end.
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import gymnasium as gym
import torch


class EpisodeClock:
    """Process-wide record of (seconds since start, env steps so far, episode return)."""

    start: float | None = None  # time of the first environment step
    last = 0.0  # seconds from the first to the latest step
    steps = 0
    episodes: list[tuple[float, int, float]] = []

    @classmethod
    def reset(cls) -> None:
        """Start a new measurement; the clock starts at the next environment step, so start-up
        (imports, building networks, writers) counts for neither framework."""
        cls.start = None
        cls.last = 0.0
        cls.steps = 0
        cls.episodes = []

    @classmethod
    def tick(cls) -> float:
        """Count one step; return seconds since the first step."""
        now = time.perf_counter()
        if cls.start is None:
            cls.start = now
        cls.steps += 1
        cls.last = now - cls.start
        return cls.last

    @classmethod
    def mean_of_last(cls, window: int) -> float:
        """Mean return of the last ``window`` episodes (nan before any)."""
        last = [r for _, _, r in cls.episodes[-window:]]
        return sum(last) / len(last) if last else float("nan")

    @classmethod
    def solved_at(cls, threshold: float | None, window: int) -> tuple[float, int] | None:
        """(seconds, steps) when the mean of the last ``window`` returns first reached ``threshold``."""
        if threshold is None:
            return None
        returns = [r for _, _, r in cls.episodes]
        for i in range(window - 1, len(returns)):
            if sum(returns[i - window + 1 : i + 1]) / window >= threshold:
                return cls.episodes[i][0], cls.episodes[i][1]
        return None


class ClockedEpisodes(gym.Wrapper):
    """Counts steps and records each episode's return in :class:`EpisodeClock`."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._return = 0.0

    def reset(self, **kwargs):
        self._return = 0.0
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        elapsed = EpisodeClock.tick()
        self._return += float(reward)
        if terminated or truncated:
            EpisodeClock.episodes.append((elapsed, EpisodeClock.steps, self._return))
        return obs, reward, terminated, truncated, info


def measure(train, threshold: float | None, window: int) -> dict:
    """Run ``train()`` under a fresh clock: wall time of the call, seconds from first to last
    step (``loop``), steps, when the mean of the last ``window`` returns reached ``threshold``
    and that mean at the end; plus whatever dict ``train()`` returns."""
    EpisodeClock.reset()
    start = time.perf_counter()
    result = train()
    extra = result if isinstance(result, dict) else {}
    wall = time.perf_counter() - start
    return {
        "wall": wall,
        "loop": EpisodeClock.last,
        "steps": EpisodeClock.steps,
        "solved": EpisodeClock.solved_at(threshold, window),
        "final": EpisodeClock.mean_of_last(window),
        **extra,
    }


def train_mlx(config_text: str) -> dict:
    """Train with mlx's real controller from a config text; return its timer tree."""
    import json
    import tempfile
    from pathlib import Path

    from mlx_core.config.loader import load_run_options
    from mlx_core.logs import configure_logging
    from mlx_core.plugins.manager import get_plugins
    from mlx_core.training.controller import TrainerController

    configure_logging()  # info level, as `mlx run` does

    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text(config_text)
        TrainerController(load_run_options(config), Path(tmp) / "run", get_plugins()).run()
        return {"timers": json.loads((Path(tmp) / "run/run_logs/timers.json").read_text())}


def make_clocked(env_id: str, **kwargs) -> gym.Env:
    """Entry point for the clocked copy of ``env_id``."""
    return ClockedEpisodes(gym.make(env_id, **kwargs))


def _isolated_run(runner, env_id: str, threads: int, args: tuple) -> dict:
    torch.set_num_threads(threads)
    return runner(register_clocked(env_id), *args)


def run_isolated(runner, env_id: str, threads: int, *args) -> dict:
    """``runner(clocked env id, *args)`` in a fresh interpreter with ``threads`` torch threads.

    Each framework's run starts from the same clean process state: nothing one of them sets
    for the whole process (torch's thread pool, the C allocator's settings, which mlx tunes,
    warmed caches) carries over into the other's run.
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_isolated_run, runner, env_id, threads, args).result()


def register_clocked(env_id: str) -> str:
    """Register ``Clocked-<env_id>`` and return that id."""
    clocked = f"Clocked-{env_id}"
    if clocked not in gym.registry:
        gym.register(clocked, entry_point=make_clocked, kwargs={"env_id": env_id})
    return clocked
