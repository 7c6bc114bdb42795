"""Imitation on CartPole-v1 from 10 expert episodes: mlx's PPO + GAIL, mlx's BC and PPO with
the environment's reward, then the ``imitation`` library's GAIL (on Stable-Baselines3) on the
same demonstrations, side by side in one call.

1. mlx trains PPO on CartPole-v1 with the environment's reward (RL-Zoo's hyperparameters, as in
   examples/cartpole.yaml), exports it to ONNX, and ``mlx record`` writes 10 episodes of that
   policy (deterministic) to ``expert.demo``.
2. Each setup trains in its own ``mlx run`` process with summaries every 2048 steps; "steps to
   threshold" is the first summary step whose mean episode return (of the episodes finished
   since the previous summary, the task's own reward in every setup) reaches 475 (gymnasium's
   threshold for CartPole-v1); steps/s is steps over the run's training seconds
   (``run_finished``).
3. With ``--imitation-python`` (a separate venv holding ``imitation`` and SB3), the demos are
   converted to transitions (.npz) and ``imitation``'s GAIL trains SB3's PPO with the same
   hyperparameters; its threshold is met when the mean return of the last 20 episodes (SB3's
   episode buffer, the true reward) reaches 475.

    python benchmarks/gail_cartpole.py --imitation-python /tmp/imitation-venv/bin/python

Writes benchmarks/results/gail_cartpole.md (a markdown table) and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

THRESHOLD = 475.0
ENV = "CartPole-v1"
PPO_HYPERPARAMETERS = (
    "{batch_size: 256, buffer_size: 256, learning_rate: 1.0e-3, learning_rate_schedule: linear,"
    " beta: 0.0, epsilon: 0.2, lambd: 0.8, num_epoch: 20}"
)
CONFIG = """
behaviors:
  CartPole-v1:
    trainer: {trainer}
    hyperparameters: {hyperparameters}
    network_settings: {{hidden_units: 64, num_layers: 2}}
    reward_signals: {signals}
    time_horizon: 32
    max_steps: {steps}
    summary_freq: 2048
    checkpoint_interval: {steps}
