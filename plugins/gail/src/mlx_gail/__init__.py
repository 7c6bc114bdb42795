"""Generative adversarial imitation learning for mlx (reward signal ``gail``)."""
