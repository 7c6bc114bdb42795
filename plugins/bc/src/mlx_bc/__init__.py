"""Behavioral cloning for mlx: trainers ``bc``/``offline_bc`` and ``online_bc``, objective ``behavioral_cloning``."""
