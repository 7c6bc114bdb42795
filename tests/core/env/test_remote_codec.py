"""The remote protocol's codec: tensors, specs, step results and actions to and from messages, with checks."""

from __future__ import annotations

import numpy as np
import pytest

from mlx_core.env.base import ActionSpec, ActionTuple, BehaviorSpec, DecisionSteps, ObservationSpec, TerminalSteps
from mlx_core.env.remote.codec import (
    ProtocolError,
    actions_from_proto,
    actions_to_proto,
    from_tensor,
    result_from_proto,
    result_to_proto,
    specs_from_proto,
    specs_to_proto,
    to_tensor,
)
from mlx_core.proto import mlx_env_pb2 as pb

DTYPES = ["float32", "float64", "int32", "int64", "uint8", "bool"]
SHAPES = [(), (0,), (5,), (3, 0), (0, 4, 5), (2, 3), (2, 3, 4)]

# Two behaviors: a discrete one with two branches and a mask, a mixed one with a visual observation.
GRID = BehaviorSpec((ObservationSpec((4,)),), ActionSpec(discrete_branches=(3, 2)))
MIXED = BehaviorSpec(
    (ObservationSpec((2,), "vector"), ObservationSpec((6, 5, 3), "camera")),
    ActionSpec(continuous_size=2, discrete_branches=(4,)),
)
SPECS = {"Grid": GRID, "Mixed": MIXED}


