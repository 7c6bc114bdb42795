"""The worker pool: copies in worker processes, merged ids, restarts, limits and clean exits."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import attrs
import pytest
from structlog.testing import capture_logs

from mlx_core.config.settings import RunOptions
from mlx_core.env.python import make_python
from mlx_core.env.workers import ID_BITS, WorkerPool
from mlx_core.errors import EnvError
from tests.conftest import start_mlx, wait_until

FLAKY = str(Path(__file__).with_name("flaky_env.py")) + ":FlakyGoal"
BEHAVIOR = "Goal1DDiscrete"


def options(**env_settings: object) -> RunOptions:
    base = RunOptions()
    args = env_settings.pop("env_args", [])
    settings = attrs.evolve(base.env_settings, env=FLAKY, env_args=list(args), **env_settings)  # type: ignore[arg-type]
    return attrs.evolve(base, env_settings=settings)


def make(num_envs: int, seed: int = 1, **env_settings: object) -> WorkerPool:
    pool = make_python(FLAKY, options(**env_settings), num_envs, seed)
    assert isinstance(pool, WorkerPool)
    return pool


def step_right(pool: WorkerPool, result: dict) -> dict:
    decisions, _ = result[BEHAVIOR]
    actions = pool.specs[BEHAVIOR].action_spec.empty(len(decisions))
    return pool.step({BEHAVIOR: actions})


def pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): look at its state
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def wait_gone(process_ids: list[int], seconds: float = 10.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = [p for p in process_ids if alive(p)]
        if not left:
            return []
        time.sleep(0.1)
    return [p for p in process_ids if alive(p)]


def test_copies_run_in_worker_processes_and_merge_into_one_batch(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    pool = make(3, executor="subprocess", env_args=[f"pid_file={pid_file}"])
    try:
        workers = pids(pid_file)
        assert len(set(workers)) == 3 and os.getpid() not in workers
        decisions, terminals = pool.reset()[BEHAVIOR]
        assert len(decisions) == 3 and len(terminals) == 0
        assert len(set(decisions.agent_id.tolist())) == 3  # unique across copies
        assert sorted((decisions.agent_id >> ID_BITS).tolist()) == [0, 1, 2]
        pool.stats()  # drop what the resets reported
        result = step_right(pool, pool.reset())
        assert len(result[BEHAVIOR][0]) == 3
        pool.stats()
        result = step_right(pool, result)
        assert pool.stats() == {"Flaky/Steps": [2.0, 2.0, 2.0]}  # every copy's custom metric
    finally:
        pool.close()
    assert wait_gone(workers) == []


def test_inline_copies_share_one_batch_with_distinct_ids() -> None:
    pool = make(2)
    decisions, _ = pool.reset()[BEHAVIOR]
    assert decisions.agent_id.tolist() == [0, 1 << ID_BITS]
    pool.close()


def test_a_crashed_worker_is_restarted_and_its_agent_ends_interrupted(tmp_path: Path) -> None:
    pool = make(2, executor="subprocess", env_args=["crash_at=3", f"marker={tmp_path / 'crashed'}"])
    try:
        result = pool.reset()
        before = set(result[BEHAVIOR][0].agent_id.tolist())
        with capture_logs() as logs:
            for _ in range(3):
                result = step_right(pool, result)
        restarts = [e for e in logs if e["event"] == "worker_restarted"]
        assert len(restarts) == 1 and "exited" in restarts[0]["reason"]
        decisions, terminals = result[BEHAVIOR]
        assert len(decisions) == 2  # the restarted copy asks again, with a new id
        assert set(decisions.agent_id.tolist()) != before
        lost = terminals.agent_id[terminals.interrupted]
        assert set(lost.tolist()) <= before and len(lost) >= 1  # the crashed copy's agent, with its old id
        for _ in range(5):  # and training goes on
            result = step_right(pool, result)
    finally:
        pool.close()


def test_a_hung_worker_times_out_and_is_restarted(tmp_path: Path) -> None:
    pool = make(
        2, executor="subprocess", timeout_wait=1.5, env_args=["hang_at=2", f"marker={tmp_path / 'hung'}"]
    )
    try:
        result = pool.reset()
        with capture_logs() as logs:
            for _ in range(3):
                result = step_right(pool, result)
        restarts = [e for e in logs if e["event"] == "worker_restarted"]
        assert len(restarts) == 1 and "timeout_wait=1.5" in restarts[0]["reason"]
    finally:
        pool.close()


def test_too_many_restarts_stop_with_a_clear_error(tmp_path: Path) -> None:
    pool = make(1, executor="subprocess", restarts_rate_limit_n=1, env_args=["raise_at=2"])
    try:
        result = pool.reset()
        with pytest.raises(EnvError) as caught:
            for _ in range(10):
                result = step_right(pool, result)
        text = str(caught.value)
        assert "flaky environment raised" in text and "restarts_rate_limit_n=1" in text
        assert "\n" not in text
    finally:
        pool.close()


def test_lifetime_limit_minus_one_means_no_limit_and_zero_means_none(tmp_path: Path) -> None:
    pool = make(1, executor="subprocess", max_lifetime_restarts=0, env_args=["raise_at=2"])
    try:
        result = pool.reset()
        result = step_right(pool, result)
        with pytest.raises(EnvError, match="max_lifetime_restarts=0"):
            step_right(pool, result)
    finally:
        pool.close()


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_no_worker_outlives_the_trainer(tmp_path: Path, how: signal.Signals) -> None:
    """Killed (SIGKILL: no clean-up code runs) or interrupted, the trainer leaves no worker behind."""
    pid_file = tmp_path / "pids"
    config = tmp_path / "flaky.yaml"
    config.write_text(
        f"env_settings:\n  env: {FLAKY}\n  num_envs: 2\n  executor: subprocess\n  env_args: [pid_file={pid_file}]\n"
        f"behaviors:\n  {BEHAVIOR}:\n    trainer: ppo\n    max_steps: 10000000\n"
    )
    trainer = start_mlx("run", str(config), "--run-id", "orphans", cwd=tmp_path)
    try:
        wait_until((tmp_path / "results" / "orphans" / "run_logs" / "log.jsonl").exists)  # set up, loop starting
        workers = pids(pid_file)
        assert len(workers) == 2
        time.sleep(2.0)  # training is under way
        trainer.send_signal(how)
        _, stderr = trainer.communicate(timeout=60)
        if how == signal.SIGINT:
            assert trainer.returncode == 0, stderr
        assert wait_gone(workers) == [], f"workers left running after {how.name}"
    finally:
        if trainer.poll() is None:
            trainer.kill()


def test_pools_served_by_mlx_env_serve_can_be_pooled_again() -> None:
    """Two ``mlx env serve --num-envs 2``-like servers (pools whose ids use the high bits) behind
    one trainer pool: every agent keeps one distinct id, and the copies are seeded."""
    from mlx_core.env.executable import make_grpc
    from mlx_core.env.remote import start_server

    servers = [start_server(make(2, seed=-1), 0) for _ in range(2)]
    try:
        outer = make_grpc("//" + ",".join(f"127.0.0.1:{s.port}" for s in servers), options(), 2, 7)
        result = outer.reset()
        ids = result[BEHAVIOR][0].agent_id
        assert len(set(ids.tolist())) == 4
        seen_terminal = False
        for _ in range(40):  # episodes end (max 30 steps) and start again: ids stay distinct
            result = step_right(outer, result)
            decisions, terminals = result[BEHAVIOR]
            assert len(decisions) == 4 and len(set(decisions.agent_id.tolist())) == 4
            seen_terminal |= len(terminals) > 0
            if len(terminals):
                assert set(terminals.agent_id.tolist()) <= set(decisions.agent_id.tolist())  # same agents go on
        assert seen_terminal
        outer.close()
    finally:
        for server in servers:
            server.stop()


@pytest.mark.parametrize("target", ["CartPole-v1", "Goal1DDiscrete"])
def test_gymnasium_and_builtin_copies_run_in_worker_processes(target: str) -> None:
    from mlx_core.env.factory import environment_for
    from mlx_core.plugins.manager import get_plugins

    env = environment_for(target, get_plugins(), 3, num_envs=2, executor="subprocess")
    try:
        assert isinstance(env, WorkerPool) and all(w.label.startswith("worker process") for w in env.workers)
        name = next(iter(env.specs))
        decisions, _ = env.reset()[name]
        assert len(decisions) == 2 and len(set(decisions.agent_id.tolist())) == 2
        actions = env.specs[name].action_spec.empty(2)
        assert len(env.step({name: actions})[name][0]) == 2
    finally:
        env.close()
