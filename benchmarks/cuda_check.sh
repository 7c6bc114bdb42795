#!/usr/bin/env bash
# Trains PPO and SAC on CUDA (torch_settings.device) for a few thousand steps each and checks
# the exported models. For a GPU machine whose python already has torch; missing pure-Python
# packages can be put beside the repository as wheels in .whl/ (pip download them elsewhere).
set -euo pipefail
PY=${PY:-python3}
if compgen -G ".whl/*.whl" > /dev/null; then $PY -m pip install -q --no-deps .whl/*.whl; fi
$PY -m pip install -q --no-deps --no-build-isolation -e core -e plugins/ppo -e plugins/sac
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0))"
OUTDIR=${OUT:-/tmp/mlx-cuda-check}
mkdir -p "$OUTDIR"
cat > /tmp/sac-goal.yaml <<'YAML'
behaviors:
  Goal1DContinuous:
    trainer: sac
    hyperparameters: {batch_size: 128, buffer_size: 20000, learning_rate: 0.001, buffer_init_steps: 500, train_interval: 4, init_entcoef: 0.05}
    network_settings: {hidden_units: 64, num_layers: 2, activation: relu}
    time_horizon: 16
    max_steps: 4000
    summary_freq: 1000
env_settings: {env: Goal1DContinuous, num_envs: 8, seed: 1}
YAML
$PY -m mlx_core.cli run examples/goal1d.yaml --run-id ppo-cuda --torch-device cuda --results-dir /tmp/r --force 2> "$OUTDIR/ppo.log"
$PY -m mlx_core.cli run /tmp/sac-goal.yaml --run-id sac-cuda --torch-device cuda --results-dir /tmp/r --force 2> "$OUTDIR/sac.log"
$PY -m mlx_core.cli run examples/cartpole.yaml --run-id cartpole-cuda --torch-device cuda --results-dir /tmp/r --force 2> "$OUTDIR/cartpole.log"
# the two-behavior simulator, launched twice as an executable, over gRPC
cat > /tmp/arena.yaml <<'YAML'
env_settings: {env: examples/simulator/two_behaviors.py, num_envs: 2, base_port: 6105, seed: 1}
behaviors:
  Mover:
    trainer: ppo
    max_steps: 12000
    time_horizon: 32
    summary_freq: 3000
    hyperparameters: {batch_size: 64, buffer_size: 512, learning_rate: 0.001, beta: 0.005, num_epoch: 3}
    network_settings: {hidden_units: 32, num_layers: 2, normalize: true}
  Picker:
    trainer: ppo
    max_steps: 12000
    time_horizon: 32
    summary_freq: 3000
    hyperparameters: {batch_size: 64, buffer_size: 512, learning_rate: 0.001, beta: 0.005, num_epoch: 3}
    network_settings: {hidden_units: 32, num_layers: 2}
YAML
$PY -m mlx_core.cli run /tmp/arena.yaml --run-id arena-cuda --torch-device cuda --results-dir /tmp/r --force 2> "$OUTDIR/arena.log"
grep -h "Mean Reward" "$OUTDIR/arena.log" | tail -2
grep -h trainer_created "$OUTDIR"/*.log
$PY -m mlx_core.cli eval /tmp/r/ppo-cuda/Goal1DDiscrete/Goal1DDiscrete.onnx --env Goal1DDiscrete --episodes 50
$PY -m mlx_core.cli eval /tmp/r/sac-cuda/Goal1DContinuous/Goal1DContinuous.onnx --env Goal1DContinuous --episodes 50
$PY -m mlx_core.cli eval /tmp/r/cartpole-cuda/CartPole-v1/CartPole-v1.onnx --env CartPole-v1 --episodes 10
cp /tmp/r/cartpole-cuda/run_logs/timers.json "$OUTDIR/cartpole-timers.json"
