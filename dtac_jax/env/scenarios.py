"""Scenario presets: the cloud-edge network of docs/model.md, "The network", as frozen,
validated configs.

A :class:`Scenario` holds plain Python numbers (JSON-able, hashable, saved with every
checkpoint). :func:`make_params` turns it into :class:`EnvParams`, the pytree of arrays the
jitted environment consumes (task table, per-type popularity, gains in linear units).

Every constant carries its unit and its source: ``paper`` (Table I of the paper), ``model``
(the contract in docs/model.md) or
``calibrated`` (the project's choice, see docs/model.md "Modelling notes" and
``experiments/calibrate.py``).
"""
from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from dtac_jax.config import Config


def dbm_to_watt(dbm: float) -> float:
    """Convert dBm to W (done once, at configuration time)."""
    return 10.0 ** ((dbm - 30.0) / 10.0)


@dataclasses.dataclass(frozen=True)
class Scenario(Config):
    """One cloud-edge network. All units SI (m, Hz, W, bits, cycles/bit, J, s).

    ``to_dict``, ``from_dict`` and ``replace`` (:class:`dtac_jax.config.Config`) reject unknown
    fields with ``unknown scenario field(s): ...``.
    """

    _config_label = "scenario"

    name: str = "small"
    # --- topology (paper Table I / docs/model.md presets)
    n_edges: int = 5                 # K edge servers                              [paper]
    r_edge: float = 200.0            # m, UE disc radius around its edge server      [paper]
    r_cloud: float = 300.0           # m, radius of the edge-server circle           [paper]
    ue_min: int = 4                  # UEs per edge, drawn uniformly at each reset   [paper]
    ue_max: int = 6                  #   ... ue_max also fixes N_max = K * ue_max    [paper]
    min_dist: float = 10.0           # m, minimum UE-edge distance                   [model]
    # --- tasks and UEs
    n_ue_types: int = 6              # UE types                                      [paper]
    n_tasks: int = 200               # M task kinds                                  [paper]
    task_seed: int = 0               # seed of the task table and popularity orders  [project]
    s_in_range: tuple[float, float] = (5e6, 20e6)     # bits                          [paper]
    s_out_range: tuple[float, float] = (2e6, 40e6)    # bits                          [paper]
    cycles_range: tuple[float, float] = (600.0, 1200.0)  # cycles per bit             [paper]
    zipf_alpha: float = 0.8          # Zipf exponent of task popularity              [calibrated]
    # Hz, max CPU per type [calibrated]
    f_ue: tuple[float, ...] = (1.0e9, 1.5e9, 2.0e9, 2.5e9, 3.0e9, 3.5e9)
    kappa: float = 5e-29             # J/(cycle Hz^2), effective capacitance         [calibrated]
    # --- radio
    l_channels: int = 4              # L orthogonal channels                         [paper]
    total_bandwidth: float = 80e6    # Hz, shared equally by the L channels          [paper]
    p_cloud_dbm: float = 40.0        # dBm, cloud transmit power                     [paper]
    p_edge_dbm: float = 30.0         # dBm, edge transmit power                      [paper]
    p_ue_dbm: float = 23.9           # dBm, UE maximum transmit power                [paper]
    noise_dbm_hz: float = -174.0     # dBm/Hz, thermal noise density                 [model]
    pathloss_db_at_1km: float = 128.1  # dB, path loss 128.1 + 37.6 log10(d/1km)     [model]
    pathloss_exponent_db: float = 37.6  # dB per decade                              [model]
    # --- compute and cache
    f_edge: float = 14.4e9           # Hz per edge server                            [paper]
    f_cloud: float = 14.4e9          # Hz, cloud centre                              [paper]
    cache_capacity: float = 200e6    # bits of results per edge server (S_k)         [calibrated]
    # --- objective
    w_time: float = 1.0              # weight of T_t (per second)                    [calibrated]
    w_energy: float = 1.0            # weight of sum_n E_t^n (per joule)             [calibrated]
    rounds: int = 50                 # rounds per episode (paper: 600)               [calibrated]

    # ------------------------------------------------------------------ derived
    @property
    def n_max(self) -> int:
        """Padded number of UE slots, N_max = K * ue_max."""
        return self.n_edges * self.ue_max

    @property
    def bandwidth(self) -> float:
        """Hz per channel, B = total / L."""
        return self.total_bandwidth / self.l_channels

    @property
    def noise(self) -> float:
        """W per channel: -174 dBm/Hz + 10 log10(B)."""
        return dbm_to_watt(self.noise_dbm_hz + 10.0 * math.log10(self.bandwidth))

    @property
    def p_ue(self) -> float:
        return dbm_to_watt(self.p_ue_dbm)

    @property
    def p_edge(self) -> float:
        return dbm_to_watt(self.p_edge_dbm)

    @property
    def p_cloud(self) -> float:
        return dbm_to_watt(self.p_cloud_dbm)

    # ------------------------------------------------------------------ validation
    def __post_init__(self):
        def bad(msg: str):
            raise ValueError(f"invalid scenario {self.name!r}: {msg}")

        for f in ("n_edges", "ue_min", "ue_max", "n_ue_types", "n_tasks", "l_channels", "rounds"):
            v = getattr(self, f)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
                bad(f"{f} must be an integer, got {v!r}")
        for f in ("n_edges", "ue_max", "n_ue_types", "n_tasks", "l_channels", "rounds"):
            if getattr(self, f) < 1:
                bad(f"{f} must be >= 1, got {getattr(self, f)}")
        if self.ue_min < 0:
            bad(f"ue_min must be >= 0, got {self.ue_min}")
        if self.ue_min > self.ue_max:
            bad(f"ue_min ({self.ue_min}) > ue_max ({self.ue_max})")
        for f in ("r_edge", "r_cloud", "total_bandwidth", "f_edge", "f_cloud", "kappa"):
            v = getattr(self, f)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                bad(f"{f} must be a positive finite number, got {v!r}")
        if not (0 < self.min_dist < self.r_edge):
            bad(f"min_dist must be in (0, r_edge={self.r_edge}), got {self.min_dist}")
        for f in ("zipf_alpha", "cache_capacity", "w_time", "w_energy"):
            v = getattr(self, f)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                bad(f"{f} must be a non-negative finite number, got {v!r}")
        for f in ("s_in_range", "s_out_range", "cycles_range"):
            lo_hi = getattr(self, f)
            if len(lo_hi) != 2 or not (0 < lo_hi[0] <= lo_hi[1]):
                bad(f"{f} must be (low, high) with 0 < low <= high, got {lo_hi!r}")
        if len(self.f_ue) != self.n_ue_types:
            bad(f"f_ue has {len(self.f_ue)} entries but n_ue_types = {self.n_ue_types}")
        if any(not (f > 0) for f in self.f_ue):
            bad(f"every f_ue must be > 0 Hz, got {self.f_ue}")

    # ------------------------------------------------------------------ serialisation
    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def with_fixed_ues(self, per_edge: int) -> "Scenario":
        """Every edge serves exactly ``per_edge`` UEs (x-axes of Figs. 5-7)."""
        return self.replace(ue_min=per_edge, ue_max=per_edge)


