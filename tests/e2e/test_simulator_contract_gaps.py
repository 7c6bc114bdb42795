"""Gaps found by writing a simulator from ``mlx_env.proto`` alone (in another language), each
checked here with a Python simulator built the same way (grpcio's public API and the generated
stubs: ``simulator_contract_gaps.py``, which extends ``simulator_from_proto.py``).

- An action mask that forbids every choice of a branch is a simulator mistake: mlx stops with
  one paragraph naming the behavior, branch and agent, instead of sampling a forbidden choice
  and training on it without a word.
- A valid mask (true = allowed) is respected: the simulator refuses any action it forbids.
- A missing (unset) field is named as unset, and observations that do not match the agent ids
  say so, rather than reporting a vector of shape (0,).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlx_core.env.base import ActionSpec, BehaviorSpec, ObservationSpec
from mlx_core.env.remote.codec import ProtocolError, result_from_proto, to_tensor
from mlx_core.proto import mlx_env_pb2 as pb
from tests.conftest import run_mlx
from tests.e2e.test_simulator_from_proto import CONFIG
from tests.e2e.test_simulator_grpc import free_port_pair, log_events

SIMULATOR = Path(__file__).resolve().parent / "simulator_contract_gaps.py"


def run(folder: Path, mask_args: str, steps: int):  # type: ignore[no-untyped-def]
    """``mlx run`` launching the masked simulator with ``mask_args`` added to its env_args."""
    text = CONFIG.format(simulator=SIMULATOR, port=free_port_pair(), step_calls="both", ids="same", steps=steps)
    text = text.replace("--ids, same]", f"--ids, same, {mask_args}]")
    config = folder / "masked.yaml"
    config.write_text(text)
    return run_mlx("run", str(config), "--run-id", "masked", cwd=folder, timeout=300)


@pytest.mark.slow
def test_a_mask_that_forbids_a_whole_branch_stops_the_run_with_one_paragraph(tmp_path: Path) -> None:
    done = run(tmp_path, "--mask, none-after, --after, '3'", steps=2000)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, done.stderr[-3000:]
    assert "action_mask forbids every choice of branch 0 for agent id 0" in errors[0], errors
    assert "at least one choice of each branch must be allowed" in errors[0], errors


@pytest.mark.slow
def test_a_valid_mask_is_respected_through_the_protocol(tmp_path: Path) -> None:
    done = run(tmp_path, "--mask, left", steps=600)
    assert done.returncode == 0, done.stderr[-3000:]  # the simulator refuses any masked action
    finished = [e for e in log_events(tmp_path / "results" / "masked") if e["event"] == "run_finished"]
    assert finished and finished[0]["steps"]["Walker"] >= 600, finished


SPEC = {"Walker": BehaviorSpec((ObservationSpec((2,), "obs"),), ActionSpec(0, (2, 3)))}


def decisions(**fields: np.ndarray) -> pb.StepResult:
    d = pb.DecisionSteps(**{name: to_tensor(value) for name, value in fields.items() if name != "obs"})
    d.observations.append(to_tensor(fields["obs"]))
    return pb.StepResult(behaviors=[pb.BehaviorSteps(behavior="Walker", decisions=d)])


OBS, REWARD, IDS = np.zeros((2, 2), np.float32), np.zeros(2, np.float32), np.array([4, 9], np.int64)


def test_a_mask_row_with_a_closed_branch_names_the_agent_and_branch() -> None:
    mask = np.ones((2, 5), bool)
    mask[1, 2:] = False  # agent 9: branch 1 (three choices) all forbidden
    with pytest.raises(ProtocolError, match=r"forbids every choice of branch 1 for agent id 9"):
        result_from_proto(decisions(obs=OBS, reward=REWARD, agent_id=IDS, action_mask=mask), SPEC)
    mask[1, 2] = True  # one choice open in each branch is enough
    result, _ = result_from_proto(decisions(obs=OBS, reward=REWARD, agent_id=IDS, action_mask=mask), SPEC)
    assert result["Walker"][0].action_mask is not None


def test_an_unset_reward_is_named_as_unset() -> None:
    with pytest.raises(ProtocolError, match=r"decision reward is unset; expected a vector of 2 values"):
        result_from_proto(decisions(obs=OBS, agent_id=IDS), SPEC)


def test_observations_without_agent_ids_say_the_ids_are_what_is_missing() -> None:
    with pytest.raises(ProtocolError, match=r"expected \(0, 2\), one row for each of the 0 agents in decision agent_id"):
        result_from_proto(decisions(obs=OBS, reward=REWARD), SPEC)
