"""Composable, functional environment wrappers.

:class:`CloudEdgeEnv` is the simulator (:func:`dtac_jax.env.reset` / :func:`dtac_jax.env.step`)
as an object with ``default_params`` and spaces. Every wrapper keeps its signatures,

    reset(key, params) -> (obs, state)
    step(key, state, action, params) -> (obs, state, reward, done, info)

and everything stays a pure function of explicit state and keys (``jit``, ``vmap`` and
``lax.scan`` apply). Attributes a wrapper does not define are read from the environment it
wraps. A wrapper that needs something of the stack inside it refuses any other stack with a
one-line ``ValueError`` when it is built: :class:`FixedUECount` wraps the simulator itself (it
draws the UEs at reset), and :class:`BurstyArrivals` wraps an unbatched stack whose state is
the simulator's ``EnvState`` (not :class:`EpisodeStats`' state, not :class:`Batched`). Every
other order composes. Typical stacks::

    env = EpisodeStats(AutoReset(TeamReward(CloudEdgeEnv(make_scenario("small")))))
    env = FlatObs(FixedUECount(CloudEdgeEnv(), n_per_edge=(3, 3, 3, 3, 3)))
    env = Batched(AutoReset(CloudEdgeEnv()), 128)   # the training rollout's stack

A new effect (mobility, bursty arrivals, failures) is one more wrapper, e.g.
:class:`BurstyArrivals`. Registered as an effect (:func:`register_effect`), it is named in any
algorithm's config (``EnvConfig.wrappers``, ``--set env.wrappers='["bursty(p=0.5)"]'``) and
every training rollout steps it, with no edit under ``algos/``; see ``docs/extending.md``.
"""
from __future__ import annotations

import ast
import dataclasses
import re
from typing import Any

import chex
import jax
import jax.numpy as jnp
from flax import struct

from dtac_jax.config import Config
from dtac_jax.env import env as _env
from dtac_jax.env import generators, rng, spaces
from dtac_jax.env.scenarios import EnvParams, Scenario, make_params, make_scenario


class CloudEdgeEnv:
    """The cloud-edge simulator: ``reset`` / ``step`` of :mod:`dtac_jax.env.env`.

    ``ue_counts`` draws each episode's number of UEs per edge and ``arrivals`` each round's
    tasks (:mod:`dtac_jax.env.generators`; default: the system model's uniform counts and Zipf
    tasks): replace either to change who is in the network and what they ask for. ``reward``
    is the per-UE vector ``(-w_time t_ue, -w_energy e_ue)`` float[N, 2] (paper eq. 17) and
    ``done`` is the time limit ``params.rounds``; ``info`` holds the round's costs
    (``objective`` is eq. 27's). Wrap with :class:`TeamReward` for a scalar reward and with
    :class:`AutoReset` to continue past the limit.
    """

    def __init__(self, scenario: Scenario | None = None, *,
                 ue_counts: generators.UECounts | None = None,
                 arrivals: generators.Arrivals | None = None):
        self.scenario = make_scenario("small") if scenario is None else scenario
        self.ue_counts = _env.DEFAULT_UE_COUNTS if ue_counts is None else ue_counts
        self.arrivals = _env.DEFAULT_ARRIVALS if arrivals is None else arrivals
        for name, want in (("ue_counts", generators.UECounts),
                           ("arrivals", generators.Arrivals)):
            if not isinstance(getattr(self, name), want):
                raise ValueError(f"CloudEdgeEnv: {name} must be a generators.{want.__name__}, "
                                 f"got {type(getattr(self, name)).__name__}")

    @property
    def default_params(self) -> EnvParams:
        return make_params(self.scenario)

    def reset(self, key: chex.PRNGKey, params: EnvParams):
        return _env.reset(key, params, ue_counts=self.ue_counts, arrivals=self.arrivals)

    def step(self, key: chex.PRNGKey, state, action: _env.Action, params: EnvParams):
        return _env.step(key, state, action, params, arrivals=self.arrivals)

    def observation_space(self, params: EnvParams) -> spaces.Dict:
        return spaces.observation_space(params)

    def action_space(self, params: EnvParams) -> spaces.Dict:
        return spaces.action_space(params)

    def num_agents(self, params: EnvParams) -> int:
        """UE slots (``N_max``): the real UEs are ``obs.mask``."""
        return params.n_max


