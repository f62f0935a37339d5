"""Independent, deliberately naive loop-by-loop reference implementation.

This module was written directly from the written specification of the
round cost model, the per-edge LRU result cache and the per-UE lower-bound
observation -- NOT from the library code it is used to check.  It uses only
NumPy and the Python standard library, float64 throughout, and explicit
Python ``for`` loops over UEs so that every term can be verified by reading.

Conventions: ``x[n]`` is 0 (local), 1 (edge) or 2 (cloud); a UE is
"offloaded" when x[n] is 1 or 2; "real" UEs are those with ``mask[n]`` True.
Padded UEs (mask False) get zero time and energy and never influence any
other UE (not as interferers, not in queues).
"""

import math
from collections import OrderedDict

import numpy as np


def _log2(v):
    return math.log(v, 2) if v > 0 else float("-inf")


def round_costs_ref(x, channel, a, b, edge, mask, s_in, cycles, s_out, cached,
                    g_up, g_back, f_ue, f_edge, f_cloud, p_ue, p_edge, p_cloud,
                    bandwidth, noise, kappa):
    """Per-UE latency, per-UE energy and round latency (max over real UEs).

    Returns (t_ue: float64[N], e_ue: float64[N], t_round: float).
    """
    x = [int(v) for v in np.asarray(x).reshape(-1)]
    channel = [int(v) for v in np.asarray(channel).reshape(-1)]
    edge = [int(v) for v in np.asarray(edge).reshape(-1)]
    mask = [bool(v) for v in np.asarray(mask).reshape(-1)]
    cached = [bool(v) for v in np.asarray(cached).reshape(-1)]
    a = [float(v) for v in np.asarray(a, dtype=np.float64).reshape(-1)]
    b = [float(v) for v in np.asarray(b, dtype=np.float64).reshape(-1)]
    s_in = [float(v) for v in np.asarray(s_in, dtype=np.float64).reshape(-1)]
    cycles = [float(v) for v in np.asarray(cycles, dtype=np.float64).reshape(-1)]
    s_out = [float(v) for v in np.asarray(s_out, dtype=np.float64).reshape(-1)]
    g_up = [float(v) for v in np.asarray(g_up, dtype=np.float64).reshape(-1)]
    g_back = [float(v) for v in np.asarray(g_back, dtype=np.float64).reshape(-1)]
    f_ue = [float(v) for v in np.asarray(f_ue, dtype=np.float64).reshape(-1)]  # Hz per UE
    f_edge = float(f_edge)
    f_cloud = float(f_cloud)
    p_ue = float(p_ue)
    p_edge = float(p_edge)
    p_cloud = float(p_cloud)
    B = float(bandwidth)
    noise = float(noise)
    kappa = float(kappa)

    N = len(x)
    off = [x[n] in (1, 2) for n in range(N)]

    # ---- rates (only computed for real UEs) --------------------------------
    R_up = [0.0] * N
    R_dn = [0.0] * N
    R_bu = [0.0] * N
    R_bd = [0.0] * N
    for n in range(N):
        if not mask[n]:
            continue
        interference = 0.0
        for m in range(N):
            if m == n or not mask[m]:
                continue
            if edge[m] == edge[n] and channel[m] == channel[n] and off[m]:
                interference += a[m] * p_ue * g_up[m]
        sinr = a[n] * p_ue * g_up[n] / (noise + interference)
        R_up[n] = B * _log2(1.0 + sinr)
        R_dn[n] = B * _log2(1.0 + p_edge * g_up[n] / noise)
        R_bu[n] = B * _log2(1.0 + p_edge * g_back[n] / noise)
        R_bd[n] = B * _log2(1.0 + p_cloud * g_back[n] / noise)

    # ---- compute time, energy, transfer times --------------------------------
    T1 = [0.0] * N
    T21 = [0.0] * N
    T22 = [0.0] * N
    e_ue = np.zeros(N, dtype=np.float64)
    for n in range(N):
        if not mask[n]:
            continue
        c = cycles[n]
        if x[n] == 0:
            T1[n] = s_in[n] * c / (b[n] * f_ue[n])
            e_ue[n] = kappa * s_in[n] * c * (b[n] * f_ue[n]) ** 2
        elif x[n] == 1:
            T1[n] = (1.0 - (1.0 if cached[n] else 0.0)) * s_in[n] * c / f_edge
        elif x[n] == 2:
            T1[n] = s_in[n] * c / f_cloud
        else:
            raise ValueError("x[%d] = %r is not 0, 1 or 2" % (n, x[n]))
        if off[n]:
            e_ue[n] = a[n] * p_ue * s_in[n] / R_up[n]
            T21[n] = s_in[n] / R_up[n] + s_out[n] / R_dn[n]
        if x[n] == 2:
            T22[n] = s_in[n] / R_bu[n] + s_out[n] / R_bd[n]

    # ---- queue matrices ------------------------------------------------------
    def q11(n, m):
        if n == m:
            return 1.0
        if x[n] == 1 and x[m] == 1 and edge[n] == edge[m]:
            return 1.0
        return 0.0

    def q12(n, m):
        if n == m:
            return 1.0
        if x[n] == 2 and x[m] == 2:
            return 1.0
        return 0.0

    def q2(n, m):
        if x[n] == 1 and x[m] == 1 and edge[n] == edge[m]:
            return 1.0
        if x[n] == 2 and x[m] == 2:
            return 1.0
        return 0.0

    # ---- per-UE latency --------------------------------------------------------
    t_ue = np.zeros(N, dtype=np.float64)
    for n in range(N):
        if not mask[n]:
            continue
        total = 0.0
        if x[n] == 0:
            total += T1[n]
        for m in range(N):
            if not mask[m]:
                continue
            if x[m] == 1:
                total += q11(n, m) * T1[m]
        for m in range(N):
            if not mask[m]:
                continue
            if x[m] == 2:
                total += q12(n, m) * T1[m]
        for m in range(N):
            if not mask[m]:
                continue
            total += q2(n, m) * T21[m]
        total += T22[n]
        t_ue[n] = total

    t_round = 0.0
    any_real = False
    for n in range(N):
        if mask[n]:
            if not any_real or t_ue[n] > t_round:
                t_round = float(t_ue[n])
            any_real = True
    return t_ue, e_ue, float(t_round)


