"""Intrinsic rewards for mlx: reward signals ``curiosity`` (ICM) and ``rnd`` (random network distillation)."""
