"""Proximal Policy Optimization for mlx (trainer name ``ppo``)."""