class Wrapper:
    """Base wrapper: forwards everything to the wrapped environment. ``keeps_env_state``: its
    state is the inner stack's state (so the simulator's ``EnvState`` when every wrapper inside
    keeps it); ``batched``: it adds a leading axis to states and actions."""

    keeps_env_state = True
    batched = False

    def __init__(self, env):
        self._env = env

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)

    def reset(self, key, params):
        return self._env.reset(key, params)

    def step(self, key, state, action, params):
        return self._env.step(key, state, action, params)

    @property
    def unwrapped(self) -> CloudEdgeEnv:
        env = self._env
        while isinstance(env, Wrapper):
            env = env._env
        return env


def stack(env) -> list:
    """The wrappers of ``env`` from the outermost in, then the environment they wrap."""
    out = [env]
    while isinstance(out[-1], Wrapper):
        out.append(out[-1]._env)
    return out


class TeamReward(Wrapper):
    """A scalar team reward, minus the round's eq. 27 objective (``info["objective"]``), in
    place of the per-UE vector; the vector stays in ``info["ue_reward"]``."""

    def step(self, key, state, action, params):
        obs, state, reward, done, info = self._env.step(key, state, action, params)
        return obs, state, -info["objective"], done, dict(info, ue_reward=reward)


class FlatObs(Wrapper):
    """One flat float vector per observation: the ``N x 6`` lower bounds, then the mask and
    the edge ids as floats (``N * 8`` entries)."""

    @staticmethod
    def flatten(obs: _env.Obs) -> jax.Array:
        dtype = obs.s.dtype
        return jnp.concatenate([obs.s.reshape(-1), obs.mask.astype(dtype),
                                obs.edge.astype(dtype)])

    def reset(self, key, params):
        obs, state = self._env.reset(key, params)
        return self.flatten(obs), state

    def step(self, key, state, action, params):
        obs, state, reward, done, info = self._env.step(key, state, action, params)
        return self.flatten(obs), state, reward, done, info

    def observation_space(self, params):
        return spaces.Box(0.0, float("inf"), (params.n_max * (_env.OBS_DIM + 2),),
                          params.s_in.dtype)


class FixedUECount(Wrapper):
    """Episodes with a fixed number of UEs on each edge (int[K], each in ``[0, ue_max]``)
    instead of drawn counts: the simulator it wraps with its UE-count generator replaced by
    :class:`~dtac_jax.env.generators.FixedUECounts` (its arrivals kept). The counts may be
    traced (e.g. ``vmap`` over UE counts); concrete ones are checked against the scenario."""

    def __init__(self, env, n_per_edge):
        if not isinstance(env, CloudEdgeEnv):
            raise ValueError(f"FixedUECount wraps the CloudEdgeEnv itself (it draws the UEs at "
                             f"reset), not {type(env).__name__}: put it innermost")
        super().__init__(env)
        self.ue_counts = generators.FixedUECounts(n_per_edge)

    def reset(self, key, params):
        return _env.reset(key, params, ue_counts=self.ue_counts, arrivals=self._env.arrivals)


class Batched(Wrapper):
    batched = True

    """``n`` environments stepped as one: ``reset`` / ``step`` split their key ``n`` ways
    (:func:`dtac_jax.env.rng.split`) and ``vmap`` the wrapped environment; states, actions,
    observations, rewards and ``done`` gain a leading axis ``n``, the params are shared."""

    def __init__(self, env, n: int):
        super().__init__(env)
        self.n = int(n)

    def reset(self, key, params):
        return jax.vmap(self._env.reset, in_axes=(0, None))(rng.split(key, self.n), params)

    def step(self, key, state, action, params):
        return jax.vmap(self._env.step, in_axes=(0, 0, 0, None))(
            rng.split(key, self.n), state, action, params)


