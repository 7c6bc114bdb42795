"""Plugin discovery and the registry of types that plugins offer."""