class LRUCacheRef:
    """Least-recently-used result cache of one edge server (capacity in bits).

    The OrderedDict is ordered from least recently used (first) to most
    recently used (last).
    """

    def __init__(self, capacity_bits, s_out):
        self.capacity_bits = float(capacity_bits)
        self.s_out = [float(v) for v in np.asarray(s_out, dtype=np.float64).reshape(-1)]
        self._order = OrderedDict()

    def contains(self, m):
        return int(m) in self._order

    def touch(self, m):
        m = int(m)
        if m in self._order:
            del self._order[m]
        self._order[m] = True  # now the most recently used

    def total_bits(self):
        total = 0.0
        for m in self._order:
            total += self.s_out[m]
        return total

    def evict(self):
        while len(self._order) > 0 and self.total_bits() > self.capacity_bits:
            lru = next(iter(self._order))
            del self._order[lru]

    def items(self):
        return set(self._order.keys())

    def recency(self):
        """Cached items from most to least recently used."""
        return list(reversed(self._order.keys()))


def lru_round_update_ref(caches, x, edge, mask, task):
    """One round's update: per edge, touch tasks of its offloaded real UEs in
    increasing UE index order, then evict once at the end of the round."""
    x = [int(v) for v in np.asarray(x).reshape(-1)]
    edge = [int(v) for v in np.asarray(edge).reshape(-1)]
    mask = [bool(v) for v in np.asarray(mask).reshape(-1)]
    task = [int(v) for v in np.asarray(task).reshape(-1)]
    N = len(x)
    for k in range(len(caches)):
        for n in range(N):
            if mask[n] and x[n] in (1, 2) and edge[n] == k:
                caches[k].touch(task[n])
        caches[k].evict()
    return caches


def lower_bounds_ref(s_in, cycles, s_out, cached, g_up, g_back, f_ue, f_edge,
                     f_cloud, p_ue, p_edge, p_cloud, bandwidth, noise):
    """Per-UE observation [p_ue*g_up, T1(0), T1(1), T21(1), T1(2), T22(2)]
    for that UE alone (a = b = 1, no interference, no queue)."""
    s_in = [float(v) for v in np.asarray(s_in, dtype=np.float64).reshape(-1)]
    cycles = [float(v) for v in np.asarray(cycles, dtype=np.float64).reshape(-1)]
    s_out = [float(v) for v in np.asarray(s_out, dtype=np.float64).reshape(-1)]
    cached = [bool(v) for v in np.asarray(cached).reshape(-1)]
    g_up = [float(v) for v in np.asarray(g_up, dtype=np.float64).reshape(-1)]
    g_back = [float(v) for v in np.asarray(g_back, dtype=np.float64).reshape(-1)]
    f_ue = [float(v) for v in np.asarray(f_ue, dtype=np.float64).reshape(-1)]  # Hz per UE
    f_edge = float(f_edge)
    f_cloud = float(f_cloud)
    p_ue = float(p_ue)
    p_edge = float(p_edge)
    p_cloud = float(p_cloud)
    B = float(bandwidth)
    noise = float(noise)

    N = len(s_in)
    out = np.zeros((N, 6), dtype=np.float64)
    for n in range(N):
        c = cycles[n]
        R_up = B * _log2(1.0 + 1.0 * p_ue * g_up[n] / noise)
        R_dn = B * _log2(1.0 + p_edge * g_up[n] / noise)
        R_bu = B * _log2(1.0 + p_edge * g_back[n] / noise)
        R_bd = B * _log2(1.0 + p_cloud * g_back[n] / noise)
        t1_local = s_in[n] * c / (1.0 * f_ue[n])
        t1_edge = (1.0 - (1.0 if cached[n] else 0.0)) * s_in[n] * c / f_edge
        t21_edge = s_in[n] / R_up + s_out[n] / R_dn
        t1_cloud = s_in[n] * c / f_cloud
        t22_cloud = s_in[n] / R_bu + s_out[n] / R_bd
        out[n, 0] = p_ue * g_up[n]
        out[n, 1] = t1_local
        out[n, 2] = t1_edge
        out[n, 3] = t21_edge
        out[n, 4] = t1_cloud
        out[n, 5] = t22_cloud
    return out
