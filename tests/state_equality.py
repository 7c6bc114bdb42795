"""Exact comparison of checkpoint states, for the resume tests of several plugins."""

from __future__ import annotations

import torch


def assert_same(a: object, b: object, where: str) -> None:
    """Nested dicts/lists of tensors and plain values are exactly equal (``where`` names the part)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=where)
    else:
        assert a == b, where
