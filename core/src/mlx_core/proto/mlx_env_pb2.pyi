from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Tensor(_message.Message):
    __slots__ = ("dtype", "shape", "data")
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    dtype: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    data: bytes
    def __init__(self, dtype: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., data: _Optional[bytes] = ...) -> None: ...

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

class BehaviorSpec(_message.Message):
    __slots__ = ("name", "observations", "actions", "num_teams")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OBSERVATIONS_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    NUM_TEAMS_FIELD_NUMBER: _ClassVar[int]
    name: str
    observations: _containers.RepeatedCompositeFieldContainer[ObservationSpec]
    actions: ActionSpec
    num_teams: int
    def __init__(self, name: _Optional[str] = ..., observations: _Optional[_Iterable[_Union[ObservationSpec, _Mapping]]] = ..., actions: _Optional[_Union[ActionSpec, _Mapping]] = ..., num_teams: _Optional[int] = ...) -> None: ...

class EngineSettings(_message.Message):
    __slots__ = ("width", "height", "quality_level", "time_scale", "target_frame_rate", "capture_frame_rate", "no_graphics")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    QUALITY_LEVEL_FIELD_NUMBER: _ClassVar[int]
    TIME_SCALE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FRAME_RATE_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_FRAME_RATE_FIELD_NUMBER: _ClassVar[int]
    NO_GRAPHICS_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    quality_level: int
    time_scale: float
    target_frame_rate: int
    capture_frame_rate: int
    no_graphics: bool
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., quality_level: _Optional[int] = ..., time_scale: _Optional[float] = ..., target_frame_rate: _Optional[int] = ..., capture_frame_rate: _Optional[int] = ..., no_graphics: _Optional[bool] = ...) -> None: ...

class InitializeRequest(_message.Message):
    __slots__ = ("protocol_version", "seed", "engine", "parameters")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    seed: int
    engine: EngineSettings
    parameters: _containers.ScalarMap[str, float]
    def __init__(self, protocol_version: _Optional[int] = ..., seed: _Optional[int] = ..., engine: _Optional[_Union[EngineSettings, _Mapping]] = ..., parameters: _Optional[_Mapping[str, float]] = ...) -> None: ...

class InitializeResponse(_message.Message):
    __slots__ = ("protocol_version", "name", "behaviors")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    BEHAVIORS_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    name: str
    behaviors: _containers.RepeatedCompositeFieldContainer[BehaviorSpec]
    def __init__(self, protocol_version: _Optional[int] = ..., name: _Optional[str] = ..., behaviors: _Optional[_Iterable[_Union[BehaviorSpec, _Mapping]]] = ...) -> None: ...

class DecisionSteps(_message.Message):
    __slots__ = ("observations", "reward", "agent_id", "action_mask", "team_id")
    OBSERVATIONS_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_MASK_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    observations: _containers.RepeatedCompositeFieldContainer[Tensor]
    reward: Tensor
    agent_id: Tensor
    action_mask: Tensor
    team_id: Tensor
    def __init__(self, observations: _Optional[_Iterable[_Union[Tensor, _Mapping]]] = ..., reward: _Optional[_Union[Tensor, _Mapping]] = ..., agent_id: _Optional[_Union[Tensor, _Mapping]] = ..., action_mask: _Optional[_Union[Tensor, _Mapping]] = ..., team_id: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...

class TerminalSteps(_message.Message):
    __slots__ = ("observations", "reward", "agent_id", "interrupted", "team_id")
    OBSERVATIONS_FIELD_NUMBER: _ClassVar[int]
    REWARD_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    INTERRUPTED_FIELD_NUMBER: _ClassVar[int]
    TEAM_ID_FIELD_NUMBER: _ClassVar[int]
    observations: _containers.RepeatedCompositeFieldContainer[Tensor]
    reward: Tensor
    agent_id: Tensor
    interrupted: Tensor
    team_id: Tensor
    def __init__(self, observations: _Optional[_Iterable[_Union[Tensor, _Mapping]]] = ..., reward: _Optional[_Union[Tensor, _Mapping]] = ..., agent_id: _Optional[_Union[Tensor, _Mapping]] = ..., interrupted: _Optional[_Union[Tensor, _Mapping]] = ..., team_id: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...

class BehaviorSteps(_message.Message):
    __slots__ = ("behavior", "decisions", "terminals")
    BEHAVIOR_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    TERMINALS_FIELD_NUMBER: _ClassVar[int]
    behavior: str
    decisions: DecisionSteps
    terminals: TerminalSteps
    def __init__(self, behavior: _Optional[str] = ..., decisions: _Optional[_Union[DecisionSteps, _Mapping]] = ..., terminals: _Optional[_Union[TerminalSteps, _Mapping]] = ...) -> None: ...

class Stat(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: float
    def __init__(self, name: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...

class StepResult(_message.Message):
    __slots__ = ("behaviors", "stats")
    BEHAVIORS_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    behaviors: _containers.RepeatedCompositeFieldContainer[BehaviorSteps]
    stats: _containers.RepeatedCompositeFieldContainer[Stat]
    def __init__(self, behaviors: _Optional[_Iterable[_Union[BehaviorSteps, _Mapping]]] = ..., stats: _Optional[_Iterable[_Union[Stat, _Mapping]]] = ...) -> None: ...

class ResetRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Actions(_message.Message):
    __slots__ = ("behavior", "continuous", "discrete")
    BEHAVIOR_FIELD_NUMBER: _ClassVar[int]
    CONTINUOUS_FIELD_NUMBER: _ClassVar[int]
    DISCRETE_FIELD_NUMBER: _ClassVar[int]
    behavior: str
    continuous: Tensor
    discrete: Tensor
    def __init__(self, behavior: _Optional[str] = ..., continuous: _Optional[_Union[Tensor, _Mapping]] = ..., discrete: _Optional[_Union[Tensor, _Mapping]] = ...) -> None: ...

class StepRequest(_message.Message):
    __slots__ = ("actions",)
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    actions: _containers.RepeatedCompositeFieldContainer[Actions]
    def __init__(self, actions: _Optional[_Iterable[_Union[Actions, _Mapping]]] = ...) -> None: ...

class SetParametersRequest(_message.Message):
    __slots__ = ("parameters",)
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    parameters: _containers.ScalarMap[str, float]
    def __init__(self, parameters: _Optional[_Mapping[str, float]] = ...) -> None: ...

class CloseRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
