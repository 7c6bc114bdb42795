"""mlx SAC versus Stable-Baselines3 SAC on Pendulum-v1, side by side in one run
(each framework and seed in a fresh process, one after the other).

Both use RL-Zoo's Pendulum settings (256x256 ReLU networks, batch 256, learning rate 1e-3,
tau 0.005, gamma 0.99, one gradient step per environment step, 100 random warm-up steps,
automatic entropy tuning from 1.0), one environment, the same torch threads (--threads, default
1), and the same gymnasium
environment wrapped by a shared episode clock.

    python benchmarks/sac_pendulum.py --seeds 1 2 3 --steps 10000
    python benchmarks/sac_pendulum.py --env HalfCheetah-v5 --seeds 1 --steps 10000   # needs mujoco

Prints environment steps per second (first to last step), and steps and wall time until the
mean return of the last 10 episodes reaches -200, per framework and seed, plus medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from episode_clock import measure, run_isolated, train_mlx  # noqa: E402

THRESHOLD, WINDOW = -200.0, 10

MLX_CONFIG = """
behaviors:
  {env}:
    trainer: sac
    hyperparameters:
      batch_size: 256
      buffer_size: 1000000
      buffer_init_steps: 100
      learning_rate: 1.0e-3
      learning_rate_schedule: constant
      tau: 0.005
      train_interval: 1
      num_update: 1
      init_entcoef: 1.0
    network_settings: {{hidden_units: 256, num_layers: 2, activation: relu}}
    reward_signals: {{extrinsic: {{gamma: 0.99}}}}
    time_horizon: 1
    max_steps: {steps}
    summary_freq: {steps}
    checkpoint_interval: {steps}
env_settings: {{env: {env}, num_envs: 1, seed: {seed}}}
torch_settings: {{device: cpu, num_threads: {threads}}}
"""


def threshold_of(env_id: str) -> float | None:
    """-200 on Pendulum; other environments are compared by their returns after the budget."""
    return THRESHOLD if "Pendulum" in env_id else None


def run_mlx(env_id: str, seed: int, steps: int) -> dict:
    """Train with mlx's real controller."""
    config = MLX_CONFIG.format(env=env_id, steps=steps, seed=seed, threads=torch.get_num_threads())
    return measure(lambda: train_mlx(config), threshold_of(env_id), WINDOW)


def run_sb3(env_id: str, seed: int, steps: int) -> dict:
    """Train with Stable-Baselines3's SAC and the same settings."""
    import gymnasium as gym
    from stable_baselines3 import SAC

    model = SAC(
        "MlpPolicy",
        gym.make(env_id),
        learning_rate=1e-3,
        batch_size=256,
        learning_starts=100,
        tau=0.005,
        gamma=0.99,
        train_freq=1,
        gradient_steps=1,
        seed=seed,
        device="cpu",
        verbose=0,
    )
    return measure(lambda: model.learn(total_timesteps=steps), threshold_of(env_id), WINDOW)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--threads", type=int, default=1, help="torch threads, the same for both frameworks")
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--env", default="Pendulum-v1", help="a gymnasium id; other envs than Pendulum report returns only")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows, results = [], {"mlx": [], "sb3": []}
    for seed in args.seeds:
        for name, runner in (("sb3", run_sb3), ("mlx", run_mlx)):
            r = run_isolated(runner, args.env, args.threads, seed, args.steps)
            results[name].append(r)
            solved = r["solved"]
            t, s = ("not reached", "—") if solved is None else (f"{solved[0]:.1f} s", f"{solved[1] / 1000:.1f}k")
            if threshold_of(args.env) is None:  # returns only
                t = s = "—"
            rows.append(f"| {name} | {args.env} | {seed} | {r['steps'] / r['loop']:,.1f} | {t} | {s} | {r['final']:.0f} |")
            print(rows[-1], flush=True)
    print(f"\n| framework | env | seed | env steps/s | time to -200 | steps to -200 | mean of last {WINDOW} after {args.steps // 1000}k |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    med = {}
    for name, rs in results.items():
        sps = statistics.median(r["steps"] / r["loop"] for r in rs)
        solved = [r["solved"] for r in rs if r["solved"] is not None]
        med[name] = sps
        final = statistics.median(r["final"] for r in rs)
        t = k = "—"
        if solved:
            t = f"{statistics.median(s[0] for s in solved):.1f} s ({len(solved)}/{len(rs)})"
            k = f"{statistics.median(s[1] for s in solved) / 1000:.1f}k"
        elif threshold_of(args.env) is not None:
            t = f"not reached (0/{len(rs)})"
        print(f"| **{name} median** | {args.env} | {len(rs)} seeds | {sps:,.1f} | {t} | {k} | {final:.0f} |")
    print(f"\nmlx / SB3 steps per second: {med['mlx'] / med['sb3']:.2f}x")
    timers = results["mlx"][-1]["timers"]
    print("\nWhere mlx's time goes (last seed):")
    for phase, node in sorted(timers["children"].items(), key=lambda kv: -kv[1]["total"]):
        print(f"  {phase:28s} {node['total']:7.2f} s  ({node['count']} calls)")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