PRESETS: dict[str, dict[str, Any]] = {
    # docs/model.md table; paper Figs. 5 (small), 6 and 8 (medium), 7 and 9 (large).
    "small": dict(n_edges=5, r_edge=200.0, r_cloud=300.0, ue_min=4, ue_max=6),
    "medium": dict(n_edges=7, r_edge=300.0, r_cloud=400.0, ue_min=3, ue_max=5),
    "large": dict(n_edges=7, r_edge=600.0, r_cloud=800.0, ue_min=3, ue_max=5),
}


def make_scenario(preset: str = "small", **overrides) -> Scenario:
    """A named preset (``small``, ``medium``, ``large``) with keyword overrides.

    >>> make_scenario("small", l_channels=6).bandwidth
    13333333.333333334
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    base = Scenario(name=preset, **PRESETS[preset])
    return base.replace(**overrides)


# ====================================================================== EnvParams
@struct.dataclass
class EnvParams:
    """Everything the jitted environment needs, as a pytree.

    Integer sizes are static (``pytree_node=False``) so array shapes are known at trace time;
    physical constants are leaves, so one can ``vmap`` over e.g. ``w_energy``.
    ``cache_slots`` is the length of each edge's cache list, the most results of the task table
    that fit in ``cache_capacity`` (see :func:`cache_slots`): build params with
    :func:`make_params` rather than replacing ``cache_capacity`` or ``s_out`` by hand.
    """

    # static sizes
    n_edges: int = struct.field(pytree_node=False)
    ue_min: int = struct.field(pytree_node=False)
    ue_max: int = struct.field(pytree_node=False)
    n_ue_types: int = struct.field(pytree_node=False)
    n_tasks: int = struct.field(pytree_node=False)
    l_channels: int = struct.field(pytree_node=False)
    rounds: int = struct.field(pytree_node=False)
    cache_slots: int = struct.field(pytree_node=False)  # C: most results a cache can hold
    # geometry (m)
    r_edge: jax.Array
    r_cloud: jax.Array
    min_dist: jax.Array
    # task table [M] and popularity
    s_in: jax.Array          # bits
    s_out: jax.Array         # bits
    cycles: jax.Array        # cycles per bit
    pop_logits: jax.Array    # [types, M] log-probability of each task kind per UE type (Zipf)
    pop_alias_prob: jax.Array  # [types, M] alias-method table: keep column m with this prob.
    pop_alias: jax.Array       # [types, M] int32, ... else draw this task (Walker/Vose)
    f_ue_type: jax.Array     # [types] Hz
    # radio (linear units)
    bandwidth: jax.Array     # Hz per channel
    noise: jax.Array         # W per channel
    p_ue: jax.Array
    p_edge: jax.Array
    p_cloud: jax.Array
    pl_db_1km: jax.Array
    pl_exp_db: jax.Array
    # compute, cache, objective
    f_edge: jax.Array
    f_cloud: jax.Array
    kappa: jax.Array
    cache_capacity: jax.Array  # bits
    w_time: jax.Array
    w_energy: jax.Array

    @property
    def n_max(self) -> int:
        return self.n_edges * self.ue_max


def task_table(scn: Scenario) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(s_in, s_out, cycles, popularity order per type), drawn once from ``task_seed``."""
    rng = np.random.default_rng(scn.task_seed)
    s_in = rng.uniform(*scn.s_in_range, size=scn.n_tasks)
    s_out = rng.uniform(*scn.s_out_range, size=scn.n_tasks)
    cycles = rng.uniform(*scn.cycles_range, size=scn.n_tasks)
    order = np.stack([rng.permutation(scn.n_tasks) for _ in range(scn.n_ue_types)])
    return s_in, s_out, cycles, order


