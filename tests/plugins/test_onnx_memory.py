"""ONNX export of recurrent and visual policies, run in onnxruntime step by step over whole
episodes of the built-in tasks: the same actions as torch at every step, and the same memories."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from mlx_core.config.settings import MemorySettings, NetworkSettings
from mlx_core.env.builtin import MemoryCue, VisualGoal
from mlx_core.export.onnx import export_onnx
from mlx_core.networks.actor_critic import ActorCritic
from mlx_core.shipping import OnnxPolicy
from mlx_core.training.policy import Policy

CASES = {
    "MemoryCue": (MemoryCue, NetworkSettings(hidden_units=16, num_layers=1, memory=MemorySettings(8, 4))),
    "VisualGoal": (VisualGoal, NetworkSettings(hidden_units=16, num_layers=1, vis_encode_type="resnet")),
    "VisualGoal+memory": (
        VisualGoal,
        NetworkSettings(hidden_units=16, num_layers=1, vis_encode_type="simple", memory=MemorySettings(6, 2)),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_onnxruntime_matches_torch_over_whole_episodes(tmp_path: Path, case: str) -> None:
    factory, settings = CASES[case]
    env = factory(4, 0, None)
    name = env.name
    torch.manual_seed(1)
    policy = Policy(env.spec, ActorCritic(env.spec, settings, ["extrinsic"]), torch.device("cpu"))
    policy.deterministic = True
    path = export_onnx(policy, tmp_path / name)
    session = ort.InferenceSession(str(path))
    inputs = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    if settings.memory is not None:
        assert inputs[-1] == "recurrent_in" and outputs[-1] == "recurrent_out"
        assert session.get_inputs()[-1].shape[1] == settings.memory.memory_size
    else:
        assert "recurrent_in" not in inputs
    onnx_policy = OnnxPolicy(path)

    decisions, _ = env.reset()[name]
    finished = 0
    for _ in range(40):
        expected = policy.act(decisions)
        got = onnx_policy.act(decisions)
        np.testing.assert_array_equal(got.action.discrete, expected.action.discrete)
        if settings.memory is not None:  # the memory each side carries into the next step
            assert onnx_policy.memories is not None and policy.memories is not None
            slots = onnx_policy.memories.slots(decisions.agent_id)
            assert expected.next_memories is not None
            actor_part = expected.next_memories[:, : settings.memory.memory_size]  # the export carries the actor's
            np.testing.assert_allclose(onnx_policy.memories.memories[slots], actor_part, atol=1e-5)
        decisions, terminals = env.step({name: expected.env_action})[name]
        policy.end_episodes(terminals.agent_id)
        onnx_policy.end_episodes(terminals.agent_id)
        finished += len(terminals)
    assert finished >= 4  # whole episodes, across their resets


def test_raw_graph_takes_and_returns_the_memory(tmp_path: Path) -> None:
    env = MemoryCue(1, 0, None)
    torch.manual_seed(2)
    network = ActorCritic(env.spec, CASES["MemoryCue"][1], ["extrinsic"])
    session = ort.InferenceSession(str(export_onnx(Policy(env.spec, network, torch.device("cpu")), tmp_path / "m")))
    rng = np.random.default_rng(0)
    obs, memories = rng.normal(size=(5, 2)).astype(np.float32), rng.normal(size=(5, 8)).astype(np.float32)
    feed = {"obs_0": obs, "action_masks": np.ones((5, 2), np.float32), "recurrent_in": memories}
    discrete, memory_out = session.run(["discrete_actions", "recurrent_out"], feed)
    with torch.no_grad():
        features, expected_memory = network.actor_features_recurrent([torch.from_numpy(obs)], torch.from_numpy(memories))
        _, expected_discrete, _ = network.head.sample(features, None, deterministic=True)
    np.testing.assert_allclose(memory_out, expected_memory.numpy(), atol=1e-5)
    np.testing.assert_array_equal(discrete, expected_discrete.numpy())
