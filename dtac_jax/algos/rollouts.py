"""The rollout: :func:`scan` steps an environment (any stack of :mod:`dtac_jax.env.wrappers`)
under a policy in one ``lax.scan``. Every rollout of the project is a call of it:

- :func:`rollout`, training (TAC, the transfers, HAPPO): ``Batched(AutoReset(env))``, ``env``
  the algorithm config's :class:`~dtac_jax.env.wrappers.EnvConfig` (the simulator inside any
  registered effects), with a batched behaviour, recurrent memory and bootstrapped time limits;
- :func:`episode`, one episode of a :class:`~dtac_jax.algos.policy.Policy` on fixed keys
  (evaluation, validation, the states a policy visits): ``CloudEdgeEnv()``, or
  ``FixedUECount`` for a fixed UE count per edge.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from dtac_jax.algos.policy import Policy, PolicyFn, as_policy
from dtac_jax.env import rng
from dtac_jax.env.scenarios import EnvParams
from dtac_jax.env.wrappers import AutoReset, Batched, CloudEdgeEnv, FixedUECount


def scan(env, params: EnvParams, act: Callable, obs, state, memory, xs, record: Callable,
         reset_memory: bool = True):
    """Step ``env`` once per element of ``xs`` (``lax.scan``); the one rollout loop.

    ``act(x, obs, state, memory) -> (env_key, action, memory, extras)`` decides a round (``x``
    is the round's scanned input, e.g. its key); ``env.step(env_key, state, action, params)``
    plays it; ``record(obs, action, extras, step) -> item`` picks what the round returns, with
    ``step = (next_obs, next_state, reward, done, info)``. With ``reset_memory``, the
    ``memory`` (a pytree, e.g. a recurrent policy's hidden state) of an episode that ends is
    zeroed, for an auto-resetting ``env`` (``done`` may be batched: a leading axis of every
    memory leaf). Returns ``(items, obs, state, memory)``, ``items``
    stacked over ``xs``.
    """
    def body(carry, x):
        obs, state, memory = carry
        k_env, action, memory, extras = act(x, obs, state, memory)
        step = env.step(k_env, state, action, params)
        obs2, state2, _, done, _ = step
        if reset_memory:
            memory = jax.tree_util.tree_map(
                lambda m: jnp.where(done.reshape(done.shape + (1,) * (m.ndim - done.ndim)),
                                    jnp.zeros_like(m), m), memory)
        return (obs2, state2, memory), record(obs, action, extras, step)

    (obs, state, memory), items = jax.lax.scan(body, (obs, state, memory), xs)
    return items, obs, state, memory


def training_env(envs: int, env=None):
    """The training rollout's environment: ``envs`` auto-resetting copies of ``env`` (default
    the simulator; an unbatched stack whose state is its ``EnvState``), batched."""
    return Batched(AutoReset(CloudEdgeEnv() if env is None else env), envs)


def init_envs(key, params: EnvParams, envs: int, env=None):
    """Initial observations and states of :func:`training_env` (leading axis ``envs``)."""
    return training_env(envs, env).reset(key, params)


def rollout(key, behave: Callable, obs, env_state, params: EnvParams, envs: int, rounds: int,
            bootstrap: Callable | None = None, carry: Any = None, env=None):
    """Step ``envs`` auto-resetting episodes of ``env`` (:func:`training_env`) for ``rounds``
    rounds; the training rollout.

    ``behave(key, obs, env_state) -> (Action, extras)`` acts on the batched joint observations
    (``extras``: a dict of per-env arrays stored with the round; the environment states are
    there for counterfactual credit). Episodes that end are reset in place
    (:class:`~dtac_jax.env.wrappers.AutoReset`), so caches warm up across training iterations.
    ``bootstrap(obs) -> [envs]``, if given, is applied to each round's next observation
    *before* any reset (``info["final_obs"]``: the value of a time-limited state).

    A recurrent behaviour passes its memory as ``carry`` (leaves with a leading ``envs`` axis):
    it is then called ``behave(key, obs, env_state, carry) -> (Action, extras, carry)``, and the
    carry of an episode that ends is zeroed.

    Returns ``(items, obs, env_state)``, or ``(items, obs, env_state, carry)`` with a ``carry``;
    ``items`` has leading axes ``[rounds, envs]`` and holds ``s``, ``edge``, ``mask``, ``cost``
    (per-UE weighted costs), ``objective``, ``done``, the ``extras`` and, with ``bootstrap``,
    ``next_value``.
    """
    recurrent = carry is not None

    def act(k, obs, st, memory):
        k_act, k_step = rng.split(k)
        if recurrent:
            action, extras, memory = behave(k_act, obs, st, memory)
        else:
            action, extras = behave(k_act, obs, st)
        return k_step, action, memory, extras

    def record(obs, action, extras, step):
        _, _, reward, done, info = step
        item = dict(s=obs.s, edge=obs.edge, mask=obs.mask, cost=-reward,
                    objective=info["objective"], done=done, **extras)
        if bootstrap is not None:
            item["next_value"] = bootstrap(info["final_obs"])
        return item

    items, obs, env_state, carry = scan(training_env(envs, env), params, act, obs, env_state, carry,
                                        rng.split(key, rounds), record)
    return (items, obs, env_state, carry) if recurrent else (items, obs, env_state)


def episode(policy: Policy | PolicyFn, params: EnvParams, reset_key, round_keys: Callable,
            rounds: int, record: Callable, n_per_edge=None):
    """One episode of ``rounds`` rounds of ``policy`` on fixed keys; the evaluation rollout.

    ``round_keys(t) -> (env_key, policy_key)`` gives round ``t``'s keys, so the UE layout
    (``reset_key``), tasks and fading do not depend on the policy's own randomness.
    ``record(obs, action, next_state, info)`` picks what each round returns (stacked over
    rounds). ``n_per_edge`` optionally fixes the UE count per edge (it may be traced).
    """
    policy = as_policy(policy)
    env = CloudEdgeEnv() if n_per_edge is None else FixedUECount(CloudEdgeEnv(), n_per_edge)
    obs, state = env.reset(reset_key, params)

    def act(t, obs, state, memory):
        k_env, k_pol = round_keys(t)
        memory, action = policy.apply(memory, k_pol, obs, state, params)
        return k_env, action, memory, None

    items, *_ = scan(env, params, act, obs, state, policy.init(params), jnp.arange(rounds),
                     lambda obs, action, _, step: record(obs, action, step[1], step[4]),
                     reset_memory=False)
    return items