class AutoReset(Wrapper):
    """A finished episode is followed at once by a new one: when ``done``, the returned
    observation and state are a fresh reset's (``info["final_obs"]`` keeps the last one).

    The inner step gets the caller's key unchanged, so up to the first reset a wrapped
    trajectory equals the unwrapped one; the reset key is ``fold_in(key, 1)``.
    """

    def step(self, key, state, action, params):
        obs, state_st, reward, done, info = self._env.step(key, state, action, params)
        obs_re, state_re = self._env.reset(jax.random.fold_in(key, 1), params)
        pick = lambda re, st: jax.tree_util.tree_map(
            lambda a, b: jax.lax.select(done, a, b), re, st)
        return (pick(obs_re, obs), pick(state_re, state_st), reward, done,
                dict(info, final_obs=obs))


@struct.dataclass
class EpisodeStatsState:
    env_state: Any
    episode_return: jax.Array     # running sums of the current episode
    episode_length: jax.Array
    episode_time: jax.Array
    episode_energy: jax.Array
    returned_return: jax.Array    # the last finished episode's
    returned_length: jax.Array
    returned_time: jax.Array
    returned_energy: jax.Array


class EpisodeStats(Wrapper):
    """Episode return (the team reward, minus the summed objective), length, total round time
    and total UE energy. ``info`` gains ``returned_episode_{return,length,time,energy}``, the
    last finished episode's, and ``returned_episode`` (this step ended one). Put it outside
    :class:`AutoReset` (PureJaxRL's ``LogWrapper`` convention)."""

    keeps_env_state = False

    def reset(self, key, params):
        obs, env_state = self._env.reset(key, params)
        z = jnp.zeros((), params.s_in.dtype)
        zi = jnp.zeros((), jnp.int32)
        return obs, EpisodeStatsState(env_state, z, zi, z, z, z, zi, z, z)

    def step(self, key, state: EpisodeStatsState, action, params):
        obs, env_state, reward, done, info = self._env.step(key, state.env_state, action,
                                                            params)
        ret = state.episode_return - info["objective"]
        length = state.episode_length + 1
        time_ = state.episode_time + info["t_round"]
        energy = state.episode_energy + jnp.sum(info["e_ue"])
        keep = lambda new, old: jnp.where(done, new, old)
        zero = lambda v: jnp.where(done, jnp.zeros_like(v), v)
        new = EpisodeStatsState(
            env_state, zero(ret), zero(length), zero(time_), zero(energy),
            keep(ret, state.returned_return), keep(length, state.returned_length),
            keep(time_, state.returned_time), keep(energy, state.returned_energy))
        info = dict(info, returned_episode=done, returned_episode_return=new.returned_return,
                    returned_episode_length=new.returned_length,
                    returned_episode_time=new.returned_time,
                    returned_episode_energy=new.returned_energy)
        return obs, new, reward, done, info


class BurstyArrivals(Wrapper):
    """Bursty task arrivals, an example of a new effect as a wrapper (``env.py`` unchanged):
    with probability ``p`` a round gives every real UE the same task (slot 0's), which the
    edge caches can then serve. Wraps an environment whose state is the ``EnvState``."""

    def __init__(self, env, p: float = 0.2):
        if not isinstance(p, jax.core.Tracer) and not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"BurstyArrivals: p={p} is not a probability in [0, 1]")
        for inner in stack(env)[:-1]:
            if inner.batched or not inner.keeps_env_state:
                raise ValueError(f"BurstyArrivals wraps an unbatched stack whose state is the "
                                 f"simulator's EnvState, not {type(inner).__name__}: put it "
                                 f"inside {type(inner).__name__}")
        super().__init__(env)
        self.p = p

    def step(self, key, state, action, params):
        k_burst, k_step = jax.random.split(key)
        obs, state, reward, done, info = self._env.step(k_step, state, action, params)
        burst = jax.random.bernoulli(k_burst, self.p)
        state = state.replace(task=jnp.where(burst & state.mask, state.task[0], state.task))
        return _env.observe(state, params), state, reward, done, info



