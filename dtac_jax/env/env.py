"""The cloud-edge environment as pure functions (gymnax style).

``reset(key, params) -> (obs, state)`` and
``step(key, state, action, params) -> (obs, state, reward, done, info)``.

Layout: ``N_max = K * ue_max`` UE slots; slot ``n`` belongs to edge ``n // ue_max`` and is real
when ``n % ue_max < n_k`` (``n_k`` drawn uniformly in ``[ue_min, ue_max]`` per edge at reset).
Shapes never change, so one compiled ``jit(vmap(step))`` serves every episode.

Per round: the action is applied to the tasks and gains drawn at the previous reset/step, the
costs come from :func:`physics.round_costs`, the edge caches are updated (LRU), then the next
round's tasks and fading are drawn. The episode is ``done`` after ``params.rounds`` steps; the
caller resets (no auto-reset, so ``lax.scan`` over a fixed number of rounds is explicit).
"""
from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
from flax import struct

from dtac_jax.env import generators, physics, rng
from dtac_jax.env.scenarios import EnvParams

OBS_DIM = 6
OBS_NAMES = ("p_ue*g_up", "T1(0)", "T1(1)", "T21(1)", "T1(2)", "T22(2)")


@struct.dataclass
class Action:
    """Executed joint action: target ``x``, ``channel`` (0-based), ratios ``a``, ``b``."""

    x: jax.Array        # int32[N]
    channel: jax.Array  # int32[N]
    a: jax.Array        # float[N] in (0, 1]
    b: jax.Array        # float[N] in (0, 1]


@struct.dataclass
class EnvState:
    edge: jax.Array          # int32[N] edge server of each slot (the position embedding)
    mask: jax.Array          # bool[N] real UEs
    n_per_edge: jax.Array    # int32[K]
    dist: jax.Array          # float[N] UE-edge distance (m)
    path_gain: jax.Array     # float[N] large-scale UE-edge gain of ``dist`` (linear)
    ue_type: jax.Array       # int32[N]
    task: jax.Array          # int32[N] task kind of the current round
    g_up: jax.Array          # float[N] UE-edge gain of the current round
    g_back_edge: jax.Array   # float[K] edge-cloud gain of the current round
    cache_task: jax.Array    # int32[K, C] cached task kinds, most recent first, -1 = empty
    t: jax.Array             # int32 round index


class Obs(NamedTuple):
    """Joint observation (paper eqs. 14-15) plus the slot mask and the edge ids."""

    s: jax.Array     # float[N, 6]
    mask: jax.Array  # bool[N]
    edge: jax.Array  # int32[N]


#: the system model's generators (docs/model.md)
DEFAULT_UE_COUNTS = generators.UniformUECounts()
DEFAULT_ARRIVALS = generators.ZipfArrivals()


def _dtype(params: EnvParams):
    return params.s_in.dtype


def slot_edges(params: EnvParams) -> jax.Array:
    return jnp.repeat(jnp.arange(params.n_edges, dtype=jnp.int32), params.ue_max)


def slot_mask(params: EnvParams, n_per_edge: jax.Array) -> jax.Array:
    within = jnp.tile(jnp.arange(params.ue_max, dtype=jnp.int32), params.n_edges)
    return within < jnp.repeat(n_per_edge, params.ue_max)


def _draw_round(key, state_mask, ue_type, path_gain, params: EnvParams,
                arrivals: generators.Arrivals):
    """Tasks (from ``arrivals``) and Rayleigh fading for one round.

    One hash call draws the round's ``2 N + K`` uniforms (:mod:`dtac_jax.env.rng`): the first
    ``N`` go to ``arrivals`` (the system model's :class:`~dtac_jax.env.generators.ZipfArrivals`
    picks each task from its UE type's Zipf law with one), the next ``N`` the UE-edge fading,
    the last ``K`` the edge-cloud fading.
    """
    dtype = _dtype(params)
    n, k_edges = ue_type.shape[0], params.n_edges
    u = rng.uniforms(key, 1, 2 * n + k_edges, dtype)[0]
    task = jnp.where(state_mask, arrivals(key, u[:n], state_mask, ue_type, params), 0)
    fade_up = rng.exponential_from_uniform(u[n:2 * n])        # |g|^2 ~ Exp(1)
    fade_back = rng.exponential_from_uniform(u[2 * n:])
    g_up = path_gain * fade_up
    g_back = physics.pathloss_gain(params.r_cloud, params.pl_db_1km, params.pl_exp_db) * fade_back
    return task, g_up, g_back


