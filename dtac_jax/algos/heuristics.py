"""Reference policies without learning: Random, all-local/edge/cloud, greedy on lower bounds.

Each is a stateless policy function ``policy(key, obs, state, params) -> Action`` (one
episode; vmap for many; :func:`dtac_jax.algos.policy.stateless` makes it a ``Policy``).
Decentralised ones read only ``obs``; centralised references may read ``state``.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from dtac_jax.algos.policy import PolicyFn
from dtac_jax.env import physics, rng
from dtac_jax.env.env import Action, EnvState, Obs, round_inputs
from dtac_jax.env.scenarios import EnvParams

def spread_channels(params: EnvParams) -> jax.Array:
    """Channel ``slot mod L`` within each edge: offloaders of one edge spread over channels."""
    within = jnp.tile(jnp.arange(params.ue_max, dtype=jnp.int32), params.n_edges)
    return within % params.l_channels


def random_policy(key, obs: Obs, state: EnvState, params: EnvParams) -> Action:
    """Paper IV-A: uniform target and channel, uniform ``a``, ``b`` in (0, 1].

    Three random words per UE from one hash call (:mod:`dtac_jax.env.rng`): one gives the
    target and the channel (its two 16-bit halves), two give ``a`` and ``b``.
    """
    n = obs.mask.shape[0]
    w = rng.words_per_value(obs.s.dtype)
    words = rng.random_bits(key, (2 * w + 1, n))
    x, channel = rng.index_pair_from_word(words[0], 3, params.l_channels)
    u = rng.uniform_from_bits(words[1:].reshape((w, 2, n) if w > 1 else (2, n)), obs.s.dtype)
    # 1 - U[0, 1) lies in (0, 1]
    return Action(x=x, channel=channel, a=1.0 - u[0], b=1.0 - u[1])


#: The floor of ``a`` and ``b`` in :func:`random_floor_policy`. The paper's Random draws them
#: from (0, 1]; a local task's time is proportional to 1 / b, and E[1 / b] diverges for b uniform
#: in (0, 1], so the literal Random has no finite mean time (its mean over a few episodes is set by
#: the smallest b drawn). A floor of 0.1 makes E[1 / b] = ln(10) / 0.9 = 2.56. The paper does not
#: say what kept its Random finite; docs/reproducing.md discusses the choice.
RANDOM_FLOOR = 0.1


def random_floor_policy(key, obs: Obs, state: EnvState, params: EnvParams) -> Action:
    """:func:`random_policy` with ``a`` and ``b`` uniform in ``[RANDOM_FLOOR, 1]`` (the same
    draws, rescaled): a Random whose mean task time is finite."""
    act = random_policy(key, obs, state, params)
    scale = lambda u: RANDOM_FLOOR + (1.0 - RANDOM_FLOOR) * u
    return act.replace(a=scale(act.a), b=scale(act.b))


def fixed_target_policy(target: int) -> PolicyFn:
    """Everyone computes at ``target`` (0 local, 1 edge, 2 cloud), full power and frequency."""

    def policy(key, obs: Obs, state: EnvState, params: EnvParams) -> Action:
        n = obs.mask.shape[0]
        ones = jnp.ones((n,), obs.s.dtype)
        return Action(x=jnp.full((n,), target, jnp.int32), channel=spread_channels(params),
                      a=ones, b=ones)

    policy.__name__ = {0: "all_local", 1: "all_edge", 2: "all_cloud"}[target]
    return policy


all_local = fixed_target_policy(physics.LOCAL)
all_edge = fixed_target_policy(physics.EDGE)
all_cloud = fixed_target_policy(physics.CLOUD)


def greedy_policy(key, obs: Obs, state: EnvState, params: EnvParams) -> Action:
    """Each UE alone picks the target minimising its own weighted lower-bound cost.

    Time lower bounds come from the observation (eq. 14); energy at full power/frequency uses
    the UE's own task size (local knowledge). Queues and interference are ignored: that is
    what makes it greedy.
    """
    ri = round_inputs(state, params)
    s = obs.s
    t_local, t_edge, t_cloud = s[:, 1], s[:, 2] + s[:, 3], s[:, 4] + s[:, 3] + s[:, 5]
    work = ri.s_in * ri.cycles
    e_local = params.kappa * work * ri.f_ue ** 2
    r_up = physics.shannon_rate(params.bandwidth, params.p_ue * ri.g_up, params.noise)
    e_off = params.p_ue * ri.s_in / r_up
    cost = jnp.stack([params.w_time * t_local + params.w_energy * e_local,
                      params.w_time * t_edge + params.w_energy * e_off,
                      params.w_time * t_cloud + params.w_energy * e_off], axis=-1)
    n = obs.mask.shape[0]
    ones = jnp.ones((n,), obs.s.dtype)
    return Action(x=jnp.argmin(cost, axis=-1).astype(jnp.int32),
                  channel=spread_channels(params), a=ones, b=ones)


HEURISTICS: dict[str, PolicyFn] = {
    "random": random_policy,
    "random_floor": random_floor_policy,
    "all_local": all_local,
    "all_edge": all_edge,
    "all_cloud": all_cloud,
    "greedy": greedy_policy,
}
