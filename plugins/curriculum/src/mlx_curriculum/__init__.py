"""mlx-curriculum: lesson-based schedules of environment parameters for mlx."""

__version__ = "0.1.0"
