"""Conversion between the environment API's numpy objects and the protocol's messages, with checks.

Arrays travel as raw little-endian bytes with a dtype name and a shape
(:class:`mlx_core.proto.mlx_env_pb2.Tensor`). Every decoder checks what it reads against
the behavior specs and raises :class:`ProtocolError` with a sentence that names the
behavior, the field and what was expected, so neither side fails somewhere deep inside.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from mlx_core.env.base import (
    ActionSpec,
    ActionTuple,
    BehaviorSpec,
    DecisionSteps,
    ObservationSpec,
    StepResult,
    TerminalSteps,
    closed_mask_branch,
    metric_values,
)
from mlx_core.proto import mlx_env_pb2 as pb

PROTOCOL_VERSION = 1
"""Bumped when a message changes meaning; both sides compare it in Initialize."""

METHOD_PREFIX = f"/{pb.DESCRIPTOR.services_by_name['Environment'].full_name}/"
"""The full names of the service's methods start with this (``METHOD_PREFIX + "StepStream"``)."""

_DTYPES = {name: np.dtype(name).newbyteorder("<") for name in ("float32", "float64", "int32", "int64", "uint8", "bool")}
# arrays already in the wire's byte order (native dtypes on little-endian machines) are sent as they are
_WIRE_NAMES = {dtype: name for name, dtype in _DTYPES.items()}
_MAX_DIMENSIONS = 32  # numpy's arrays have at most 64; no observation or action needs more than a few
_FLOAT32, _FLOAT64, _INT64, _BOOL = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.bool_)


class ProtocolError(ValueError):
    """A message that does not fit the protocol or the behavior specs."""


# -- tensors -------------------------------------------------------------------------------
def to_tensor(array: np.ndarray) -> pb.Tensor:
    """An array as a Tensor message (little-endian, C order)."""
    return fill_tensor(pb.Tensor(), array)


def fill_tensor(tensor: pb.Tensor, array: np.ndarray) -> pb.Tensor:
    """Write an array into a Tensor message in place (no intermediate message to copy)."""
    array = np.asarray(array)
    name = _WIRE_NAMES.get(array.dtype)
    if name is None:  # big-endian, or not a wire dtype
        name = array.dtype.name
        if name not in _DTYPES:
            raise ProtocolError(f"arrays of dtype {array.dtype} cannot travel; use one of {', '.join(_DTYPES)}")
        array = array.astype(_DTYPES[name])
    tensor.dtype = name
    tensor.shape[:] = array.shape
    tensor.data = array.tobytes(order="C")
    return tensor


def from_tensor(tensor: pb.Tensor, what: str) -> np.ndarray:
    """The array a Tensor message holds (a writable copy: torch refuses read-only buffers)."""
    array = _well_formed(tensor)
    if array is None:
        raise _malformed(tensor, what)
    return array


def _well_formed(tensor: pb.Tensor) -> np.ndarray | None:
    """:func:`from_tensor`'s array, or None when the tensor is malformed: callers that decode
    every step put together the description :func:`_malformed` needs only then."""
    dtype = _DTYPES.get(tensor.dtype)
    if dtype is None:
        return None
    shape = tensor.shape[:]  # a list: several times faster to make than a tuple of the field
    data = tensor.data  # read once: every access makes a new bytes object
    if len(data) != dtype.itemsize * math.prod(shape) or (shape and min(shape) < 0) or len(shape) > _MAX_DIMENSIONS:
        return None
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def _malformed(tensor: pb.Tensor, what: str) -> ProtocolError:
    """What is wrong with a tensor :func:`_well_formed` refused."""
    dtype = _DTYPES.get(tensor.dtype)
    if dtype is None:
        return ProtocolError(f"{what} has dtype {tensor.dtype!r}; the protocol allows {', '.join(_DTYPES)}")
    shape = tuple(tensor.shape)
    if shape and min(shape) < 0:
        return ProtocolError(f"{what} has a negative dimension in shape {shape}")
    if len(shape) > _MAX_DIMENSIONS:
        return ProtocolError(f"{what} has {len(shape)} dimensions; at most {_MAX_DIMENSIONS} are allowed")
    expected = dtype.itemsize * math.prod(shape)
    return ProtocolError(f"{what} has {len(tensor.data)} bytes of data but shape {shape} and dtype {tensor.dtype} need {expected}")


# -- specs ---------------------------------------------------------------------------------
def specs_to_proto(specs: Mapping[str, BehaviorSpec]) -> list[pb.BehaviorSpec]:
    """Behavior specs as messages."""
    return [
        pb.BehaviorSpec(
            name=name,
            observations=[pb.ObservationSpec(name=o.name, shape=o.shape) for o in spec.observation_specs],
            actions=pb.ActionSpec(
                continuous_size=spec.action_spec.continuous_size,
                discrete_branches=spec.action_spec.discrete_branches,
            ),
            num_teams=spec.num_teams,
        )
        for name, spec in specs.items()
    ]