def reset(key: chex.PRNGKey, params: EnvParams, n_per_edge: jax.Array | None = None, *,
          ue_counts: generators.UECounts = DEFAULT_UE_COUNTS,
          arrivals: generators.Arrivals = DEFAULT_ARRIVALS):
    """New episode: UE counts, positions, types, empty caches, first round's draws.

    The number of UEs of each edge comes from ``ue_counts`` (default: uniform in
    ``[ue_min, ue_max]``), or is ``n_per_edge`` (int[K]) when given; the tasks from
    ``arrivals`` (default: each UE type's Zipf law). See :mod:`dtac_jax.env.generators`.
    """
    k_n, k_r, k_type, k_round = jax.random.split(key, 4)
    dtype = _dtype(params)
    n = params.n_max
    if n_per_edge is None:
        n_per_edge = ue_counts(k_n, params)
    n_per_edge = jnp.asarray(n_per_edge, jnp.int32)
    mask = slot_mask(params, n_per_edge)
    # uniform in the annulus [min_dist, r_edge] around the server (area-uniform radius)
    u = jax.random.uniform(k_r, (n,), dtype)
    dist = jnp.sqrt(u * (params.r_edge ** 2 - params.min_dist ** 2) + params.min_dist ** 2)
    ue_type = jax.random.randint(k_type, (n,), 0, params.n_ue_types).astype(jnp.int32)
    path_gain = physics.pathloss_gain(dist, params.pl_db_1km, params.pl_exp_db)
    task, g_up, g_back = _draw_round(k_round, mask, ue_type, path_gain, params, arrivals)
    state = EnvState(
        edge=slot_edges(params), mask=mask, n_per_edge=n_per_edge, dist=dist,
        path_gain=path_gain, ue_type=ue_type,
        task=task, g_up=g_up, g_back_edge=g_back,
        cache_task=jnp.full((params.n_edges, params.cache_slots), -1, jnp.int32),
        t=jnp.zeros((), jnp.int32))
    return observe(state, params), state


class RoundInputs(NamedTuple):
    """The per-UE task, gain and cache quantities ``round_costs`` needs, from a state."""

    s_in: jax.Array
    cycles: jax.Array
    s_out: jax.Array
    cached: jax.Array
    g_up: jax.Array
    g_back: jax.Array
    f_ue: jax.Array


def is_cached(state: EnvState, params: EnvParams) -> jax.Array:
    """bool[N]: each slot's current task is in its edge's cache (env layout, no gather)."""
    task = state.task.reshape(params.n_edges, params.ue_max)
    hit = jnp.any(state.cache_task[:, :, None] == task[:, None, :], axis=1)  # over the list
    return hit.reshape(params.n_max)


def round_inputs(state: EnvState, params: EnvParams) -> RoundInputs:
    """Per-slot inputs of ``round_costs``: one gather of the task table's rows, the UE type's
    CPU by selection and the edge-cloud gain by repetition (the env layout), no other gathers."""
    cached = is_cached(state, params)
    table = jnp.stack([params.s_in, params.cycles, params.s_out], axis=-1)[state.task]  # [N, 3]
    f_ue = jax.lax.select_n(state.ue_type, *[jnp.broadcast_to(f, state.ue_type.shape)
                                              for f in params.f_ue_type])
    return RoundInputs(
        s_in=table[:, 0], cycles=table[:, 1], s_out=table[:, 2], cached=cached & state.mask,
        g_up=state.g_up, g_back=jnp.repeat(state.g_back_edge, params.ue_max),
        f_ue=f_ue)


