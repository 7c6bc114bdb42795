"""Environment workers as local worker processes or as Ray actors: agent steps per second and the
cost each adds to a step, for a cheap environment and for an expensive one (a step that sleeps,
as when a simulator waits on physics or rendering elsewhere).

    python benchmarks/ray_workers.py [--seconds 3] [--copies 1 2 4] [--sleep-ms 5]
        [--out benchmarks/results/ray_workers.md]

Every configuration is built through mlx's own environment factory (the code ``mlx run``
uses: ``executor: subprocess`` or ``executor: ray``) and stepped with fixed actions, so the
numbers are the environment path alone, without a policy. The Ray actors run on one local
Ray instance started for the script (as large as the most copies measured), as ``mlx run``
starts one for a run.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from mlx_core.config.settings import RunOptions
from mlx_core.env.base import ActionTuple, StepResult

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the Busy environment and the step loop of env_workers.py, beside this file

from bench_envs import Busy  # noqa: E402
from env_workers import ENVS, build, steps_per_second  # noqa: E402


class Sleepy(Busy):
    """Busy without CPU work whose every step sleeps ``sleep_ms``: an expensive step that leaves
    the CPU free (a simulator waiting on physics or rendering elsewhere), so that copies can
    overlap even on a machine whose cores are taken."""

    def __init__(self, sleep_ms: float = 5.0, length: int = 200) -> None:
        super().__init__(work_us=0, length=length)
        self.sleep_s = sleep_ms / 1000

    def step(self, actions: dict[str, ActionTuple]) -> StepResult:
        time.sleep(self.sleep_s)
        return super().step(actions)


def measure(target: str, args: list[str], copies: list[int], seconds: float) -> list[tuple[str, int, float]]:
    """(executor, copies, agent steps/s) for in-process (1 copy), worker processes and Ray actors."""
    rows = []
    for executor, count in [("inline", 1)] + [(e, c) for e in ("subprocess", "ray") for c in copies]:
        env = build(target, count, executor, args)
        try:
            rows.append((executor, count, steps_per_second(env, seconds)))
        finally:
            env.close()
        print(f"  {target.rsplit(':', 1)[-1]} {args} {executor} x{count}: {rows[-1][2]:,.0f} agent steps/s", flush=True)
    return rows


def table(title: str, rows: list[tuple[str, int, float]], own_ms: float) -> list[str]:
    """Markdown rows; a step's cost beyond the environment's own ``own_ms`` is what the executor adds
    (1 agent per copy, so a pool step takes copies / rate seconds)."""
    names = {"inline": "in-process", "subprocess": "worker processes", "ray": "Ray actors"}
    lines = [
        title,
        "",
        "| executor | copies | agent steps/s | ms per step | added per step (ms) |",
        "|---|---:|---:|---:|---:|",
    ]
    for executor, count, rate in rows:
        step_ms = 1000 * count / rate
        lines.append(f"| {names[executor]} | {count} | {rate:,.0f} | {step_ms:.3f} | {step_ms - own_ms:.3f} |")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per configuration")
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 2, 4], help="environment copies")
    parser.add_argument("--sleep-ms", type=float, default=5.0, help="the expensive step's sleep")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "ray_workers.md")
    args = parser.parse_args()

    from mlx_core.env.ray import connect, shutdown_ray

    # one local instance for every Ray configuration, with a CPU for each actor of the largest pool
    options = RunOptions()
    began = time.perf_counter()
    connect(options, max(args.copies))
    ray_start_s = time.perf_counter() - began
    try:
        cheap = measure(f"{ENVS}:Busy", ["work_us=0"], args.copies, args.seconds)
        busy_ms = 1000 / cheap[0][2]
        expensive = measure(
            f"{Path(__file__).resolve()}:Sleepy", [f"sleep_ms={args.sleep_ms}"], args.copies, args.seconds
        )
    finally:
        shutdown_ray()
    sleepy_ms = 1000 / expensive[0][2]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        "# Environment workers: local worker processes and Ray actors",
        "",
        f"{platform.node()}: {os.cpu_count()} cores shared with other engineers' jobs (load average {load} at the end);"
        f" Python {platform.python_version()}; Ray started locally in {ray_start_s:.1f} s. One agent per copy, fixed"
        f" actions, no policy; {args.seconds:g} s per configuration. 'added per step' is the step's time minus the"
        " environment's own time in process (one copy): what moving the copies out of the process costs.",
        "",
        *table(f"Cheap environment (Busy, no work: {busy_ms:.3f} ms per step in process):", cheap, busy_ms),
        *table(
            f"Expensive environment (a {args.sleep_ms:g} ms sleep per step: {sleepy_ms:.3f} ms in process):",
            expensive,
            sleepy_ms,
        ),
    ]
    print("\n".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
