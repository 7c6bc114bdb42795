"""Environment copies as Ray actors (``executor: ray``) on one local Ray instance of 2 CPUs,
started once for this module: any environment type in an actor, merged batches, a killed or
failing actor replaced within the restart limits, stop requests, placement that cannot happen,
and no Ray import before a run asks for it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import numpy as np
import pytest
from structlog.testing import capture_logs

from mlx_core import stopping
from mlx_core.config.settings import RunOptions
from mlx_core.env.base import Environment
from mlx_core.env.factory import environment_for
from mlx_core.errors import EnvError
from mlx_core.plugins.manager import get_plugins
from tests.core.env.test_workers import FLAKY, wait_gone

ray = pytest.importorskip("ray")

from mlx_core.env.ray import RayPool, RayWorker, connect, shutdown_ray  # noqa: E402 - needs ray

ROOT = Path(__file__).resolve().parents[3]
SIMULATOR = ROOT / "examples" / "simulator" / "two_behaviors.py"
BEHAVIOR = "Goal1DDiscrete"


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    """One local Ray instance with 2 CPUs for the module, started the way a run starts it."""
    assert not ray.is_initialized()
    settings = attrs.evolve(RunOptions().env_settings, executor="ray")
    assert connect(RunOptions(env_settings=settings), num_envs=2)  # this process started it
    assert ray.cluster_resources()["CPU"] == 2
    yield
    shutdown_ray()
    assert not ray.is_initialized()


def ray_env(target: str, num_envs: int = 2, seed: int = 3, **env_settings: object) -> RayPool:
    env = environment_for(target, get_plugins(), seed, num_envs=num_envs, executor="ray", **env_settings)
    assert isinstance(env, RayPool) and all(isinstance(w, RayWorker) for w in env.workers)
    assert not env.owns_ray  # the module's instance: the pool leaves it running
    return env


def step_zeros(env: Environment, result: dict) -> dict:
    """Step with the first choice each action mask allows (zeros where there is no mask)."""
    actions = {}
    for name, (decisions, _) in result.items():
        if len(decisions):
            action = env.specs[name].action_spec.empty(len(decisions))
            if decisions.action_mask is not None:
                offset = 0
                for branch, size in enumerate(env.specs[name].action_spec.discrete_branches):
                    action.discrete[:, branch] = decisions.action_mask[:, offset : offset + size].argmax(axis=1)
                    offset += size
            actions[name] = action
    return env.step(actions)


def actor_pids(env: RayPool) -> list[int]:
    return [w.pid() for w in env.workers if isinstance(w, RayWorker)]


def test_copies_run_in_actors_and_merge_into_one_batch() -> None:
    env = ray_env(BEHAVIOR)
    try:
        pids = actor_pids(env)
        assert len(set(pids)) == 2 and os.getpid() not in pids
        decisions, _ = env.reset()[BEHAVIOR]
        assert len(decisions) == 2 and len(set(decisions.agent_id.tolist())) == 2
        seen_terminal, result = False, env.reset()
        for _ in range(40):  # episodes end (at most 30 steps) and start again: ids stay distinct
            result = step_zeros(env, result)
            decisions, terminals = result[BEHAVIOR]
            assert len(decisions) == 2 and len(set(decisions.agent_id.tolist())) == 2
            seen_terminal |= len(terminals) > 0
        assert seen_terminal
    finally:
        env.close()
    assert wait_gone(pids) == [], "actors left running after close()"


@pytest.mark.parametrize(
    ("target", "args", "behaviors"),
    [
        ("CartPole-v1", [], {"CartPole-v1"}),
        ("pettingzoo:mpe2.simple_adversary_v3", ["max_cycles=5"], {"adversary", "agent"}),
        (FLAKY, [], {BEHAVIOR}),
        (str(SIMULATOR), ["--max-agents", "2"], {"Mover", "Picker"}),
    ],
    ids=["gymnasium", "pettingzoo", "python-file", "grpc-simulator"],
)
def test_every_environment_type_runs_in_an_actor(target: str, args: list[str], behaviors: set[str]) -> None:
    """Each actor builds its copy with the type's own factory; a simulator executable is launched
    by its actor (copy i on base_port + i)."""
    port = 15800 + (os.getpid() % 500) * 2
    env = ray_env(target, env_args=args, base_port=port, timeout_wait=60)
    try:
        assert set(env.specs) == behaviors
        result = env.reset()
        for _ in range(3):
            result = step_zeros(env, result)
        assert sum(len(d) for d, _ in result.values()) > 0
    finally:
        env.close()


@pytest.mark.parametrize("how", ["SIGKILL", "ray.kill"])
def test_a_killed_actor_is_replaced_and_its_agents_end_interrupted(how: str) -> None:
    env = ray_env(BEHAVIOR, max_lifetime_restarts=1)
    try:
        result = step_zeros(env, env.reset())
        before = result[BEHAVIOR][0].agent_id
        victim = env.workers[0]
        assert isinstance(victim, RayWorker)
        pid = victim.pid()
        if how == "SIGKILL":
            os.kill(pid, signal.SIGKILL)  # what a lost node looks like from the trainer
        else:
            ray.kill(victim.actor, no_restart=True)
        with capture_logs() as logs:
            result = step_zeros(env, result)
        restarts = [e for e in logs if e["event"] == "worker_restarted"]
        assert len(restarts) == 1 and restarts[0]["worker"] == "Ray actor 0"
        assert "Ray actor 0 died" in restarts[0]["reason"]
        decisions, terminals = result[BEHAVIOR]
        # copy 0's agent ended as interrupted under its old id; the new actor's agent has a new id
        assert terminals.agent_id.tolist() == [before[0]] and terminals.interrupted.all()
        assert len(decisions) == 2 and before[0] not in decisions.agent_id.tolist()
        assert env.limits.total == 1 and victim.pid() != pid and wait_gone([pid]) == []
        for _ in range(5):
            result = step_zeros(env, result)
        assert len(result[BEHAVIOR][0]) == 2
    finally:
        env.close()


def test_an_environment_that_keeps_raising_stops_the_run_at_the_restart_limit() -> None:
    env = ray_env(FLAKY, num_envs=1, env_args=["raise_at=2"], max_lifetime_restarts=0)
    try:
        result = step_zeros(env, env.reset())
        with pytest.raises(EnvError, match="max_lifetime_restarts=0") as raised:
            step_zeros(env, result)
        assert "RuntimeError: flaky environment raised at step 2" in str(raised.value)
    finally:
        env.close()


def test_a_stop_request_ends_the_wait_for_a_hung_actor(tmp_path: Path) -> None:
    env = ray_env(FLAKY, env_args=["hang_at=2", f"marker={tmp_path / 'hung'}"], timeout_wait=120)
    pids = actor_pids(env)
    try:
        result = step_zeros(env, env.reset())
        timer = threading.Timer(0.5, stopping.request_stop, args=("test",))
        timer.start()
        began = time.monotonic()
        with pytest.raises(stopping.StopRequested):
            step_zeros(env, result)
        assert time.monotonic() - began < 0.5 + 2 * stopping.POLL_S + 1.0
    finally:
        stopping.clear()
        began = time.monotonic()
        env.close()
    assert time.monotonic() - began < 4.0, "close() waited on the hung actor instead of killing it"
    assert wait_gone(pids) == [], "the hung actor outlived close()"


def test_an_actor_that_cannot_be_placed_fails_within_timeout_wait() -> None:
    began = time.monotonic()
    with pytest.raises(EnvError, match=r"did not start within timeout_wait=1.5 s \(it asks for CPU=1, simulator=1"):
        ray_env(BEHAVIOR, num_envs=1, timeout_wait=1.5, ray_resources={"simulator": 1.0})
    assert time.monotonic() - began < 10


def test_an_environment_that_cannot_be_built_names_the_problem() -> None:
    with pytest.raises(EnvError, match="Ray actor 0 could not create its environment: The built-in environment"):
        ray_env(BEHAVIOR, env_args=["speed=3"])


def test_ray_resources_refuse_the_keys_ray_sets_itself() -> None:
    with pytest.raises(EnvError, match="ray_resources names CPU, GPU.*ray_num_cpus"):
        ray_env(BEHAVIOR, ray_resources={"CPU": 2.0, "GPU": 1.0})


def test_grpc_targets_are_not_placed_on_ray() -> None:
    with pytest.raises(EnvError, match="already running"):
        environment_for("grpc://127.0.0.1:1", get_plugins(), executor="ray")


def test_copies_are_seeded_like_local_copies() -> None:
    """Copy i gets seed + i, in its actor as in a worker process."""
    from mlx_core.env.gymnasium import make_one

    env = ray_env("CartPole-v1", seed=11)
    try:
        first = env.reset()["CartPole-v1"][0].obs[0]
        expected = [make_one("CartPole-v1", {}, seed).reset()["CartPole-v1"][0].obs[0] for seed in (11, 12)]
        np.testing.assert_array_equal(first, np.concatenate(expected))
    finally:
        env.close()


def test_importing_mlx_core_does_not_import_ray() -> None:
    code = (
        "import sys, mlx_core, mlx_core.cli, mlx_core.env.factory, mlx_core.env.workers, mlx_core.env.ray\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
