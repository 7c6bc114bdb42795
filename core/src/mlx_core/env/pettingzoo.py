"""PettingZoo adapter: the agents of a parallel env, grouped into behaviors by name.

Targets are ``pettingzoo:<module.path>`` (the module's ``parallel_env(**kwargs)``, e.g.
``pettingzoo:mpe2.simple_adversary_v3``) or ``pettingzoo:<module.path>:<function>``; the
``pettingzoo:`` prefix picks this type, so :func:`accepts` never claims a bare target.
``env_settings.env_args`` are the keyword arguments of that function.

An agent's behavior is its name before the last ``_`` (``adversary_0`` -> ``adversary``,
``agent_1`` -> ``agent``); a name without ``_`` is a behavior of its own. Its agent id is its
index among the behavior's agents in ``possible_agents`` order, the same in every episode.
Competitive envs say which team each agent plays for with an ``mlx_teams`` attribute
(``{agent: team}``, teams numbered from 0) on the parallel env or its ``unwrapped`` env; the
team travels as ``team_id`` and each behavior's spec counts the game's teams, so self-play
works on one behavior split into teams and on games with a behavior per team.
One :class:`PettingZooEnvironment` is one copy of the env; when its last agent is done it
resets itself in the same call, so the finished agents are in the :class:`TerminalSteps`
and the new episode's agents in the :class:`DecisionSteps` of one result. ``num_envs``
copies are combined by :func:`mlx_core.env.workers.make_pool`.

pettingzoo itself is imported only when an env is created: it is an optional extra
(``pip install "mlx-core[pettingzoo]"``), and registering this type must not need it.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
from gymnasium import spaces

from mlx_core.env.base import (
    ActionTuple,
    BehaviorSpec,
    DecisionSteps,
    Environment,
    ObservationSpec,
    StepResult,
    TerminalSteps,
)
from mlx_core.env.gymnasium import _action_converter, _observation_converter, apply_parameters, parse_env_args
from mlx_core.errors import EnvError

if TYPE_CHECKING:
    from mlx_core.config.settings import RunOptions

INSTALL = 'pip install "mlx-core[pettingzoo]"'
"""What installs pettingzoo and the MPE environments (mpe2) used in mlx's examples and tests."""

_TARGET = re.compile(r"^(?P<module>[A-Za-z_][\w.]*)(?::(?P<function>[A-Za-z_]\w*))?$")


def accepts(target: str) -> bool:
    """Always False: PettingZoo targets need the ``pettingzoo:`` prefix.

    A bare ``module.path`` could as well be a gymnasium or mlx environment; guessing would
    mean importing every candidate module, so the prefix is required instead.
    """
    return False


def behavior_name(agent: Any) -> str:
    """The behavior of a PettingZoo agent: its name before the last ``_``, or the whole name."""
    name = str(agent)
    head, sep, _ = name.rpartition("_")
    return head if sep and head else name


def make_one(target: str, kwargs: dict[str, Any], seed: int) -> Environment:
    """One copy of the parallel env ``target``, built with ``kwargs``; seeded when ``seed >= 0``.

    A module-level function so that ``functools.partial(make_one, target, kwargs)`` pickles
    into worker processes.
    """
    env = PettingZooEnvironment(target, kwargs)
    if seed >= 0:
        env.seed(seed)
    return env


def make_pettingzoo(target: str, options: RunOptions, num_envs: int, seed: int, **_: Any) -> Environment:
    """``num_envs`` copies of the PettingZoo parallel env ``target`` as one environment."""
    kwargs = parse_env_args(options.env_settings.env_args, target)
    # Build one copy here, in the trainer's process, so a wrong target, a missing package or
    # a bad argument fails with its own message before any worker starts.
    PettingZooEnvironment(target, kwargs).close()
    from mlx_core.env.workers import make_pool

    return make_pool(options, num_envs, seed, functools.partial(make_one, target, kwargs))


