"""Action heads: a Gaussian for continuous actions and masked categoricals for discrete branches.

Log-probabilities and entropies are computed in closed form on tensors (no
``torch.distributions`` objects), because the update calls them on every minibatch.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mlx_core.env.base import ActionSpec

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
# A logit this low has probability 0 in float32 without producing NaNs in log_softmax.
_MASKED_LOGIT = -1.0e8


def branch_log_probs(logits: torch.Tensor, mask: torch.Tensor | None, branches: list[int]) -> list[torch.Tensor]:
    """Each branch's log-probabilities (n, size) from all branches' logits (n, sum of sizes);
    masked choices at ~-1e8. In TorchScript's subset of Python (SAC compiles its update
    around it: ``mlx_sac.functional``)."""
    if mask is not None:
        logits = logits.masked_fill(~mask, -1.0e8)  # _MASKED_LOGIT (TorchScript reads no global floats)
    if len(branches) == 1:
        return [torch.log_softmax(logits, dim=-1)]
    return [torch.log_softmax(part, dim=-1) for part in torch.split(logits, branches, dim=-1)]


class ActionHead(nn.Module):
    """Maps features to an action distribution over a behavior's continuous and discrete actions.

    The joint log-probability of an action is the sum over continuous dimensions and discrete
    branches, so the PPO ratio is one number per agent step.
    """

    def __init__(self, in_size: int, action_spec: ActionSpec) -> None:
        super().__init__()
        self.continuous_size = action_spec.continuous_size
        self.branches = tuple(action_spec.discrete_branches)
        if self.continuous_size:
            self.mu = nn.Linear(in_size, self.continuous_size)
            nn.init.orthogonal_(self.mu.weight, 0.01)
            nn.init.zeros_(self.mu.bias)
            # state-independent log standard deviation, as in SB3 and ML-Agents
            self.log_std = nn.Parameter(torch.zeros(self.continuous_size))
        if self.branches:
            self.logits = nn.Linear(in_size, sum(self.branches))
            nn.init.orthogonal_(self.logits.weight, 0.01)
            nn.init.zeros_(self.logits.bias)

    def branch_log_probs(self, features: torch.Tensor, mask: torch.Tensor | None) -> list[torch.Tensor]:
        """Log-probabilities of every choice, one (n, branch_size) tensor per branch (masked choices ~ -1e8)."""
        logits = nn.functional.linear(features, self.logits.weight, self.logits.bias)  # no Module call overhead
        return branch_log_probs(logits, mask, list(self.branches))

    def sample(
        self, features: torch.Tensor, mask: torch.Tensor | None, deterministic: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Draw actions; returns (continuous (n, c), discrete (n, b) int64, log_prob (n,))."""
        n = features.shape[0]
        log_prob_terms: list[torch.Tensor] = []
        continuous = features.new_zeros(n, 0)
        discrete = torch.zeros(n, 0, dtype=torch.long, device=features.device)
        if self.continuous_size:
            mu = self.mu(features)
            if deterministic:
                continuous = mu
            else:
                noise = torch.randn_like(mu)
                continuous = mu + noise * self.log_std.exp()
                log_prob_terms.append((-0.5 * noise.square() - self.log_std - _LOG_SQRT_2PI).sum(-1))
        if self.branches:
            columns = []
            for branch_log_probs in self.branch_log_probs(features, mask):
                if deterministic:
                    choice = branch_log_probs.argmax(-1, keepdim=True)
                else:
                    choice = _inverse_cdf_sample(branch_log_probs.exp())  # (n, 1)
                    log_prob_terms.append(branch_log_probs.gather(-1, choice).squeeze(-1))
                columns.append(choice)
            discrete = columns[0] if len(columns) == 1 else torch.cat(columns, dim=-1)
        log_prob = _total(log_prob_terms) if log_prob_terms else features.new_zeros(n)
        return continuous, discrete, log_prob

    def evaluate(
        self,
        features: torch.Tensor,
        mask: torch.Tensor | None,
        continuous: torch.Tensor,
        discrete: torch.Tensor,
        with_entropy: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Log-probability (n,) and entropy (n,) of given actions under the current policy.

        ``with_entropy=False`` returns None for the entropy and adds nothing for it to the
        autograd graph (PPO without an entropy bonus).
        """
        log_prob_terms: list[torch.Tensor] = []
        entropy_terms: list[torch.Tensor] = []
        if self.continuous_size:
            mu = self.mu(features)
            z = (continuous - mu) / self.log_std.exp()
            log_prob_terms.append((-0.5 * z.square() - self.log_std - _LOG_SQRT_2PI).sum(-1))
            if with_entropy:
                entropy_terms.append((0.5 + _LOG_SQRT_2PI + self.log_std).sum().expand(features.shape[0]))
        if self.branches:
            for i, branch_log_probs in enumerate(self.branch_log_probs(features, mask)):
                log_prob_terms.append(branch_log_probs.gather(-1, discrete[:, i : i + 1]).squeeze(-1))
                if with_entropy:
                    entropy_terms.append(-(branch_log_probs.exp() * branch_log_probs).sum(-1))
        return _total(log_prob_terms), _total(entropy_terms) if with_entropy else None


def _inverse_cdf_sample(probs: torch.Tensor) -> torch.Tensor:
    """One draw per row of ``probs`` (n, k) -> (n, 1), a few times cheaper than multinomial.

    ``u`` lies in (0, total], so the chosen index j has cdf[j-1] < u <= cdf[j]: a masked
    (zero-probability) choice, whose interval is empty, is never drawn.
    """
    cdf = probs.cumsum(-1)
    u = (1.0 - torch.rand_like(cdf[:, -1:])) * cdf[:, -1:]
    return (cdf < u).sum(-1, keepdim=True)


def _total(terms: list[torch.Tensor]) -> torch.Tensor:
    """Sum of per-part terms; a single part is returned as is (saves an op per call)."""
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total
