"""A policy: the object that turns a batch of decision requests into actions."""

from __future__ import annotations

import attrs
import numpy as np
import torch

from mlx_core.env.base import ActionTuple, BehaviorSpec, DecisionSteps
from mlx_core.networks.numpy_acting import single_threaded_openblas
from mlx_core.training.agent_memories import AgentMemories


@attrs.define
class ActionInfo:
    """What a policy decided for one batch of agents.

    ``action`` is what the trainer learns from (unclipped samples); ``env_action`` is what the
    environment receives (continuous actions clipped to [-1, 1]); ``values`` is (n, heads) or
    None when the policy has no critic. A recurrent policy adds each agent's ``memories``
    (n, memory_size) before this step and ``next_memories`` after it.
    """

    action: ActionTuple
    env_action: ActionTuple
    log_probs: np.ndarray
    values: np.ndarray | None
    memories: np.ndarray | None = None
    next_memories: np.ndarray | None = None


class Policy:
    """Wraps a network for one behavior.

    The network provides ``act(obs, mask, deterministic) -> (continuous, discrete, log_prob,
    values or None)``, ``actor_features(obs)`` and ``head`` (an
    :class:`~mlx_core.networks.heads.ActionHead`; exporters use these two), and optionally
    ``value_heads`` (names of its value outputs) when it has a critic, and ``numpy_actor()``,
    the same ``act`` on numpy arrays (or None), which the policy uses on the CPU.

    One call handles every agent of the behavior: a single forward pass without autograd.

    A recurrent network (``memory_size`` > 0) offers ``act_recurrent(obs, mask, deterministic,
    memories)`` returning new memories as well; the policy then keeps every agent's memory
    (:class:`AgentMemories`), acts through torch, and forgets an agent's memory when
    :meth:`end_episodes` reports its episode ended.
    """

    def __init__(self, spec: BehaviorSpec, network: torch.nn.Module, device: torch.device) -> None:
        self.spec = spec
        self.network = network
        self.device = device
        self.deterministic = False
        self.memory_size: int = getattr(network, "memory_size", 0)
        self.memories = AgentMemories(self.memory_size) if self.memory_size else None
        # small batches act faster through numpy on the CPU, where the network offers it
        numpy_actor = getattr(network, "numpy_actor", None)
        numpy_ok = device.type == "cpu" and numpy_actor is not None and not self.memory_size
        self._numpy_act = numpy_actor() if numpy_ok else None  # type: ignore[misc]
        if self._numpy_act is not None:
            single_threaded_openblas()

    def obs_tensors(self, obs: list[np.ndarray]) -> list[torch.Tensor]:
        """Observation arrays as float32 tensors on the policy's device (no copy on CPU)."""
        return [torch.as_tensor(o, dtype=torch.float32, device=self.device) for o in obs]

    def mask_tensor(self, mask: np.ndarray | None) -> torch.Tensor | None:
        """The boolean action mask as a tensor, or None."""
        return None if mask is None else torch.as_tensor(mask, dtype=torch.bool, device=self.device)

    def act(self, steps: DecisionSteps) -> ActionInfo:
        """Actions for every agent in ``steps`` (one forward pass, no autograd)."""
        if self.memories is not None:
            return self._act_recurrent(steps, self.memories)
        act = self._numpy_act or self._torch_act
        return _action_info(*act(steps.obs, steps.action_mask, self.deterministic))

    def end_episodes(self, agent_ids: np.ndarray) -> None:
        """The episodes of ``agent_ids`` ended: their next decisions start from a zero memory
        (nothing to do for a feed-forward policy)."""
        if self.memories is not None and len(agent_ids):
            self.memories.end_episodes(agent_ids)

    @torch.inference_mode()
    def _act_recurrent(self, steps: DecisionSteps, store: AgentMemories) -> ActionInfo:
        slots = store.slots(steps.agent_id)
        memories = store.memories[slots]
        continuous, discrete, log_prob, values, new_memories = self.network.act_recurrent(  # type: ignore[operator]
            self.obs_tensors(steps.obs),
            self.mask_tensor(steps.action_mask),
            self.deterministic,
            torch.as_tensor(memories, device=self.device),
        )
        next_memories = self._numpy(new_memories)
        store.memories[slots] = next_memories
        return _action_info(
            self._numpy(continuous),
            self._numpy(discrete),
            self._numpy(log_prob),
            None if values is None else self._numpy(values),
            memories=memories,
            next_memories=next_memories,
        )

    @torch.inference_mode()
    def _torch_act(
        self, obs: list[np.ndarray], mask: np.ndarray | None, deterministic: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        continuous, discrete, log_prob, values = self.network.act(  # type: ignore[operator]
            self.obs_tensors(obs), self.mask_tensor(mask), deterministic
        )
        return (
            self._numpy(continuous),
            self._numpy(discrete),
            self._numpy(log_prob),
            None if values is None else self._numpy(values),
        )

    def _numpy(self, tensor: torch.Tensor) -> np.ndarray:
        # on CPU without .cpu(): one dispatch less per tensor and step
        return tensor.numpy() if self.device.type == "cpu" else tensor.cpu().numpy()


def _action_info(
    continuous: np.ndarray,
    discrete: np.ndarray,
    log_probs: np.ndarray,
    values: np.ndarray | None,
    memories: np.ndarray | None = None,
    next_memories: np.ndarray | None = None,
) -> ActionInfo:
    """The sampled actions as the trainer learns them and, continuous ones clipped to [-1, 1],
    as the environment receives them."""
    clipped = np.clip(continuous, -1.0, 1.0) if continuous.size else continuous
    return ActionInfo(
        action=ActionTuple(continuous=continuous, discrete=discrete),
        env_action=ActionTuple(continuous=clipped, discrete=discrete),
        log_probs=log_probs,
        values=values,
        memories=memories,
        next_memories=next_memories,
    )