def specs_from_proto(messages: Any) -> dict[str, BehaviorSpec]:
    """Behavior specs from messages, checked for sizes that make sense."""
    specs: dict[str, BehaviorSpec] = {}
    for message in messages:
        if not message.name or message.name in specs:
            raise ProtocolError(f"behavior names must be non-empty and unique; got {message.name!r} twice or empty")
        observations = tuple(ObservationSpec(tuple(int(n) for n in o.shape), o.name or "obs") for o in message.observations)
        action = ActionSpec(int(message.actions.continuous_size), tuple(int(n) for n in message.actions.discrete_branches))
        if not observations or any(n <= 0 for o in observations for n in o.shape):
            raise ProtocolError(f"behavior {message.name!r} needs at least one observation with positive sizes")
        if action.continuous_size < 0 or any(n <= 0 for n in action.discrete_branches) or not (
            action.is_continuous or action.is_discrete
        ):
            raise ProtocolError(
                f"behavior {message.name!r} has action spec {action}: it needs a positive continuous size "
                "and/or discrete branches with at least one choice each"
            )
        if message.num_teams < 0:
            raise ProtocolError(f"behavior {message.name!r} declares {message.num_teams} teams; expected 0 or more")
        specs[message.name] = BehaviorSpec(observations, action, max(1, int(message.num_teams)))
    if not specs:
        raise ProtocolError("the environment declared no behaviors")
    return specs


# -- step results --------------------------------------------------------------------------
def result_to_proto(result: StepResult, stats: Mapping[str, Any] | None = None) -> pb.StepResult:
    """A step result (and the metrics reported since the last call) as a message."""
    message = pb.StepResult()
    for name, (decisions, terminals) in result.items():
        steps = message.behaviors.add(behavior=name)
        d = steps.decisions
        for obs in decisions.obs:
            fill_tensor(d.observations.add(), obs)
        fill_tensor(d.reward, decisions.reward)
        fill_tensor(d.agent_id, decisions.agent_id)
        if decisions.action_mask is not None:
            fill_tensor(d.action_mask, decisions.action_mask)
        if decisions.team_id is not None:
            fill_tensor(d.team_id, decisions.team_id)
        if len(terminals):  # most steps end no episode: leave the terminal steps unset
            t = steps.terminals
            for obs in terminals.obs:
                fill_tensor(t.observations.add(), obs)
            fill_tensor(t.reward, terminals.reward)
            fill_tensor(t.agent_id, terminals.agent_id)
            fill_tensor(t.interrupted, terminals.interrupted)
            if terminals.team_id is not None:
                fill_tensor(t.team_id, terminals.team_id)
    for key, values in (stats or {}).items():
        for value in metric_values(values):
            message.stats.add(name=key, value=value)
    return message


def result_from_proto(message: pb.StepResult, specs: Mapping[str, BehaviorSpec]) -> tuple[StepResult, dict[str, list[float]]]:
    """The step result and custom metrics a message holds, checked against ``specs``.

    Every behavior of ``specs`` is in the result; ones the message leaves out have no agents.
    """
    # once per step and simulator: error descriptions are only put together when needed
    result: StepResult = {}
    for steps in message.behaviors:
        behavior = steps.behavior
        spec = specs.get(behavior)
        if spec is None:
            raise ProtocolError(f"the result names behavior {behavior!r}, which is not one of {sorted(specs)}")
        if behavior in result:
            raise ProtocolError(f"the result holds behavior {behavior!r} twice")
        d = steps.decisions
        agent_id = _vector(d.agent_id, behavior, "decision agent_id", _INT64)
        n = len(agent_id)
        if n > 1 and len(set(agent_id.tolist())) != n:  # a set: several times faster than np.unique here
            raise ProtocolError(f"behavior {behavior!r} asks for decisions for the same agent id twice in one result")
        decisions = DecisionSteps(
            obs=_observations(d.observations, spec, n, behavior, "decision"),
            reward=_rewards(d.reward, n, behavior, "decision reward"),
            agent_id=agent_id,
            action_mask=_mask(d.action_mask, spec, agent_id, behavior) if d.HasField("action_mask") else None,
            team_id=_teams(d.team_id, spec, n, behavior, "decision") if d.HasField("team_id") else None,
        )
        if steps.HasField("terminals"):
            t = steps.terminals
            agent_id = _vector(t.agent_id, behavior, "terminal agent_id", _INT64)
            n = len(agent_id)
            terminals = TerminalSteps(
                obs=_observations(t.observations, spec, n, behavior, "terminal"),
                reward=_rewards(t.reward, n, behavior, "terminal reward"),
                agent_id=agent_id,
                interrupted=_vector(t.interrupted, behavior, "terminal interrupted", _BOOL, n),
                team_id=_teams(t.team_id, spec, n, behavior, "terminal") if t.HasField("team_id") else None,
            )
        else:  # unset: no agent finished
            terminals = TerminalSteps.empty(spec)
        result[behavior] = (decisions, terminals)
    for name, spec in specs.items():
        if name not in result:
            result[name] = (DecisionSteps.empty(spec), TerminalSteps.empty(spec))
    stats: dict[str, list[float]] = {}
    for stat in message.stats:
        stats.setdefault(stat.name, []).append(stat.value)
    return result, stats


