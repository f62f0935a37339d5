"""The rollouts: :func:`rollout` steps many environments for training (batched behaviour,
auto-reset, recurrent memory, bootstrapped time limits); :func:`episode` runs one episode of a
:class:`~dtac_jax.algos.policy.Policy` on fixed keys (evaluation, validation, the states a
policy visits).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from dtac_jax.algos.policy import Policy, PolicyFn, as_policy
from dtac_jax.env import env as E
from dtac_jax.env import rng
from dtac_jax.env.scenarios import EnvParams

def init_envs(key, params: EnvParams, envs: int):
    return jax.vmap(E.reset, in_axes=(0, None))(rng.split(key, envs), params)


def rollout(key, behave: Callable, obs, env_state, params: EnvParams, envs: int, rounds: int,
            bootstrap: Callable | None = None, carry=None):
    """Step ``envs`` vmapped episodes for ``rounds`` rounds; the one training rollout.

    ``behave(key, obs, env_state) -> (Action, extras)`` acts on the batched joint observations
    (``extras``: a dict of per-env arrays stored with the round; the environment states are
    there for counterfactual credit, :func:`counterfactual_objectives`). Episodes that end are reset in place, so
    caches warm up across training episodes. ``bootstrap(obs) -> [envs]``, if given, is applied
    to each round's next observation *before* any reset (the value of a time-limited state).

    A recurrent behaviour passes its memory as ``carry`` (leaves with a leading ``envs`` axis):
    it is then called ``behave(key, obs, env_state, carry) -> (Action, extras, carry)``, and the
    carry of an episode that ends is zeroed.

    Returns ``(items, obs, env_state)``, or ``(items, obs, env_state, carry)`` with a ``carry``;
    ``items`` has leading axes ``[rounds, envs]`` and holds ``s``, ``edge``, ``mask``, ``cost``
    (per-UE weighted costs), ``objective``, ``done``, the ``extras`` and, with ``bootstrap``,
    ``next_value``.
    """
    recurrent = carry is not None

    def one_round(loop, k):
        obs, st, memory = loop
        k_act, k_step, k_reset = rng.split(k, 3)
        if recurrent:
            action, extras, memory = behave(k_act, obs, st, memory)
        else:
            action, extras = behave(k_act, obs, st)
        obs2, st2, reward, done, info = jax.vmap(E.step, in_axes=(0, 0, 0, None))(
            rng.split(k_step, envs), st, action, params)
        item = dict(s=obs.s, edge=obs.edge, mask=obs.mask, cost=-reward,
                    objective=info["objective"], done=done, **extras)
        if bootstrap is not None:
            item["next_value"] = bootstrap(obs2)
        obs_r, st_r = init_envs(k_reset, params, envs)
        pick = lambda new, old: jnp.where(  # noqa: E731
            done.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)
        obs2 = jax.tree_util.tree_map(pick, obs_r, obs2)
        st2 = jax.tree_util.tree_map(pick, st_r, st2)
        memory = jax.tree_util.tree_map(lambda m: pick(jnp.zeros_like(m), m), memory)
        return (obs2, st2, memory), item

    (obs, env_state, carry), items = jax.lax.scan(one_round, (obs, env_state, carry),
                                                  rng.split(key, rounds))
    return (items, obs, env_state, carry) if recurrent else (items, obs, env_state)


def episode(policy: Policy | PolicyFn, params: EnvParams, reset_key, round_keys: Callable,
            rounds: int, record: Callable, n_per_edge=None):
    """One episode of ``rounds`` rounds of ``policy`` on fixed keys; the one evaluation rollout.

    ``round_keys(t) -> (env_key, policy_key)`` gives round ``t``'s keys, so the UE layout
    (``reset_key``), tasks and fading do not depend on the policy's own randomness.
    ``record(obs, action, next_state, info)`` picks what each round returns (stacked over
    rounds). ``n_per_edge`` optionally fixes the UE count per edge.
    """
    policy = as_policy(policy)
    obs, state = E.reset(reset_key, params, n_per_edge)

    def body(carry, t):
        obs, state, memory = carry
        k_env, k_pol = round_keys(t)
        memory, action = policy.apply(memory, k_pol, obs, state, params)
        obs2, state2, _, _, info = E.step(k_env, state, action, params)
        return (obs2, state2, memory), record(obs, action, state2, info)

    _, per_round = jax.lax.scan(body, (obs, state, policy.init(params)), jnp.arange(rounds))
    return per_round
