"""mlx PPO with memory versus sb3-contrib's RecurrentPPO on CartPole-v1 with the velocities
hidden (a partially observed wrapper: the agent sees the cart's position and the pole's angle
only, so it must infer the velocities from what it remembers), side by side in one run (each
framework and seed in a fresh process, one after the other).

Both use RL-Zoo's tuned RecurrentPPO hyperparameters for this task without VecNormalize
(8 envs, n_steps 32, batch 256, lambda 0.8, gamma 0.98, 20 epochs, learning rate 1e-3
linear, clip 0.2 linear, no entropy bonus), an LSTM of 64 units after the observations and
64-unit tanh layers for actor and critic, the same torch threads (--threads, default 1) and
the same gymnasium environments. Differences that remain: mlx has one LSTM shared by actor
and critic (RecurrentPPO here has one each: enable_critic_lstm), and mlx trains on sequences
of sequence_length 32 cut from each agent's trajectories, RecurrentPPO on each env's 32-step
rollout split at episode starts.

    .venv/bin/pip install -r benchmarks/requirements.txt   # stable-baselines3 and sb3-contrib
    .venv/bin/python benchmarks/memory_cartpole.py --seeds 1 2 3

(or, to keep them out of the virtualenv: ``pip install --target /tmp/sb3 --no-deps
stable-baselines3 sb3-contrib cloudpickle`` and ``PYTHONPATH=/tmp/sb3``).

Prints a markdown table: environment steps per second (first to last environment step),
wall time, and time and steps until the mean return of the last 20 episodes reaches 475
(or the best such mean within the budget), per framework and seed, plus medians and mlx's
own timer breakdown (where its time goes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from episode_clock import EpisodeClock, measure, run_isolated, train_mlx  # noqa: E402

THRESHOLD, WINDOW = 475.0, 20
ENV_ID = "CartPoleNoVelocity-v1"


class HideVelocities(gym.ObservationWrapper):
    """CartPole's observation without the cart's and the pole's velocities: [x, theta]."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        low, high = env.observation_space.low[[0, 2]], env.observation_space.high[[0, 2]]
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)

    def observation(self, observation):
        return observation[[0, 2]].astype(np.float32)


def make_no_velocity(**kwargs) -> gym.Env:
    """Entry point of ``CartPoleNoVelocity-v1``."""
    return HideVelocities(gym.make("CartPole-v1", **kwargs))


if ENV_ID not in gym.registry:  # at import, so that the spawned run processes have it too
    gym.register(ENV_ID, entry_point=make_no_velocity)

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
    network_settings:
      hidden_units: 64
      num_layers: 1
      activation: tanh
      memory: {{memory_size: 128, sequence_length: 32}}
    reward_signals: {{extrinsic: {{gamma: 0.98}}}}
    time_horizon: 32
    max_steps: {steps}
    summary_freq: {steps}
    checkpoint_interval: {steps}
env_settings: {{env: {env}, num_envs: 8, seed: {seed}}}
torch_settings: {{device: cpu, num_threads: {threads}}}
"""


def run_mlx(env_id: str, seed: int, steps: int) -> dict:
    """Train with mlx's real controller."""
    config = MLX_CONFIG.format(env=env_id, steps=steps, seed=seed, threads=torch.get_num_threads())
    return measure(lambda: train_mlx(config), THRESHOLD, WINDOW) | {"best": best_mean()}


def run_sb3(env_id: str, seed: int, steps: int) -> dict:
    """Train with sb3-contrib's RecurrentPPO and the same hyperparameters."""
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.env_util import make_vec_env

    def linear(initial: float):
        return lambda progress_remaining: progress_remaining * initial

    env = make_vec_env(env_id, n_envs=8, seed=seed)
    model = RecurrentPPO(
        "MlpLstmPolicy",
        env,
        n_steps=32,
        batch_size=256,
        gae_lambda=0.8,
        gamma=0.98,
        n_epochs=20,
        ent_coef=0.0,
        learning_rate=linear(1e-3),
        clip_range=linear(0.2),
        policy_kwargs={
            "ortho_init": False,
            "lstm_hidden_size": 64,
            "enable_critic_lstm": True,
            "net_arch": {"pi": [64], "vf": [64]},
        },
        seed=seed,
        device="cpu",
        verbose=0,
    )
    return measure(lambda: model.learn(total_timesteps=steps), THRESHOLD, WINDOW) | {"best": best_mean()}


def best_mean() -> float:
    """The best mean of ``WINDOW`` consecutive episode returns of the run."""
    returns = [r for _, _, r in EpisodeClock.episodes]
    means = np.convolve(returns, np.ones(WINDOW) / WINDOW, mode="valid") if len(returns) >= WINDOW else [np.nan]
    return float(np.max(means))


def fmt_solved(solved: tuple[float, int] | None, best: float) -> tuple[str, str]:
    return (f"not solved (best {best:.0f})", "—") if solved is None else (f"{solved[0]:.1f} s", f"{solved[1] / 1000:.1f}k")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--steps", type=int, default=100_000, help="environment steps per run (RL-Zoo: 100k)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, the same for both frameworks")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    parser.add_argument("--only", choices=["mlx", "sb3-contrib"], help="run one framework only")
    args = parser.parse_args()

    frameworks = [(n, r) for n, r in (("sb3-contrib", run_sb3), ("mlx", run_mlx)) if args.only in (None, n)]
    rows, results = [], {name: [] for name, _ in frameworks}
    for seed in args.seeds:
        for name, runner in frameworks:
            r = run_isolated(runner, ENV_ID, args.threads, seed, args.steps)
            results[name].append(r)
            sps = r["steps"] / r["loop"]
            t, s = fmt_solved(r["solved"], r["best"])
            rows.append(f"| {name} | {seed} | {sps:,.0f} | {r['wall']:.1f} s | {t} | {s} |")
            print(rows[-1], flush=True)

    print(f"\n| framework | seed | env steps/s | wall time ({args.steps // 1000}k steps) | time to 475 | steps to 475 |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    med = {}
    for name, rs in results.items():
        sps = statistics.median(r["steps"] / r["loop"] for r in rs)
        solved = [r["solved"] for r in rs if r["solved"] is not None]
        t = statistics.median(s[0] for s in solved) if solved else float("nan")
        k = statistics.median(s[1] for s in solved) if solved else float("nan")
        best = statistics.median(r["best"] for r in rs)
        med[name] = sps
        print(
            f"| **{name} median** | {len(rs)} seeds | {sps:,.0f} | | {t:.1f} s ({len(solved)}/{len(rs)} solved) "
            f"| {k / 1000:.1f}k (best mean {best:.0f}) |"
        )
    if len(med) == 2:
        print(f"\nmlx / RecurrentPPO steps per second: {med['mlx'] / med['sb3-contrib']:.2f}x")
    if "mlx" not in results:
        return
    timers = results["mlx"][-1]["timers"]
    total = timers["total"]
    print("\nWhere mlx's time goes (last seed, run_logs/timers.json):")
    for phase, node in sorted(timers["children"].items(), key=lambda kv: -kv[1]["total"]):
        print(f"  {phase:28s} {node['total']:7.2f} s  {100 * node['total'] / total:5.1f}%  ({node['count']} calls)")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