def sample(dtype: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype.startswith("float"):
        return rng.normal(size=shape).astype(dtype)
    return rng.integers(0, 200, size=shape).astype(dtype)


def decisions(spec: BehaviorSpec, n: int, mask: np.ndarray | None = None, seed: int = 0) -> DecisionSteps:
    rng = np.random.default_rng(seed)
    return DecisionSteps(
        obs=[rng.normal(size=(n, *o.shape)).astype(np.float32) for o in spec.observation_specs],
        reward=rng.normal(size=n).astype(np.float32),
        agent_id=np.arange(10, 10 + n, dtype=np.int64),
        action_mask=mask,
    )


def request(*actions: pb.Actions) -> pb.StepRequest:
    return pb.StepRequest(actions=list(actions))


def grid_actions(discrete: np.ndarray, behavior: str = "Grid") -> pb.Actions:
    return pb.Actions(behavior=behavior, discrete=to_tensor(np.asarray(discrete, np.int64)))


def mixed_actions(continuous: np.ndarray, discrete: np.ndarray) -> pb.Actions:
    return pb.Actions(
        behavior="Mixed",
        continuous=to_tensor(np.asarray(continuous, np.float32)),
        discrete=to_tensor(np.asarray(discrete, np.int64)),
    )


# -- tensors -------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_tensor_roundtrip_keeps_dtype_shape_and_values(dtype: str, shape: tuple[int, ...]) -> None:
    array = sample(dtype, shape)
    message = to_tensor(array)
    assert message.dtype == dtype
    assert tuple(message.shape) == shape
    assert len(message.data) == array.size * np.dtype(dtype).itemsize

    back = from_tensor(pb.Tensor.FromString(message.SerializeToString()), "x")
    assert back.dtype == np.dtype(dtype)
    assert back.shape == shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable  # torch.from_numpy refuses read-only buffers
    assert back.flags.c_contiguous


def test_tensor_bytes_are_little_endian_in_c_order() -> None:
    assert to_tensor(np.array([1, 2], dtype=">i4")).data == b"\x01\x00\x00\x00\x02\x00\x00\x00"
    assert to_tensor(np.array([1.0], dtype=">f8")).data == np.array([1.0], "<f8").tobytes()
    transposed = np.arange(6, dtype=np.int32).reshape(2, 3).T  # not C-contiguous
    message = to_tensor(transposed)
    assert tuple(message.shape) == (3, 2)
    assert message.data == np.ascontiguousarray(transposed).astype("<i4").tobytes()
    np.testing.assert_array_equal(from_tensor(message, "x"), transposed)


def test_tensor_of_unsupported_dtype_cannot_be_sent() -> None:
    with pytest.raises(ProtocolError, match=r"dtype float16 cannot travel; use one of float32, float64, int32"):
        to_tensor(np.zeros(3, np.float16))


@pytest.mark.parametrize("dtype", ["complex64", "float16", "", "Float32"])
def test_tensor_with_unknown_dtype_is_refused(dtype: str) -> None:
    message = pb.Tensor(dtype=dtype, shape=[2], data=b"\x00" * 8)
    with pytest.raises(ProtocolError) as raised:
        from_tensor(message, "decision observation 0")
    text = str(raised.value)
    assert text.startswith("decision observation 0 has dtype ")
    assert repr(dtype) in text
    assert "float32, float64, int32, int64, uint8, bool" in text


@pytest.mark.parametrize(
    ("dtype", "shape", "size"),
    [("float32", (2, 3), 20), ("float32", (2, 3), 28), ("int64", (0,), 8), ("bool", (4,), 0), ("uint8", (), 2)],
)
def test_tensor_with_wrong_byte_length_is_refused(dtype: str, shape: tuple[int, ...], size: int) -> None:
    message = pb.Tensor(dtype=dtype, shape=shape, data=b"\x00" * size)
    expected = int(np.prod(shape)) * np.dtype(dtype).itemsize
    with pytest.raises(ProtocolError) as raised:
        from_tensor(message, "reward")
    assert str(raised.value) == (
        f"reward has {size} bytes of data but shape {shape} and dtype {dtype} need {expected}"
    )


def test_tensor_with_negative_dimension_is_refused() -> None:
    with pytest.raises(ProtocolError, match=r"agent_id has a negative dimension in shape \(-1, 2\)"):
        from_tensor(pb.Tensor(dtype="int64", shape=[-1, 2], data=b""), "agent_id")


# -- specs ---------------------------------------------------------------------------------
def test_specs_roundtrip() -> None:
    specs = {
        **SPECS,
        "Continuous": BehaviorSpec((ObservationSpec((1,)), ObservationSpec((3, 2))), ActionSpec(continuous_size=3)),
    }
    messages = specs_to_proto(specs)
    assert [m.name for m in messages] == ["Grid", "Mixed", "Continuous"]
    wire = pb.InitializeResponse(behaviors=messages).SerializeToString()
    back = specs_from_proto(pb.InitializeResponse.FromString(wire).behaviors)
    assert back == specs
    assert list(back) == list(specs)
    assert back["Mixed"].observation_specs[1].is_visual


def test_spec_without_observation_name_gets_the_default() -> None:
    message = pb.BehaviorSpec(
        name="B", observations=[pb.ObservationSpec(shape=[3])], actions=pb.ActionSpec(continuous_size=1)
    )
    assert specs_from_proto([message])["B"].observation_specs == (ObservationSpec((3,), "obs"),)


def _spec_message(name: str = "B", shapes: tuple[tuple[int, ...], ...] = ((3,),), continuous: int = 1, branches=()):
    return pb.BehaviorSpec(
        name=name,
        observations=[pb.ObservationSpec(shape=s) for s in shapes],
        actions=pb.ActionSpec(continuous_size=continuous, discrete_branches=branches),
    )


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ([], "declared no behaviors"),
        ([_spec_message(name="")], "non-empty and unique"),
        ([_spec_message(), _spec_message()], "non-empty and unique; got 'B'"),
        ([_spec_message(shapes=())], "behavior 'B' needs at least one observation with positive sizes"),
        ([_spec_message(shapes=((3,), (0, 2)))], "behavior 'B' needs at least one observation with positive sizes"),
        ([_spec_message(continuous=0)], "behavior 'B' has action spec .*positive continuous size"),
        ([_spec_message(continuous=-1)], "behavior 'B' has action spec"),
        ([_spec_message(continuous=0, branches=(3, 0))], "behavior 'B' has action spec"),
    ],
    ids=["none", "empty name", "duplicate", "no observation", "zero size", "no actions", "negative", "empty branch"],
)
def test_bad_specs_are_refused(messages: list[pb.BehaviorSpec], match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        specs_from_proto(messages)


# -- step results --------------------------------------------------------------------------
def _assert_same_result(back, result) -> None:
    assert set(back) == set(result)
    for name, (d, t) in result.items():
        bd, bt = back[name]
        assert len(bd.obs) == len(d.obs) and len(bt.obs) == len(t.obs)
        for got, want in zip([*bd.obs, *bt.obs], [*d.obs, *t.obs]):
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, want)
        for got, want in [(bd.reward, d.reward), (bt.reward, t.reward)]:
            assert got.dtype == np.float32 and got.ndim == 1
            np.testing.assert_array_equal(got, want)
        for got, want in [(bd.agent_id, d.agent_id), (bt.agent_id, t.agent_id)]:
            assert got.dtype == np.int64
            np.testing.assert_array_equal(got, want)
        assert bt.interrupted.dtype == np.bool_
        np.testing.assert_array_equal(bt.interrupted, t.interrupted)
        if d.action_mask is None:
            assert bd.action_mask is None
        else:
            assert bd.action_mask is not None and bd.action_mask.dtype == np.bool_
            np.testing.assert_array_equal(bd.action_mask, d.action_mask)