def physics_kwargs(state: EnvState, params: EnvParams) -> dict:
    """All of ``round_costs``'s keywords except the action (x, channel, a, b)."""
    ri = round_inputs(state, params)
    return dict(edge=state.edge, mask=state.mask, **ri._asdict(), f_edge=params.f_edge,
                f_cloud=params.f_cloud, p_ue=params.p_ue, p_edge=params.p_edge,
                p_cloud=params.p_cloud, bandwidth=params.bandwidth, noise=params.noise,
                kappa=params.kappa)


def costs(state: EnvState, action: Action, params: EnvParams):
    """``round_costs`` of ``action`` in ``state``: ``(t_ue, e_ue, t_round)``."""
    return physics.round_costs(x=action.x, channel=action.channel, a=action.a, b=action.b,
                               edge_block=params.ue_max, **physics_kwargs(state, params))


def observe(state: EnvState, params: EnvParams) -> Obs:
    kw = physics_kwargs(state, params)
    for k in ("edge", "mask", "kappa"):
        kw.pop(k)
    s = physics.lower_bounds(**kw)
    s = jnp.where(state.mask[:, None], s, 0.0)
    return Obs(s=s, mask=state.mask, edge=state.edge)


def cache_sizes(cache_task: jax.Array, params: EnvParams) -> jax.Array:
    """float[..., C]: the ``s_out`` (bits) of each cached result, 0 where a list is empty."""
    return jnp.where(cache_task >= 0, params.s_out[jnp.maximum(cache_task, 0)], 0.0)


def update_cache(state: EnvState, x, params: EnvParams) -> jax.Array:
    """LRU update of every edge cache after a round (docs/model.md, "One round", "Caching").

    Every real offloaded task (x in {1, 2}) is touched at its edge, in increasing UE-slot order
    (within a round, later slots are more recent). Then each edge keeps its most recent results
    while their total ``s_out`` fits in ``cache_capacity`` (exactly what evicting
    least-recently-used items one by one gives).

    Each cache is a recency list (:class:`EnvState` ``cache_task``, most recent first, ``-1``
    past the end) of ``params.cache_slots`` entries, the most results that can fit. One round,
    per edge and without sorting or scatters: the round's touched tasks (slots newest first, a
    repeated task counted once) come before the old entries they did not touch; the kept entries
    are those whose running total of ``s_out`` along that order fits; they are written back
    compactly, each moved forward by the number of dropped entries before it (at most
    ``ue_max``: one shifted select per bit of that shift). The sizes are looked up from the
    task table (a result's size is its task's ``s_out``), so only the task list is carried.
    Slots must be in the environment's layout (slot ``n`` on edge ``n // ue_max``, see
    :func:`slot_edges`).

    Returns the new ``cache_task`` int32[K, C].
    """
    k_edges, u_max, c = params.n_edges, params.ue_max, params.cache_slots
    rev = lambda v: v.reshape(k_edges, u_max)[:, ::-1]  # newest slot first
    off = rev(state.mask & ((x == physics.EDGE) | (x == physics.CLOUD)))
    task = rev(state.task)
    size = rev(round_inputs(state, params).s_out)  # the costs' gather (XLA shares it)
    # Reductions run over a major axis (the minor one stays vectorised under vmap).
    # A touched slot repeats a task already touched by a later (more recent) slot of its edge.
    newer = jnp.triu(jnp.ones((u_max, u_max), bool), 1)                      # [i, j]: i < j
    repeat = jnp.any((task[:, :, None] == task[:, None, :]) & newer & off[:, :, None], axis=1)
    new_valid = off & ~repeat                                                 # [K, U]
    # an old entry is re-touched when a new entry holds its task (-2 marks no new entry)
    task_new = jnp.where(new_valid, task, -2)
    retouched = jnp.any(task_new[:, :, None] == state.cache_task[:, None, :], axis=1)  # [K, C]
    old_valid = (state.cache_task >= 0) & ~retouched
    cand_task = jnp.concatenate([task, state.cache_task], axis=1)            # [K, U + C]
    cand_size = jnp.concatenate([size, cache_sizes(state.cache_task, params)], axis=1)
    valid = jnp.concatenate([new_valid, old_valid], axis=1)
    # running totals along the list of the sizes and of the number of valid entries, as one
    # product with an upper-triangular matrix of ones (on the CPU faster than an associative
    # scan; jnp.cumsum's reduce-window is quadratic there); counts are exact in float, and
    # HIGHEST precision keeps GPUs (TF32) and TPUs (bfloat16 passes) from rounding the sizes
    n_cand = valid.shape[1]
    upper = (jnp.arange(n_cand)[:, None] <= jnp.arange(n_cand)[None, :]).astype(cand_size.dtype)
    sums = jnp.matmul(jnp.stack([jnp.where(valid, cand_size, 0.0), valid.astype(cand_size.dtype)]),
                      upper, precision=jax.lax.Precision.HIGHEST)
    total, count = sums[0], sums[1].astype(jnp.int32)
    keep = valid & (total <= params.cache_capacity)  # a prefix of the valid entries
    # Compaction: kept entry e moves forward by shift_e = e - (its output index), the number
    # of dropped entries before it (at most ue_max). Shifts are applied bit by bit, lowest bit
    # first (1, 2, 4, ...): for a stable compaction the moves never collide (the "compress"
    # of Hacker's Delight, section 7-4). The shift rides in the low bits of the task id.
    bits = max(1, u_max.bit_length())
    if (params.n_tasks << bits) >= 2 ** 31:
        raise ValueError(f"n_tasks={params.n_tasks} with ue_max={u_max} overflow the packed "
                         "cache entries")
    shift = jnp.arange(n_cand, dtype=jnp.int32) - (count - 1)
    packed = jnp.where(keep, cand_task * (1 << bits) + shift, -1)             # -1 = dropped
    step_ = 1
    while step_ <= u_max:
        src = jnp.concatenate([packed[:, step_:], jnp.full((k_edges, step_), -1, jnp.int32)],
                              axis=1)
        arrives = (src >= 0) & ((src & step_) != 0)
        packed = jnp.where(arrives, src, jnp.where((packed & step_) != 0, -1, packed))
        step_ *= 2
    packed = packed[:, :c]
    return jnp.where(packed >= 0, packed >> bits, -1)