def zipf_logits(scn: Scenario, order: np.ndarray) -> np.ndarray:
    """log P(task m | type): rank r (1-based) of m in the type's order has P ~ r^-alpha."""
    ranks = np.empty_like(order)
    for t in range(order.shape[0]):
        ranks[t, order[t]] = np.arange(1, scn.n_tasks + 1)
    logp = -scn.zipf_alpha * np.log(ranks.astype(np.float64))
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    return logp


def cache_slots(s_out: np.ndarray, capacity: float) -> int:
    """The most distinct results whose sizes ``s_out`` fit together in ``capacity``, plus one.

    The smallest ``k`` results are the ``k`` that fit most easily; the extra slot covers a
    float32 running total that rounds a just-too-large set under the capacity. At most
    ``len(s_out)``.
    """
    fits = int(np.sum(np.cumsum(np.sort(np.asarray(s_out, np.float64))) <= capacity))
    return min(len(s_out), fits + 1)


def alias_table(prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias tables (Vose's construction) of each row of ``prob`` [rows, M].

    Drawing column ``m`` uniformly, then keeping it with probability ``keep[m]`` or else
    taking ``alias[m]``, samples the row's distribution exactly in O(1): two table reads per
    draw instead of a search through the cumulative distribution.
    """
    prob = np.asarray(prob, np.float64)
    rows, m = prob.shape
    keep = np.ones((rows, m))
    alias = np.tile(np.arange(m), (rows, 1))
    for r in range(rows):
        scaled = prob[r] / prob[r].sum() * m
        small = [i for i in range(m) if scaled[i] < 1.0]
        large = [i for i in range(m) if scaled[i] >= 1.0]
        while small and large:
            s_i, l_i = small.pop(), large.pop()
            keep[r, s_i], alias[r, s_i] = scaled[s_i], l_i
            scaled[l_i] -= 1.0 - scaled[s_i]
            (small if scaled[l_i] < 1.0 else large).append(l_i)
        # leftovers are 1 up to rounding: keep them always
    return keep, alias


def make_params(scn: Scenario, dtype=None) -> EnvParams:
    """Build the environment's array parameters from a scenario (float32 unless x64 is on)."""
    if dtype is None:  # float32, or float64 under jax_enable_x64 / jax.enable_x64()
        dtype = jnp.asarray(0.0).dtype
    s_in, s_out, cycles, order = task_table(scn)
    logits = zipf_logits(scn, order)
    keep, alias = alias_table(np.exp(logits))
    f = lambda v: jnp.asarray(v, dtype=dtype)
    return EnvParams(
        n_edges=scn.n_edges, ue_min=scn.ue_min, ue_max=scn.ue_max, n_ue_types=scn.n_ue_types,
        n_tasks=scn.n_tasks, l_channels=scn.l_channels, rounds=scn.rounds,
        cache_slots=cache_slots(s_out, scn.cache_capacity),
        r_edge=f(scn.r_edge), r_cloud=f(scn.r_cloud), min_dist=f(scn.min_dist),
        s_in=f(s_in), s_out=f(s_out), cycles=f(cycles), pop_logits=f(logits),
        pop_alias_prob=f(keep), pop_alias=jnp.asarray(alias, jnp.int32),
        f_ue_type=f(scn.f_ue),
        bandwidth=f(scn.bandwidth), noise=f(scn.noise), p_ue=f(scn.p_ue), p_edge=f(scn.p_edge),
        p_cloud=f(scn.p_cloud), pl_db_1km=f(scn.pathloss_db_at_1km),
        pl_exp_db=f(scn.pathloss_exponent_db),
        f_edge=f(scn.f_edge), f_cloud=f(scn.f_cloud), kappa=f(scn.kappa),
        cache_capacity=f(scn.cache_capacity), w_time=f(scn.w_time), w_energy=f(scn.w_energy),
    )
