"""Evaluate any policy on the same episodes (same keys) and report the paper's metrics.

Every policy sees identical environments: the episode key is split into a reset key, an
environment stream and a policy stream, and round ``t`` uses ``fold_in(stream, t)``; so a
policy's own randomness never changes the UE layout, the tasks or the fading. (Caches still
differ, since they depend on the policy's decisions.)

With more than one device (:mod:`dtac_jax.parallel`) the episodes are split over a mesh of
all devices and the policy's parameters replicated; results equal the single-device ones.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from dtac_jax import parallel
from dtac_jax.algos import rollouts
from dtac_jax.algos.policy import Policy, PolicyFn
from dtac_jax.env import rng
from dtac_jax.env.scenarios import EnvParams


def episode_keys(key, episodes: int):
    """Per-episode (reset, env-stream, policy-stream) keys, shape [episodes, 3, 2]."""
    return jax.vmap(lambda k: rng.split(k, 3))(rng.split(key, episodes))


def run_episode(policy: Policy | PolicyFn, params: EnvParams, keys, rounds: int,
                n_per_edge=None):
    """One episode of ``rounds`` rounds under ``policy`` on the keys of :func:`episode_keys`
    (round ``t`` uses ``fold_in(stream, t)``); returns per-episode sums."""
    k_reset, k_env, k_pol = keys[0], keys[1], keys[2]

    def record(obs, action, state, info):
        counts = jnp.stack([jnp.sum(state.mask & (info["x"] == i)) for i in range(3)])
        return dict(t_round=info["t_round"], energy=jnp.sum(info["e_ue"]),
                    objective=info["objective"], n_tasks=info["n_ues"], counts=counts,
                    cache_hits=jnp.sum(info["cache_hit"]))

    per_round = rollouts.episode(
        policy, params, k_reset,
        lambda t: (jax.random.fold_in(k_env, t), jax.random.fold_in(k_pol, t)), rounds, record,
        n_per_edge)
    return jax.tree_util.tree_map(lambda v: jnp.sum(v, axis=0), per_round)


@dataclasses.dataclass(frozen=True)
class EvalResult:
    """Averages over all evaluated episodes and rounds (paper section IV-B)."""

    avg_time: float              # s, mean round duration T_t
    energy_per_task: float       # J, total UE energy / number of tasks
    weighted_reward: float       # -(1/T) sum_t [w_t T_t + w_e sum_n E_t^n] (eq. 27)
    frac_local: float
    frac_edge: float
    frac_cloud: float
    cache_hit_rate: float        # edge-computed tasks found in the cache / all tasks
    reward_std_err: float        # standard error of the per-episode weighted reward
    episodes: int
    rounds: int

    def as_dict(self):
        return dataclasses.asdict(self)


def evaluate(policy: Callable, params: EnvParams, key, episodes: int = 16,
             rounds: int | None = None, n_per_edge=None) -> EvalResult:
    """Run ``policy`` on ``episodes`` episodes of ``rounds`` rounds (default: the scenario's).

    ``policy(key, obs, state, params) -> Action``. ``n_per_edge`` optionally fixes the UE
    count per edge (int[K] or an int broadcast to every edge).
    """
    n_per_edge = _check(params, episodes, rounds, n_per_edge)
    rounds = params.rounds if rounds is None else int(rounds)
    keys = episode_keys(key, episodes)
    one = jax.vmap(lambda k: run_episode(policy, params, k, rounds, n_per_edge))
    return summarize(_run_sharded(one, keys, episodes), rounds)


def evaluate_stacked(make_policy: Callable, stacked, params: EnvParams, key, episodes: int = 16,
                     rounds: int | None = None, n_per_edge=None) -> list[EvalResult]:
    """Evaluate several policies of one form at once on the same episodes: policy ``i`` is
    ``make_policy(tree_map(lambda v: v[i], stacked))`` (e.g. one seed of a vmapped training
    run). One compiled program, vmapped over policies and episodes, with the parameters as
    arguments rather than constants baked into the program. Returns one
    :class:`EvalResult` per policy, each identical to ``evaluate`` of that policy."""
    counts = None if n_per_edge is None else [n_per_edge]
    return [r[0] for r in evaluate_grid(make_policy, stacked, params, key, episodes, rounds,
                                        counts)]


def evaluate_grid(make_policy: Callable, stacked, params: EnvParams, key, episodes: int = 16,
                  rounds: int | None = None, counts=None) -> list[list[EvalResult]]:
    """``[policy][count] -> EvalResult``: every policy of ``stacked`` (leading axis; ``None``
    for one policy ``make_policy(None)``) at every UE count per edge in ``counts`` (ints or
    int[K]; ``None``: one point with drawn counts), all on the same episodes, in one compiled
    program (vmapped over policies, counts and episodes; episodes split over devices)."""
    rounds_ = params.rounds if rounds is None else int(rounds)
    if counts is None:
        _check(params, episodes, rounds, None)
        n_arr = None
    else:
        n_arr = jnp.stack([_check(params, episodes, rounds, c) for c in counts])

    def per_policy(theta, ks):                                    # [counts, episodes, ...]
        pol = make_policy(theta)
        one = lambda n: jax.vmap(
            lambda k: run_episode(pol, params, k, rounds_, n))(ks)
        return jax.tree_util.tree_map(lambda v: v[None], one(None)) if n_arr is None \
            else jax.vmap(one)(n_arr)

    if stacked is None:
        fn = lambda ks: jax.tree_util.tree_map(
            lambda v: jnp.moveaxis(v[None], 2, 0), per_policy(None, ks))
        s = _run_sharded(fn, episode_keys(key, episodes), episodes)
    else:
        fn = lambda ks, th: jax.tree_util.tree_map(
            lambda v: jnp.moveaxis(v, 2, 0), jax.vmap(per_policy, in_axes=(0, None))(th, ks))
        s = _run_sharded(fn, episode_keys(key, episodes), episodes, stacked)
    n_pol, n_c = next(iter(s.values())).shape[1:3]
    return [[summarize({k: v[:, i, c] for k, v in s.items()}, rounds_) for c in range(n_c)]
            for i in range(n_pol)]


def _check(params: EnvParams, episodes: int, rounds, n_per_edge):
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    rounds = params.rounds if rounds is None else int(rounds)
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    if n_per_edge is not None:
        n_per_edge = jnp.broadcast_to(jnp.asarray(n_per_edge, jnp.int32), (params.n_edges,))
        if int(jnp.max(n_per_edge)) > params.ue_max or int(jnp.min(n_per_edge)) < 0:
            raise ValueError(f"n_per_edge must lie in [0, ue_max={params.ue_max}]")
    return n_per_edge


def _run_sharded(fn: Callable, keys, episodes: int, *replicated):
    """``fn(keys, *replicated)`` with outputs [episodes, ...], on one device or with the
    episodes split over all devices (padded to a multiple of the device count by repeating
    the last episode's keys; the padding is dropped) and ``replicated`` copied to each."""
    mesh = parallel.make_mesh() if parallel.device_count() > 1 else None
    if mesh is None:
        return jax.device_get(jax.jit(fn)(keys, *replicated))
    n_dev = mesh.devices.size
    padded = -(-episodes // n_dev) * n_dev
    if padded > episodes:
        keys = jnp.concatenate([keys, jnp.repeat(keys[-1:], padded - episodes, axis=0)])
    run = parallel.data_parallel(fn, mesh, in_specs=(parallel.P(parallel.AXIS),)
                                 + (parallel.P(),) * len(replicated))
    out = run(parallel.shard(keys, mesh), *parallel.replicate(replicated, mesh))
    return jax.tree_util.tree_map(lambda v: v[:episodes], parallel.to_host(out))


def summarize(s: dict, rounds: int) -> EvalResult:
    """Aggregate per-episode sums (as returned by :func:`run_episode`, stacked)."""
    s = {k: np.asarray(v, dtype=np.float64) for k, v in s.items()}
    n_tasks = s["n_tasks"].sum()
    counts = s["counts"].sum(axis=0)
    per_ep_reward = -s["objective"] / rounds
    episodes = per_ep_reward.shape[0]
    std_err = float(per_ep_reward.std(ddof=1) / np.sqrt(episodes)) if episodes > 1 else 0.0
    return EvalResult(
        avg_time=float(s["t_round"].sum() / (episodes * rounds)),
        energy_per_task=float(s["energy"].sum() / max(n_tasks, 1.0)),
        weighted_reward=float(per_ep_reward.mean()),
        frac_local=float(counts[0] / max(n_tasks, 1.0)),
        frac_edge=float(counts[1] / max(n_tasks, 1.0)),
        frac_cloud=float(counts[2] / max(n_tasks, 1.0)),
        cache_hit_rate=float(s["cache_hits"].sum() / max(n_tasks, 1.0)),
        reward_std_err=std_err, episodes=episodes, rounds=rounds)


def mean_over_seeds(results: list[EvalResult]) -> EvalResult:
    """Average of one policy's results over training seeds (same episodes); with several
    seeds ``reward_std_err`` becomes the standard error over seeds."""
    if len(results) == 1:
        return results[0]
    d = {f.name: float(np.mean([getattr(r, f.name) for r in results]))
         for f in dataclasses.fields(EvalResult) if f.name not in ("episodes", "rounds")}
    rewards = np.array([r.weighted_reward for r in results])
    d["reward_std_err"] = float(rewards.std(ddof=1) / np.sqrt(len(rewards)))
    return EvalResult(**d, episodes=results[0].episodes, rounds=results[0].rounds)


def format_table(results: dict[str, EvalResult]) -> str:
    """Markdown table of several policies' results."""
    head = ("| policy | avg time (s) | energy/task (J) | weighted reward | local | edge | cloud "
            "| cache hits |\n|---|---|---|---|---|---|---|---|\n")
    rows = []
    for name, r in results.items():
        rows.append(f"| {name} | {r.avg_time:.3f} | {r.energy_per_task:.4f} | "
                    f"{r.weighted_reward:.3f} ± {r.reward_std_err:.3f} | {r.frac_local:.2f} | "
                    f"{r.frac_edge:.2f} | {r.frac_cloud:.2f} | {r.cache_hit_rate:.2f} |")
    return head + "\n".join(rows)