def step(key: chex.PRNGKey, state: EnvState, action: Action, params: EnvParams, *,
         arrivals: generators.Arrivals = DEFAULT_ARRIVALS):
    """Apply ``action`` to the current round, update caches, draw the next round (its tasks
    from ``arrivals``, :mod:`dtac_jax.env.generators`).

    Returns ``(obs, state, reward, done, info)`` with the per-UE vector reward
    ``(-w_time t_ue, -w_energy e_ue)`` float[N, 2] (paper eq. 17).
    """
    chex.assert_equal_shape([action.x, action.channel, action.a, action.b, state.mask])
    t_ue, e_ue, t_round = costs(state, action, params)
    cached = round_inputs(state, params).cached
    obj = physics.objective(t_round, e_ue, params.w_time, params.w_energy)
    reward = jnp.stack([-params.w_time * t_ue, -params.w_energy * e_ue], axis=-1)
    info = dict(t_round=t_round, t_ue=t_ue, e_ue=e_ue, objective=obj,
                x=jnp.where(state.mask, action.x, -1), channel=action.channel,
                cache_hit=cached & state.mask & (action.x == physics.EDGE),
                cached=cached, n_ues=jnp.sum(state.mask))
    cache_task = update_cache(state, action.x, params)
    task, g_up, g_back = _draw_round(key, state.mask, state.ue_type, state.path_gain, params,
                                     arrivals)
    state = state.replace(task=task, g_up=g_up, g_back_edge=g_back, cache_task=cache_task,
                          t=state.t + 1)
    done = state.t >= params.rounds
    return observe(state, params), state, reward, done, info
