"""Reading ML-Agents' ``.demo`` files (work in progress: recognition only)."""

from __future__ import annotations


def looks_like_mlagents(head: bytes) -> bool:
    """True when ``head`` (a file's first bytes) starts like an ML-Agents demonstration."""
    return False