def _field(tensor: pb.Tensor, behavior: str, *field: object) -> np.ndarray:
    """A field of a behavior's steps as an array; ``field``'s words name it in an error (joined
    only then: this runs for every tensor of every step)."""
    array = _well_formed(tensor)
    if array is None:
        raise _malformed(tensor, f"behavior {behavior!r} {' '.join(map(str, field))}")
    return array


def _vector(tensor: pb.Tensor, behavior: str, field: str, dtype: np.dtype, length: int | None = None) -> np.ndarray:
    array = _field(tensor, behavior, field) if tensor.dtype else np.zeros(0, dtype)
    if array.ndim != 1 or (length is not None and len(array) != length):
        expected = "a vector" if length is None else f"a vector of {length} values (one per agent)"
        found = "is unset" if not tensor.dtype else f"has shape {array.shape}"
        raise ProtocolError(f"behavior {behavior!r} {field} {found}; expected {expected}")
    if array.dtype != dtype:
        if dtype == _INT64 and array.dtype.kind in "iu":
            return array.astype(np.int64)
        raise ProtocolError(f"behavior {behavior!r} {field} has dtype {array.dtype}; expected {dtype.name}")
    return array


def _rewards(tensor: pb.Tensor, n: int, behavior: str, field: str) -> np.ndarray:
    wide = tensor.dtype == "float64"
    reward = _vector(tensor, behavior, field, _FLOAT64 if wide else _FLOAT32, n)
    if wide:
        reward = reward.astype(np.float32)
    if not np.isfinite(reward).all():
        raise ProtocolError(f"behavior {behavior!r} {field} holds NaN or infinite values")
    return reward


def _observations(tensors: Any, spec: BehaviorSpec, n: int, behavior: str, kind: str) -> list[np.ndarray]:
    observation_specs = spec.observation_specs
    if len(tensors) != len(observation_specs):
        raise ProtocolError(
            f"behavior {behavior!r} {kind} has {len(tensors)} observations; the spec declares {len(observation_specs)}"
        )
    observations = []
    for i, (tensor, obs_spec) in enumerate(zip(tensors, observation_specs)):
        array = _field(tensor, behavior, kind, "observation", i)
        if array.shape != (n, *obs_spec.shape):
            rows = "" if array.shape[:1] == (n,) else f", one row for each of the {n} agents in {kind} agent_id"
            raise ProtocolError(
                f"behavior {behavior!r} {kind} observation {i} ({obs_spec.name}) has shape {array.shape}; "
                f"expected {(n, *obs_spec.shape)}{rows}"
            )
        if array.dtype == np.uint8:  # 0-255 images: networks want 0-1, as for gymnasium images
            array = array.astype(np.float32) * np.float32(1 / 255)
        elif array.dtype != np.float32:
            array = array.astype(np.float32)
        if not np.isfinite(array).all():
            raise ProtocolError(
                f"behavior {behavior!r} {kind} observation {i} ({obs_spec.name}) holds NaN or infinite values"
            )
        observations.append(array)
    return observations


def _teams(tensor: pb.Tensor, spec: BehaviorSpec, n: int, behavior: str, kind: str) -> np.ndarray:
    teams = _vector(tensor, behavior, f"{kind} team_id", _INT64, n)
    if n and (int(teams.min()) < 0 or int(teams.max()) >= spec.num_teams):
        raise ProtocolError(
            f"behavior {behavior!r} {kind} team_id holds {sorted(set(teams.tolist()))}; the spec declares "
            f"{spec.num_teams} team(s), so ids must be in [0, {spec.num_teams - 1}]"
        )
    return teams


