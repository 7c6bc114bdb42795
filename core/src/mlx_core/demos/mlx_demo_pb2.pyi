from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ObservationSpec(_message.Message):
    __slots__ = ("name", "shape")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, name: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ...) -> None: ...

class ActionSpec(_message.Message):
    __slots__ = ("continuous_size", "discrete_branches")
    CONTINUOUS_SIZE_FIELD_NUMBER: _ClassVar[int]
    DISCRETE_BRANCHES_FIELD_NUMBER: _ClassVar[int]
    continuous_size: int
    discrete_branches: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, continuous_size: _Optional[int] = ..., discrete_branches: _Optional[_Iterable[int]] = ...) -> None: ...

class DemoHeader(_message.Message):
    __slots__ = ("magic", "format_version", "behavior_name", "observations", "actions", "steps", "episodes", "mean_return", "complete")
    MAGIC_FIELD_NUMBER: _ClassVar[int]
    FORMAT_VERSION_FIELD_NUMBER: _ClassVar[int]
    BEHAVIOR_NAME_FIELD_NUMBER: _ClassVar[int]
    OBSERVATIONS_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    EPISODES_FIELD_NUMBER: _ClassVar[int]
    MEAN_RETURN_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    magic: str
    format_version: int
    behavior_name: str
    observations: _containers.RepeatedCompositeFieldContainer[ObservationSpec]
    actions: ActionSpec
    steps: int
    episodes: int
    mean_return: float
    complete: bool
    def __init__(self, magic: _Optional[str] = ..., format_version: _Optional[int] = ..., behavior_name: _Optional[str] = ..., observations: _Optional[_Iterable[_Union[ObservationSpec, _Mapping]]] = ..., actions: _Optional[_Union[ActionSpec, _Mapping]] = ..., steps: _Optional[int] = ..., episodes: _Optional[int] = ..., mean_return: _Optional[float] = ..., complete: _Optional[bool] = ...) -> None: ...

class DemoStep(_message.Message):
    __slots__ = ("observations", "continuous_actions", "discrete_actions", "reward", "done", "interrupted", "action_mask", "agent_id")
    OBSERVATIONS_FIELD_NUMBER: _ClassVar[int]
    CONTINUOUS_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    DISCRETE_ACTIONS_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    INTERRUPTED_FIELD_NUMBER: _ClassVar[int]
    ACTION_MASK_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    observations: _containers.RepeatedScalarFieldContainer[bytes]
    continuous_actions: _containers.RepeatedScalarFieldContainer[float]
    discrete_actions: _containers.RepeatedScalarFieldContainer[int]
    reward: float
    done: bool
    interrupted: bool
    action_mask: bytes
    agent_id: int
    def __init__(self, observations: _Optional[_Iterable[bytes]] = ..., continuous_actions: _Optional[_Iterable[float]] = ..., discrete_actions: _Optional[_Iterable[int]] = ..., reward: _Optional[float] = ..., done: _Optional[bool] = ..., interrupted: _Optional[bool] = ..., action_mask: _Optional[bytes] = ..., agent_id: _Optional[int] = ...) -> None: ...
