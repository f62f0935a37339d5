"""Per-UE decision latency of the deployed DTAC policy: jitted, and exported with ``jax.export``.

A deployed UE decides from its own 6-number observation and its edge id alone
(``dtac_jax.deploy``; paper Algorithm 1, lines 20-22). This script times that decision:

- **jit**: ``deploy.make_act(run)`` (or ``deploy.act_fn`` on fresh parameters), one UE, batch
  1, called with a NumPy observation as a UE would hold it, outputs fetched to the host
  (``block_until_ready`` on ``(x, l, a, b)``);
- **export**: the same function exported with ``jax.export`` (StableHLO), serialised to bytes,
  deserialised and called (through ``jax.jit`` of ``Exported.call``), as a deployment that
  ships the serialised program instead of the Python model code would do.

Both are warmed up, then called alternately ``--calls`` times each (so machine load affects
both alike); median, p90, p99 and mean per call are reported, with their ratio and the
100 µs target.

Without ``--run`` the policy gets fresh random parameters of the DTAC structure (the TAC
actor with identity attention, default ``NetConfig``): latency does not depend on the
parameter values, and the output says which was used.

Usage::

    python experiments/bench_deploy.py [--run runs/quick/dtac] [--calls 5000]
        [--out benchmarks/deploy.json]
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchio, beside this file
from benchio import save_report  # noqa: E402
from dtac_jax import deploy
from dtac_jax.algos.dtac import TransferConfig
from dtac_jax.env.env import OBS_DIM
from dtac_jax.nets.complexity import param_count
from dtac_jax.nets.transformer import NetConfig, init_actor_critic

TARGET_US = 100.0


def fresh_act(seed: int = 0):
    """``act(obs[6], edge_id)`` of a DTAC student with random parameters of the right shape."""
    cfg = TransferConfig()                      # student="transformer", loss="critic": DTAC
    net = NetConfig()
    actor = init_actor_critic(jax.random.PRNGKey(seed), net)["actor"]
    return deploy.act_fn(actor, cfg, net), actor, net


def observations(n: int, seed: int = 0):
    """Plausible per-UE observations (positive, spanning orders of magnitude) and edge ids."""
    rng = np.random.default_rng(seed)
    s = np.exp(rng.uniform(np.log(1e-6), np.log(10.0), (n, OBS_DIM))).astype(np.float32)
    edge = rng.integers(0, 5, n).astype(np.int32)
    return s, edge


def stats_us(samples_s) -> dict:
    us = np.asarray(samples_s) * 1e6
    return dict(calls=len(us), median_us=float(np.median(us)), p90_us=float(np.percentile(us, 90)),
                p99_us=float(np.percentile(us, 99)), mean_us=float(us.mean()),
                min_us=float(us.min()))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", default=None, help="a DTAC transfer run directory (dtac transfer "
                    "--out DIR); default: fresh random parameters of the DTAC structure")
    ap.add_argument("--calls", type=int, default=5000, help="timed calls per variant")
    ap.add_argument("--warmup", type=int, default=200, help="untimed calls per variant first")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/deploy.json")
    args = ap.parse_args(argv)
    loadavg_start = [round(v, 2) for v in os.getloadavg()]

    if args.run:
        act = deploy.make_act(args.run)
        source = f"trained DTAC run {args.run}"
        n_params = None
    else:
        act, actor, _net = fresh_act(args.seed)
        source = ("fresh random parameters of the DTAC structure (no --run given; latency does "
                  "not depend on parameter values)")
        n_params = param_count(actor)
    print(f"policy: {source}", flush=True)

    # ---- export: serialise, deserialise, call
    t0 = time.perf_counter()
    exported = jax.export.export(act)(jax.ShapeDtypeStruct((OBS_DIM,), jnp.float32),
                                      jax.ShapeDtypeStruct((), jnp.int32))
    blob = exported.serialize()
    export_s = time.perf_counter() - t0
    restored = jax.export.deserialize(blob)
    act_exported = jax.jit(restored.call)

    s, edge = observations(max(args.calls, args.warmup), args.seed)
    # the two must decide alike
    for i in range(20):
        a1 = jax.device_get(act(s[i], edge[i]))
        a2 = jax.device_get(act_exported(s[i], edge[i]))
        assert int(a1[0]) == int(a2[0]) and int(a1[1]) == int(a2[1]), "export changed decisions"
        np.testing.assert_allclose([a1[2], a1[3]], [a2[2], a2[3]], rtol=1e-6)

    variants = {"jit": act, "export": act_exported}
    for fn in variants.values():
        for i in range(args.warmup):
            jax.block_until_ready(fn(s[i], edge[i]))
    samples = {k: [] for k in variants}
    for i in range(args.calls):       # alternate, so that load hits both alike
        for k, fn in variants.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn(s[i], edge[i]))
            samples[k].append(time.perf_counter() - t0)
    res = {k: stats_us(v) for k, v in samples.items()}
    for k, r in res.items():
        r["meets_target"] = r["median_us"] < TARGET_US

    devices = jax.devices()
    report = dict(
        benchmark="per-UE decision latency of the deployed DTAC policy (single UE, batch 1)",
        policy=source, actor_params=n_params, args=vars(args),
        date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        device=dict(description=", ".join(f"{d.platform}:{d.device_kind}" for d in devices),
                    backend=jax.default_backend()),
        versions=dict(jax=jax.__version__, jaxlib=jaxlib.__version__, numpy=np.__version__,
                      python=platform.python_version()),
        host=dict(platform=platform.platform(), cpu_count=os.cpu_count(),
                  loadavg_start=loadavg_start,
                  loadavg_end=[round(v, 2) for v in os.getloadavg()]),
        export=dict(serialized_bytes=len(blob), export_and_serialize_s=export_s,
                    platforms=list(restored.platforms)),
        latency=res, target_us=TARGET_US,
        ratio_export_over_jit_median=res["export"]["median_us"] / res["jit"]["median_us"],
        timing_notes=("each call: NumPy observation in, (x, l, a, b) out, block_until_ready; "
                      "the two variants are called alternately after warm-up"),
    )
    save_report(report, markdown(report), args.out, "Deployed DTAC decision latency")
    return report


def markdown(report: dict) -> str:
    lines = ["| variant | median (µs) | p90 (µs) | p99 (µs) | mean (µs) | calls | "
             f"median < {report['target_us']:.0f} µs |", "|---|---:|---:|---:|---:|---:|---|"]
    names = {"jit": "jitted `make_act`", "export": "`jax.export`, serialised and reloaded"}
    for k, r in report["latency"].items():
        lines.append(f"| {names[k]} | {r['median_us']:.1f} | {r['p90_us']:.1f} | "
                     f"{r['p99_us']:.1f} | {r['mean_us']:.1f} | {r['calls']} | "
                     f"{'yes' if r['meets_target'] else 'no'} |")
    h = report["host"]
    lines += [
        "",
        f"- Ratio exported / jitted (median): {report['ratio_export_over_jit_median']:.2f}.",
        f"- Policy: {report['policy']}"
        + (f"; {report['actor_params']:,} actor parameters." if report["actor_params"] else "."),
        f"- Serialised export: {report['export']['serialized_bytes']:,} bytes "
        f"(platforms {', '.join(report['export']['platforms'])}).",
        f"- Device: {report['device']['description']}; jax {report['versions']['jax']}; "
        f"{h['cpu_count']} CPUs, load average {h['loadavg_start']} at start, "
        f"{h['loadavg_end']} at end; {report['date']}.",
        f"- {report['timing_notes']}.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
