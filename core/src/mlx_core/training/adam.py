"""Adam and gradient clipping as trainers here use them, with the per-call overhead trimmed.

The networks trained here are small: an update's gradient step on a CPU takes one or two
milliseconds, and ``torch.optim.Adam.step`` plus ``clip_grad_norm_`` spent about a quarter of
that in Python bookkeeping (grouping tensors, checking options) rather than arithmetic. The
arithmetic stays torch's own: the fused Adam kernel and its foreach norm and scale ops.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

# the private torch ops the short paths call; a torch without one of them (they are not public
# API and may move) gets Optimizer.step and torch.nn.utils.clip_grad_norm_ instead
_PRIVATE_OPS = ("_fused_adam_", "_foreach_norm", "_foreach_mul_", "_foreach_add_")


def private_ops_available() -> bool:
    """True when this torch has every private op the short paths use (checked at each call site
    that chooses a path, so a test can take them away)."""
    return all(hasattr(torch, name) for name in _PRIVATE_OPS)


class LeanAdam(torch.optim.Adam):
    """``torch.optim.Adam(fused=True)`` with :meth:`apply_gradients`, a short path to the fused kernel.

    The short path skips ``Optimizer.step``'s hooks and option handling, clips the gradient
    norm inside the kernel (as its gradient scale, so the gradients are read once) and keeps
    one step counter for parameters that are always stepped together. It is taken for the
    plain configuration (one parameter group, no weight decay, amsgrad or maximize); anything
    else, and a parameter's first step (which creates its moment buffers), goes through
    :meth:`torch.optim.Adam.step`. ``state_dict``/``load_state_dict`` are Adam's own, so
    checkpoints hold ordinary Adam states.
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, eps: float = 1e-8) -> None:
        params = list(params)
        if not private_ops_available():  # torch's defaults, which need none of them
            super().__init__(params, lr=lr, eps=eps)
        else:
            try:
                super().__init__(params, lr=lr, eps=eps, fused=True)
            except (RuntimeError, TypeError):  # a device or build without the fused kernel
                super().__init__(params, lr=lr, eps=eps, foreach=True)
        group = self.param_groups[0]
        self._short_path = (
            bool(group["fused"])
            and len(self.param_groups) == 1
            and not group["amsgrad"]
            and not group["maximize"]
            and group["weight_decay"] == 0
            and not group.get("decoupled_weight_decay", False)
        )
        self._shared_key: tuple[int, ...] | None = None  # the parameters sharing one step counter

    def clear_gradients(self) -> None:
        """Set every parameter's gradient to None: ``zero_grad(set_to_none=True)`` without its
        profiling and hook handling, which cost more than the loop at these sizes."""
        for group in self.param_groups:
            for parameter in group["params"]:
                parameter.grad = None

    def load_state_dict(self, state_dict: dict) -> None:  # type: ignore[override, type-arg]
        """Adam's own; the loaded step counts are separate tensors until shared again."""
        super().load_state_dict(state_dict)
        self._shared_key = None

    @torch.no_grad()
    def apply_gradients(self, max_grad_norm: float | None = None) -> torch.Tensor | None:
        """Clip the joint gradient norm to ``max_grad_norm`` (if given) and take one Adam step for
        every parameter that has a gradient; returns the norm before clipping (or None)."""
        group = self.param_groups[0]
        params = [p for p in group["params"] if p.grad is not None]
        state = self.state
        if not params:
            return None
        if not self._short_path or any(not state.get(p) for p in params):
            norm = clip_grad_norm(params, max_grad_norm) if max_grad_norm is not None else None
            self.step()
            self._shared_key = None
            return norm
        grads = [p.grad for p in params]
        norm = scale = None
        if max_grad_norm is not None:
            norm = _joint_norm(grads)  # type: ignore[arg-type]
            # the kernel divides every gradient by this: clipping without rewriting them
            scale = torch.clamp(norm / max_grad_norm, min=1.0)
        steps = self._advance(params)
        beta1, beta2 = group["betas"]
        torch._fused_adam_(
            params, grads, [state[p]["exp_avg"] for p in params], [state[p]["exp_avg_sq"] for p in params], [],
            steps, amsgrad=False, beta1=beta1, beta2=beta2, lr=group["lr"], weight_decay=0.0,
            eps=group["eps"], maximize=False, grad_scale=scale,
        )  # fmt: skip
        return norm

    def _advance(self, params: list[torch.nn.Parameter]) -> list[torch.Tensor]:
        """Add one to the step count of each of ``params``; returns their count tensors.

        When every parameter with a state is stepped, and their counts are equal, they share
        one counter tensor: one addition per step instead of one per parameter. A step that
        leaves some out gives the stepped ones counters of their own first.
        """
        state = self.state
        key = tuple(map(id, params))
        if key == self._shared_key:
            counter = state[params[0]]["step"]
            counter.add_(1)
            return [counter] * len(params)
        for p in params:  # own counters (they may share one with a parameter not stepped now)
            state[p]["step"] = state[p]["step"].clone()
        steps = [state[p]["step"] for p in params]
        torch._foreach_add_(steps, 1)
        self._shared_key = None
        with_state = sum(1 for p in self.param_groups[0]["params"] if state.get(p))
        if steps and with_state == len(params) and all(bool(s == steps[0]) for s in steps):
            for p in params:
                state[p]["step"] = steps[0]
            self._shared_key = key
        return steps


def make_adam(params: Iterable[torch.nn.Parameter], lr: float, eps: float = 1e-8) -> LeanAdam:
    """Adam that updates every tensor in one fused call when the device supports it.

    Small networks spend most of an optimizer step in per-tensor overhead, which the fused
    kernel removes; devices or builds without it fall back to the multi-tensor version.
    """
    return LeanAdam(params, lr=lr, eps=eps)


@torch.no_grad()
def clip_grad_norm(params: list[torch.nn.Parameter], max_norm: float) -> torch.Tensor:
    """Scale the gradients of ``params`` so their joint L2 norm is at most ``max_norm``.

    The same arithmetic as ``torch.nn.utils.clip_grad_norm_`` (foreach norms, one scale
    factor, no host sync) without its per-call option handling; returns the norm before
    clipping.
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    if not private_ops_available():
        return torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=False)
    total = _joint_norm(grads)
    torch._foreach_mul_(grads, torch.clamp(max_norm / (total + 1e-6), max=1.0))
    return total


def _joint_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """The L2 norm of all ``grads`` together, in two foreach calls and no host sync."""
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