# ------------------------------------------------------------------ effects in a config
#: Effects that a training config names (:class:`EnvConfig`): ``name -> wrapper class``,
#: built as ``cls(env, **options)`` around the simulator, each around the previous one.
EFFECTS: dict[str, type] = {"bursty": BurstyArrivals}


def register_effect(name: str, cls: type) -> None:
    """Make ``cls`` (a :class:`Wrapper` taking ``(env, **options)``) nameable in
    ``EnvConfig.wrappers`` as ``name`` or ``name(option=value, ...)``."""
    if not re.fullmatch(r"[A-Za-z_]\w*", name):
        raise ValueError(f"effect name {name!r} is not an identifier")
    EFFECTS[name] = cls


_SPEC = re.compile(r"\s*([A-Za-z_]\w*)\s*(?:\((.*)\))?\s*$", re.S)


def parse_effect(spec: str, field: str = "env.wrappers",
                 known: dict[str, type] | None = None) -> tuple[str, dict]:
    """``"bursty(p=0.5)"`` -> ``("bursty", {"p": 0.5})``: a registered name (of ``known``,
    default :data:`EFFECTS`) and its options as Python literals; anything else is a one-line
    ``ValueError`` naming ``field``."""
    known = EFFECTS if known is None else known
    register = ("register_effect" if known is EFFECTS
                else "dtac_jax.env.generators.register_generator")
    m = _SPEC.match(spec) if isinstance(spec, str) else None
    if m is None:
        raise ValueError(f"{field}: {spec!r} is not NAME or NAME(option=value, ...)")
    name, args = m.group(1), m.group(2)
    if name not in known:
        raise ValueError(f"{field}: unknown name {name!r} (known: "
                         f"{', '.join(sorted(known))}; add one with {register})")
    options = {}
    if args and args.strip():
        try:
            call = ast.parse(f"f({args})", mode="eval").body
            if call.args:
                raise ValueError("options are given by name")
            options = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
        except (SyntaxError, ValueError) as err:
            raise ValueError(f"{field}: bad options in {spec!r} ({err}): write "
                             f"{name}(option=value, ...)") from None
    return name, options


@dataclasses.dataclass(frozen=True)
class EnvConfig(Config):
    """The environment a training rollout steps: the simulator with the generators
    ``ue_counts`` and ``arrivals`` (registered names, :data:`dtac_jax.env.generators.GENERATORS`,
    e.g. ``"fixed(n=[3, 3, 3, 3, 3])"``), inside the registered effects ``wrappers``
    (innermost first), e.g. ``("bursty(p=0.5)",)``; the training stack
    (``Batched(AutoReset(...))``) goes around it. Evaluation and validation step the scenario's
    own simulator, so every policy is measured on the same episodes."""

    wrappers: tuple[str, ...] = ()
    ue_counts: str = "uniform"
    arrivals: str = "zipf"

    def __post_init__(self):
        self.make()   # an unknown name, bad options or an impossible order: one line now

    def make(self):
        made = {}
        for field, want in (("ue_counts", generators.UECounts),
                            ("arrivals", generators.Arrivals)):
            spec = getattr(self, field)
            name, options = parse_effect(spec, f"env.{field}", generators.GENERATORS)
            cls = generators.GENERATORS[name]
            if not issubclass(cls, want):
                raise ValueError(f"env.{field}: {name!r} is a generator of "
                                 f"{'arrivals' if want is generators.UECounts else 'UE counts'}")
            try:
                made[field] = cls(**options)
            except (TypeError, ValueError) as err:
                raise ValueError(f"env.{field}: {spec!r}: {err}") from None
        env = CloudEdgeEnv(**made)
        for spec in self.wrappers:
            name, options = parse_effect(spec)
            try:
                env = EFFECTS[name](env, **options)
            except TypeError as err:
                raise ValueError(f"env.wrappers: {spec!r}: {err}") from None
        return env
