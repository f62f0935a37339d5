"""A NumPy reference of the cloud-edge environment, written the way a typical gym env is.

:class:`NumpyCloudEdgeEnv` steps ONE episode at a time (``reset(seed) -> obs``,
``step(x, channel, a, b) -> (obs, reward, done, info)``), with each round vectorised over the
UE slots in NumPy (N x N matrices for interference and queues). It is the baseline of
``experiments/bench_sim.py``: what one would write without JAX.

It follows the JAX environment (``dtac_jax/env/env.py``) formula for formula:

- the same padding layout: ``N_max = K * ue_max`` slots, slot ``n`` belongs to edge
  ``n // ue_max`` and is real when ``n % ue_max < n_k``;
- the same round costs as ``physics.round_costs`` (docs/model.md, "One round", log1p rate), the same
  lower-bound observation as ``physics.lower_bounds`` (paper eq. 14), the same reward
  ``(-w_time t_ue, -w_energy e_ue)`` (paper eq. 17);
- per-round task draws from the type's Zipf popularity, Rayleigh fading ``Exp(1)`` times path
  loss, and an LRU result cache per edge with the semantics of ``env.update_cache``
  (recency stamps, vectorised with argsort / cumsum per edge).

Randomness comes from ``numpy.random.Generator``; it does not reproduce JAX's streams.
:func:`check_against_jax` feeds the same states and actions to both implementations and
asserts they agree, so the benchmark compares like with like. Run this file to do that check.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dtac_jax.env.scenarios import Scenario, task_table, zipf_logits

LOCAL, EDGE, CLOUD = 0, 1, 2


class NumpyObs(NamedTuple):
    """Joint observation, as ``env.Obs``: float[N, 6] lower bounds, bool[N] mask, int[N] edges."""

    s: np.ndarray
    mask: np.ndarray
    edge: np.ndarray


# ============================================================================ physics (NumPy)
def pathloss_gain(distance_m, pl_db_1km=128.1, pl_exp_db=37.6):
    """Linear gain of ``128.1 + 37.6 log10(d / 1 km)`` dB (docs/model.md, "The network")."""
    loss_db = pl_db_1km + pl_exp_db * np.log10(distance_m / 1000.0)
    return 10.0 ** (-loss_db / 10.0)


def shannon_rate(bandwidth, signal, interference_plus_noise):
    """``B log2(1 + S / (I + N))`` (paper eq. 4), with log1p as in ``physics.shannon_rate``."""
    return bandwidth * np.log1p(signal / interference_plus_noise) / np.log(2.0)


def link_rates(g_up, g_back, p_edge, p_cloud, bandwidth, noise):
    """Interference-free downlink, backhaul up and backhaul down rates (paper eq. 4)."""
    r_dn = shannon_rate(bandwidth, p_edge * g_up, noise)
    r_bu = shannon_rate(bandwidth, p_edge * g_back, noise)
    r_bd = shannon_rate(bandwidth, p_cloud * g_back, noise)
    return r_dn, r_bu, r_bd


def round_costs(*, x, channel, a, b, edge, mask, s_in, cycles, s_out, cached, g_up, g_back,
                f_ue, f_edge, f_cloud, p_ue, p_edge, p_cloud, bandwidth, noise, kappa):
    """NumPy twin of ``dtac_jax.env.physics.round_costs`` (same keywords, same formulas).

    Returns ``(t_ue, e_ue, t_round)``: float[N] s, float[N] J and the max of ``t_ue`` over real
    UEs (0 when there is none). Padded UEs give 0 and never count.
    """
    mask = np.asarray(mask, bool)
    is_local = mask & (x == LOCAL)
    is_edge = mask & (x == EDGE)
    is_cloud = mask & (x == CLOUD)
    off = is_edge | is_cloud
    work = s_in * cycles  # cycles of the task

    same_edge = edge[:, None] == edge[None, :]
    eye = np.eye(x.shape[0], dtype=bool)

    # Uplink with same-edge, same-channel interference from real offloaders (eqs. 4-5, with gain).
    rx = a * p_ue * g_up
    interferes = same_edge & (channel[:, None] == channel[None, :]) & off[None, :] & ~eye
    interference = interferes @ rx
    r_up = shannon_rate(bandwidth, rx, noise + interference)
    r_dn, r_bu, r_bd = link_rates(g_up, g_back, p_edge, p_cloud, bandwidth, noise)

    # Compute time T1 (eq. 2) and energy (eqs. 3, 6, 7); the "safe" divisors avoid 1/0 in the
    # branches np.where discards, exactly as in the JAX version.
    f_local = b * f_ue
    t1 = np.where(is_local, work / f_local,
                  np.where(is_edge, (1.0 - cached) * work / f_edge,
                           np.where(is_cloud, work / f_cloud, 0.0)))
    safe_r_up = np.where(off, r_up, 1.0)
    e_ue = np.where(is_local, kappa * work * f_local ** 2,
                    np.where(off, a * p_ue * s_in / safe_r_up, 0.0))

    # Communication times T21 (eq. 8) and T22 (eq. 9).
    t21 = np.where(off, s_in / safe_r_up + s_out / np.where(off, r_dn, 1.0), 0.0)
    t22 = np.where(is_cloud,
                   s_in / np.where(is_cloud, r_bu, 1.0) + s_out / np.where(is_cloud, r_bd, 1.0),
                   0.0)

    # Queues (eqs. 10-11): q11 edge compute on one server, q12 cloud compute, q2 UE-edge links.
    edge_pair = is_edge[:, None] & is_edge[None, :] & same_edge
    cloud_pair = is_cloud[:, None] & is_cloud[None, :]
    real_cols = mask[None, :]
    q11 = (edge_pair | eye) & real_cols
    q12 = (cloud_pair | eye) & real_cols
    q2 = (edge_pair | cloud_pair) & real_cols
    t1_edge = np.where(is_edge, t1, 0.0)
    t1_cloud = np.where(is_cloud, t1, 0.0)

    t_ue = (np.where(is_local, t1, 0.0) + q11 @ t1_edge + q12 @ t1_cloud + q2 @ t21
            + t22)  # eq. 12 before its max
    t_ue = np.where(mask, t_ue, 0.0)
    e_ue = np.where(mask, e_ue, 0.0)
    t_round = float(t_ue.max(initial=0.0))
    return t_ue, e_ue, t_round


def lower_bounds(*, s_in, cycles, s_out, cached, g_up, g_back, f_ue, f_edge, f_cloud, p_ue,
                 p_edge, p_cloud, bandwidth, noise):
    """NumPy twin of ``physics.lower_bounds``:
    ``[p_ue g_up, T1(0), T1(1), T21(1), T1(2), T22(2)]``."""
    work = s_in * cycles
    r_up = shannon_rate(bandwidth, p_ue * g_up, noise)
    r_dn, r_bu, r_bd = link_rates(g_up, g_back, p_edge, p_cloud, bandwidth, noise)
    t1_0 = work / f_ue
    t1_1 = (1.0 - cached) * work / f_edge
    t21_1 = s_in / r_up + s_out / r_dn
    t1_2 = np.broadcast_to(work / f_cloud, t1_0.shape)
    t22_2 = s_in / r_bu + s_out / r_bd
    return np.stack([p_ue * g_up, t1_0, t1_1, t21_1, t1_2, t22_2], axis=-1)


# ============================================================================ environment
class NumpyCloudEdgeEnv:
    """One episode of the cloud-edge network at a time (gym style), vectorised over UEs.

    Args:
      scenario: a :class:`dtac_jax.env.scenarios.Scenario` (e.g. ``make_scenario("small")``).
      dtype: float dtype of the physics (float64 by default, as a plain NumPy env would be).

    State after :meth:`reset` (public attributes, the same names as ``env.EnvState``):
    ``edge``, ``mask``, ``n_per_edge``, ``dist``, ``ue_type``, ``task``, ``g_up``,
    ``g_back_edge``, ``cache_stamp`` (int[K, M], -1 = not cached) and ``t``.
    """

    def __init__(self, scenario: Scenario, dtype=np.float64):
        self.scn = scenario
        self.dtype = np.dtype(dtype)
        f = lambda v: np.asarray(v, dtype=self.dtype)
        s_in, s_out, cycles, order = task_table(scenario)  # the same table as make_params
        self.s_in, self.s_out, self.cycles = f(s_in), f(s_out), f(cycles)
        # Zipf popularity per UE type, as a CDF for inverse-transform sampling.
        prob = np.exp(zipf_logits(scenario, order))
        self.pop_cdf = np.cumsum(prob, axis=1)
        self.pop_cdf[:, -1] = 1.0
        self.f_ue_type = f(scenario.f_ue)
        # radio and compute constants (linear units, from the Scenario's derived properties)
        self.bandwidth, self.noise = scenario.bandwidth, scenario.noise
        self.p_ue, self.p_edge, self.p_cloud = scenario.p_ue, scenario.p_edge, scenario.p_cloud
        self.g_back_pl = pathloss_gain(scenario.r_cloud, scenario.pathloss_db_at_1km,
                                       scenario.pathloss_exponent_db)
        # fixed slot layout: slot n belongs to edge n // ue_max
        self.n_edges, self.ue_max = scenario.n_edges, scenario.ue_max
        self.n_max = scenario.n_max
        self.edge = np.repeat(np.arange(self.n_edges), self.ue_max)
        self._within = np.tile(np.arange(self.ue_max), self.n_edges)
        self.rng = np.random.default_rng()

    # ------------------------------------------------------------------ randomness
    def _draw_round(self):
        """Tasks (type-specific Zipf) and Rayleigh fading ``|g|^2 ~ Exp(1)`` for one round."""
        scn, rng = self.scn, self.rng
        u = rng.random(self.n_max)
        cdf = self.pop_cdf[self.ue_type]                            # [N, M]
        task = np.minimum((cdf < u[:, None]).sum(axis=1), scn.n_tasks - 1)
        self.task = np.where(self.mask, task, 0)
        fade_up = rng.exponential(1.0, self.n_max).astype(self.dtype)
        fade_back = rng.exponential(1.0, self.n_edges).astype(self.dtype)
        self.g_up = self.pl_up * fade_up
        self.g_back_edge = self.g_back_pl * fade_back

    def random_action(self, rng: np.random.Generator | None = None):
        """Random policy (paper IV-A): uniform target and channel, ``a``, ``b`` uniform in
        (0, 1]."""
        rng = self.rng if rng is None else rng
        n = self.n_max
        return (rng.integers(0, 3, n), rng.integers(0, self.scn.l_channels, n),
                (1.0 - rng.random(n)).astype(self.dtype), (1.0 - rng.random(n)).astype(self.dtype))

    # ------------------------------------------------------------------ gym API
    def reset(self, seed: int | None = None) -> NumpyObs:
        """New episode: UE counts, positions, types, empty caches, the first round's draws."""
        scn = self.scn
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        rng = self.rng
        self.n_per_edge = rng.integers(scn.ue_min, scn.ue_max + 1, self.n_edges)
        self.mask = self._within < np.repeat(self.n_per_edge, self.ue_max)
        # uniform in the annulus [min_dist, r_edge] around the server (area-uniform radius)
        u = rng.random(self.n_max)
        self.dist = np.sqrt(u * (scn.r_edge ** 2 - scn.min_dist ** 2) + scn.min_dist ** 2)
        self.pl_up = pathloss_gain(self.dist, scn.pathloss_db_at_1km,
                                   scn.pathloss_exponent_db).astype(self.dtype)
        self.ue_type = rng.integers(0, scn.n_ue_types, self.n_max)
        self.cache_stamp = np.full((self.n_edges, scn.n_tasks), -1, np.int64)
        self.t = 0
        self._draw_round()
        return self.observe()

    def round_inputs(self) -> dict:
        """All of ``round_costs``'s keywords except the action, for the current round."""
        cached = (self.cache_stamp[self.edge, self.task] >= 0) & self.mask
        return dict(edge=self.edge, mask=self.mask, s_in=self.s_in[self.task],
                    cycles=self.cycles[self.task], s_out=self.s_out[self.task], cached=cached,
                    g_up=self.g_up, g_back=self.g_back_edge[self.edge],
                    f_ue=self.f_ue_type[self.ue_type], f_edge=self.scn.f_edge,
                    f_cloud=self.scn.f_cloud, p_ue=self.p_ue, p_edge=self.p_edge,
                    p_cloud=self.p_cloud, bandwidth=self.bandwidth, noise=self.noise,
                    kappa=self.scn.kappa)

    def observe(self, inputs: dict | None = None) -> NumpyObs:
        kw = dict(self.round_inputs() if inputs is None else inputs)
        for k in ("edge", "mask", "kappa"):
            kw.pop(k)
        s = lower_bounds(**kw)
        return NumpyObs(s=np.where(self.mask[:, None], s, 0.0), mask=self.mask, edge=self.edge)

    def step(self, x, channel, a, b):
        """Apply the action to the current round, update the caches, draw the next round.

        Returns ``(obs, reward float[N, 2], done, info)`` like ``env.step``.
        """
        scn = self.scn
        x, channel = np.asarray(x), np.asarray(channel)
        inputs = self.round_inputs()
        t_ue, e_ue, t_round = round_costs(x=x, channel=channel, a=a, b=b, **inputs)
        reward = np.stack([-scn.w_time * t_ue, -scn.w_energy * e_ue], axis=-1)  # eq. 17
        cached = inputs["cached"]
        info = dict(t_round=t_round, t_ue=t_ue, e_ue=e_ue,
                    objective=scn.w_time * t_round + scn.w_energy * e_ue.sum(),  # eq. 13
                    x=np.where(self.mask, x, -1), channel=channel,
                    cache_hit=cached & (x == EDGE), cached=cached,
                    n_ues=int(self.mask.sum()))
        self.cache_stamp = self.update_cache(self.cache_stamp, x)
        self._draw_round()
        self.t += 1
        return self.observe(), reward, self.t >= scn.rounds, info

    def update_cache(self, cache_stamp: np.ndarray, x: np.ndarray) -> np.ndarray:
        """LRU update of every edge cache after a round, as ``env.update_cache``.

        Each real offloaded task (x in {1, 2}) is touched at its edge with stamp
        ``t * (N + 1) + slot + 1`` (later slots more recent); then every edge keeps its most
        recent results while their total ``s_out`` fits in the capacity.
        """
        n = self.n_max
        off = self.mask & ((x == EDGE) | (x == CLOUD))
        stamp_new = np.where(off, self.t * (n + 1) + np.arange(n) + 1, -1)
        cache_stamp = cache_stamp.copy()
        np.maximum.at(cache_stamp, (self.edge, self.task), stamp_new)

        # eviction, all edges at once: sort each row most recent first (absent last)
        order = np.argsort(-cache_stamp, axis=1, kind="stable")
        present = np.take_along_axis(cache_stamp, order, axis=1) >= 0
        size = np.where(present, self.s_out[order], 0.0)
        keep_sorted = present & (np.cumsum(size, axis=1) <= self.scn.cache_capacity)
        keep = np.zeros_like(present)
        np.put_along_axis(keep, order, keep_sorted, axis=1)
        return np.where(keep, cache_stamp, -1)


