"""The ``curiosity`` reward signal: the intrinsic curiosity module (ICM, Pathak et al. 2017).

An encoder maps observations to ``encoding_size`` features. An inverse model predicts the
action taken from the features of a step's observation and of the next one, which teaches the
encoder what the agent can influence; a forward model predicts the next features from the
features and the action. The reward of a step is the forward model's error there,
``strength * 0.5 * ||predicted - actual next features||^2``: high where the agent has not yet
learned what its actions do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mlx_core.env.base import BehaviorSpec
from mlx_curiosity.intrinsic import IntrinsicSignal
from mlx_curiosity.networks import StateEncoder, mlp
from mlx_curiosity.settings import CuriositySettings

FORWARD_WEIGHT = 0.2  # the paper's beta: the share of the forward loss in the models' joint loss


class CuriositySignal(IntrinsicSignal):
    """ICM: encoder, inverse model and forward model, trained together by one Adam optimizer
    on ``(1 - FORWARD_WEIGHT) * inverse loss + FORWARD_WEIGHT * forward loss``.

    Both losses shape the encoding: the forward loss alone would shrink every encoding towards
    one point, where the forward error (and so the reward) vanishes, and the inverse loss keeps
    the encodings of states apart where the action tells them apart. The encodings are squashed
    into (-1, 1), so the reward of a step is at most ``strength * 2 * encoding_size``.
    """

    def __init__(self, spec: BehaviorSpec, settings: CuriositySettings, device: torch.device | None = None) -> None:
        super().__init__(spec, settings, device)
        net = settings.network_settings
        actions = spec.action_spec
        self.branches = list(actions.discrete_branches)
        self.action_size = actions.continuous_size + sum(self.branches)
        size = settings.encoding_size
        self.encoder = StateEncoder(spec, net, size, bounded=True)
        self.inverse_model = mlp(2 * size, net.hidden_units, 1, self.action_size, net.activation)
        self.forward_model = mlp(size + self.action_size, net.hidden_units, 1, size, net.activation)
        self.networks = nn.ModuleDict(
            {"encoder": self.encoder, "inverse_model": self.inverse_model, "forward_model": self.forward_model}
        )
        self.setup()

    def _actions(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The batch's continuous actions (T, c), discrete actions (T, branches) and both as the
        forward model's input (T, c + sum(branches)): continuous values, then one-hot branches."""
        continuous = torch.as_tensor(batch["continuous_actions"], dtype=torch.float32, device=self.device)
        discrete = torch.as_tensor(batch["discrete_actions"], dtype=torch.int64, device=self.device)
        one_hots = [F.one_hot(discrete[:, b], n).float() for b, n in enumerate(self.branches)]
        encoded = torch.cat([continuous.reshape(len(discrete), -1), *one_hots], dim=1)
        return continuous, discrete, encoded

    def _forward_error(
        self, encoding: torch.Tensor, next_encoding: torch.Tensor, actions: torch.Tensor
    ) -> torch.Tensor:
        """0.5 * squared error of the forward model's predicted next encoding, per step (T,)."""
        predicted = self.forward_model(torch.cat([encoding, actions], dim=1))
        return 0.5 * (predicted - next_encoding).square().sum(dim=1)

    def _encode_pair(self, obs: list[torch.Tensor], next_obs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Encodings of ``obs`` and ``next_obs`` (n rows each), in one pass of the encoder: on
        small networks each call costs more than its rows."""
        both = self.encoder([torch.cat([o, n]) for o, n in zip(obs, next_obs)])
        return both[: len(both) // 2], both[len(both) // 2 :]

    def evaluate(self, batch: dict[str, Any]) -> np.ndarray:
        """``strength`` times the forward model's error at each step (T,)."""
        with torch.inference_mode():
            _, _, actions = self._actions(batch)
            encoding, next_encoding = self._encode_pair(self.tensors(batch["obs"]), self.tensors(batch["next_obs"]))
            error = self._forward_error(encoding, next_encoding, actions)
        return error.cpu().numpy().astype(np.float32) * self.strength

    def _inverse_loss(self, logits: torch.Tensor, continuous: torch.Tensor, discrete: torch.Tensor) -> torch.Tensor:
        """Squared error of the continuous actions plus the cross-entropy of each branch."""
        size = continuous.shape[1] if continuous.dim() == 2 else 0
        loss = logits.new_zeros(())
        if size:
            loss = loss + (logits[:, :size] - continuous).square().sum(dim=1).mean()
        for b, branch_logits in enumerate(logits[:, size:].split(self.branches, dim=1)):
            loss = loss + F.cross_entropy(branch_logits, discrete[:, b])
        return loss

    def update(self, batch: dict[str, Any]) -> dict[str, float]:
        """One pass over ``batch`` in minibatches; returns the mean forward and inverse losses."""
        obs, next_obs = self.tensors(batch["obs"]), self.tensors(batch["next_obs"])
        continuous, discrete, actions = self._actions(batch)
        self.encoder.update_normalizer(obs)
        losses = []  # (forward, inverse) per minibatch, detached, read once at the end
        features = None
        if self.encoder.fixed_features:  # vector observations: normalised once, not per minibatch
            with torch.no_grad():
                features = self.encoder.observations([torch.cat([o, n]) for o, n in zip(obs, next_obs)])
            features = torch.stack(features.chunk(2))  # (2, T, features): step and next step
        for idx in self.minibatches(len(actions)):
            if features is not None:
                pair = self.encoder.head(features[:, idx])
                encoding, next_encoding = pair[0], pair[1]
            else:
                encoding, next_encoding = self._encode_pair([o[idx] for o in obs], [o[idx] for o in next_obs])
            logits = self.inverse_model(torch.cat([encoding, next_encoding], dim=1))
            inverse_loss = self._inverse_loss(logits, continuous[idx], discrete[idx])
            forward_loss = self._forward_error(encoding, next_encoding, actions[idx]).mean()
            self.step((1 - FORWARD_WEIGHT) * inverse_loss + FORWARD_WEIGHT * forward_loss)
            losses.append(torch.stack([forward_loss.detach(), inverse_loss.detach()]))
        forward_mean, inverse_mean = torch.stack(losses).mean(dim=0).tolist()
        return {"Forward Loss": forward_mean, "Inverse Loss": inverse_mean}


def make_curiosity(
    spec: BehaviorSpec, settings: CuriositySettings, device: torch.device | None = None, **_: Any
) -> CuriositySignal:
    """Factory registered under the name ``curiosity``."""
    return CuriositySignal(spec, settings, device)
