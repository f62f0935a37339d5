"""The physics of one round (docs/model.md, "One round"): rates, compute, queues, time and energy.

Everything here is a pure function of arrays: jit-able, vmap-able, differentiable where the
maths is, float32 by default and exact under ``jax_enable_x64`` (the dtype follows the inputs).
"""
from __future__ import annotations

import jax.numpy as jnp

LOCAL, EDGE, CLOUD = 0, 1, 2


def pathloss_gain(distance_m, pl_db_1km=128.1, pl_exp_db=37.6):
    """Linear large-scale gain of ``128.1 + 37.6 log10(d / 1 km)`` dB (docs/model.md, "The
    network")."""
    loss_db = pl_db_1km + pl_exp_db * jnp.log10(distance_m / 1000.0)
    return 10.0 ** (-loss_db / 10.0)


def shannon_rate(bandwidth, signal, interference_plus_noise):
    """``B log2(1 + S / (I + N))`` in bit/s (paper eq. 4); log1p keeps float32 exact at low SNR."""
    return bandwidth * jnp.log1p(signal / interference_plus_noise) / jnp.log(2.0)


def link_rates(g_up, g_back, p_edge, p_cloud, bandwidth, noise):
    """Interference-free links: downlink, backhaul up, backhaul down (paper eq. 4)."""
    r_dn = shannon_rate(bandwidth, p_edge * g_up, noise)
    r_bu = shannon_rate(bandwidth, p_edge * g_back, noise)
    r_bd = shannon_rate(bandwidth, p_cloud * g_back, noise)
    return r_dn, r_bu, r_bd


def block_interference(rx, channel, off):
    """Same-edge, same-channel interference ``I_n = sum_{m != n} [ch_m = ch_n] off_m rx_m``.

    ``rx``, ``channel``, ``off``: ``[K, U]`` blocks (the UEs of each edge). Returns float[K, U].
    """
    interferes = ((channel[:, :, None] == channel[:, None, :]) & off[:, None, :]
                  & ~jnp.eye(channel.shape[1], dtype=bool))
    return jnp.sum(jnp.where(interferes, rx[:, None, :], jnp.zeros((), rx.dtype)), axis=2)