# ============================================================================ parity with JAX
def recency_lists(cache_stamp: np.ndarray, slots: int) -> np.ndarray:
    """The JAX env's cache layout from stamps: per edge, cached tasks most recent first,
    padded with -1 to ``slots`` entries (``EnvState.cache_task``)."""
    out = np.full((cache_stamp.shape[0], slots), -1, np.int64)
    for k, row in enumerate(cache_stamp):
        items = np.flatnonzero(row >= 0)
        items = items[np.argsort(-row[items], kind="stable")]
        assert len(items) <= slots, f"edge {k} caches {len(items)} results > {slots} slots"
        out[k, :len(items)] = items
    return out


def check_against_jax(scenario: Scenario | None = None, n_states: int = 12, seed: int = 0,
                      rtol: float = 1e-4, verbose: bool = False) -> int:
    """Assert that this NumPy env and the JAX env compute the same thing on the same inputs.

    Walks a few NumPy episodes under random actions (so caches fill and hits occur) and, at
    each visited state, feeds the same tasks, gains, caches and action to:

    - :func:`round_costs`, ``dtac_jax.env.physics.round_costs`` and ``dtac_jax.env.env.costs``
      (its per-edge-block path) (``t_ue``, ``e_ue``, ``t_round``, to ``rtol``; JAX runs in its
      default float32);
    - :meth:`NumpyCloudEdgeEnv.observe` and ``dtac_jax.env.env.observe`` (to ``rtol``);
    - :meth:`NumpyCloudEdgeEnv.update_cache` and ``dtac_jax.env.env.update_cache`` (exactly).

    Returns the number of states checked; raises ``AssertionError`` on any mismatch.
    """
    import jax
    import jax.numpy as jnp

    from dtac_jax.env import env as jenv
    from dtac_jax.env import physics
    from dtac_jax.env.scenarios import make_params, make_scenario

    scn = make_scenario("small") if scenario is None else scenario
    params = make_params(scn)
    jcosts = jax.jit(lambda kw: physics.round_costs(**kw))
    jobserve = jax.jit(jenv.observe)
    jcache = jax.jit(jenv.update_cache)
    jenv_costs = jax.jit(jenv.costs)

    np_env = NumpyCloudEdgeEnv(scn)
    rng = np.random.default_rng(seed)
    checked, hits = 0, 0
    episode = 0
    while checked < n_states:
        np_env.reset(seed=seed + episode)
        episode += 1
        for _ in range(scn.rounds):
            x, channel, a, b = np_env.random_action(rng)
            inputs = np_env.round_inputs()
            hits += int((inputs["cached"] & (x == EDGE)).sum())
            # the check happens at rounds 0, 3, 6, ... so that later states have full caches
            if np_env.t % 3 == 0 and checked < n_states:
                # --- round costs
                kw = dict(x=x, channel=channel, a=a, b=b, **inputs)
                t_np, e_np, tr_np = round_costs(**kw)
                jkw = {k: jnp.asarray(v) for k, v in kw.items()}  # float32 under default JAX
                t_j, e_j, tr_j = jcosts(jkw)
                np.testing.assert_allclose(np.asarray(t_j), t_np, rtol=rtol, err_msg="t_ue")
                np.testing.assert_allclose(np.asarray(e_j), e_np, rtol=rtol, err_msg="e_ue")
                np.testing.assert_allclose(float(tr_j), tr_np, rtol=rtol, err_msg="t_round")
                # --- observation and LRU update, through an EnvState built from the NumPy one
                state = jenv.EnvState(
                    edge=jnp.asarray(np_env.edge, jnp.int32), mask=jnp.asarray(np_env.mask),
                    n_per_edge=jnp.asarray(np_env.n_per_edge, jnp.int32),
                    dist=jnp.asarray(np_env.dist, jnp.float32),
                    path_gain=jnp.asarray(np_env.pl_up, jnp.float32),
                    ue_type=jnp.asarray(np_env.ue_type, jnp.int32),
                    task=jnp.asarray(np_env.task, jnp.int32),
                    g_up=jnp.asarray(np_env.g_up, jnp.float32),
                    g_back_edge=jnp.asarray(np_env.g_back_edge, jnp.float32),
                    cache_task=jnp.asarray(recency_lists(np_env.cache_stamp,
                                                         params.cache_slots), jnp.int32),
                    t=jnp.asarray(np_env.t, jnp.int32))
                # the environment's own cost path (per-edge blocks, env.costs) agrees too
                t_e, e_e, tr_e = jenv_costs(state, jenv.Action(
                    x=jnp.asarray(x, jnp.int32), channel=jnp.asarray(channel, jnp.int32),
                    a=jnp.asarray(a, jnp.float32), b=jnp.asarray(b, jnp.float32)), params)
                np.testing.assert_allclose(np.asarray(t_e), t_np, rtol=rtol, err_msg="env t_ue")
                np.testing.assert_allclose(np.asarray(e_e), e_np, rtol=rtol, err_msg="env e_ue")
                np.testing.assert_allclose(float(tr_e), tr_np, rtol=rtol, err_msg="env t_round")
                obs_j = jobserve(state, params)
                np.testing.assert_allclose(np.asarray(obs_j.s), np_env.observe(inputs).s,
                                           rtol=rtol, err_msg="observation")
                cache_j = jcache(state, jnp.asarray(x, jnp.int32), params)
                new_stamp = np_env.update_cache(np_env.cache_stamp, x)
                np.testing.assert_array_equal(np.asarray(cache_j),
                                              recency_lists(new_stamp, params.cache_slots),
                                              err_msg="LRU cache (recency order)")
                checked += 1
            np_env.step(x, channel, a, b)
    if verbose:
        print(f"numpy env == JAX env on {checked} states ({episode} episodes, "
              f"{hits} cache hits seen), rtol {rtol}")
    assert hits > 0, "no cache hit in the checked episodes: the cached cost path went unchecked"
    return checked


if __name__ == "__main__":
    check_against_jax(verbose=True)
