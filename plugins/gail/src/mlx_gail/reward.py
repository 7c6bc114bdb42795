"""The ``gail`` reward signal: rewards steps a discriminator takes for demonstrated ones.

The discriminator D learns to output 1 on demonstrated steps and 0 on the policy's; the policy
is rewarded ``-log(1 - D(s, a))`` per step (``softplus`` of D's logit, as computed), high where
its steps look demonstrated. Each trainer update trains D on the policy's steps since the
previous update against as many demonstrated steps, with a gradient penalty and, with VAIL, an
adaptive KL constraint on its code.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from mlx_core.demos import load_demos
from mlx_core.env.base import BehaviorSpec
from mlx_core.errors import DemoError
from mlx_core.logs import get_logger
from mlx_core.rewards.base import RewardSignal
from mlx_gail.discriminator import Discriminator, action_vector, gradient_penalty
from mlx_gail.settings import GAILSettings

log = get_logger()

KEY = "reward_signals.gail.demo_path"
#: VAIL: the KL divergence (nats per step) the code is held to, ...
TARGET_KL = 0.5
#: ... the step of the dual ascent on its coefficient beta, per discriminator step, ...
BETA_STEP = 5.0e-4
#: ... and beta's starting value (no constraint until the KL exceeds the target)
INITIAL_BETA = 0.0


class GAILRewardSignal(RewardSignal):
    """Generative adversarial imitation (Ho & Ermon, 2016), optionally with VAIL's bottleneck."""

    label = "GAIL"  # TensorBoard tags read Policy/GAIL Reward, not Policy/Gail Reward

    def __init__(self, spec: BehaviorSpec, settings: GAILSettings, device: torch.device | None = None) -> None:
        super().__init__(settings)
        self.settings: GAILSettings = settings
        self.spec = spec
        self.device = device or torch.device("cpu")
        self.discriminator = Discriminator(spec, settings).to(self.device)
        self.optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=settings.learning_rate)
        self.beta = INITIAL_BETA
        # minibatch order, demonstrated samples, mixing weights and VAIL noise: one seeded stream,
        # checkpointed so that a resumed run draws what the uninterrupted one would have
        self.generator = torch.Generator().manual_seed(int(torch.randint(2**62, ()).item()))
        self.expert_obs, self.expert_actions = self._load_demonstrations()
        self.discriminator.update_normalizer(self.expert_obs)

    def _load_demonstrations(self) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The demonstrated steps that have an action, as tensors on the signal's device.

        A record that ends an episode holds the final observation and no action: left out.
        """
        infos, steps = load_demos(self.settings.demo_path, self.spec, key=KEY)
        acted = steps.acted()
        if len(acted) == 0:
            raise DemoError(
                f"{KEY}: {self.settings.demo_path} holds only episode ends, no steps with an action; "
                "record whole episodes of the expert."
            )
        obs = [torch.as_tensor(o, dtype=torch.float32, device=self.device) for o in acted.observations]
        actions = action_vector(acted.continuous_actions, acted.discrete_actions, self.spec.action_spec, self.device)
        log.info(
            "demonstrations_loaded",
            signal="gail",
            path=str(self.settings.demo_path),
            files=len(infos),
            episodes=sum(i.episodes for i in infos),
            steps=len(acted),
        )
        return obs, actions

    def _policy_inputs(self, batch: dict[str, Any]) -> tuple[list[torch.Tensor], torch.Tensor]:
        obs = [torch.as_tensor(o, dtype=torch.float32, device=self.device) for o in batch["obs"]]
        actions = action_vector(
            batch["continuous_actions"], batch["discrete_actions"], self.spec.action_spec, self.device
        )
        return obs, actions

    def evaluate(self, batch: dict[str, Any]) -> np.ndarray:
        """``strength * -log(1 - D(s, a))`` (or ``log D - log(1 - D)``, see ``reward_form``) per
        step (T,), VAIL's code taken at its mean."""
        obs, actions = self._policy_inputs(batch)
        with torch.inference_mode():
            logits, _ = self.discriminator(obs, actions)
            # softplus(l) = -log(1 - sigmoid(l)); the logit itself is log D - log(1 - D)
            rewards = logits if self.settings.reward_form == "logit" else nn.functional.softplus(logits)
            rewards = rewards * self.strength
        return rewards.cpu().numpy().astype(np.float32)

    def update(self, batch: dict[str, Any]) -> dict[str, float]:
        """``num_epoch`` passes over the policy's steps in minibatches of ``batch_size``, each
        against as many demonstrated steps drawn at random; the means of the update's statistics."""
        policy_obs, policy_actions = self._policy_inputs(batch)
        self.discriminator.update_normalizer(policy_obs)
        n, n_expert = len(policy_actions), len(self.expert_actions)
        totals: list[torch.Tensor] = []
        for _ in range(self.settings.num_epoch):
            for idx in torch.randperm(n, generator=self.generator).split(self.settings.batch_size):
                expert_idx = torch.randint(n_expert, (len(idx),), generator=self.generator)
                idx, expert_idx = idx.to(self.device), expert_idx.to(self.device)
                totals.append(
                    self._step(
                        ([o[expert_idx] for o in self.expert_obs], self.expert_actions[expert_idx]),
                        ([o[idx] for o in policy_obs], policy_actions[idx]),
                    )
                )
        means = torch.stack(totals).mean(dim=0).tolist()
        stats = {
            "Losses/GAIL Loss": means[0],
            "Losses/GAIL Gradient Penalty": means[1],
            "Policy/GAIL Expert Estimate": means[2],
            "Policy/GAIL Policy Estimate": means[3],
        }
        if self.settings.use_vail:
            stats["Policy/GAIL KL"] = means[4]
            stats["Policy/GAIL Beta"] = self.beta
        return stats

    def _step(
        self, expert: tuple[list[torch.Tensor], torch.Tensor], policy: tuple[list[torch.Tensor], torch.Tensor]
    ) -> torch.Tensor:
        """One gradient step of the discriminator; (loss, penalty, D(expert), D(policy), KL) detached."""
        m = len(expert[1])
        noise = self._noise(3, m)  # VAIL's draws for the expert, policy and mixed steps (None without)
        mix = torch.rand(m, generator=self.generator).to(self.device)
        expert_logits, expert_kl = self.discriminator(*expert, noise[0] if noise else None)
        policy_logits, policy_kl = self.discriminator(*policy, noise[1] if noise else None)
        bce = nn.functional.binary_cross_entropy_with_logits
        discrimination_loss = bce(expert_logits, torch.ones_like(expert_logits)) + bce(
            policy_logits, torch.zeros_like(policy_logits)
        )
        penalty = gradient_penalty(self.discriminator, expert, policy, mix, noise[2] if noise else None)
        loss = discrimination_loss + self.settings.gradient_penalty_weight * penalty
        kl = torch.zeros((), device=self.device)
        if expert_kl is not None and policy_kl is not None:
            kl = 0.5 * (expert_kl.mean() + policy_kl.mean())
            loss = loss + self.beta * (kl - TARGET_KL)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        stats = torch.stack(
            [loss, penalty, torch.sigmoid(expert_logits).mean(), torch.sigmoid(policy_logits).mean(), kl]
        ).detach()
        if self.settings.use_vail:
            # dual ascent: beta grows while the code carries more than TARGET_KL, shrinks (to 0) below
            self.beta = max(0.0, self.beta + BETA_STEP * (float(stats[4]) - TARGET_KL))
        return stats

    def _noise(self, count: int, m: int) -> list[torch.Tensor] | None:
        """``count`` (m, encoding_size) standard normal draws for VAIL's code, None without VAIL."""
        if not self.settings.use_vail:
            return None
        size = (count, m, self.settings.encoding_size)
        return list(torch.randn(size, generator=self.generator).to(self.device))

    def state_dict(self) -> dict[str, Any]:
        """Discriminator (with its normaliser), its Adam, VAIL's beta and the sampling stream."""
        return {
            "discriminator": self.discriminator.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "beta": self.beta,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        self.discriminator.load_state_dict(state["discriminator"])
        # Adam keeps the tensors it is given (same dtype and device): a copy keeps its next
        # steps from changing ``state`` (a snapshot the controller may restore again)
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        self.beta = float(state["beta"])
        self.generator.set_state(state["generator"])


def make_gail(
    spec: BehaviorSpec, settings: GAILSettings, device: torch.device | None = None, **_: Any
) -> GAILRewardSignal:
    """Factory registered under the name ``gail``."""
    return GAILRewardSignal(spec, settings, device)