def _mask(tensor: pb.Tensor, spec: BehaviorSpec, agent_id: np.ndarray, behavior: str) -> np.ndarray:
    mask = _field(tensor, behavior, "action_mask")
    branches = spec.action_spec.discrete_branches
    expected = (len(agent_id), sum(branches))
    if mask.shape != expected or mask.dtype != np.bool_:
        raise ProtocolError(f"behavior {behavior!r} action_mask is {mask.dtype} {mask.shape}; expected bool {expected}")
    closed = closed_mask_branch(mask, branches)
    if closed is not None:
        row, branch = closed
        raise ProtocolError(
            f"behavior {behavior!r} action_mask forbids every choice of branch {branch} for agent id "
            f"{int(agent_id[row])}; at least one choice of each branch must be allowed (true)"
        )
    return mask


# -- actions -------------------------------------------------------------------------------
def actions_to_proto(actions: Mapping[str, ActionTuple]) -> pb.StepRequest:
    """Per-behavior actions as a StepRequest."""
    request = pb.StepRequest()
    for name, action in actions.items():
        message = request.actions.add(behavior=name)
        continuous, discrete = np.asarray(action.continuous, np.float32), np.asarray(action.discrete, np.int64)
        # a kind of action the behavior does not have (no columns) stays unset: it decodes as none
        if continuous.ndim != 2 or continuous.shape[1]:
            fill_tensor(message.continuous, continuous)
        if discrete.ndim != 2 or discrete.shape[1]:
            fill_tensor(message.discrete, discrete)
    return request


def actions_from_proto(
    request: pb.StepRequest, specs: Mapping[str, BehaviorSpec], waiting: Mapping[str, DecisionSteps]
) -> dict[str, ActionTuple]:
    """The actions of a StepRequest, checked: known behaviors, one row per waiting agent,
    finite continuous values, discrete choices inside their branches and allowed by the mask.

    ``waiting`` holds, per behavior, the decision steps of the previous result: one row of
    actions is expected per agent there.
    """
    actions: dict[str, ActionTuple] = {}
    for message in request.actions:
        behavior = message.behavior
        spec = specs.get(behavior)
        if spec is None:
            raise ProtocolError(f"actions for unknown behavior {behavior!r}; behaviors are {sorted(specs)}")
        if behavior in actions:
            raise ProtocolError(f"two sets of actions for behavior {behavior!r}")
        asked = waiting.get(behavior)
        n, mask = (0, None) if asked is None else (len(asked), asked.action_mask)
        action_spec = spec.action_spec
        continuous = _action_array(message.continuous, (n, action_spec.continuous_size), _FLOAT32, behavior, "continuous")
        discrete = _action_array(message.discrete, (n, len(action_spec.discrete_branches)), _INT64, behavior, "discrete")
        if continuous.size and not np.isfinite(continuous).all():
            raise ProtocolError(f"actions for behavior {behavior!r}: continuous actions hold NaN or infinite values")
        if discrete.size:
            where = f"actions for behavior {behavior!r}"
            branches = np.asarray(action_spec.discrete_branches)
            if (discrete < 0).any() or (discrete >= branches).any():
                raise ProtocolError(f"{where}: a discrete action is outside its branch sizes {tuple(branches.tolist())}")
            if mask is not None:
                offsets = np.concatenate([[0], np.cumsum(branches)[:-1]])
                allowed = np.take_along_axis(mask, discrete + offsets, axis=1)
                if not allowed.all():
                    raise ProtocolError(f"{where}: a discrete action picks a choice that the action mask forbids")
        actions[behavior] = ActionTuple(continuous=continuous, discrete=discrete)
    for name, asked in waiting.items():
        if len(asked) and name not in actions:
            raise ProtocolError(f"no actions for behavior {name!r}, which has {len(asked)} agents waiting for a decision")
    return actions


def _action_array(tensor: pb.Tensor, shape: tuple[int, int], dtype: np.dtype, behavior: str, kind: str) -> np.ndarray:
    array: np.ndarray
    if not tensor.dtype:  # an unset field: no actions of this kind
        array = np.zeros((shape[0], 0), dtype)
    else:
        well_formed = _well_formed(tensor)
        if well_formed is None:
            raise _malformed(tensor, f"actions for behavior {behavior!r} ({kind})")
        array = well_formed
    if array.shape != shape:
        raise ProtocolError(
            f"actions for behavior {behavior!r}: {kind} actions have shape {array.shape}; expected {shape} "
            "(one row per waiting agent)"
        )
    if array.dtype != dtype:
        if dtype.kind == array.dtype.kind or (array.dtype.kind in "iu" and dtype.kind == "i"):
            with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, which is refused next
                return array.astype(dtype)
        raise ProtocolError(f"actions for behavior {behavior!r}: {kind} actions have dtype {array.dtype}; expected {dtype.name}")
    return array
