"""Configuration: attrs settings classes, YAML dialects, and the cattrs converter."""
