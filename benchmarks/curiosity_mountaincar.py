"""PPO on gymnasium's MountainCar-v0 with the extrinsic reward alone, with RND and with
curiosity, side by side (each run in a fresh process, one after the other).

MountainCar pays -1 per step until the car reaches the flag; an episode that never gets there
scores -200. A policy has to swing back and forth to gain momentum before it sees any
difference between its actions, which is what the intrinsic signals are for.

    python benchmarks/curiosity_mountaincar.py --seeds 1 2 3 --steps 300000

Prints, and with ``--out`` writes as markdown, per run: the mean return of the last 20
episodes, the steps until that mean first reached -160, environment steps per second (first
to last environment step) and each signal's steps/s as a share of PPO's on the same seed.
``--jsonl`` appends each run's result as one JSON line as soon as it finishes, so a long
benchmark that is cut short still leaves its finished runs behind.

    python benchmarks/curiosity_mountaincar.py --speed-only --rounds 3 --steps 30000

measures only the cost: the variants of one seed alternate, round after round, so that the
load of a shared machine falls on all of them alike, and the table gives each variant's median
steps/s and CPU seconds (of its process, over the whole run) and the signals' share of PPO's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from episode_clock import measure, run_isolated, train_mlx  # noqa: E402

THRESHOLD, WINDOW = -160.0, 20

CONFIG = """
behaviors:
  {env}:
    trainer: ppo
    hyperparameters:
      batch_size: 256
      buffer_size: 2048
      learning_rate: 3.0e-4
      learning_rate_schedule: constant
      beta: 0.0
      lambd: 0.98
      num_epoch: 4
    network_settings: {{hidden_units: 64, num_layers: 2, normalize: true}}
    reward_signals:
      extrinsic: {{gamma: 0.99}}
{signal}
    time_horizon: 64
    max_steps: {steps}
    summary_freq: 20000
    checkpoint_interval: {steps}
env_settings: {{env: {env}, num_envs: 16, seed: {seed}}}
torch_settings: {{device: cpu, num_threads: {threads}}}
"""

# each signal's section. Both see normalised observations (MountainCar's velocity is ~1e-2).
# The predictor of a 2-D state learns fast, so its errors, and RND's rewards, are small: a
# large strength and the default (slow) learning rate keep rarely visited states rewarding.
SIGNAL_NET = "network_settings: {hidden_units: 64, num_layers: 2, normalize: true}"
SIGNALS = {
    "ppo": "",
    "ppo+rnd": f"      rnd: {{strength: 20.0, gamma: 0.99, encoding_size: 64, learning_rate: 1.0e-4, {SIGNAL_NET}}}",
    "ppo+curiosity": f"      curiosity: {{strength: 2.0, gamma: 0.99, encoding_size: 64, learning_rate: 3.0e-4, {SIGNAL_NET}}}",
}


def run_variant(env_id: str, variant: str, seed: int, steps: int, threads: int) -> dict:
    """Train one variant with mlx's real controller under the episode clock."""
    config = CONFIG.format(env=env_id, signal=SIGNALS[variant], steps=steps, seed=seed, threads=threads)
    cpu = time.process_time()
    result = measure(lambda: train_mlx(config), THRESHOLD, WINDOW)
    return {**result, "cpu": time.process_time() - cpu}  # this process's CPU seconds, all threads


def table(results: list[dict], steps: int) -> str:
    """The markdown table of every run, then one median row per variant."""
    base = {r["seed"]: r["sps"] for r in results if r["variant"] == "ppo"}
    lines = [
        f"| variant | seed | mean return, last {WINDOW} episodes | steps to {THRESHOLD:.0f} | env steps/s | steps/s vs PPO |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        share = f"{r['sps'] / base[r['seed']]:.0%}" if r["seed"] in base else "—"
        reached = f"{r['solved'][1] / 1000:.0f}k" if r["solved"] else "not reached"
        lines.append(f"| {r['variant']} | {r['seed']} | {r['final']:.1f} | {reached} | {r['sps']:,.0f} | {share} |")
    for variant in SIGNALS:
        runs = [r for r in results if r["variant"] == variant]
        if runs:
            reached = sum(1 for r in runs if r["solved"])
            final = statistics.median(r["final"] for r in runs)
            sps = statistics.median(r["sps"] for r in runs)
            lines.append(
                f"| **{variant} median** | {len(runs)} seeds | {final:.1f} | {reached}/{len(runs)} reached | {sps:,.0f} | |"
            )
    return "\n".join(lines) + f"\n\n{steps:,} environment steps per run."


def speed_table(results: list[dict], steps: int) -> str:
    """Median steps/s and CPU seconds per variant over the rounds, and each one's extra cost
    over PPO's: the drop in steps/s and the extra CPU time per step."""
    lines = [
        "| variant | rounds | env steps/s (median) | steps/s vs PPO | CPU s per run (median) | CPU time vs PPO |",
        "|---|---|---|---|---|---|",
    ]
    medians = {}
    for variant in SIGNALS:
        runs = [r for r in results if r["variant"] == variant]
        if runs:
            medians[variant] = (
                statistics.median(r["sps"] for r in runs),
                statistics.median(r["cpu"] for r in runs),
                len(runs),
            )
    base_sps, base_cpu, _ = medians.get("ppo", (float("nan"), float("nan"), 0))
    for variant, (sps, cpu, n) in medians.items():
        lines.append(f"| {variant} | {n} | {sps:,.0f} | {sps / base_sps:.0%} | {cpu:.1f} | {cpu / base_cpu - 1:+.0%} |")
    rounds = "; ".join(f"{r['variant']} {r['sps']:,.0f}/s {r['cpu']:.1f} s" for r in results)
    return "\n".join(lines) + f"\n\n{steps:,} environment steps per run, in run order: {rounds}."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument("--variants", nargs="+", default=list(SIGNALS), choices=list(SIGNALS))
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each run")
    parser.add_argument("--out", type=Path, help="also write the table here (markdown)")
    parser.add_argument("--jsonl", type=Path, help="append each finished run here as one JSON line")
    parser.add_argument("--speed-only", action="store_true", help="alternate the variants of the first seed")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every variant with --speed-only")
    args = parser.parse_args()

    results = []
    if args.speed_only:
        seed = args.seeds[0]
        for _ in range(args.rounds):
            for variant in args.variants:
                r = run_isolated(run_variant, "MountainCar-v0", args.threads, variant, seed, args.steps, args.threads)
                r = {"variant": variant, "seed": seed, "sps": r["steps"] / r["loop"], **r}
                r.pop("timers", None)
                results.append(r)
                print(f"{variant}: {r['sps']:,.0f} steps/s, {r['cpu']:.1f} CPU s", flush=True)
        text = speed_table(results, args.steps)
        print("\n" + text)
        if args.out:
            args.out.write_text(text + "\n")
        return
    for seed in args.seeds:  # seed-major: a benchmark cut short has every variant of its first seeds
        for variant in args.variants:
            r = run_isolated(run_variant, "MountainCar-v0", args.threads, variant, seed, args.steps, args.threads)
            r = {"variant": variant, "seed": seed, "sps": r["steps"] / r["loop"], **r}
            r.pop("timers", None)
            results.append(r)
            print(
                f"{variant} seed {seed}: last-{WINDOW} mean {r['final']:.1f}, reached {r['solved']}, "
                f"{r['sps']:,.0f} steps/s",
                flush=True,
            )
            if args.jsonl:
                with args.jsonl.open("a") as f:
                    f.write(json.dumps(r, default=str) + "\n")
    text = table(results, args.steps)
    print("\n" + text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
