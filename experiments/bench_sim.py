"""Simulator throughput: the jitted, vmapped JAX environment against a NumPy reference.

The figure of merit is **UE-rounds per second**: real UEs (counted from the mask) stepped per
second of wall time, with a random policy choosing the actions.

- JAX: ``jit`` of a ``lax.scan`` over ``R`` rounds of ``vmap(random_policy)`` then
  ``vmap(env.step)`` over ``B`` parallel episodes of the ``small`` preset. Compilation (trace +
  XLA compile, ahead of time) is timed on its own, then one untimed warm-up call, then timed
  calls (each ended by ``block_until_ready``) until ``--min-seconds`` have passed.
- NumPy: :class:`numpy_env.NumpyCloudEdgeEnv`, one episode at a time (a Python loop over
  episodes and rounds, random actions), for ``--numpy-seconds`` of wall time.

Ratios are measured side by side: after every timed JAX call the NumPy reference steps for as
long as that call took, so both see the same machine load (the CPUs may be shared); the NumPy
reference's rate measured alone at the start is reported too. A second sweep scales the number
of UEs per episode (``--ues``, default 20 to 200: the ``small`` topology with every edge
serving ``UEs / K`` of them) at ``--ue-episodes`` parallel JAX episodes, each against the
NumPy reference at the same UE count, interleaved the same way.

Both sides time the policy and the step only: episode resets happen outside the timers (the
JAX side steps ``R <= rounds`` rounds from freshly reset episodes in every call). Before
timing, :func:`numpy_env.check_against_jax` asserts that both implementations compute the
same costs, observations and cache updates, so the comparison is like with like.

Usage (from the repository root; ``make bench`` runs the defaults)::

    python experiments/bench_sim.py --episodes 1,64,1024,8192 --rounds 50 \
        --numpy-seconds 10 --ues 20,50,100,200 --ue-episodes 1024 --out benchmarks/sim.json

Writes the figures, the device, the versions and the date to ``--out`` and a Markdown copy of
the tables beside it (``.md``).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for numpy_env, beside this file
from benchio import save_report
from numpy_env import NumpyCloudEdgeEnv, check_against_jax

from dtac_jax.algos.heuristics import random_policy
from dtac_jax.env import env as jenv, rng
from dtac_jax.env.scenarios import make_params, make_scenario


# ============================================================================ JAX side
def make_rollout(params, n_episodes: int, n_rounds: int):
    """``rollout(key, obs, state) -> (n_real_ues, objective per round)``, jitted.

    Steps ``n_episodes`` episodes (batched obs/state) for ``n_rounds`` rounds under the random
    policy, all inside one ``lax.scan``. The per-round objective summed over episodes is
    returned so that no part of the step can be dead-code-eliminated.
    """
    v_policy = jax.vmap(random_policy, in_axes=(0, 0, 0, None))
    v_step = jax.vmap(jenv.step, in_axes=(0, 0, 0, None))

    def one_round(carry, key):
        obs, state = carry
        k_pol, k_env = rng.split(key)
        action = v_policy(rng.split(k_pol, n_episodes), obs, state, params)
        obs, state, _reward, _done, info = v_step(rng.split(k_env, n_episodes), state,
                                                  action, params)
        return (obs, state), jnp.sum(info["objective"])

    def rollout(key, obs, state):
        _, objective = jax.lax.scan(one_round, (obs, state), rng.split(key, n_rounds))
        return jnp.sum(state.mask), objective

    return jax.jit(rollout)


def bench_jax(params, n_episodes: int, n_rounds: int, min_seconds: float, seed: int = 0,
              between=None) -> dict:
    """Compile time, then UE-rounds/s of the batched rollout over timed calls.

    ``between(seconds)``, if given, runs after every timed call (e.g. the NumPy reference for
    as long as the call took, so that both see the same machine load)."""
    key = jax.random.PRNGKey(seed)
    k_reset, key = rng.split(key)
    reset = jax.jit(jax.vmap(jenv.reset, in_axes=(0, None)))
    obs, state = jax.block_until_ready(reset(rng.split(k_reset, n_episodes), params))

    rollout = make_rollout(params, n_episodes, n_rounds)
    t0 = time.perf_counter()
    compiled = rollout.lower(key, obs, state).compile()  # trace + XLA compile, ahead of time
    compile_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    n_real, objective = jax.block_until_ready(compiled(jax.random.fold_in(key, 0), obs, state))
    warmup_s = time.perf_counter() - t0
    assert np.isfinite(np.asarray(objective)).all(), "non-finite objective in the JAX rollout"
    ue_rounds_per_call = int(n_real) * n_rounds

    call_s, cpu_s = [], 0.0
    while sum(call_s) < min_seconds or len(call_s) < 2:
        t0, c0 = time.perf_counter(), time.process_time()
        jax.block_until_ready(compiled(jax.random.fold_in(key, len(call_s) + 1), obs, state))
        call_s.append(time.perf_counter() - t0)
        cpu_s += time.process_time() - c0
        if between is not None:
            between(call_s[-1])
    return dict(
        n_slots=params.n_max, cpu_s_per_wall_s=cpu_s / sum(call_s),
        episodes=n_episodes, rounds_per_call=n_rounds, real_ues=int(n_real),
        ue_rounds_per_call=ue_rounds_per_call, compile_s=compile_s, warmup_call_s=warmup_s,
        calls=len(call_s), mean_call_s=float(np.mean(call_s)), min_call_s=float(np.min(call_s)),
        median_call_s=float(np.median(call_s)), call_s=[float(c) for c in call_s],
        ue_rounds_per_s=ue_rounds_per_call * len(call_s) / sum(call_s),
        best_ue_rounds_per_s=ue_rounds_per_call / min(call_s))


# ============================================================================ NumPy side
def bench_numpy(scenario, seconds: float, seed: int = 0) -> dict:
    """UE-rounds/s of the NumPy env, one episode at a time, random actions, for ``seconds``."""
    env = NumpyCloudEdgeEnv(scenario)
    rng = np.random.default_rng(seed)
    ue_rounds, rounds, episodes, stepping_s, cpu_s = 0, 0, 0, 0.0, 0.0
    while stepping_s < seconds:
        env.reset(seed=seed + episodes)  # outside the timer, as on the JAX side
        episodes += 1
        n_real = int(env.mask.sum())
        t0, c0 = time.perf_counter(), time.process_time()
        done = False
        while not done:
            x, channel, a, b = env.random_action(rng)
            _obs, _reward, done, _info = env.step(x, channel, a, b)
            ue_rounds += n_real
            rounds += 1
        stepping_s += time.perf_counter() - t0
        cpu_s += time.process_time() - c0
    return dict(episodes=episodes, rounds=rounds, ue_rounds=ue_rounds, seconds=stepping_s,
                ue_rounds_per_s=ue_rounds / stepping_s, dtype=str(env.dtype),
                n_slots=env.n_max, cpu_s_per_wall_s=cpu_s / stepping_s)


class InterleavedNumpy:
    """The NumPy reference stepped in slices between JAX calls (same load on both sides)."""

    def __init__(self, scenario, seed: int = 0):
        self.env = NumpyCloudEdgeEnv(scenario)
        self.rng = np.random.default_rng(seed)
        self.seed, self.episodes, self.done = seed, 0, True
        self.ue_rounds, self.rounds, self.seconds = 0, 0, 0.0
        self.slice_rates: list[float] = []   # UE-rounds/s of each slice (one per JAX call)

    def __call__(self, budget_s: float):
        spent, ue_rounds0 = 0.0, self.ue_rounds
        while spent < budget_s:
            if self.done:  # reset outside the timer
                self.env.reset(seed=self.seed + self.episodes)
                self.episodes += 1
                self.n_real, self.done = int(self.env.mask.sum()), False
            t0 = time.perf_counter()
            x, channel, a, b = self.env.random_action(self.rng)
            _obs, _reward, self.done, _info = self.env.step(x, channel, a, b)
            dt_ = time.perf_counter() - t0
            spent += dt_
            self.seconds += dt_
            self.ue_rounds += self.n_real
            self.rounds += 1
        self.slice_rates.append((self.ue_rounds - ue_rounds0) / spent)

    def result(self) -> dict:
        return dict(ue_rounds=self.ue_rounds, rounds=self.rounds, seconds=self.seconds,
                    ue_rounds_per_s=self.ue_rounds / max(self.seconds, 1e-12))


def paired_ratios(jax_run: dict, numpy_slices: list[float]) -> dict:
    """Median and quartiles of the per-call ratios: each JAX call's UE-rounds/s over the NumPy
    reference's in the slice stepped right after it (same machine state for the pair, so a
    burst of load from another tenant spoils one pair instead of biasing a pooled mean)."""
    r = (jax_run["ue_rounds_per_call"] / np.asarray(jax_run["call_s"])) / np.asarray(numpy_slices)
    q25, q50, q75 = np.percentile(r, [25, 50, 75])
    return dict(median=float(q50), q25=float(q25), q75=float(q75), pairs=len(r))


# ============================================================================ report
def rounds_for(n_episodes: int, rounds: int, max_episode_rounds: int) -> int:
    """Rounds per timed call: ``rounds``, reduced for large batches to bound a call's work."""
    return max(1, min(rounds, max_episode_rounds // n_episodes))


def markdown(report: dict) -> str:
    np_rate = report["numpy"]["ue_rounds_per_s"]
    def paired(r):
        p = r["paired_ratio"]
        return f"{p['median']:.2f}x ({p['q25']:.0f}-{p['q75']:.0f})"

    lines = ["| episodes | JAX UE-rounds/s | NumPy UE-rounds/s, interleaved | pooled ratio | "
             "median paired ratio (quartiles) | ratio to the NumPy block run |",
             "|---:|---:|---:|---:|---:|---:|"]
    for r in report["jax"]:
        il = r["numpy_interleaved"]["ue_rounds_per_s"]
        lines.append(f"| {r['episodes']} | {r['ue_rounds_per_s']:,.0f} | {il:,.0f} | "
                     f"{r['ue_rounds_per_s'] / il:.2f}x | {paired(r)} | "
                     f"{r['ue_rounds_per_s'] / np_rate:.2f}x |")
    lines += ["", "The NumPy reference steps between the JAX calls for as long as each call "
                  "took (same machine load on both sides). Pooled ratio: all JAX UE-rounds over "
                  "all JAX time, against the same for NumPy. Paired ratios: each JAX call's rate "
                  "over the NumPy rate of the slice right after it (robust to a burst of load "
                  "from another tenant, which spoils one pair). Last column: against the "
                  f"NumPy reference's {np_rate:,.0f} UE-rounds/s measured alone at the start."]
    lines += ["", "| episodes | rounds per call | real UEs | compile (s) | warm-up call (s) | "
                  "mean call (s) | median call (s) | min call (s) | timed calls |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["jax"]:
        lines.append(f"| {r['episodes']} | {r['rounds_per_call']} | {r['real_ues']} | "
                     f"{r['compile_s']:.2f} | {r['warmup_call_s']:.3f} | {r['mean_call_s']:.3f} | "
                     f"{r['median_call_s']:.3f} | {r['min_call_s']:.3f} | {r['calls']} |")
    if report.get("ue_scaling"):
        lines += ["", f"Scaling with the number of UEs per episode ({report['ue_episodes']} "
                      "parallel JAX episodes; NumPy one episode at a time, same UE count, "
                      "interleaved with the JAX calls):",
                  "", "| UEs per episode | JAX UE-rounds/s | NumPy UE-rounds/s | pooled ratio | "
                      "median paired ratio (quartiles) | rounds per call | compile (s) |",
                  "|---:|---:|---:|---:|---:|---:|---:|"]
        for u in report["ue_scaling"]:
            j, n_ = u["jax"], u["numpy"]
            lines.append(f"| {u['ues']} | {j['ue_rounds_per_s']:,.0f} | "
                         f"{n_['ue_rounds_per_s']:,.0f} | "
                         f"{j['ue_rounds_per_s'] / n_['ue_rounds_per_s']:.2f}x | {paired(j)} | "
                         f"{j['rounds_per_call']} | {j['compile_s']:.2f} |")
    mem = report["memory"]
    n = report["numpy"]
    lines.append("")
    if mem is not None:
        lines.append(f"- Peak resident memory after the {mem['after_episodes']}-episode run: "
                     f"{mem['peak_rss_mib']:.0f} MiB (ru_maxrss); current RSS "
                     f"{mem['rss_mib']:.0f} MiB.")
    lines += [
        f"- NumPy reference ({n['dtype']}): {n['episodes']} episodes, {n['rounds']} rounds, "
        f"{n['ue_rounds']:,} UE-rounds in {n['seconds']:.1f} s of stepping.",
        f"- Device: {report['device']['description']}; jax {report['versions']['jax']}, "
        f"numpy {report['versions']['numpy']}; {report['host']['cpu_count']} CPUs, "
        f"load average {report['host']['loadavg_start']} at start, "
        f"{report['host']['loadavg_end']} at end (other jobs shared the CPUs: compare the "
        f"ratios, measured side by side, more than the absolute rates); {report['date']}.",
        f"- Parity check: NumPy and JAX agree on {report['parity_states_checked']} states "
        f"(round costs and observations to rtol 1e-4, LRU caches exactly).",
    ]
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--episodes", default="1,64,1024,8192",
                    help="comma-separated numbers of parallel JAX episodes")
    ap.add_argument("--rounds", type=int, default=50, help="rounds per timed JAX call")
    ap.add_argument("--max-episode-rounds", type=int, default=65536,
                    help="cap on episodes x rounds per JAX call: large batches get fewer rounds")
    ap.add_argument("--min-seconds", type=float, default=8.0,
                    help="time JAX calls until this much wall time (at least 2 calls)")
    ap.add_argument("--numpy-seconds", type=float, default=10.0,
                    help="wall budget of the NumPy reference")
    ap.add_argument("--ues", default="20,50,100,200",
                    help="comma-separated UEs per episode for the UE-scaling sweep ('' skips it)")
    ap.add_argument("--ue-episodes", type=int, default=1024,
                    help="parallel JAX episodes of the UE-scaling sweep")
    ap.add_argument("--ue-numpy-seconds", type=float, default=4.0,
                    help="UE sweep: time JAX (and, interleaved, NumPy) for at least this long")
    ap.add_argument("--max-call-ue-rounds", type=int, default=2_000_000,
                    help="UE-scaling sweep: cap on episodes x rounds x UEs per JAX call")
    ap.add_argument("--preset", default="small")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/sim.json")
    args = ap.parse_args(argv)
    episodes = [int(e) for e in args.episodes.split(",") if e.strip()]

    scenario = make_scenario(args.preset)
    params = make_params(scenario)
    loadavg_start = [round(v, 2) for v in os.getloadavg()]

    print("parity check ...", flush=True)
    n_checked = check_against_jax(scenario, seed=args.seed)

    print(f"NumPy reference, {args.numpy_seconds:g} s ...", flush=True)
    np_res = bench_numpy(scenario, args.numpy_seconds, seed=args.seed)
    print(f"  {np_res['ue_rounds_per_s']:,.0f} UE-rounds/s", flush=True)

    jax_res, memory = [], None
    for n_ep in episodes:
        n_rounds = rounds_for(n_ep, args.rounds, args.max_episode_rounds)
        print(f"JAX, {n_ep} episodes x {n_rounds} rounds per call ...", flush=True)
        inter = InterleavedNumpy(scenario, seed=args.seed)
        r = bench_jax(params, n_ep, n_rounds, args.min_seconds, seed=args.seed, between=inter)
        r["numpy_interleaved"] = inter.result()
        r["paired_ratio"] = paired_ratios(r, inter.slice_rates)
        del r["call_s"]
        print(f"  compile {r['compile_s']:.2f} s, {r['ue_rounds_per_s']:,.0f} UE-rounds/s; "
              f"NumPy interleaved {r['numpy_interleaved']['ue_rounds_per_s']:,.0f}: "
              f"{r['ue_rounds_per_s'] / r['numpy_interleaved']['ue_rounds_per_s']:.1f}x; "
              f"median paired ratio {r['paired_ratio']['median']:.1f}x", flush=True)
        jax_res.append(r)
        if n_ep == max(episodes):  # memory after the largest batch
            memory = dict(after_episodes=n_ep,
                          peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                          rss_mib=psutil.Process().memory_info().rss / 2 ** 20)

    ue_scaling = []
    for n_ues in [int(u) for u in args.ues.split(",") if u.strip()]:
        per_edge = max(1, n_ues // scenario.n_edges)
        scn_u = scenario.with_fixed_ues(per_edge)
        n_u = scn_u.n_max
        n_rounds = max(1, min(args.rounds,
                              args.max_call_ue_rounds // (args.ue_episodes * n_u)))
        print(f"UE scaling: {n_u} UEs per episode: JAX {args.ue_episodes} episodes x "
              f"{n_rounds} rounds per call, NumPy interleaved ...", flush=True)
        inter = InterleavedNumpy(scn_u, seed=args.seed)
        jx_u = bench_jax(make_params(scn_u), args.ue_episodes, n_rounds,
                         max(args.min_seconds, args.ue_numpy_seconds), seed=args.seed,
                         between=inter)
        np_u = inter.result()
        jx_u["paired_ratio"] = paired_ratios(jx_u, inter.slice_rates)
        del jx_u["call_s"]
        print(f"  NumPy {np_u['ue_rounds_per_s']:,.0f}, JAX {jx_u['ue_rounds_per_s']:,.0f} "
              f"UE-rounds/s: {jx_u['ue_rounds_per_s'] / np_u['ue_rounds_per_s']:.1f}x",
              flush=True)
        ue_scaling.append(dict(ues=n_u, ues_per_edge=per_edge, numpy=np_u, jax=jx_u))

    devices = jax.devices()
    report = dict(
        benchmark="simulator UE-rounds per second (random policy), JAX vs NumPy reference",
        preset=args.preset, scenario=scenario.to_dict(), args=vars(args),
        date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        device=dict(description=", ".join(f"{d.platform}:{d.device_kind}" for d in devices),
                    devices=[str(d) for d in devices], backend=jax.default_backend()),
        versions=dict(jax=jax.__version__, jaxlib=jaxlib.__version__, numpy=np.__version__,
                      python=platform.python_version()),
        host=dict(platform=platform.platform(), processor=platform.processor(),
                  cpu_count=os.cpu_count(), loadavg_start=loadavg_start,
                  loadavg_end=[round(v, 2) for v in os.getloadavg()]),
        parity_states_checked=n_checked, numpy=np_res, jax=jax_res, memory=memory,
        ue_episodes=args.ue_episodes, ue_scaling=ue_scaling,
        timing_notes=("UE-rounds = real UEs (from the mask) x rounds; both sides time the "
                      "random policy and the step, not the episode reset; JAX float32, "
                      f"NumPy {np_res['dtype']}."),
    )
    save_report(report, markdown(report), args.out, f"Simulator throughput ({args.preset} preset)")
    return report


if __name__ == "__main__":
    main()
