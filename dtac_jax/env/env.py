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

from dtac_jax.env import physics
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
    ue_type: jax.Array       # int32[N]
    task: jax.Array          # int32[N] task kind of the current round
    g_up: jax.Array          # float[N] UE-edge gain of the current round
    g_back_edge: jax.Array   # float[K] edge-cloud gain of the current round
    cache_stamp: jax.Array   # int32[K, M] LRU recency stamp, -1 = not cached
    t: jax.Array             # int32 round index


class Obs(NamedTuple):
    """Joint observation (paper eqs. 14-15) plus the slot mask and the edge ids."""

    s: jax.Array     # float[N, 6]
    mask: jax.Array  # bool[N]
    edge: jax.Array  # int32[N]


def _dtype(params: EnvParams):
    return params.s_in.dtype


def slot_edges(params: EnvParams) -> jax.Array:
    return jnp.repeat(jnp.arange(params.n_edges, dtype=jnp.int32), params.ue_max)


def slot_mask(params: EnvParams, n_per_edge: jax.Array) -> jax.Array:
    within = jnp.tile(jnp.arange(params.ue_max, dtype=jnp.int32), params.n_edges)
    return within < jnp.repeat(n_per_edge, params.ue_max)


def _search_cdf(cdf, row, value):
    """``searchsorted(cdf[row], value, side="right")`` elementwise, without gathering rows.

    A branch-free binary search of fixed length (``bit_length(M)`` steps) that gathers one
    table entry per UE and step from the flat ``[types * M]`` table; the result (the number of
    entries ``<= value``) is exactly ``jnp.searchsorted``'s, which would first gather a whole
    ``[M]`` row per UE.
    """
    m = cdf.shape[-1]
    flat = cdf.reshape(-1)
    base = row.astype(jnp.int32) * m
    lo = jnp.zeros(row.shape, jnp.int32)
    hi = jnp.full(row.shape, m, jnp.int32)
    for _ in range(int(m).bit_length()):  # each step halves hi - lo (at least)
        active = lo < hi
        mid = (lo + hi) // 2
        le = flat[base + jnp.minimum(mid, m - 1)] <= value
        lo = jnp.where(active & le, mid + 1, lo)
        hi = jnp.where(active & ~le, mid, hi)
    return lo


def _draw_round(key, state_mask, ue_type, dist, params: EnvParams):
    """Tasks (type-specific Zipf) and Rayleigh fading for one round."""
    k_task, k_up, k_back = jax.random.split(key, 3)
    dtype = _dtype(params)
    # inverse-CDF sampling: one uniform per UE and a binary search in its type's Zipf CDF
    u = jax.random.uniform(k_task, ue_type.shape, params.pop_cdf.dtype)
    task = _search_cdf(params.pop_cdf, ue_type, u * params.pop_cdf[ue_type, -1])
    task = jnp.minimum(task, params.n_tasks - 1).astype(jnp.int32)
    task = jnp.where(state_mask, task, 0)
    fade_up = jax.random.exponential(k_up, dist.shape, dtype)        # |g|^2 ~ Exp(1)
    fade_back = jax.random.exponential(k_back, (params.n_edges,), dtype)
    g_up = physics.pathloss_gain(dist, params.pl_db_1km, params.pl_exp_db) * fade_up
    g_back = physics.pathloss_gain(params.r_cloud, params.pl_db_1km, params.pl_exp_db) * fade_back
    return task, g_up, g_back


