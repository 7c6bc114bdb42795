"""Test plugin: the ``faulty`` trainer (PPO that fails or dawdles on request)."""
