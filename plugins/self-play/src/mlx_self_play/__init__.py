"""Self-play for mlx: the ``self_play`` behavior section (a ghost trainer around any trainer)."""
