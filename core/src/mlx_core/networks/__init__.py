"""Policy and value networks: encoders, normalizer, action heads, actor-critic."""