env_settings: {{env: CartPole-v1, num_envs: 8, seed: {seed}}}
torch_settings: {{device: cpu, num_threads: 1}}
"""


def mlx(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the ``mlx`` CLI of this interpreter."""
    proc = subprocess.run([sys.executable, "-m", "mlx_core.cli", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"mlx {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return proc


def train(work: Path, run_id: str, trainer: str, hyperparameters: str, signals: str, steps: int, seed: int) -> dict:
    """One ``mlx run``; steps to threshold, steps/s and the best summary's mean return."""
    config = work / f"{run_id}.yaml"
    config.write_text(
        CONFIG.format(trainer=trainer, hyperparameters=hyperparameters, signals=signals, steps=steps, seed=seed)
    )
    proc = mlx("run", config.name, "--run-id", run_id, "--force", cwd=work)
    seconds = float(re.findall(r"run_finished\s+seconds=([0-9.]+)", proc.stderr)[-1])
    events = EventAccumulator(str(work / "results" / run_id / ENV), size_guidance={"scalars": 0})
    events.Reload()
    returns = [(e.step, e.value) for e in events.Scalars("Environment/Cumulative Reward")]
    reached = next((step for step, value in returns if value >= THRESHOLD), None)
    return {
        "steps_to_threshold": reached,
        "steps_per_s": steps / seconds,
        "best_return": max(v for _, v in returns),
        "budget": steps,
    }


def demo_to_npz(demo: Path, out: Path) -> int:
    """The demo's transitions (obs, acts, next_obs, dones) for ``imitation``; one agent recorded."""
    from mlx_core.demos import load_demos

    _, steps = load_demos(demo)
    obs, dones = steps.observations[0], np.asarray(steps.dones, bool)
    acted = np.flatnonzero(~dones[:-1])  # a done record is the final observation: no action there
    np.savez(
        out,
        obs=obs[acted],
        acts=steps.discrete_actions[acted, 0],
        next_obs=obs[acted + 1],
        dones=dones[acted + 1],
    )
    return len(acted)


IMITATION_SCRIPT = r"""
import json, sys, time
import numpy as np, torch
from imitation.algorithms.adversarial.gail import GAIL
from imitation.data.types import Transitions
from imitation.rewards.reward_nets import BasicRewardNet
from imitation.util.networks import RunningNorm
from imitation.util.util import make_vec_env
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback

npz, budget, seed, threshold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
torch.set_num_threads(1)
data = np.load(npz)
demos = Transitions(obs=data["obs"], acts=data["acts"], next_obs=data["next_obs"], dones=data["dones"],
                    infos=np.array([{}] * len(data["obs"])))
rng = np.random.default_rng(seed)
venv = make_vec_env("CartPole-v1", n_envs=8, rng=rng)
learner = PPO("MlpPolicy", venv, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20,
              learning_rate=1e-3, clip_range=0.2, ent_coef=0.0, seed=seed,
              policy_kwargs={"net_arch": [64, 64]}, device="cpu")
reward_net = BasicRewardNet(venv.observation_space, venv.action_space, normalize_input_layer=RunningNorm)
trainer = GAIL(demonstrations=demos, demo_batch_size=256, gen_replay_buffer_capacity=512,
               n_disc_updates_per_round=4, venv=venv, gen_algo=learner, reward_net=reward_net,
               allow_variable_horizon=True)
reached = [None]

def after_round(_round):
    buffer = learner.ep_info_buffer
    if reached[0] is None and len(buffer) >= 20 and np.mean([e["r"] for e in list(buffer)[-20:]]) >= threshold:
        reached[0] = learner.num_timesteps

start = time.perf_counter()
trainer.train(budget, callback=after_round)
seconds = time.perf_counter() - start
best = max((e["r"] for e in learner.ep_info_buffer), default=0.0)
print(json.dumps({"steps_to_threshold": reached[0], "steps_per_s": budget / seconds,
                  "best_return": float(np.mean([e["r"] for e in list(learner.ep_info_buffer)[-20:]])),
                  "budget": budget}))
"""


def run_imitation(python: str, npz: Path, budget: int, seed: int) -> dict:
    """``imitation``'s GAIL in its own interpreter; its JSON line."""
    proc = subprocess.run(
        [python, "-c", IMITATION_SCRIPT, str(npz), str(budget), str(seed), str(THRESHOLD)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def row(name: str, result: dict) -> str:
    """One markdown table row."""
    if "error" in result:
        return f"| {name} | failed: {result['error']} | | | |"
    reached = result["steps_to_threshold"]
    steps = f"{reached:,}" if reached is not None else f"not within {result['budget']:,}"
    return f"| {name} | {steps} | {result['steps_per_s']:,.0f} | {result['best_return']:.1f} | {result['budget']:,} |"


def main() -> None:
    """Record the expert, run every setup, write the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--budget", type=int, default=150_000, help="steps per imitation/RL setup")
    parser.add_argument("--imitation-python", default=None, help="interpreter of a venv with imitation and SB3")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "gail_cartpole.md")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="gail-cartpole-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    expert = train(work, "expert", "ppo", PPO_HYPERPARAMETERS, "{extrinsic: {gamma: 0.98}}", 100_000, args.seed)
    onnx = work / "results" / "expert" / ENV / f"{ENV}.onnx"
    demo = work / "expert.demo"
    mlx("record", "expert.yaml", "--policy", str(onnx), "--episodes", "10", "--num-envs", "1",
        "--seed", str(args.seed + 100), "--output", str(demo), cwd=work)  # fmt: skip
    from mlx_core.demos import read_info

    info = read_info(demo)
    print(f"expert: {info.episodes} episodes, {info.steps} records, mean return {info.mean_return:.1f}", flush=True)

    gail = f"{{gail: {{demo_path: {demo}, gamma: 0.98, use_actions: true, learning_rate: 0.0003}}}}"
    results = {
        "mlx PPO + GAIL (no env reward)": train(work, "gail", "ppo", PPO_HYPERPARAMETERS, gail, args.budget, args.seed),
        "mlx BC (trainer bc)": train(
            work, "bc", "bc", f"{{demo_path: {demo}, learning_rate: 0.001, steps_per_update: 512}}",
            "{extrinsic: {}}", 30_000, args.seed,
        ),
        "mlx PPO, env reward (the expert's run)": expert,
    }  # fmt: skip
    for name, result in results.items():
        print(row(name, result), flush=True)
    if args.imitation_python:
        npz = work / "expert.npz"
        print(f"imitation: {demo_to_npz(demo, npz)} transitions", flush=True)
        results["imitation GAIL + SB3 PPO (no env reward)"] = run_imitation(
            args.imitation_python, npz, args.budget, args.seed
        )
        print(row("imitation GAIL + SB3 PPO (no env reward)", results["imitation GAIL + SB3 PPO (no env reward)"]))

    lines = [
        f"# Imitation on CartPole-v1 from {info.episodes} expert episodes (seed {args.seed})",
        "",
        f"Expert: mlx PPO with the environment's reward, exported to ONNX and recorded with `mlx record`: "
        f"{info.episodes} episodes, {info.steps} records, mean return {info.mean_return:.1f}. Threshold: mean "
        f"return {THRESHOLD:.0f}. Machine: {os.cpu_count()} CPUs (shared), torch threads 1, 8 environment copies.",
        "",
        "| setup | steps to threshold | steps/s | best mean return | budget (steps) |",
        "|---|---|---|---|---|",
        *(row(name, result) for name, result in results.items()),
        "",
        f"Total wall time {time.perf_counter() - started:.0f} s. Command: `python benchmarks/gail_cartpole.py"
        + (" --imitation-python ...`" if args.imitation_python else "`"),
    ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