def parallel_env_function(target: str) -> Callable[..., Any]:
    """The function that ``target`` (``module.path`` or ``module.path:function``) names."""
    match = _TARGET.match(target)
    if not match:
        raise EnvError(
            f"PettingZoo target {target!r} is not module.path or module.path:function (e.g. "
            "pettingzoo:mpe2.simple_adversary_v3)."
        )
    module_name, function_name = match["module"], match["function"] or "parallel_env"
    try:
        import pettingzoo  # noqa: F401 - only to tell a missing pettingzoo from a missing env
    except ImportError:
        raise EnvError(
            f"PettingZoo environment {target!r} needs pettingzoo, which is not installed: {INSTALL}."
        ) from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        missing = getattr(error, "name", None) or module_name
        top = missing.split(".")[0]
        if importlib.util.find_spec(top) is not None:  # the package is there, the module is not
            raise EnvError(
                f"PettingZoo environment {target!r} cannot be imported: {top!r} is installed but has no "
                f"module {missing!r}; check the module path (e.g. pettingzoo:mpe2.simple_adversary_v3)."
            ) from None
        raise EnvError(
            f"PettingZoo environment {target!r} needs the package {top!r}, which is not installed: "
            f"{_install_hint(module_name, top)}."
        ) from None
    except Exception as error:  # noqa: BLE001 - any failure at import is the env's problem, reported as such
        raise EnvError(
            f"PettingZoo environment {target!r}: importing {module_name!r} failed: "
            f"{type(error).__name__}: {error}."
        ) from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise EnvError(
            f"PettingZoo environment {target!r}: module {module_name!r} has no function "
            f"{function_name!r}. Name the function that returns a parallel env with "
            "pettingzoo:module.path:function."
        )
    return function


def _install_hint(module_name: str, missing: str) -> str:
    """What to pip install when importing ``module_name`` fails on the module ``missing``."""
    if missing == "mpe2":
        return INSTALL
    family = module_name.split(".")
    if family[0] == "pettingzoo" and len(family) > 1:  # e.g. pettingzoo.butterfly needs pygame
        return f'pip install "pettingzoo[{family[1]}]"'
    return f"pip install the distribution that provides {missing!r}"


def _construct(target: str, kwargs: dict[str, Any]) -> Any:
    """A new parallel env of ``target``, checked to have the parallel API."""
    function = parallel_env_function(target)
    try:
        env = function(**kwargs)
    except Exception as error:  # noqa: BLE001 - bad env_args surface as any exception type
        raise EnvError(
            f"Cannot create PettingZoo environment {target!r} with arguments {kwargs}: "
            f"{type(error).__name__}: {error}. Check env_args (key=value pairs for the function)."
        ) from None
    if not all(hasattr(env, name) for name in ("possible_agents", "reset", "step")):
        env_close = getattr(env, "close", None)
        if callable(env_close):
            env_close()
        raise EnvError(
            f"PettingZoo environment {target!r} returned {type(env).__name__}, not a parallel env "
            "(possible_agents, reset, step). Name the module's parallel_env function, or "
            "wrap an AEC env with pettingzoo.utils.conversions.aec_to_parallel."
        )
    return env


@attrs.define
class _Behavior:
    """What the adapter knows of one behavior: spec, converters, and how its agents mask actions."""

    name: str
    spec: BehaviorSpec
    agents: list[Any]
    observe: Callable[[Any], np.ndarray]
    action_space: spaces.Space
    dict_obs: bool  # observations are {"observation": ..., "action_mask": ...}
    mask_width: int  # sum(branches) for discrete actions, else 0: masks make sense only there
    teams: np.ndarray | None = None  # each agent's team (by agent id), from the env's mlx_teams
    converters: dict[int, Callable[[ActionTuple], np.ndarray]] = attrs.field(factory=dict)

    def to_env_actions(self, actions: ActionTuple, n: int) -> list[Any]:
        """One PettingZoo action per row of ``actions``."""
        convert = self.converters.get(n)
        if convert is None:  # the gymnasium converters are built for a fixed batch size
            convert = self.converters[n] = _action_converter(self.action_space, n)[1]
        batch = convert(actions)
        if isinstance(self.action_space, spaces.Discrete):
            return batch.tolist()  # plain ints: what envs written for Discrete expect
        return list(batch)


