"""The training loop: policies, per-agent trajectories, trainers and the controller."""
