"""Adam as trainers here use it: the fused kernel where the device has one."""

from __future__ import annotations

from collections.abc import Iterable

import torch


def make_adam(params: Iterable[torch.nn.Parameter], lr: float, eps: float = 1e-8) -> torch.optim.Adam:
    """Adam that updates every tensor in one fused call when the device supports it.

    Small networks spend most of an optimizer step in per-tensor overhead, which the fused
    kernel removes; devices or builds without it fall back to the multi-tensor version.
    """
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, eps=eps, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr, eps=eps, foreach=True)
