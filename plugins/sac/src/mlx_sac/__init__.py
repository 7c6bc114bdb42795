"""Soft actor-critic for mlx (trainer name ``sac``)."""