def reset(key: chex.PRNGKey, params: EnvParams, n_per_edge: jax.Array | None = None):
    """New episode: UE counts, positions, types, empty caches, first round's draws.

    ``n_per_edge`` (int[K], optional) fixes the number of UEs of each edge instead of drawing
    it uniformly in ``[ue_min, ue_max]``.
    """
    k_n, k_r, k_type, k_round = jax.random.split(key, 4)
    dtype = _dtype(params)
    n = params.n_max
    if n_per_edge is None:
        n_per_edge = jax.random.randint(k_n, (params.n_edges,), params.ue_min, params.ue_max + 1)
    n_per_edge = jnp.asarray(n_per_edge, jnp.int32)
    mask = slot_mask(params, n_per_edge)
    # uniform in the annulus [min_dist, r_edge] around the server (area-uniform radius)
    u = jax.random.uniform(k_r, (n,), dtype)
    dist = jnp.sqrt(u * (params.r_edge ** 2 - params.min_dist ** 2) + params.min_dist ** 2)
    ue_type = jax.random.randint(k_type, (n,), 0, params.n_ue_types).astype(jnp.int32)
    task, g_up, g_back = _draw_round(k_round, mask, ue_type, dist, params)
    state = EnvState(
        edge=slot_edges(params), mask=mask, n_per_edge=n_per_edge, dist=dist, ue_type=ue_type,
        task=task, g_up=g_up, g_back_edge=g_back,
        cache_stamp=jnp.full((params.n_edges, params.n_tasks), -1, jnp.int32),
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


def round_inputs(state: EnvState, params: EnvParams) -> RoundInputs:
    cached = state.cache_stamp[state.edge, state.task] >= 0
    return RoundInputs(
        s_in=params.s_in[state.task], cycles=params.cycles[state.task],
        s_out=params.s_out[state.task], cached=cached & state.mask,
        g_up=state.g_up, g_back=state.g_back_edge[state.edge],
        f_ue=params.f_ue_type[state.ue_type])


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


def update_cache(cache_stamp, state: EnvState, x, params: EnvParams):
    """LRU update of every edge cache after a round (SPEC.md section 2, "Caching").

    Every real offloaded task (x in {1, 2}) is touched at its edge, in increasing UE-slot order
    (stamp ``t * (N + 1) + slot + 1``: later rounds and, within a round, later slots are more
    recent). Then each edge keeps its most recent results while their total ``s_out`` fits in
    ``cache_capacity`` (exactly what evicting least-recently-used items one by one gives).

    Slots are in the environment's layout (slot ``n`` on edge ``n // ue_max``, see
    :func:`slot_edges`), which lets the touch run as one dense pass over the ``[K, M]`` table
    (each cell against its edge's ``ue_max`` slots) instead of a scatter.
    """
    n, k_edges, u_max, m_tasks = params.n_max, params.n_edges, params.ue_max, params.n_tasks
    off = state.mask & ((x == physics.EDGE) | (x == physics.CLOUD))
    slot = jnp.arange(n, dtype=jnp.int32)
    stamp_new = jnp.where(off, state.t * (n + 1) + slot + 1, -1).reshape(k_edges, u_max)
    task = state.task.reshape(k_edges, u_max)
    # the touch: max over the edge's slots of the stamps of the slots that hold this task
    hits = task[:, :, None] == jnp.arange(m_tasks, dtype=jnp.int32)        # [K, U, M]
    touched = jnp.max(jnp.where(hits, stamp_new[:, :, None], -1), axis=1)   # [K, M]
    stamps = jnp.maximum(cache_stamp, touched)

    # Eviction: keep the items with stamp >= tau, tau the smallest threshold whose kept bits
    # fit; bits(tau) is non-increasing in tau, so a binary search over stamps (no sort). An
    # edge whose whole content fits keeps it (tau = 0, no search); otherwise tau lies in
    # (oldest cached stamp, newest stamp + 1], a bracket of a few rounds' stamps.
    present = stamps >= 0
    total = jnp.sum(jnp.where(present, params.s_out, 0.0), axis=-1)                    # [K]
    need = total > params.cache_capacity
    # The bracket's ends come from float32 min / max reductions (XLA CPU reduces float32 several
    # times faster than int32), widened by the float rounding error so they stay valid
    # bounds for any int32 stamps: lo0 <= oldest + 1 and hi0 >= newest + 1.
    f_stamps = stamps.astype(jnp.float32)
    big = jnp.float32(2 ** 31 - 128)
    to_int = lambda v: jnp.minimum(v, big).astype(jnp.int32)  # noqa: E731
    oldest = to_int(jnp.min(jnp.where(present, f_stamps, big), axis=-1))
    newest = to_int(jnp.max(f_stamps, axis=-1))
    slack = lambda v: jnp.maximum(v, 0) >> 23  # noqa: E731  (>= the error once v >= 2**24)
    lo0 = jnp.where(need, jnp.maximum(oldest - slack(oldest), 0) + 1, 0)
    hi0 = jnp.where(need, newest + jnp.minimum(slack(newest), (2 ** 31 - 2) - newest) + 1, 0)

    def bits(tau):  # [K] kept bits for thresholds tau >= 1 (so only present items count)
        return jnp.sum(jnp.where(stamps >= tau[:, None], params.s_out, 0.0), axis=-1)

    def body(lo_hi):
        lo, hi = lo_hi
        active = lo < hi
        mid = lo + (hi - lo) // 2  # no int32 overflow near 2**31
        fits = bits(mid) <= params.cache_capacity
        return (jnp.where(active & ~fits, mid + 1, lo), jnp.where(active & fits, mid, hi))

    tau, _ = jax.lax.while_loop(lambda lh: jnp.any(lh[0] < lh[1]), body, (lo0, hi0))
    return jnp.where(stamps >= tau[:, None], stamps, -1)


def step(key: chex.PRNGKey, state: EnvState, action: Action, params: EnvParams):
    """Apply ``action`` to the current round, update caches, draw the next round.

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
    cache_stamp = update_cache(state.cache_stamp, state, action.x, params)
    task, g_up, g_back = _draw_round(key, state.mask, state.ue_type, state.dist, params)
    state = state.replace(task=task, g_up=g_up, g_back_edge=g_back, cache_stamp=cache_stamp,
                          t=state.t + 1)
    done = state.t >= params.rounds
    return observe(state, params), state, reward, done, info
