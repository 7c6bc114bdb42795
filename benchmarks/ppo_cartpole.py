"""mlx PPO versus Stable-Baselines3 PPO on CartPole-v1, side by side in one run
(each framework and seed in a fresh process, one after the other).

Both use RL-Zoo's tuned hyperparameters (8 envs, n_steps 32, batch 256, lambda 0.8,
gamma 0.98, 20 epochs, learning rate 1e-3 linear, clip 0.2 linear, no entropy bonus, 64x64
tanh networks, 100k steps), the same torch threads (--threads, default 1), and the same
gymnasium environments.

    python benchmarks/ppo_cartpole.py --seeds 1 2 3

Prints a markdown table: environment steps per second (first to last environment step),
wall time of the whole call (with start-up and, for mlx, the checkpoint and ONNX export), and
time (from the first step) and steps until the mean return of the last 20 episodes reaches 475, per framework and seed, plus medians and
mlx's own timer breakdown (where its time goes).
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

THRESHOLD, WINDOW = 475.0, 20
TOTAL_STEPS = 100_000

MLX_CONFIG = """
behaviors:
  {env}:
    trainer: ppo
    hyperparameters:
      batch_size: 256
      buffer_size: 256
      learning_rate: 1.0e-3
      learning_rate_schedule: linear
      epsilon: 0.2
      epsilon_schedule: linear
      beta: 0.0
      lambd: 0.8
      num_epoch: 20
    network_settings: {{hidden_units: 64, num_layers: 2, activation: tanh}}
    reward_signals: {{extrinsic: {{gamma: 0.98}}}}
    time_horizon: 32
    max_steps: {steps}
    summary_freq: {steps}
    checkpoint_interval: {steps}
env_settings: {{env: {env}, num_envs: 8, seed: {seed}}}
torch_settings: {{device: cpu, num_threads: {threads}}}
"""


def run_mlx(env_id: str, seed: int) -> dict:
    """Train with mlx's real controller."""
    config = MLX_CONFIG.format(env=env_id, steps=TOTAL_STEPS, seed=seed, threads=torch.get_num_threads())
    return measure(lambda: train_mlx(config), THRESHOLD, WINDOW)


def run_sb3(env_id: str, seed: int) -> dict:
    """Train with Stable-Baselines3's PPO and the same hyperparameters."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    def linear(initial: float):
        return lambda progress_remaining: progress_remaining * initial

    env = make_vec_env(env_id, n_envs=8, seed=seed)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=32,
        batch_size=256,
        gae_lambda=0.8,
        gamma=0.98,
        n_epochs=20,
        ent_coef=0.0,
        learning_rate=linear(1e-3),
        clip_range=linear(0.2),
        seed=seed,
        device="cpu",
        verbose=0,
    )
    return measure(lambda: model.learn(total_timesteps=TOTAL_STEPS), THRESHOLD, WINDOW)


def fmt_solved(solved: tuple[float, int] | None) -> tuple[str, str]:
    return ("not solved", "—") if solved is None else (f"{solved[0]:.1f} s", f"{solved[1] / 1000:.1f}k")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--threads", type=int, default=1, help="torch threads, the same for both frameworks")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()

    rows, results = [], {"mlx": [], "sb3": []}
    for seed in args.seeds:
        for name, runner in (("sb3", run_sb3), ("mlx", run_mlx)):
            r = run_isolated(runner, "CartPole-v1", args.threads, seed)
            results[name].append(r)
            sps = r["steps"] / r["loop"]
            t, s = fmt_solved(r["solved"])
            rows.append(f"| {name} | {seed} | {sps:,.0f} | {r['wall']:.1f} s | {t} | {s} |")
            print(rows[-1], flush=True)

    print("\n| framework | seed | env steps/s | wall time (100k steps, with start-up) | time to 475 | steps to 475 |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    med = {}
    for name, rs in results.items():
        sps = statistics.median(r["steps"] / r["loop"] for r in rs)
        solved = [r["solved"] for r in rs if r["solved"] is not None]
        t = statistics.median(s[0] for s in solved) if solved else float("nan")
        k = statistics.median(s[1] for s in solved) if solved else float("nan")
        med[name] = (sps, t, k, len(solved))
        print(f"| **{name} median** | {len(rs)} seeds | {sps:,.0f} | | {t:.1f} s ({len(solved)}/{len(rs)} solved) | {k / 1000:.1f}k |")
    print(f"\nmlx / SB3 steps per second: {med['mlx'][0] / med['sb3'][0]:.2f}x; "
          f"time to solve: mlx {med['mlx'][1]:.1f} s vs SB3 {med['sb3'][1]:.1f} s")

    timers = results["mlx"][-1]["timers"]
    total = timers["total"]
    print("\nWhere mlx's time goes (last seed, run_logs/timers.json):")
    for phase, node in sorted(timers["children"].items(), key=lambda kv: -kv[1]["total"]):
        print(f"  {phase:28s} {node['total']:7.2f} s  {100 * node['total'] / total:5.1f}%  ({node['count']} calls)")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
