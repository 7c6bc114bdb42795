"""The canonical run configuration as frozen attrs classes.

Every YAML section is one class here; defaults and validators sit beside each field. The
trainer-specific ``hyperparameters`` and each reward signal's section are structured by the
settings class of the plugin that the behavior names (see :mod:`mlx_core.config.loader`).
"""

from __future__ import annotations

from typing import Any

import attrs
from attrs import validators as v

_positive = v.gt(0)
_non_negative = v.ge(0)


@attrs.define(frozen=True)
class MemorySettings:
    """Recurrent memory of the policy (``network_settings.memory``): an LSTM whose hidden and
    cell states (``memory_size / 2`` values each) are an agent's memory, trained on sequences
    of ``sequence_length`` steps."""

    memory_size: int = attrs.field(default=128, validator=_positive)

    @memory_size.validator
    def _even(self, attribute: attrs.Attribute[int], value: int) -> None:
        if value % 2:
            raise ValueError(f"memory_size must be even (half hidden state, half cell state), got {value}")

    sequence_length: int = attrs.field(default=64, validator=_positive)


@attrs.define(frozen=True)
class NetworkSettings:
    """Shape of the policy and value networks (``network_settings``)."""

    normalize: bool = False
    hidden_units: int = attrs.field(default=128, validator=_positive)
    num_layers: int = attrs.field(default=2, validator=_non_negative)
    vis_encode_type: str = attrs.field(
        default="simple", validator=v.in_(["simple", "nature_cnn", "resnet", "match3", "fully_connected"])
    )
    # tanh is what Stable-Baselines3 uses for PPO and what solves classic control reliably.
    activation: str = attrs.field(default="tanh", validator=v.in_(["tanh", "relu", "swish"]))
    memory: MemorySettings | None = None


@attrs.define(frozen=True)
class BehaviorSettings:
    """Everything about training one behavior (``behaviors.<Name>``).

    After loading, ``hyperparameters`` holds the trainer plugin's settings object,
    ``reward_signals`` maps each signal name to its plugin's settings object and
    ``behavioral_cloning`` (when written) is its update-objective plugin's settings object.
    """

    trainer: str = "ppo"
    hyperparameters: Any = attrs.field(factory=dict)
    network_settings: NetworkSettings = attrs.field(factory=NetworkSettings)
    reward_signals: dict[str, Any] = attrs.field(factory=lambda: {"extrinsic": {}}, validator=v.min_len(1))
    # structured by the settings class of the plugin offering the update objective of this name
    behavioral_cloning: Any = None
    # structured by the settings class of the plugin offering the trainer wrapper of this name
    self_play: Any = attrs.field(default=None, metadata={"section_kind": "trainer wrapper"})
    max_steps: int = attrs.field(default=500_000, validator=_positive)
    time_horizon: int = attrs.field(default=64, validator=_positive)
    summary_freq: int = attrs.field(default=50_000, validator=_positive)
    keep_checkpoints: int = attrs.field(default=5, validator=_positive)
    checkpoint_interval: int = attrs.field(default=500_000, validator=_positive)
    init_path: str | None = None


@attrs.define(frozen=True)
class EnvSettings:
    """Which environment to run and how many copies (``env_settings``)."""

    env: str | None = None
    env_args: list[str] | None = None
    base_port: int = attrs.field(default=5005, validator=v.and_(v.ge(1024), v.le(65535)))
    num_envs: int = attrs.field(default=1, validator=_positive)
    num_areas: int = attrs.field(default=1, validator=_positive)
    seed: int = -1
    max_lifetime_restarts: int = attrs.field(default=10, validator=v.ge(-1))
    restarts_rate_limit_n: int = attrs.field(default=1, validator=v.ge(-1))
    restarts_rate_limit_period_s: int = attrs.field(default=60, validator=_positive)
    # where copies of Python environments run: this process, one worker process each, or one Ray actor each
    executor: str = attrs.field(default="inline", validator=v.in_(("inline", "subprocess", "ray")))
    # executor ray: the cluster (null: a local instance for the run; auto, host:port or ray://host:port),
    # and what each actor reserves there: CPUs and custom resources ({name: amount})
    ray_address: str | None = None
    ray_num_cpus: float = attrs.field(default=1.0, validator=v.ge(0))
    ray_resources: dict[str, float] = attrs.field(factory=dict)
    # seconds to wait for a worker or simulator to start, and for each of its answers
    timeout_wait: float = attrs.field(default=60.0, validator=v.gt(0))
    # gRPC simulators: the shared token (else $MLX_ENV_TOKEN), a CA certificate for TLS, size limit
    token: str | None = None
    tls_ca: str | None = None
    max_message_mb: int = attrs.field(default=64, validator=_positive)
    # steps between new draws of sampled environment_parameters (null: a new draw for every episode)
    resampling_interval: int | None = attrs.field(default=None, validator=v.optional(_positive))


@attrs.define(frozen=True)
class EngineSettings:
    """Simulator settings passed to executables (``engine_settings``)."""

    width: int = attrs.field(default=84, validator=_positive)
    height: int = attrs.field(default=84, validator=_positive)
    quality_level: int = attrs.field(default=5, validator=_non_negative)
    time_scale: float = attrs.field(default=20.0, validator=v.gt(0))
    target_frame_rate: int = -1
    capture_frame_rate: int = 60
    no_graphics: bool = False


@attrs.define(frozen=True)
class CheckpointSettings:
    """Where results go and how a run starts (``checkpoint_settings``)."""

    run_id: str = "ppo"
    initialize_from: str | None = None
    load_model: bool = False
    resume: bool = False
    force: bool = False
    train_model: bool = False
    inference: bool = False
    results_dir: str = "results"
    # the curriculum lesson to start from (--lesson); --resume continues from the saved lesson instead
    lesson: int = attrs.field(default=0, validator=_non_negative)


@attrs.define(frozen=True)
class TorchSettings:
    """PyTorch device (``torch_settings.device``: cpu, cuda, cuda:0, ...; None picks cuda if present),
    CPU threads, and whether the C allocator keeps memory torch frees for the next step
    (``keep_freed_memory``; see :mod:`mlx_core.training.memory`)."""

    device: str | None = None
    num_threads: int = attrs.field(default=1, validator=_positive)
    keep_freed_memory: bool = True


@attrs.define(frozen=True)
class RunOptions:
    """A whole run: the canonical form of a configuration file plus command-line flags."""

    behaviors: dict[str, BehaviorSettings] = attrs.field(factory=dict)
    default_settings: BehaviorSettings | None = None
    env_settings: EnvSettings = attrs.field(factory=EnvSettings)
    engine_settings: EngineSettings = attrs.field(factory=EngineSettings)
    checkpoint_settings: CheckpointSettings = attrs.field(factory=CheckpointSettings)
    environment_parameters: dict[str, Any] = attrs.field(factory=dict)
    torch_settings: TorchSettings = attrs.field(factory=TorchSettings)
    debug: bool = False

    def behavior(self, name: str) -> BehaviorSettings | None:
        """Settings of behavior ``name``: its own section, else ``default_settings``, else None."""
        return self.behaviors.get(name, self.default_settings)
