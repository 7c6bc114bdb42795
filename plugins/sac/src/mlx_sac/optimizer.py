"""The SAC update: twin-Q critic loss, actor loss, entropy-coefficient loss, target update."""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from torch import nn

from mlx_core.training.adam import make_adam
from mlx_core.training.schedules import scheduled
from mlx_sac.networks import SACNetwork
from mlx_sac.settings import SACSettings


class SACOptimizer:
    """Owns SAC's Adam optimizers (one for the critics, one for the actor and entropy
    coefficients) and its update.

    Critics, actor and entropy coefficients are updated simultaneously, as in the original
    SAC implementation: their losses are computed from the same parameters (the actor's loss
    goes through the critics with their weights as constants) and each reaches only its own
    parameters, which its own Adam then steps.

    The critics' part (targets, Q losses, their backward pass, their Adam step and the target
    update) and the actor's part (policy and entropy-coefficient losses, their backward pass,
    their Adam step) share no gradients, so with ``torch_settings.num_threads`` >= 2 they run
    side by side on two threads, one each. The critics' weights change only once the actor's
    backward pass (which reads them) is done, and the actor's once the next actions (which the
    critics' targets read) are computed. The random draws are made up front, so a seed gives
    the same update either way.
    """

    def __init__(self, network: SACNetwork, hp: SACSettings, gammas: list[float]) -> None:
        self.network = network
        self.hp = hp
        spec = network.spec.action_spec
        device = next(network.parameters()).device
        self.gammas = torch.tensor(gammas, device=device).view(1, -1, 1)  # (1, signals, 1)
        self.branches = list(spec.discrete_branches)
        # one entropy coefficient for the continuous actions, one per discrete branch
        self.log_alpha_continuous = nn.Parameter(torch.full((1,), math.log(hp.init_entcoef), device=device))
        self.log_alpha_discrete = nn.Parameter(
            torch.full((max(1, len(self.branches)),), math.log(hp.init_entcoef), device=device)
        )
        self.target_entropy_continuous = -float(spec.continuous_size)
        self.offsets = torch.tensor([0] + self.branches[:-1], device=device, dtype=torch.long).cumsum(0)
        self.target_entropy_discrete = [hp.discrete_target_entropy_scale * math.log(b) for b in self.branches]
        actor_params = list(network.actor_body.parameters()) + list(network.head.parameters())
        critic_params = list(network.critic.parameters()) + list(network.encoder.parameters())
        actor_params += [self.log_alpha_continuous, self.log_alpha_discrete]
        self.params = actor_params + critic_params
        self.actor_adam = make_adam(actor_params, hp.learning_rate)
        self.critic_adam = make_adam(critic_params, hp.learning_rate)
        # the actor's half of an update runs here when there are threads for both halves
        self._actor_thread = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlx-sac-actor", initializer=torch.set_num_threads, initargs=(1,))
            if torch.get_num_threads() >= 2
            else None
        )

    def _policy_terms(
        self, features: torch.Tensor, masks: torch.Tensor | None, noise: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Continuous actions (n, c) and log-probs (n,), and each branch's log-probs (n, k)."""
        head = self.network.head
        n = features.shape[0]
        continuous, log_prob = (features.new_zeros(n, 0), features.new_zeros(n))
        if head.continuous_size:
            continuous, log_prob = head.rsample(features, noise)
        branch_log_probs = head.discrete.branch_log_probs(features, masks) if head.discrete is not None else []
        return continuous, log_prob, branch_log_probs

    def _soft_value(
        self, q: torch.Tensor, log_prob: torch.Tensor, branch_log_probs: list[torch.Tensor], alpha_c: torch.Tensor, alpha_d: torch.Tensor
    ) -> torch.Tensor:
        """V = E_pi[Q - alpha log pi] per signal (n, signals); q is (n, signals, choices)."""
        if not branch_log_probs:
            return q[:, :, 0] - alpha_c * log_prob.unsqueeze(1)
        value = q.new_zeros(q.shape[:2])
        for b, (logp, part) in enumerate(zip(branch_log_probs, torch.split(q, self.branches, dim=2))):
            value = value + (logp.exp().unsqueeze(1) * (part - alpha_d[b] * logp.unsqueeze(1))).sum(-1)
        if self.network.head.continuous_size:
            value = value - alpha_c * log_prob.unsqueeze(1)
        return value

    def _taken(self, q: torch.Tensor, discrete: torch.Tensor) -> torch.Tensor:
        """Q of the actions in the batch (n, signals): one column, or the sum over branches of
        the chosen choice's column."""
        if not self.branches:
            return q[:, :, 0]
        offsets = self.offsets
        index = (discrete + offsets).unsqueeze(1).expand(-1, q.shape[1], -1)  # (n, signals, branches)
        return q.gather(2, index).sum(-1)

    def update(self, batch: dict[str, Any], step: int, max_steps: int) -> dict[str, float]:
        """One gradient step of critics, actor and entropy coefficients, then the target update."""
        if self._actor_thread is None:
            return self._update(batch, step, max_steps)
        # one core per half, and no multi-threaded kernel in between: its idle threads spin
        # for a while after it and would take a core from the halves of the next update
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._update(batch, step, max_steps)
        finally:
            torch.set_num_threads(threads)

    def _update(self, batch: dict[str, Any], step: int, max_steps: int) -> dict[str, float]:
        hp, net = self.hp, self.network
        learning_rate = scheduled(hp.learning_rate, hp.learning_rate_schedule, step, max_steps, 1e-10)
        self.actor_adam.param_groups[0]["lr"] = self.critic_adam.param_groups[0]["lr"] = learning_rate
        alpha_c = self.log_alpha_continuous.exp().detach()
        alpha_d = self.log_alpha_discrete.exp().detach()
        masks = batch.get("masks")
        features = net.encoder(batch["obs"])
        n, c = features.shape[0], net.head.continuous_size
        next_noise, noise = torch.randn(2, n, c, device=features.device)  # drawn here: same order on any thread
        for parameter in self.params:  # zero_grad(set_to_none) without its per-call overhead
            parameter.grad = None
        # the order of the two halves' parameter changes (see the class docstring), and the
        # critics' losses for the statistics, which the actor's thread puts together
        next_actions_done, actor_backward_done, critic_losses_done = threading.Event(), threading.Event(), threading.Event()
        critic_losses: list[torch.Tensor] = []

        @torch.no_grad()
        def next_policy() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor]]:
            next_features = net.encoder(batch["next_obs"])
            next_actor = net.actor_body.tower(next_features, 0)
            return next_features, *self._policy_terms(next_actor, batch.get("next_masks"), next_noise)

        def critics() -> tuple[torch.Tensor, torch.Tensor]:
            q1, q2 = net.critic(features, batch["continuous"])
            # targets: r + gamma * (1 - done) * V_target(s')
            with torch.no_grad():
                next_features, next_continuous, next_log_prob, next_branch_log_probs = next_policy()
                next_actions_done.set()
                target_q1, target_q2 = net.target(next_features, next_continuous)
                next_value = self._soft_value(torch.min(target_q1, target_q2), next_log_prob, next_branch_log_probs, alpha_c, alpha_d)
                not_done = (1.0 - batch["done"]).unsqueeze(1)
                q_target = batch["rewards"] + self.gammas[:, :, 0] * not_done * next_value  # (n, signals)
            q1_loss = 0.5 * (self._taken(q1, batch["discrete"]) - q_target).square().mean()
            q2_loss = 0.5 * (self._taken(q2, batch["discrete"]) - q_target).square().mean()
            (q1_loss + q2_loss).backward()
            return q1_loss.detach(), q2_loss.detach()

        def actor() -> dict[str, float]:
            try:
                return actor_losses()
            finally:  # also when it failed: the critics' thread must not wait forever
                actor_backward_done.set()

        def actor_losses() -> dict[str, float]:
            # maximise E[min Q(s, pi(s)) - alpha log pi(s)] through the critics' weights as
            # constants (the backward pass then skips their weight gradients, about a third of it)
            actor_features = net.actor_body.tower(features.detach(), 0)
            continuous, log_prob, branch_log_probs = self._policy_terms(actor_features, masks, noise)
            pi_q1, pi_q2 = net.critic(features.detach(), continuous, detach=True)
            policy_value = self._soft_value(torch.min(pi_q1, pi_q2), log_prob, branch_log_probs, alpha_c, alpha_d)
            policy_loss = -policy_value.sum(1).mean()
            # entropy coefficients: move each policy entropy towards its target
            loss = policy_loss
            if c:
                loss = loss - (self.log_alpha_continuous * (log_prob.detach() + self.target_entropy_continuous)).mean()
            for b, logp in enumerate(branch_log_probs):
                entropy = -(logp.exp() * logp).sum(-1).detach()
                loss = loss + (self.log_alpha_discrete[b] * (entropy - self.target_entropy_discrete[b])).mean()
            loss.backward()
            actor_backward_done.set()
            next_actions_done.wait()
            self.actor_adam.apply_gradients()
            critic_losses_done.wait()
            with torch.no_grad():
                return self._statistics(critic_losses, policy_loss, log_prob, branch_log_probs, alpha_c, alpha_d, learning_rate)

        def step_critics() -> None:
            actor_backward_done.wait()
            self.critic_adam.apply_gradients(hp.max_grad_norm)
            net.soft_update(hp.tau)

        def critic_losses_of() -> None:
            try:
                critic_losses.extend(critics())
            finally:  # also when it failed: the actor's thread must not wait forever
                next_actions_done.set()
                critic_losses_done.set()

        if self._actor_thread is None:
            critic_losses_of()
            stats = actor()
            step_critics()
            return stats
        # this thread also computes the next actions: measured with them on the actor's thread,
        # the actor's half ended ~1.2 ms after the critics' (median) and this thread then waited
        # ~0.17 ms more to be woken; with them here, 4% less per update (median of four A/B
        # runs in one process). The statistics are the actor's thread's: it finishes first.
        actor_half = self._actor_thread.submit(actor)
        critic_losses_of()
        step_critics()
        return actor_half.result()

    def _statistics(
        self,
        critic_losses: list[torch.Tensor],
        policy_loss: torch.Tensor,
        log_prob: torch.Tensor,
        branch_log_probs: list[torch.Tensor],
        alpha_c: torch.Tensor,
        alpha_d: torch.Tensor,
        learning_rate: float,
    ) -> dict[str, float]:
        """An update's losses, entropy coefficients and entropy as TensorBoard names them."""
        c = self.network.head.continuous_size
        entropy_c = -log_prob.mean() if c else log_prob.new_zeros(())
        stats = torch.stack([*critic_losses, policy_loss, entropy_c]).tolist()
        out = {
            "Losses/Q1 Loss": stats[0],
            "Losses/Q2 Loss": stats[1],
            "Losses/Policy Loss": stats[2],
            "Policy/Learning Rate": learning_rate,
        }
        if c:
            out["Policy/Continuous Entropy Coeff"] = float(alpha_c)
            out["Policy/Entropy"] = stats[3]
        if self.branches:
            out["Policy/Discrete Entropy Coeff"] = float(alpha_d.mean())
            out["Policy/Entropy"] = float(sum(-(lp.exp() * lp).sum(-1).mean().item() for lp in branch_log_probs))
        return out

    def state_dict(self) -> dict[str, Any]:
        """Optimizer states and entropy coefficients."""
        return {
            "actor_adam": self.actor_adam.state_dict(),
            "critic_adam": self.critic_adam.state_dict(),
            "log_alpha_continuous": self.log_alpha_continuous.detach().clone(),
            "log_alpha_discrete": self.log_alpha_discrete.detach().clone(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output (or that of earlier versions, with one Adam)."""
        if "adam" in state:
            state = {**state, **self._split_single_adam(state["adam"])}
        self.actor_adam.load_state_dict(state["actor_adam"])
        self.critic_adam.load_state_dict(state["critic_adam"])
        with torch.no_grad():
            self.log_alpha_continuous.copy_(state["log_alpha_continuous"])
            self.log_alpha_discrete.copy_(state["log_alpha_discrete"])

    def _split_single_adam(self, single: dict[str, Any]) -> dict[str, Any]:
        """Checkpoints written before the two halves had an Adam each held one Adam over the
        actor's, the critics' and then the entropy coefficients' parameters: its per-parameter
        states, dealt out to the two Adams."""
        n_actor = len(self.actor_adam.param_groups[0]["params"]) - 2  # without the two coefficients
        n_critic = len(self.critic_adam.param_groups[0]["params"])
        old_index = {
            "actor_adam": [*range(n_actor), n_actor + n_critic, n_actor + n_critic + 1],
            "critic_adam": list(range(n_actor, n_actor + n_critic)),
        }
        group = {k: v for k, v in single["param_groups"][0].items() if k != "params"}
        split = {}
        for name, indices in old_index.items():
            states = {new: single["state"][old] for new, old in enumerate(indices) if old in single["state"]}
            split[name] = {"state": states, "param_groups": [{**group, "params": list(range(len(indices)))}]}
        return split