class PettingZooEnvironment(Environment):
    """One copy of a PettingZoo parallel env; its agents are grouped into behaviors by name.

    ``parallel_env`` is the wrapped PettingZoo env. Observations may be Box (float32),
    Discrete (one-hot) or a ``{"observation", "action_mask"}`` Dict (PettingZoo's masking
    convention); ``infos[agent]["action_mask"]`` masks too. Actions may be Discrete,
    MultiDiscrete or Box (rescaled from [-1, 1] to finite bounds).
    """

    def __init__(self, target: str, kwargs: dict[str, Any] | None = None) -> None:
        self.target = target
        self.parallel_env = _construct(target, dict(kwargs or {}))
        try:
            self._behaviors = self._group_agents()
        except EnvError:
            self.parallel_env.close()
            raise
        self._specs = {name: b.spec for name, b in self._behaviors.items()}
        self._place = {agent: (b, i) for b in self._behaviors.values() for i, agent in enumerate(b.agents)}
        self._next_seed: int | None = None
        self._waiting: dict[str, list[Any]] = {}  # rows of the last DecisionSteps, per behavior
        self._last_obs: dict[Any, Any] = {}  # raw observations of the last result, by agent

    @property
    def specs(self) -> dict[str, BehaviorSpec]:
        """One behavior per agent-name prefix."""
        return self._specs

    def seed(self, seed: int) -> None:
        """The next reset uses ``reset(seed=seed)``."""
        self._next_seed = seed

    def reset(self) -> StepResult:
        """Start a new episode; every live agent asks for its first decision."""
        obs, infos = self._reset_env()
        live = list(self.parallel_env.agents)
        return self._result(obs, infos, {}, live, set(live), {})

    def step(self, actions: dict[str, ActionTuple]) -> StepResult:
        """Act for the agents of the previous decisions; report the finished, restart when none is left."""
        env_actions: dict[Any, Any] = {}
        acted: list[Any] = []
        for name, agents in self._waiting.items():
            if agents:
                env_actions.update(zip(agents, self._behaviors[name].to_env_actions(actions[name], len(agents))))
                acted.extend(agents)
        obs, rewards, terminations, truncations, infos = self.parallel_env.step(env_actions)
        present = set(self.parallel_env.agents)
        # An agent is done when the env says so, or when it left env.agents without saying it.
        ended = [a for a in acted if terminations.get(a) or truncations.get(a) or a not in present]
        terminals = self._terminals(ended, obs, rewards, terminations, truncations)
        live = [a for a in self.parallel_env.agents if not (terminations.get(a) or truncations.get(a))]
        if live:
            fresh = present.difference(acted)  # agents that joined this step earned nothing yet
            return self._result(obs, infos or {}, rewards, live, fresh, terminals)
        # Nobody is left: start the next episode now, so this copy asks for decisions again
        # in the same result (as gymnasium's same-step autoreset does).
        obs, infos = self._reset_env()
        live = list(self.parallel_env.agents)
        return self._result(obs, infos, {}, live, set(live), terminals)

    def set_parameters(self, parameters: dict[str, float]) -> None:
        """Hand ``parameters`` to the env's ``set_parameters(parameters)`` method (the protocol of
        :func:`mlx_core.env.gymnasium.apply_parameters`), applied from its next reset."""
        if parameters:
            apply_parameters(self.parallel_env, parameters, self.target)

    def close(self) -> None:
        """Close the PettingZoo env."""
        self.parallel_env.close()

    # -- helpers -----------------------------------------------------------------------------
    def _reset_env(self) -> tuple[dict[Any, Any], dict[Any, Any]]:
        obs, infos = self.parallel_env.reset(seed=self._next_seed)
        self._next_seed = None
        return obs, infos or {}

    def _terminals(
        self,
        ended: list[Any],
        obs: dict[Any, Any],
        rewards: dict[Any, Any],
        terminations: dict[Any, Any],
        truncations: dict[Any, Any],
    ) -> dict[str, TerminalSteps]:
        """TerminalSteps of the behaviors that have ended agents (the others are left out)."""
        finished: dict[str, list[Any]] = {}
        for agent in ended:
            finished.setdefault(self._behavior_of(agent).name, []).append(agent)
        terminals = {}
        for name, done in finished.items():
            behavior = self._behaviors[name]
            # An agent that vanished without an observation keeps the one it last decided on.
            final = [obs[a] if a in obs else self._last_obs[a] for a in done]
            terminals[name] = TerminalSteps(
                obs=[self._observations(behavior, final)[0]],
                reward=np.array([rewards.get(a, 0.0) for a in done], np.float32),
                agent_id=np.array([self._place[a][1] for a in done], np.int64),
                interrupted=np.array([bool(truncations.get(a)) and not terminations.get(a) for a in done], bool),
            )
            if behavior.teams is not None:
                terminals[name].team_id = behavior.teams[terminals[name].agent_id]
        return terminals

    def _result(
        self,
        obs: dict[Any, Any],
        infos: dict[Any, Any],
        rewards: dict[Any, Any],
        live: list[Any],
        fresh: set[Any],
        terminals: dict[str, TerminalSteps],
    ) -> StepResult:
        """Every behavior's decisions (of ``live``) and terminal steps, empty ones included."""
        self._waiting = {name: [] for name in self._behaviors}
        for agent in live:
            self._waiting[self._behavior_of(agent).name].append(agent)
        result: StepResult = {}
        for name, behavior in self._behaviors.items():
            deciding = self._waiting[name]
            decisions = (
                self._decisions(behavior, deciding, obs, infos, rewards, fresh)
                if deciding
                else DecisionSteps.empty(behavior.spec)
            )
            result[name] = (decisions, terminals[name] if name in terminals else TerminalSteps.empty(behavior.spec))
        self._last_obs = obs
        return result

    def _decisions(
        self,
        behavior: _Behavior,
        agents: list[Any],
        obs: dict[Any, Any],
        infos: dict[Any, Any],
        rewards: dict[Any, Any],
        fresh: set[Any],
    ) -> DecisionSteps:
        """The DecisionSteps of ``agents`` (all of ``behavior``), in that order."""
        observation, mask = self._observations(behavior, [obs[a] for a in agents])
        if behavior.mask_width and mask is None:
            mask = self._info_masks(behavior, agents, infos)
        agent_id = np.array([self._place[a][1] for a in agents], np.int64)
        return DecisionSteps(
            obs=[observation],
            reward=np.array([0.0 if a in fresh else rewards.get(a, 0.0) for a in agents], np.float32),
            agent_id=agent_id,
            action_mask=mask,
            team_id=None if behavior.teams is None else behavior.teams[agent_id],
        )

    def _observations(self, behavior: _Behavior, raw: list[Any]) -> tuple[np.ndarray, np.ndarray | None]:
        """Batched float32 observations and, for Dict observations, the boolean action masks."""
        if not behavior.dict_obs:
            return behavior.observe(np.stack([np.asarray(o) for o in raw])), None
        observation = behavior.observe(np.stack([np.asarray(o["observation"]) for o in raw]))
        mask = np.stack([np.asarray(o["action_mask"]).reshape(-1) for o in raw]).astype(bool)
        return observation, mask

    @staticmethod
    def _info_masks(behavior: _Behavior, agents: list[Any], infos: dict[Any, Any]) -> np.ndarray | None:
        """Masks from ``infos[agent]["action_mask"]``; agents without one may take any action."""
        masks = [(infos.get(a) or {}).get("action_mask") for a in agents]
        if all(m is None for m in masks):
            return None
        out = np.ones((len(agents), behavior.mask_width), dtype=bool)
        for row, m in enumerate(masks):
            if m is not None:
                out[row] = np.asarray(m).reshape(-1).astype(bool)
        return out

    def _behavior_of(self, agent: Any) -> _Behavior:
        place = self._place.get(agent)
        if place is None:
            raise EnvError(
                f"PettingZoo environment {self.target!r} has agent {agent!r}, which is not in its "
                "possible_agents: mlx needs every agent listed there to give it a behavior and an id."
            )
        return place[0]

    def _group_agents(self) -> dict[str, _Behavior]:
        """Group ``possible_agents`` by behavior name and check each group shares its spaces."""
        env = self.parallel_env
        groups: dict[str, list[Any]] = {}
        for agent in env.possible_agents:
            groups.setdefault(behavior_name(agent), []).append(agent)
        if not groups:
            raise EnvError(f"PettingZoo environment {self.target!r} has no possible_agents.")
        behaviors = {}
        for name, agents in groups.items():
            first = agents[0]
            obs_space, action_space = env.observation_space(first), env.action_space(first)
            for other in agents[1:]:
                other_obs, other_action = env.observation_space(other), env.action_space(other)
                if other_obs != obs_space or other_action != action_space:
                    raise EnvError(
                        f"PettingZoo environment {self.target!r}: agents {first!r} and {other!r} are both "
                        f"behavior {name!r} (the name before the last '_') but their spaces differ: "
                        f"{first!r} observes {obs_space} and acts in {action_space}, {other!r} observes "
                        f"{other_obs} and acts in {other_action}. Agents of one behavior share one policy, "
                        "so they need equal observation and action spaces; rename the agents so that "
                        "different kinds have different prefixes."
                    )
            behaviors[name] = self._behavior(name, agents, obs_space, action_space)
        return self._with_teams(behaviors)

    def _with_teams(self, behaviors: dict[str, _Behavior]) -> dict[str, _Behavior]:
        """Give every behavior its agents' teams when the env declares ``mlx_teams``."""
        env = self.parallel_env
        declared = getattr(env, "mlx_teams", None) or getattr(getattr(env, "unwrapped", None), "mlx_teams", None)
        if not declared:
            return behaviors
        missing = [a for a in env.possible_agents if not isinstance(declared.get(a), int) or declared[a] < 0]
        if missing:
            raise EnvError(
                f"PettingZoo environment {self.target!r} declares mlx_teams but gives no team (an integer from 0) "
                f"to {', '.join(map(repr, missing))}; give every agent of possible_agents its team."
            )
        num_teams = max(declared.values()) + 1
        for behavior in behaviors.values():
            behavior.teams = np.array([declared[a] for a in behavior.agents], np.int64)
            behavior.spec = attrs.evolve(behavior.spec, num_teams=num_teams)
        return behaviors

    def _behavior(self, name: str, agents: list[Any], obs_space: Any, action_space: Any) -> _Behavior:
        """Spec and converters of one behavior from its agents' shared spaces."""
        where = f"PettingZoo environment {self.target!r}, behavior {name!r},"
        dict_obs = isinstance(obs_space, spaces.Dict) and set(obs_space.spaces) == {"observation", "action_mask"}
        try:
            shape, observe = _observation_converter(obs_space["observation"] if dict_obs else obs_space)
            action_spec, _ = _action_converter(action_space, 1)
        except EnvError as error:
            raise EnvError(f"{where} {error}") from None
        mask_width = sum(action_spec.discrete_branches) if action_spec.is_discrete else 0
        if dict_obs:
            mask_size = int(np.prod(obs_space["action_mask"].shape))
            if mask_size != mask_width:
                raise EnvError(
                    f"{where} has an action_mask of {mask_size} entries, but its action space "
                    f"{action_space} needs {mask_width} (one per discrete action)."
                )
        return _Behavior(
            name=name,
            spec=BehaviorSpec((ObservationSpec(shape),), action_spec),
            agents=list(agents),
            observe=observe,
            action_space=action_space,
            dict_obs=dict_obs,
            mask_width=mask_width,
        )
