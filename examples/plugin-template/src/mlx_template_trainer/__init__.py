"""A template third-party mlx plugin: the ``reinforce`` trainer (policy gradient with a baseline)."""
