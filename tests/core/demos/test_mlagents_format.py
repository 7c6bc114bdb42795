"""ML-Agents .demo files: the two real ones with SOURCES.md's figures, and built ones for each variant of the format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlx_core.demos import DemoError, DemoSteps, detect_format, iter_steps, load_demos, read_info
from mlx_core.demos import mlagents_demo_pb2 as pb
from mlx_core.env.base import ActionSpec, BehaviorSpec, ObservationSpec
from tests.core.demos.conftest import mlagents_demo_dir
from tests.core.demos.mlagents_files import png_bytes, write_mlagents_demo


def real_file(name: str) -> Path:
    path = mlagents_demo_dir() / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (the shared ML-Agents demonstrations live in ../shared/data/mlagents-demos)")
    return path


def test_expert_basic_has_the_stated_figures() -> None:
    info = read_info(real_file("ExpertBasic.demo"))
    assert (info.format, info.behavior_name, info.steps, info.episodes) == ("ml-agents", "BasicLearning", 73, 11)
    assert info.mean_return == pytest.approx(0.8436, abs=1e-4)
    assert info.spec == BehaviorSpec((ObservationSpec((20,), "obs_0"),), ActionSpec(discrete_branches=(3,)))


def test_3dball_has_the_stated_figures() -> None:
    info = read_info(real_file("test.demo"))
    assert (info.format, info.behavior_name, info.steps, info.episodes) == ("ml-agents", "3DBall?team=0", 2144, 22)
    assert info.behavior_base_name == "3DBall"
    assert info.mean_return == pytest.approx(9.70, abs=5e-3)
    assert info.spec == BehaviorSpec((ObservationSpec((8,), "obs_0"),), ActionSpec(continuous_size=2))


def test_expert_basic_steps_are_one_hot_positions_and_older_float_actions() -> None:
    path = real_file("ExpertBasic.demo")
    steps = DemoSteps.concat(list(iter_steps(path, chunk=16)))
    assert len(steps) == 73 and steps.observations[0].shape == (73, 20)
    assert np.array_equal(steps.observations[0].sum(axis=1), np.ones(73))  # Basic sees its position one-hot
    assert steps.discrete_actions.shape == (73, 1) and set(np.unique(steps.discrete_actions)) <= {0, 1, 2}
    assert steps.continuous_actions.shape == (73, 0)
    assert steps.action_masks is not None and steps.action_masks.all()
    assert 9 <= steps.dones.sum() <= 11


def test_3dball_steps_interleave_22_agents() -> None:
    path = real_file("test.demo")
    steps = DemoSteps.concat(list(iter_steps(path, chunk=500)))
    assert len(steps) == 2144 and steps.observations[0].shape == (2144, 8)
    assert np.isfinite(steps.observations[0]).all()
    assert steps.continuous_actions.shape == (2144, 2) and np.abs(steps.continuous_actions).max() <= 1.0
    assert steps.action_masks is None
    assert len(np.unique(steps.agent_ids)) == 22
    assert 21 <= steps.dones.sum() <= 22  # one done record per finished episode
    assert (steps.rewards > 0).mean() > 0.9  # 3DBall pays for every step the ball stays up


def test_3dball_loads_against_a_matching_spec() -> None:
    spec = BehaviorSpec((ObservationSpec((8,), "ball"),), ActionSpec(continuous_size=2))
    infos, steps = load_demos(real_file("test.demo"), spec)
    assert len(infos) == 1 and len(steps) == 2144


def newer_file(path: Path, n_agents: int = 3, steps_each: int = 4) -> Path:
    """Hybrid actions in the newer fields, an action mask, a vector and a PNG observation, agents interleaved."""
    brain = pb.Brain(brain_name="Grid?team=1")
    brain.action_spec.num_continuous_actions = 1
    brain.action_spec.discrete_branch_sizes.extend([3, 2])
    pairs = []
    for t in range(steps_each):
        for agent in range(n_agents):
            step = pb.StepPair()
            info = step.agent_info
            info.id, info.reward, info.done = 100 + agent, float(agent + 1), t == steps_each - 1
            info.max_step_reached = agent == 0 and info.done
            info.action_mask.extend([False, agent == 1, False, False, True])  # True = masked in ML-Agents
            vector = info.observations.add(shape=[2])
            vector.float_data.data.extend([t, agent])
            image = np.full((4, 5, 3), 10 * t + agent, np.uint8)
            info.observations.add(shape=[4, 5, 3], compression_type=1, compressed_data=png_bytes(image))
            step.action_info.continuous_actions.append(0.5 * agent)
            step.action_info.discrete_actions.extend([t % 3, agent % 2])
            pairs.append(step)
    meta = pb.DemoMetadata(api_version=1, demonstration_name="Grid")
    return write_mlagents_demo(path, meta, brain, pairs)


def test_newer_fields_png_masks_and_interleaved_agents(tmp_path: Path) -> None:
    path = newer_file(tmp_path / "grid.demo")
    assert detect_format(path) == "ml-agents"
    info = read_info(path)
    assert info.spec == BehaviorSpec(
        (ObservationSpec((2,), "obs_0"), ObservationSpec((4, 5, 3), "obs_1")), ActionSpec(1, (3, 2))
    )
    # no figures in the metadata: counted from the records (3 agents x 4 steps, each finishing one episode)
    assert (info.steps, info.episodes, info.mean_return) == (12, 3, pytest.approx((4 + 8 + 12) / 3))
    steps = DemoSteps.concat(list(iter_steps(path, chunk=5)))
    agent = steps.agent_ids - 100
    assert np.array_equal(steps.observations[0][:, 1], agent)
    assert steps.observations[1].shape == (12, 4, 5, 3)
    expected_pixels = (10 * steps.observations[0][:, 0] + agent) / 255.0
    assert np.allclose(steps.observations[1].reshape(12, -1), expected_pixels[:, None])
    assert np.allclose(steps.continuous_actions[:, 0], 0.5 * agent)
    assert np.array_equal(steps.discrete_actions[:, 1], agent % 2)
    assert steps.action_masks is not None
    assert np.array_equal(steps.action_masks[:, 1], agent != 1) and not steps.action_masks[:, 4].any()
    assert np.array_equal(steps.interrupted, steps.dones & (agent == 0))


def test_grayscale_png_observation(tmp_path: Path) -> None:
    brain = pb.Brain(brain_name="Eye", vector_action_size=[2], vector_action_space_type=0)
    step = pb.StepPair()
    image = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    step.agent_info.observations.add(shape=[3, 4, 1], compression_type=1, compressed_data=png_bytes(image))
    step.action_info.vector_actions.append(1.0)
    path = write_mlagents_demo(tmp_path / "eye.demo", pb.DemoMetadata(api_version=1), brain, [step])
    (steps,) = iter_steps(path)
    assert np.allclose(steps.observations[0][0, :, :, 0], image / 255.0)
    assert steps.discrete_actions.tolist() == [[1]]


def test_truncated_mlagents_file_names_the_byte_offset(tmp_path: Path) -> None:
    data = newer_file(tmp_path / "grid.demo").read_bytes()
    cut = tmp_path / "cut.demo"
    cut.write_bytes(data[:-7])
    with pytest.raises(DemoError, match=rf"{cut}: truncated at byte \d+"):
        read_info(cut)


def test_corrupt_mlagents_record_names_the_byte_offset(tmp_path: Path) -> None:
    path = newer_file(tmp_path / "grid.demo")
    data = bytearray(path.read_bytes())
    brain_length = data[33]
    record = 33 + 1 + brain_length  # first step record's length prefix
    data[record + 2] = 0xFF  # its first tag byte: field 31, wire type 7 (no such wire type)
    path.write_bytes(bytes(data))
    with pytest.raises(DemoError, match=rf"corrupt data at byte {record}\b"):
        read_info(path)


def test_four_channels_in_two_pngs_with_a_channel_mapping(tmp_path: Path) -> None:
    """ML-Agents packs channels three per PNG; the mapping says which decoded channel feeds which (-1: padding)."""
    pixels = np.arange(3 * 4 * 6, dtype=np.uint8).reshape(3, 4, 6) * 3
    step = pb.StepPair()
    observation = step.agent_info.observations.add(shape=[3, 4, 4], compression_type=1)
    observation.compressed_data = png_bytes(pixels[:, :, :3]) + png_bytes(pixels[:, :, 3:])
    observation.compressed_channel_mapping.extend([0, 1, 2, 3, -1, -1])
    step.action_info.continuous_actions.append(0.0)
    brain = pb.Brain(brain_name="Eye")
    brain.action_spec.num_continuous_actions = 1
    path = write_mlagents_demo(tmp_path / "eye.demo", pb.DemoMetadata(api_version=1), brain, [step])
    (steps,) = iter_steps(path)
    assert np.allclose(steps.observations[0][0], pixels[:, :, :4] / 255.0)


def test_broken_png_and_short_floats_name_the_record_offset(tmp_path: Path) -> None:
    brain = pb.Brain(brain_name="Eye", vector_action_size=[2], vector_action_space_type=0)
    good, broken, short = pb.StepPair(), pb.StepPair(), pb.StepPair()
    for step in (good, broken):
        step.agent_info.observations.add(shape=[3, 4, 1], compression_type=1)
    good.agent_info.observations[0].compressed_data = png_bytes(np.zeros((3, 4), np.uint8))
    broken.agent_info.observations[0].compressed_data = png_bytes(np.zeros((3, 4), np.uint8))[:30]
    path = write_mlagents_demo(tmp_path / "eye.demo", pb.DemoMetadata(api_version=1), brain, [good, broken])
    second = 33 + 1 + brain.ByteSize() + 1 + good.ByteSize()
    with pytest.raises(DemoError, match=rf"corrupt data at byte {second}: a PNG observation does not decode"):
        list(iter_steps(path))
    good.agent_info.observations.pop()
    good.agent_info.observations.add(shape=[3]).float_data.data.extend([1, 2, 3])
    short.agent_info.observations.add(shape=[3]).float_data.data.extend([1, 2])
    path = write_mlagents_demo(tmp_path / "short.demo", pb.DemoMetadata(api_version=1), brain, [good, short])
    second = 33 + 1 + brain.ByteSize() + 1 + good.ByteSize()
    with pytest.raises(
        DemoError, match=rf"corrupt data at byte {second}: an observation of shape \[3\] holds 2 values"
    ):
        read_info(path)
