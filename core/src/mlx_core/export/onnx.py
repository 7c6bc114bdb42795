"""Exports a policy's actor to ONNX, for inference outside mlx.

Inputs: ``obs_0`` ... ``obs_k`` (batch, *shape) float32 and, for discrete actions,
``action_masks`` (batch, sum(branches)) float32 (1 = allowed). Outputs, as ML-Agents exports
them, deterministic and sampled:

- ``continuous_actions`` (batch, size): the most likely action, in [-1, 1];
- ``discrete_actions`` (batch, branches) int64: the most likely allowed choice per branch;
- ``stochastic_continuous_actions`` / ``stochastic_discrete_actions``: a draw from the policy
  (the graph holds its own random ops), as the agent acted while training.

A recurrent policy (``network_settings.memory``) also takes ``recurrent_in`` (batch,
memory_size) float32, each agent's memory (zeros at an episode's start; the actor's LSTM only,
a separate critic's is left out), and returns ``recurrent_out``, the memory to feed at the
agent's next step (the names ML-Agents uses).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mlx_core.training.policy import Policy

OPSET = 17


class _DeterministicActor(nn.Module):
    """The policy network's actor path: ``actor_features(obs)`` then ``head`` (an ActionHead)."""

    def __init__(self, policy: Policy) -> None:
        super().__init__()
        self.network: Any = policy.network
        self.has_mask = policy.spec.action_spec.is_discrete
        self.continuous = policy.spec.action_spec.is_continuous
        self.n_obs = len(policy.spec.observation_specs)
        self.recurrent = policy.memory_size > 0

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        obs = list(inputs[: self.n_obs])
        mask = inputs[self.n_obs] > 0.5 if self.has_mask else None
        outputs = []
        if self.recurrent:
            features, memories = self.network.actor_features_recurrent(obs, inputs[-1])
        else:
            features = self.network.actor_features(obs)
        for deterministic in (True, False):
            continuous, discrete, _ = self.network.head.sample(features, mask, deterministic=deterministic)
            if self.continuous:
                outputs.append(torch.clamp(continuous, -1.0, 1.0))
            if self.has_mask:
                outputs.append(discrete)
        if self.recurrent:
            outputs.append(memories)
        return tuple(outputs)


def export_onnx(policy: Policy, path: Path) -> Path:
    """Write ``<path>.onnx`` for ``policy`` and return its path."""
    spec = policy.spec
    module = _DeterministicActor(policy).cpu().eval()
    dummy = [torch.zeros(1, *o.shape) for o in spec.observation_specs]
    input_names = [f"obs_{i}" for i in range(len(dummy))]
    if spec.action_spec.is_discrete:
        dummy.append(torch.ones(1, sum(spec.action_spec.discrete_branches)))
        input_names.append("action_masks")
    kinds = (["continuous_actions"] if spec.action_spec.is_continuous else []) + (
        ["discrete_actions"] if spec.action_spec.is_discrete else []
    )
    output_names = kinds + [f"stochastic_{kind}" for kind in kinds]
    if policy.memory_size:  # the actor's memory only (a separate critic's is not needed to act)
        dummy.append(torch.zeros(1, getattr(policy.network, "actor_memory_size", policy.memory_size)))
        input_names.append("recurrent_in")
        output_names.append("recurrent_out")
    out = Path(str(path) + ".onnx")
    tmp = out.with_suffix(".onnx.tmp")
    device = next(policy.network.parameters()).device
    policy.network.cpu()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                tuple(dummy),
                str(tmp),
                input_names=input_names,
                output_names=output_names,
                dynamic_axes={name: {0: "batch"} for name in input_names + output_names},
                opset_version=OPSET,
                dynamo=False,
            )
        tmp.replace(out)
    finally:
        policy.network.to(device)
        tmp.unlink(missing_ok=True)  # a failed export leaves the previous model and no partial file
    return out