def round_costs(*, x, channel, a, b, edge, mask, s_in, cycles, s_out, cached, g_up, g_back,
                f_ue, f_edge, f_cloud, p_ue, p_edge, p_cloud, bandwidth, noise, kappa,
                edge_block: int | None = None):
    """Per-UE time and energy of one round and the round duration (docs/model.md, "One round").

    Args (N = number of UE slots, padded):
      x: int[N] offloading target, 0 local, 1 edge, 2 cloud (paper eq. 1).
      channel: int[N] uplink channel in ``0..L-1``.
      a, b: float[N] transmit-power and CPU-frequency ratios in (0, 1].
      edge: int[N] edge server of each UE. mask: bool[N] real UEs.
      s_in, cycles, s_out: float[N] task input bits, cycles per bit, output bits.
      cached: bool[N] the task's result is in the UE's edge cache at the start of the round.
      g_up: float[N] UE-edge gain (also the downlink); g_back: float[N] gain of the UE's
        edge-cloud link. f_ue: float[N] Hz.
      f_edge, f_cloud, p_ue, p_edge, p_cloud, bandwidth, noise, kappa: scalars (SI units).
      edge_block: optional static int ``U``, a promise that the slots are laid out by edge in
        contiguous blocks (slot ``n`` on edge ``n // U``, the environment's layout; ``edge`` is
        then not read). The same-edge sums then run per block and the cloud sums as totals:
        O(N U) work instead of O(N^2), same formulas (results equal up to float summation
        order).

    Returns:
      ``(t_ue, e_ue, t_round)``: float[N] seconds ``T_t^n``, float[N] joules ``E_t^n``, and the
      scalar ``T_t = max_n t_ue`` over real UEs. Padded UEs give 0 and never count.
    """
    dtype = jnp.result_type(s_in, g_up, a, b)
    x = jnp.asarray(x)
    mask = jnp.asarray(mask, bool)
    a = jnp.asarray(a, dtype)
    b = jnp.asarray(b, dtype)
    zero = jnp.zeros((), dtype)

    is_local = mask & (x == LOCAL)
    is_edge = mask & (x == EDGE)
    is_cloud = mask & (x == CLOUD)
    off = is_edge | is_cloud
    work = s_in * cycles  # cycles of the task

    n = x.shape[0]
    if edge_block is not None and (edge_block < 1 or n % edge_block):
        raise ValueError(f"edge_block={edge_block} does not divide the {n} UE slots")
    blocked = edge_block is not None

    # Uplink with same-edge, same-channel interference from real offloaders (eq. 4-5, with gain).
    rx = a * p_ue * g_up
    if blocked:  # [K, U, U] per-edge blocks instead of the [N, N] matrix
        blk = lambda v: v.reshape(n // edge_block, edge_block)
        interference = block_interference(blk(rx), blk(channel), blk(off)).reshape(n)
    else:
        same_edge = edge[:, None] == edge[None, :]
        eye = jnp.eye(n, dtype=bool)
        interferes = same_edge & (channel[:, None] == channel[None, :]) & off[None, :] & ~eye
        interference = jnp.sum(jnp.where(interferes, rx[None, :], zero), axis=1)
    r_up = shannon_rate(bandwidth, rx, noise + interference)
    r_dn, r_bu, r_bd = link_rates(g_up, g_back, p_edge, p_cloud, bandwidth, noise)

    # Compute time T1 (eq. 2) and energy (eqs. 3, 6, 7).
    f_local = b * f_ue
    t1 = jnp.where(is_local, work / f_local,
                   jnp.where(is_edge, (1.0 - cached.astype(dtype)) * work / f_edge,
                             jnp.where(is_cloud, work / f_cloud, zero)))
    safe_r_up = jnp.where(off, r_up, 1.0)
    e_ue = jnp.where(is_local, kappa * work * f_local ** 2,
                     jnp.where(off, a * p_ue * s_in / safe_r_up, zero))

    # Communication times T21 (eq. 8) and T22 (eq. 9).
    t21 = jnp.where(off, s_in / safe_r_up + s_out / jnp.where(off, r_dn, 1.0), zero)
    safe_bu = jnp.where(is_cloud, r_bu, 1.0)
    safe_bd = jnp.where(is_cloud, r_bd, 1.0)
    t22 = jnp.where(is_cloud, s_in / safe_bu + s_out / safe_bd, zero)

    # Queues (eqs. 10-11): q11 edge compute on one server, q12 cloud compute, q2 UE-edge links.
    t1_edge = jnp.where(is_edge, t1, zero)
    t1_cloud = jnp.where(is_cloud, t1, zero)
    if blocked:
        # q11 x t1_edge: an edge UE waits for its server's edge UEs (itself included), anyone
        # else only for its own (zero) t1_edge; q12 x t1_cloud: a cloud UE waits for all cloud
        # UEs; q2 x t21: the edge UEs of one server, or all cloud UEs (t1_edge, t1_cloud and
        # t21 are already zero off their targets and on padded slots).
        # one reduction for the four sums: per edge of t1_edge, t21 (edge UEs), t1_cloud and
        # t21 (cloud UEs); the cloud totals add up the edges' sums
        parts = jnp.stack([t1_edge, jnp.where(is_edge, t21, zero), t1_cloud,
                           jnp.where(is_cloud, t21, zero)])
        sums = jnp.sum(parts.reshape(4, n // edge_block, edge_block), axis=2)   # [4, K]
        edge_sums = jnp.repeat(sums[:2], edge_block, axis=1)                   # [2, N]
        cloud_sums = jnp.sum(sums[2:], axis=1)                                  # [2]
        q11_sum = jnp.where(is_edge, edge_sums[0], zero)
        q12_sum = jnp.where(is_cloud, cloud_sums[0], zero)
        q2_sum = jnp.where(is_edge, edge_sums[1], jnp.where(is_cloud, cloud_sums[1], zero))
    else:
        edge_pair = is_edge[:, None] & is_edge[None, :] & same_edge
        cloud_pair = is_cloud[:, None] & is_cloud[None, :]
        q11 = edge_pair | eye
        q12 = cloud_pair | eye
        q2 = edge_pair | cloud_pair

        def qsum(q, v):
            return jnp.sum(jnp.where(q & mask[None, :], v[None, :], zero), axis=1)

        q11_sum, q12_sum, q2_sum = qsum(q11, t1_edge), qsum(q12, t1_cloud), qsum(q2, t21)

    t_ue = (jnp.where(is_local, t1, zero) + q11_sum + q12_sum + q2_sum
            + t22)  # eq. 12 before its max
    t_ue = jnp.where(mask, t_ue, zero)
    e_ue = jnp.where(mask, e_ue, zero)
    t_round = jnp.max(t_ue, initial=zero)
    return t_ue, e_ue, t_round


def lower_bounds(*, s_in, cycles, s_out, cached, g_up, g_back, f_ue, f_edge, f_cloud, p_ue,
                 p_edge, p_cloud, bandwidth, noise):
    """Observation of paper eq. 14: ``[p_ue g_up, T1(0), T1(1), T21(1), T1(2), T22(2)]``.

    Each time is the UE's own cost for that target at full power and frequency (a = b = 1),
    with no interference and no queue; ``T1(1)`` is cache-aware. Returns float[N, 6].
    """
    work = s_in * cycles
    r_up = shannon_rate(bandwidth, p_ue * g_up, noise)
    r_dn, r_bu, r_bd = link_rates(g_up, g_back, p_edge, p_cloud, bandwidth, noise)
    t1_0 = work / f_ue
    t1_1 = (1.0 - cached.astype(s_in.dtype)) * work / f_edge
    t21_1 = s_in / r_up + s_out / r_dn
    t1_2 = work / f_cloud
    t22_2 = s_in / r_bu + s_out / r_bd
    t1_2 = jnp.broadcast_to(t1_2, t1_0.shape)
    return jnp.stack([p_ue * g_up, t1_0, t1_1, t21_1, t1_2, t22_2], axis=-1)


def objective(t_round, e_ue, w_time, w_energy):
    """Per-round objective ``w_time T_t + w_energy sum_n E_t^n`` (paper eq. 13)."""
    return w_time * t_round + w_energy * jnp.sum(e_ue, axis=-1)


def optimal_local_frequency(*, x, mask, work, f_ue, t_others, kappa, w_time, w_energy):
    """Best CPU ratios ``b`` for local UEs given everyone else's times (used by Search).

    Local UE n with ``C_n = s_in c`` cycles finishing in ``T`` spends ``kappa C_n^3 / T^2`` J,
    so with the others' round time fixed at ``t_others`` the round objective
    ``w_t max(T, t_others) + w_e kappa sum_n C_n^3 / T^2`` is minimised at
    ``T* = max(t_others, max_n C_n / f_n, (2 w_e kappa sum C^3 / w_t)^(1/3))`` and
    ``b_n = C_n / (T* f_n)``. Returns float[N] (1 for non-local UEs).
    """
    is_local = mask & (x == LOCAL)
    dtype = work.dtype
    c3 = jnp.sum(jnp.where(is_local, work ** 3, 0.0))
    t_min = jnp.max(jnp.where(is_local, work / f_ue, 0.0), initial=jnp.zeros((), dtype))
    t_free = (2.0 * w_energy * kappa * c3 / jnp.maximum(w_time, 1e-30)) ** (1.0 / 3.0)
    t_star = jnp.maximum(jnp.maximum(t_others, t_min), t_free)
    b = jnp.clip(work / (jnp.maximum(t_star, 1e-30) * f_ue), 1e-6, 1.0)
    return jnp.where(is_local, b, jnp.ones_like(b))
