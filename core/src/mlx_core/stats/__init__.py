"""Summary statistics: the reporter trainers write to, and the writers it feeds."""
