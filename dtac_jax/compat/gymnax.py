"""The simulator as a gymnax ``Environment`` (gymnax >= 1.0: ``step`` returns ``obs, state,
reward, terminated, truncated, info`` and resets automatically).

The whole network is one agent, so that single-agent gymnax code (PureJaxRL, the
``LogWrapper`` and ``FlattenObservationWrapper`` conventions) runs unchanged:

* observation: :class:`dtac_jax.env.wrappers.FlatObs`, ``N * 8`` floats;
* action: ``[0, 1]^(4 N)``, per UE slot ``(u_x, u_l, a, b)``: the target ``floor(3 u_x)``
  (0 local, 1 edge, 2 cloud), the channel ``floor(L u_l)``, and the ratios ``a``, ``b``
  (clipped to ``[A_MIN, 1]``); see :func:`decode`;
* reward: minus the round's eq. 27 objective (:class:`~dtac_jax.env.wrappers.TeamReward`);
* truncation at ``params.rounds``; the episode never terminates otherwise.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from gymnax.environments import environment, spaces

from dtac_jax.env import env as _env
from dtac_jax.env.scenarios import EnvParams, Scenario, make_params, make_scenario
from dtac_jax.env.wrappers import FlatObs

A_MIN = 1e-3   # the ratios a, b are in (0, 1]: an action of 0 is read as A_MIN


def decode(u: jax.Array, params: EnvParams) -> _env.Action:
    """The executed joint action of a flat action ``u`` in ``[0, 1]^(4 N)``."""
    u = jnp.clip(u.reshape(params.n_max, 4), 0.0, 1.0)
    x = jnp.minimum((u[:, 0] * 3).astype(jnp.int32), 2)
    channel = jnp.minimum((u[:, 1] * params.l_channels).astype(jnp.int32),
                          params.l_channels - 1)
    return _env.Action(x=x, channel=channel, a=jnp.maximum(u[:, 2], A_MIN),
                       b=jnp.maximum(u[:, 3], A_MIN))


class CloudEdgeGymnax(environment.Environment):
    """gymnax adapter; ``default_params`` are the scenario's :class:`EnvParams`."""

    def __init__(self, scenario: Scenario | None = None):
        super().__init__()
        self.scenario = make_scenario("small") if scenario is None else scenario

    @property
    def default_params(self) -> EnvParams:
        return make_params(self.scenario)

    def step_env(self, key, state, action, params):
        obs, state, reward, done, info = _env.step(key, state, decode(action, params), params)
        info = {k: info[k] for k in ("objective", "t_round")}
        return (FlatObs.flatten(obs), state, -info["objective"], jnp.zeros((), bool), info)

    def reset_env(self, key, params):
        obs, state = _env.reset(key, params)
        return FlatObs.flatten(obs), state

    def get_obs(self, state, params=None, key=None):
        return FlatObs.flatten(_env.observe(state, self.default_params if params is None
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
        return spaces.Box(0.0, 1.0, (4 * params.n_max,), jnp.float32)

    def observation_space(self, params: EnvParams | None = None):
        params = self.default_params if params is None else params
        return spaces.Box(0.0, jnp.inf, (params.n_max * (_env.OBS_DIM + 2),), jnp.float32)