def _roundtrip(result, stats=None):
    wire = result_to_proto(result, stats).SerializeToString()
    return result_from_proto(pb.StepResult.FromString(wire), SPECS)


def test_result_roundtrip_with_mask_terminals_and_stats() -> None:
    rng = np.random.default_rng(1)
    mask = rng.random((3, 5)) < 0.7
    terminals = TerminalSteps(
        obs=[np.full((2, 4), 0.5, np.float32)],
        reward=np.array([1.0, -1.0], np.float32),
        agent_id=np.array([11, 12], np.int64),
        interrupted=np.array([True, False]),
    )
    mixed_terminals = TerminalSteps(
        obs=[np.ones((1, 2), np.float32), np.zeros((1, 6, 5, 3), np.float32)],
        reward=np.array([0.25], np.float32),
        agent_id=np.array([7], np.int64),
        interrupted=np.array([False]),
    )
    result = {
        "Grid": (decisions(GRID, 3, mask), terminals),
        "Mixed": (decisions(MIXED, 2), mixed_terminals),  # no mask: nothing masked
    }
    back, stats = _roundtrip(result, {"Env/Score": [1.0, 2.5], "Env/Coins": 3, "Env/Empty": []})
    _assert_same_result(back, result)
    assert back["Mixed"][0].obs[1].shape == (2, 6, 5, 3)
    assert stats == {"Env/Score": [1.0, 2.5], "Env/Coins": [3.0]}


def test_result_roundtrip_with_empty_terminals_and_no_stats() -> None:
    result = {
        "Grid": (decisions(GRID, 4, np.ones((4, 5), bool)), TerminalSteps.empty(GRID)),
        "Mixed": (decisions(MIXED, 1), TerminalSteps.empty(MIXED)),
    }
    back, stats = _roundtrip(result)
    _assert_same_result(back, result)
    assert len(back["Grid"][1]) == 0 and back["Grid"][1].obs[0].shape == (0, 4)
    assert stats == {}


def test_result_roundtrip_with_no_agents_at_all() -> None:
    result = {name: (DecisionSteps.empty(spec), TerminalSteps.empty(spec)) for name, spec in SPECS.items()}
    back, _ = _roundtrip(result)
    _assert_same_result(back, result)
    assert back["Mixed"][0].obs[1].shape == (0, 6, 5, 3)


def test_result_fills_in_behaviors_the_message_leaves_out() -> None:
    back, _ = _roundtrip({"Grid": (decisions(GRID, 2), TerminalSteps.empty(GRID))})
    assert set(back) == {"Grid", "Mixed"}
    d, t = back["Mixed"]
    assert len(d) == 0 and len(t) == 0
    assert [o.shape for o in d.obs] == [(0, 2), (0, 6, 5, 3)]


def test_result_converts_float64_observations_and_rewards_to_float32() -> None:
    message = result_to_proto({"Grid": (decisions(GRID, 2), TerminalSteps.empty(GRID))})
    grid = message.behaviors[0].decisions
    grid.observations[0].CopyFrom(to_tensor(np.ones((2, 4), np.float64)))
    grid.reward.CopyFrom(to_tensor(np.array([0.5, 1.5], np.float64)))
    back, _ = result_from_proto(message, SPECS)
    d = back["Grid"][0]
    assert d.obs[0].dtype == np.float32 and d.reward.dtype == np.float32
    np.testing.assert_array_equal(d.reward, [0.5, 1.5])


