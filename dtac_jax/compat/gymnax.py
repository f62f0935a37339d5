"""The simulator as a gymnax ``Environment`` (gymnax >= 1.0: ``step`` returns ``obs, state,
reward, terminated, truncated, info`` and resets automatically).

The whole network is one agent, with a flat observation and a flat continuous action:

* observation: :class:`dtac_jax.env.wrappers.FlatObs`, ``N * 8`` floats: the lower bounds
  (seconds, and the uplink gain), in ``[0, float32 max]`` (fading makes them unbounded in
  principle), then the mask and the edge ids;
* action: ``[low, high]^(4 N)`` (``action_range``, default ``(0, 1)``; PureJaxRL's continuous
  PPO clips to ``(-1, 1)``), mapped affinely onto ``[0, 1]``; per UE slot ``(u_x, u_l, a, b)``:
  the target ``floor(3 u_x)`` (0 local, 1 edge, 2 cloud), the channel ``floor(L u_l)``, and
  the ratios ``a``, ``b`` (read as at least ``A_MIN``); see :func:`decode`;
* reward: minus the round's eq. 27 objective (:class:`~dtac_jax.env.wrappers.TeamReward`),
  or with ``reward="log1p"`` minus its ``log1p``; ``obs="log1p"`` compresses the lower bounds
  (:mod:`dtac_jax.compat.transforms`);
* truncation at ``params.rounds``; the episode never terminates otherwise.

A script written for gymnax before 1.0 (PureJaxRL's) unpacks a 5-tuple ``step``: wrap the
environment in :class:`LegacyStep`. So a PureJaxRL user writes
``env = LegacyStep(CloudEdgeGymnax(action_range=(-1.0, 1.0)))``.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import environment, spaces

from dtac_jax.compat import A_MIN, transforms
from dtac_jax.env import env as _env
from dtac_jax.env.scenarios import EnvParams, Scenario, make_params, make_scenario
from dtac_jax.env.wrappers import FlatObs


def decode(u: jax.Array, params: EnvParams, low: float = 0.0,
           high: float = 1.0) -> _env.Action:
    """The executed joint action of a flat action ``u`` in ``[low, high]^(4 N)`` (mapped
    affinely onto ``[0, 1]``; values outside are clipped)."""
    u = jnp.clip((u.reshape(params.n_max, 4) - low) / (high - low), 0.0, 1.0)
    x = jnp.minimum((u[:, 0] * 3).astype(jnp.int32), 2)
    channel = jnp.minimum((u[:, 1] * params.l_channels).astype(jnp.int32),
                          params.l_channels - 1)
    return _env.Action(x=x, channel=channel, a=jnp.maximum(u[:, 2], A_MIN),
                       b=jnp.maximum(u[:, 3], A_MIN))


class CloudEdgeGymnax(environment.Environment):
    """gymnax adapter; ``default_params`` are the scenario's :class:`EnvParams`."""

    def __init__(self, scenario: Scenario | None = None,
                 action_range: tuple[float, float] = (0.0, 1.0), reward: str = "raw",
                 obs: str = "raw"):
        super().__init__()
        transforms.check("CloudEdgeGymnax", reward, obs)
        self.reward, self.obs = reward, obs
        self.scenario = make_scenario("small") if scenario is None else scenario
        low, high = (float(v) for v in action_range)
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise ValueError(f"CloudEdgeGymnax: action_range must be two finite numbers low < "
                             f"high, got {tuple(action_range)}")
        self.action_range = (low, high)

    @property
    def default_params(self) -> EnvParams:
        return make_params(self.scenario)

    def step_env(self, key, state, action, params):
        obs, state, reward, done, info = _env.step(key, state,
                                                   decode(action, params, *self.action_range),
                                                   params)
        info = {k: info[k] for k in ("objective", "t_round")}
        return (self.flat_obs(obs), state, transforms.reward(info["objective"], self.reward),
                jnp.zeros((), bool), info)

    def reset_env(self, key, params):
        obs, state = _env.reset(key, params)
        return self.flat_obs(obs), state

    def flat_obs(self, obs: _env.Obs) -> jax.Array:
        """The flat observation (:class:`FlatObs`, with the ``obs`` transform) of ``obs``."""
        return FlatObs.flatten(obs._replace(s=transforms.lower_bounds(obs.s, self.obs)))

    def get_obs(self, state, params=None, key=None):
        return self.flat_obs(_env.observe(state, self.default_params if params is None
                                       else params))

    def is_truncated(self, state, params) -> jax.Array:
        return state.t >= params.rounds

    def is_terminated(self, state, params) -> jax.Array:
        return jnp.zeros((), bool)

    @property
    def name(self) -> str:
        return f"CloudEdge-{self.scenario.name}"

    @property
    def num_actions(self) -> int:
        return 4 * make_params(self.scenario).n_max

    def action_space(self, params: EnvParams | None = None):
        params = self.default_params if params is None else params
        return spaces.Box(*self.action_range, (4 * params.n_max,), jnp.float32)

    def observation_space(self, params: EnvParams | None = None):
        params = self.default_params if params is None else params
        n = params.n_max
        high = np.concatenate([np.full(n * _env.OBS_DIM, transforms.lower_bound_high(self.obs)),
                               np.ones(n), np.full(n, params.n_edges - 1)]).astype(np.float32)
        return spaces.Box(jnp.zeros_like(high), jnp.asarray(high), (n * (_env.OBS_DIM + 2),),
                          jnp.float32)


class LegacyStep:
    """A gymnax >= 1.0 environment with the 0.x ``step``: ``obs, state, reward, done, info``
    (``done`` = terminated or truncated; both stay in ``info``), for scripts written before
    gymnax 1.0 such as PureJaxRL's. Everything else is the wrapped environment's."""

    def __init__(self, env: environment.Environment):
        self._env = env

    def __getattr__(self, name):
        return getattr(self._env, name)

    def step(self, key, state, action, params=None):
        obs, state, reward, terminated, truncated, info = self._env.step(key, state, action,
                                                                         params)
        return obs, state, reward, jnp.logical_or(terminated, truncated), info
