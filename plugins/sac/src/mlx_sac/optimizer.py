"""The SAC update: twin-Q critic loss, actor loss, entropy-coefficient loss, target update."""

from __future__ import annotations

import math
import threading
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from torch import nn

from mlx_core.training.adam import make_adam
from mlx_core.training.schedules import scheduled
from mlx_sac import functional
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
    backward pass (which reads them) is done, and the actor's once the critics' half (whose
    targets read them) is. An update in which either half fails changes no parameter. The
    random draws are made up front, so a seed gives the same update either way.
    """

    def __init__(
        self,
        network: SACNetwork,
        hp: SACSettings,
        gammas: list[float],
        compiled: bool = True,
        labels: list[str] | None = None,
    ) -> None:
        self.network = network
        # each signal's word in ``Policy/<label> Value Estimate`` (core's ``signal_label``);
        # None: the network's signal names capitalised
        self.labels = labels if labels is not None else [name.capitalize() for name in network.signals]
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
        if network.memory is not None:  # the LSTM learns with the encoder, from the critics' loss
            critic_params += list(network.memory.parameters())
        actor_params += [self.log_alpha_continuous, self.log_alpha_discrete]
        self.params = actor_params + critic_params
        self.actor_adam = make_adam(actor_params, hp.learning_rate)
        self.critic_adam = make_adam(critic_params, hp.learning_rate)
        # the parameters as the update's functions take them (updated in place, never replaced)
        self._actor_weights = network.actor_weights()
        self._critic_weights = network.critic.weights()
        self._target_weights = network.target.weights()
        self._functions = functional.compiled() if compiled else functional.plain()
        # the actor's half of an update runs here when there are threads for both halves
        self._actor_thread = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlx-sac-actor", initializer=torch.set_num_threads, initargs=(1,))
            if torch.get_num_threads() >= 2
            else None
        )

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
        hp, net, run = self.hp, self.network, self._functions
        learning_rate = scheduled(hp.learning_rate, hp.learning_rate_schedule, step, max_steps, 1e-10)
        self.actor_adam.param_groups[0]["lr"] = self.critic_adam.param_groups[0]["lr"] = learning_rate
        alpha_c = self.log_alpha_continuous.exp().detach()
        alpha_d = self.log_alpha_discrete.exp().detach()
        # a recurrent network's batch holds sequences: their first memories and real steps
        features = net.features(batch["obs"], batch.get("memories"), batch.get("valid"))
        n, c = features.shape[0], net.head.continuous_size
        next_noise, noise = torch.randn(2, n, c, device=features.device)  # drawn here: same order on any thread
        for parameter in self.params:  # zero_grad(set_to_none) without its per-call overhead
            parameter.grad = None
        # the order of the two halves' parameter changes (see the class docstring); a failed
        # half leaves every parameter as it was, on one thread or two
        actor_backward_done, critic_losses_done, failed = (threading.Event() for _ in range(3))
        critic_losses: list[torch.Tensor] = []

        def critics() -> None:
            try:
                with torch.no_grad():
                    next_features = net.features(batch["next_obs"], batch.get("next_memories"), batch.get("valid"))
                q_target = run.critic_targets(
                    next_features, batch.get("next_masks"), next_noise, self._actor_weights, self._target_weights,
                    alpha_c, alpha_d, batch["rewards"], batch["done"], self.gammas[:, :, 0],
                )  # fmt: skip
                critic_losses.extend(
                    run.critic_losses(features, batch["continuous"], batch["discrete"], q_target, self._critic_weights, self.offsets)
                )
            except BaseException:
                failed.set()
                raise
            finally:  # also when it failed: the actor's half must not wait forever
                critic_losses_done.set()

        def actor() -> dict[str, float]:
            try:
                with functional.eager_semantics():  # a setting of this thread
                    policy_loss, log_prob, branch_log_probs = run.actor_losses(
                        features.detach(), batch.get("masks"), noise, self._actor_weights, self._critic_weights,
                        alpha_c, alpha_d, self.log_alpha_continuous, self.log_alpha_discrete,
                        self.target_entropy_continuous, self.target_entropy_discrete,
                    )  # fmt: skip
            except BaseException:
                failed.set()
                raise
            finally:  # also when it failed: the critics' half must not wait forever
                actor_backward_done.set()
            critic_losses_done.wait()  # the critics' targets have read the actor's weights
            if failed.is_set():  # the critics' half failed and reports it
                return {}
            self.actor_adam.apply_gradients()
            return self._statistics(critic_losses, policy_loss, log_prob, branch_log_probs, alpha_c, alpha_d, learning_rate)

        def step_critics() -> None:
            actor_backward_done.wait()  # the actor's backward pass has read the critics' weights
            if not failed.is_set():
                self.critic_adam.apply_gradients(hp.max_grad_norm)
                net.soft_update(hp.tau)

        with functional.eager_semantics():
            if self._actor_thread is None:
                critics()
                stats = actor()
                step_critics()
                return stats
            # this thread also computes the next actions: measured with them on the actor's
            # thread, the actor's half ended ~1.2 ms after the critics' (median) and this thread
            # then waited ~0.17 ms more to be woken; with them here, 4% less per update (median
            # of four A/B runs in one process). The statistics are the actor's thread's: it
            # finishes first.
            actor_half = self._actor_thread.submit(actor)
            try:
                critics()
                step_critics()
            finally:  # the actor's half ends within the update, whatever happened here
                futures.wait([actor_half])
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
        q1_loss, q2_loss, q_means = critic_losses
        # one read of the device for every number (the Q means are one per signal)
        stats = torch.cat([torch.stack([q1_loss, q2_loss, policy_loss, entropy_c]), q_means]).tolist()
        out = {
            "Losses/Q1 Loss": stats[0],
            "Losses/Q2 Loss": stats[1],
            "Losses/Policy Loss": stats[2],
            "Policy/Learning Rate": learning_rate,
        }
        # each signal's value estimate: the critics' mean Q of the sampled actions for it
        for label, q_mean in zip(self.labels, stats[4:]):
            out[f"Policy/{label} Value Estimate"] = q_mean
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