def _grid_message(**changes) -> pb.StepResult:
    """A valid one-behavior result message (2 agents, masked), with fields of its decisions replaced."""
    message = result_to_proto({"Grid": (decisions(GRID, 2, np.ones((2, 5), bool)), TerminalSteps.empty(GRID))})
    d = message.behaviors[0].decisions
    for field, value in changes.items():
        if field == "observations":
            del d.observations[:]
            d.observations.extend(value)
        else:
            getattr(d, field).CopyFrom(value)
    return message


@pytest.mark.parametrize(
    ("message", "match"),
    [
        (
            pb.StepResult(behaviors=[pb.BehaviorSteps(behavior="Nope")]),
            r"the result names behavior 'Nope', which is not one of \['Grid', 'Mixed'\]",
        ),
        (
            _grid_message(observations=[to_tensor(np.zeros((2, 5), np.float32))]),
            r"behavior 'Grid' decision observation 0 \(obs\) has shape \(2, 5\); expected \(2, 4\)",
        ),
        (_grid_message(observations=[]), r"behavior 'Grid' decision has 0 observations; the spec declares 1"),
        (
            _grid_message(observations=[to_tensor(np.full((2, 4), np.nan, np.float32))]),
            r"behavior 'Grid' decision observation 0 \(obs\) holds NaN or infinite values",
        ),
        (
            _grid_message(reward=to_tensor(np.zeros(3, np.float32))),
            r"behavior 'Grid' decision reward has shape \(3,\); expected a vector of 2 values",
        ),
        (
            _grid_message(reward=to_tensor(np.array([0.0, np.inf], np.float32))),
            r"behavior 'Grid' decision reward holds NaN or infinite values",
        ),
        (
            _grid_message(reward=to_tensor(np.zeros(2, np.int32))),
            r"behavior 'Grid' decision reward has dtype int32; expected float32",
        ),
        (
            _grid_message(action_mask=to_tensor(np.ones((2, 4), bool))),
            r"behavior 'Grid' action_mask is bool \(2, 4\); expected bool \(2, 5\)",
        ),
        (
            _grid_message(action_mask=to_tensor(np.ones((2, 5), np.uint8))),
            r"behavior 'Grid' action_mask is uint8 \(2, 5\); expected bool \(2, 5\)",
        ),
        (
            _grid_message(agent_id=to_tensor(np.zeros((2, 1), np.int64))),
            r"behavior 'Grid' decision agent_id has shape \(2, 1\); expected a vector",
        ),
    ],
    ids=["unknown behavior", "obs shape", "obs count", "obs NaN", "reward length", "reward inf", "reward dtype",
         "mask shape", "mask dtype", "agent_id shape"],
)
def test_malformed_results_are_refused(message: pb.StepResult, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        result_from_proto(message, SPECS)


def test_result_refuses_interrupted_flags_that_do_not_match_the_terminal_agents() -> None:
    terminals = TerminalSteps(
        obs=[np.zeros((2, 4), np.float32)],
        reward=np.zeros(2, np.float32),
        agent_id=np.array([1, 2], np.int64),
        interrupted=np.array([True]),
    )
    message = result_to_proto({"Grid": (decisions(GRID, 1), terminals)})
    with pytest.raises(ProtocolError, match=r"'Grid' terminal interrupted has shape \(1,\); expected a vector of 2"):
        result_from_proto(message, SPECS)


# -- actions -------------------------------------------------------------------------------
def test_actions_roundtrip_for_waiting_agents() -> None:
    mask = np.ones((3, 5), bool)
    waiting = {"Grid": decisions(GRID, 3, mask), "Mixed": decisions(MIXED, 2)}
    sent = {
        "Grid": ActionTuple(np.zeros((3, 0), np.float32), np.array([[0, 1], [2, 0], [1, 1]])),
        "Mixed": ActionTuple(np.array([[0.5, -1.0], [1.0, 0.0]], np.float32), np.array([[3], [0]])),
    }
    wire = actions_to_proto(sent).SerializeToString()
    back = actions_from_proto(pb.StepRequest.FromString(wire), SPECS, waiting)
    assert set(back) == {"Grid", "Mixed"}
    for name, action in sent.items():
        assert back[name].continuous.dtype == np.float32 and back[name].discrete.dtype == np.int64
        np.testing.assert_array_equal(back[name].continuous, action.continuous)
        np.testing.assert_array_equal(back[name].discrete, action.discrete)
    # a kind of action a behavior does not have travels as an unset field, not as empty bytes
    grid = actions_to_proto(sent).actions[0]
    assert grid.behavior == "Grid" and not grid.HasField("continuous") and grid.HasField("discrete")


def test_actions_with_rows_but_no_columns_of_a_kind_the_spec_has_are_refused() -> None:
    # left unset on the wire, the kind still has to match the spec on arrival
    sent = {"Mixed": ActionTuple(np.zeros((2, 0), np.float32), np.array([[3], [0]]))}
    with pytest.raises(ProtocolError, match=r"'Mixed': continuous actions have shape \(2, 0\); expected \(2, 2\)"):
        actions_from_proto(actions_to_proto(sent), SPECS, {"Mixed": decisions(MIXED, 2)})


def test_behaviors_without_waiting_agents_may_be_left_out() -> None:
    waiting = {"Grid": decisions(GRID, 2), "Mixed": DecisionSteps.empty(MIXED)}
    back = actions_from_proto(request(grid_actions([[0, 0], [1, 1]])), SPECS, waiting)
    assert set(back) == {"Grid"}
    # ... or sent with no rows.
    back = actions_from_proto(
        request(grid_actions([[0, 0], [1, 1]]), mixed_actions(np.zeros((0, 2)), np.zeros((0, 1)))), SPECS, waiting
    )
    assert back["Mixed"].continuous.shape == (0, 2) and back["Mixed"].discrete.shape == (0, 1)


def test_unset_action_kind_means_none_of_that_kind() -> None:
    back = actions_from_proto(request(grid_actions([[2, 1]])), SPECS, {"Grid": decisions(GRID, 1)})
    assert back["Grid"].continuous.shape == (1, 0) and back["Grid"].continuous.dtype == np.float32


def test_discrete_actions_of_other_integer_dtypes_are_converted() -> None:
    message = pb.Actions(behavior="Grid", discrete=to_tensor(np.array([[2, 1]], np.int32)))
    back = actions_from_proto(request(message), SPECS, {"Grid": decisions(GRID, 1)})
    assert back["Grid"].discrete.dtype == np.int64
    np.testing.assert_array_equal(back["Grid"].discrete, [[2, 1]])


def test_actions_for_unknown_behavior_are_refused() -> None:
    message = grid_actions([[0, 0]], behavior="Nope")
    with pytest.raises(ProtocolError) as raised:
        actions_from_proto(request(message), SPECS, {"Grid": decisions(GRID, 1)})
    assert str(raised.value) == "actions for unknown behavior 'Nope'; behaviors are ['Grid', 'Mixed']"


def test_two_sets_of_actions_for_one_behavior_are_refused() -> None:
    with pytest.raises(ProtocolError, match="two sets of actions for behavior 'Grid'"):
        actions_from_proto(request(grid_actions([[0, 0]]), grid_actions([[0, 0]])), SPECS, {"Grid": decisions(GRID, 1)})


@pytest.mark.parametrize("rows", [0, 2, 4])
def test_wrong_number_of_action_rows_is_refused(rows: int) -> None:
    with pytest.raises(ProtocolError) as raised:
        actions_from_proto(request(grid_actions(np.zeros((rows, 2)))), SPECS, {"Grid": decisions(GRID, 3)})
    assert str(raised.value) == (
        f"actions for behavior 'Grid': discrete actions have shape ({rows}, 2); expected (3, 2) "
        "(one row per waiting agent)"
    )


def test_wrong_number_of_continuous_values_is_refused() -> None:
    waiting = {"Mixed": decisions(MIXED, 2)}
    with pytest.raises(ProtocolError, match=r"'Mixed': continuous actions have shape \(2, 3\); expected \(2, 2\)"):
        actions_from_proto(request(mixed_actions(np.zeros((2, 3)), np.zeros((2, 1)))), SPECS, waiting)


def test_discrete_actions_of_float_dtype_are_refused() -> None:
    message = pb.Actions(behavior="Grid", discrete=to_tensor(np.zeros((1, 2), np.float32)))
    with pytest.raises(ProtocolError, match=r"'Grid': discrete actions have dtype float32; expected int64"):
        actions_from_proto(request(message), SPECS, {"Grid": decisions(GRID, 1)})


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_continuous_actions_are_refused(bad: float) -> None:
    continuous = np.array([[0.0, 0.5], [bad, 0.0]], np.float32)
    with pytest.raises(ProtocolError) as raised:
        actions_from_proto(request(mixed_actions(continuous, [[0], [1]])), SPECS, {"Mixed": decisions(MIXED, 2)})
    assert str(raised.value) == "actions for behavior 'Mixed': continuous actions hold NaN or infinite values"


@pytest.mark.parametrize("discrete", [[[3, 0]], [[0, 2]], [[-1, 0]], [[0, -1]]], ids=["3 of 3", "2 of 2", "-1", "-1 b"])
def test_discrete_actions_out_of_range_are_refused(discrete: list[list[int]]) -> None:
    with pytest.raises(ProtocolError) as raised:
        actions_from_proto(request(grid_actions(discrete)), SPECS, {"Grid": decisions(GRID, 1)})
    assert str(raised.value) == "actions for behavior 'Grid': a discrete action is outside its branch sizes (3, 2)"


def test_masked_discrete_choice_is_refused_in_any_branch() -> None:
    # Agent 0 may not pick choice 2 of branch 0; agent 1 may not pick choice 0 of branch 1 (mask column 3).
    mask = np.ones((2, 5), bool)
    mask[0, 2] = False
    mask[1, 3] = False
    waiting = {"Grid": decisions(GRID, 2, mask)}
    assert actions_from_proto(request(grid_actions([[1, 0], [2, 1]])), SPECS, waiting)  # allowed ones pass
    for discrete in ([[2, 0], [0, 1]], [[0, 0], [2, 0]]):
        with pytest.raises(ProtocolError) as raised:
            actions_from_proto(request(grid_actions(discrete)), SPECS, waiting)
        assert str(raised.value) == "actions for behavior 'Grid': a discrete action picks a choice that the action mask forbids"


def test_missing_actions_for_waiting_agents_are_refused() -> None:
    waiting = {"Grid": decisions(GRID, 2), "Mixed": decisions(MIXED, 3)}
    with pytest.raises(ProtocolError) as raised:
        actions_from_proto(request(grid_actions([[0, 0], [1, 1]])), SPECS, waiting)
    assert str(raised.value) == "no actions for behavior 'Mixed', which has 3 agents waiting for a decision"
    with pytest.raises(ProtocolError, match="no actions for behavior 'Grid', which has 2 agents waiting"):
        actions_from_proto(request(), SPECS, waiting)



def test_actions_for_a_behavior_with_no_waiting_agents_do_not_stand_in_for_missing_ones() -> None:
    # as many sets of actions as waiting behaviors, but for the wrong one
    waiting = {"Grid": decisions(GRID, 2)}
    with pytest.raises(ProtocolError, match="no actions for behavior 'Grid', which has 2 agents waiting"):
        actions_from_proto(request(mixed_actions(np.zeros((0, 2)), np.zeros((0, 1)))), SPECS, waiting)

# -- fixed gaps ------------------------------------------------------------------------------
def test_float64_rewards_of_the_wrong_shape_are_refused() -> None:
    message = _grid_message(reward=to_tensor(np.zeros((2, 3), np.float64)))
    with pytest.raises(ProtocolError, match=r"decision reward has shape \(2, 3\)"):
        result_from_proto(message, SPECS)


def test_result_naming_a_behavior_twice_is_refused() -> None:
    message = _grid_message()
    message.behaviors.append(message.behaviors[0])
    with pytest.raises(ProtocolError, match="'Grid'"):
        result_from_proto(message, SPECS)


def test_result_with_a_duplicate_agent_id_is_refused() -> None:
    message = _grid_message()
    ids = message.behaviors[0].decisions.agent_id
    ids.CopyFrom(to_tensor(np.zeros(from_tensor(ids, "ids").shape, np.int64)))
    with pytest.raises(ProtocolError, match="same agent id twice"):
        result_from_proto(message, SPECS)
