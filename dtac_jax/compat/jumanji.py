"""The simulator as a Jumanji ``Environment``.

Jumanji's ``step(state, action)`` takes no key, so the adapter's state carries one
(:class:`JumanjiState`). Observations are :class:`dtac_jax.env.Obs` (``s``, ``mask``,
``edge``), actions are :class:`dtac_jax.env.Action` (target, channel, ``a``, ``b`` per UE
slot, the ratios in ``[A_MIN, 1]``), both described by nested specs; ``mask`` is a bounded
boolean, as in Jumanji's own environments, so ``JumanjiToGymWrapper`` and
``JumanjiToDMEnvWrapper`` convert the specs (``JumanjiToGymWrapper.step`` reads its action
with ``jnp.asarray``, so it steps array actions only; use ``JumanjiToDMEnvWrapper`` or the
environment itself with this structured action).

The reward is minus the round's eq. 27 objective (``reward="log1p"``: minus its ``log1p``;
``obs="log1p"`` compresses the lower bounds, :mod:`dtac_jax.compat.transforms`); the episode
ends by *truncation* (``StepType.LAST`` with discount 1) after ``params.rounds`` rounds.
"""
from __future__ import annotations

import functools
from typing import Any

import chex
import jax
import jax.numpy as jnp
from flax import struct
from jumanji import specs
from jumanji.env import Environment
from jumanji.types import TimeStep, restart, transition, truncation

from dtac_jax.compat import A_MIN, transforms
from dtac_jax.env import env as _env
from dtac_jax.env.scenarios import Scenario, make_params, make_scenario


@struct.dataclass
class JumanjiState:
    env_state: Any
    key: chex.PRNGKey


class CloudEdgeJumanji(Environment):
    """Jumanji adapter for one scenario (its :class:`EnvParams` are fixed at construction)."""

    def __init__(self, scenario: Scenario | None = None, reward: str = "raw",
                 obs: str = "raw"):
        transforms.check("CloudEdgeJumanji", reward, obs)
        self.reward, self.obs = reward, obs
        self.scenario = make_scenario("small") if scenario is None else scenario
        self.params = make_params(self.scenario)
        super().__init__()

    def __repr__(self) -> str:
        return f"CloudEdgeJumanji({self.scenario.name})"

    def reset(self, key: chex.PRNGKey) -> tuple[JumanjiState, TimeStep]:
        key, reset_key = jax.random.split(key)
        obs, env_state = _env.reset(reset_key, self.params)
        return JumanjiState(env_state, key), restart(self._obs(obs), extras=self._extras(None))

    def _obs(self, obs: _env.Obs) -> _env.Obs:
        return obs._replace(s=transforms.lower_bounds(obs.s, self.obs))

    def step(self, state: JumanjiState, action: _env.Action) -> tuple[JumanjiState, TimeStep]:
        key, step_key = jax.random.split(state.key)
        obs, env_state, _, done, info = _env.step(step_key, state.env_state, action,
                                                  self.params)
        reward, extras = transforms.reward(info["objective"], self.reward), self._extras(info)
        obs = self._obs(obs)
        timestep = jax.lax.cond(done, lambda: truncation(reward, obs, extras=extras),
                                lambda: transition(reward, obs, extras=extras))
        return JumanjiState(env_state, key), timestep

    def _extras(self, info) -> dict:
        zero = jnp.zeros((), self.params.s_in.dtype)
        return {"objective": zero if info is None else info["objective"],
                "t_round": zero if info is None else info["t_round"]}

    @functools.cached_property   # built once, outside jit (Environment.__init__ reads it)
    def observation_spec(self) -> specs.Spec:
        p, n = self.params, self.params.n_max
        return specs.Spec(_env.Obs, "ObservationSpec",
                          s=specs.BoundedArray((n, _env.OBS_DIM), jnp.float32, 0.0,
                                               transforms.lower_bound_high(self.obs), "s"),
                          mask=specs.BoundedArray((n,), bool, False, True, "mask"),
                          edge=specs.BoundedArray((n,), jnp.int32, 0, p.n_edges - 1, "edge"))

    @functools.cached_property
    def action_spec(self) -> specs.Spec:
        p, n = self.params, self.params.n_max
        return specs.Spec(
            _env.Action, "ActionSpec",
            x=specs.MultiDiscreteArray(jnp.full((n,), 3, jnp.int32), name="x"),
            channel=specs.MultiDiscreteArray(jnp.full((n,), p.l_channels, jnp.int32),
                                             name="channel"),
            a=specs.BoundedArray((n,), jnp.float32, A_MIN, 1.0, "a"),
            b=specs.BoundedArray((n,), jnp.float32, A_MIN, 1.0, "b"))
