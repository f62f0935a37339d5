"""Per-UE decision latency of the deployed DTAC policy, against the dispatch floor.

A deployed UE decides from its own 6-number observation and its edge id alone
(``dtac_jax.deploy``; paper Algorithm 1, lines 20-22). This script times, in one run:

- **floor**: a trivial jitted call (``v * 2`` on a float32[7] NumPy array, the output read
  back to NumPy): what any JAX call costs on this machine;
- **make_act**: ``deploy.make_act(run)`` (or ``deploy.act_fn`` on fresh parameters), one UE,
  called with a NumPy observation as a UE would hold it, ``(x, l, a, b)`` returned as Python
  numbers;
- **export**: the same decision exported with ``jax.export`` (StableHLO), serialised to bytes,
  deserialised and called (through ``jax.jit`` of ``Exported.call``) on the packed input, as a
  deployment that ships the serialised program instead of the Python model code would do.

All are warmed up, then called in turn ``--calls`` times each (so machine load affects them
alike); median, p90, p99 and mean per call are reported, with each one's ratio to the floor
(target: make_act's median at most 2x the floor's) and the 100 µs target.

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
import json
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
from benchio import save_report
from dtac_jax import deploy
from dtac_jax.algos import registry
from dtac_jax.algos.tac import TACConfig
from dtac_jax.env.env import OBS_DIM
from dtac_jax.nets.complexity import param_count
from dtac_jax.nets.transformer import init_actor_critic

TARGET_US = 100.0
TARGET_FLOOR_RATIO = 2.0


def fresh_act(seed: int = 0):
    """``act(obs[6], edge_id)`` of a DTAC student with random parameters of the right shape."""
    cfg = registry.get("dtac").quick()          # student="transformer", loss="critic"
    net = TACConfig.quick().net                 # the network DTAC's teacher has
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


MODES = {"inline": False, "async": True}   # mode -> jax_cpu_enable_async_dispatch


def main(argv=None) -> dict:
    """Each dispatch mode in a child process of its own (the mode is fixed when JAX starts its
    CPU client), then one table of both."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--child" in argv:
        return measure(argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="benchmarks/deploy.json")
    known, _ = ap.parse_known_args(argv)
    import subprocess
    import tempfile
    rest = [a for i, a in enumerate(argv) if a != "--out" and (i == 0 or argv[i - 1] != "--out")]
    modes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in MODES:
            out = Path(tmp) / f"{mode}.json"
            done = subprocess.run([sys.executable, __file__, *rest, "--child", mode,
                                   "--out", str(out)], capture_output=True, text=True)
            if done.returncode != 0:
                sys.stderr.write(done.stderr[-3000:])
                raise SystemExit(done.returncode)
            modes[mode] = json.loads(out.read_text())
            print(f"{mode}: make_act {modes[mode]['latency']['make_act']['median_us']:.1f} µs, "
                  f"floor {modes[mode]['latency']['floor']['median_us']:.1f} µs", flush=True)
    report = dict(modes=modes, target_us=TARGET_US, target_floor_ratio=TARGET_FLOOR_RATIO)
    save_report(report, markdown(report), known.out, "Deployed DTAC decision latency")
    return report


def measure(argv) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--child", choices=tuple(MODES), required=True)
    ap.add_argument("--run", default=None, help="a DTAC transfer run directory (dtac transfer "
                    "--out DIR); default: fresh random parameters of the DTAC structure")
    ap.add_argument("--calls", type=int, default=5000, help="timed calls per variant")
    ap.add_argument("--warmup", type=int, default=200, help="untimed calls per variant first")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/deploy.json")
    args = ap.parse_args(argv)
    # fixed when JAX starts its CPU client: before the first computation
    jax.config.update("jax_cpu_enable_async_dispatch", MODES[args.child])
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
    exported = jax.export.export(jax.jit(act.decide))(
        jax.ShapeDtypeStruct((OBS_DIM + 1,), jnp.float32))
    blob = exported.serialize()
    export_s = time.perf_counter() - t0
    restored = jax.export.deserialize(blob)
    call_exported = jax.jit(restored.call)

    def act_exported(obs, edge_id):
        return np.asarray(call_exported(np.append(obs, np.float32(edge_id))))

    floor_fn = jax.jit(lambda v: v * 2.0)

    def floor(obs, edge_id):
        return np.asarray(floor_fn(np.append(obs, np.float32(edge_id))))

    s, edge = observations(max(args.calls, args.warmup), args.seed)
    # the two must decide alike
    for i in range(20):
        a1, a2 = act(s[i], edge[i]), act_exported(s[i], edge[i])
        assert (a1[0], a1[1]) == (int(a2[0]), int(a2[1])), "export changed decisions"
        np.testing.assert_allclose([a1[2], a1[3]], [a2[2], a2[3]], rtol=1e-6)

    variants = {"floor": floor, "make_act": act, "export": act_exported}
    for fn in variants.values():
        for i in range(args.warmup):
            fn(s[i], edge[i])
    samples = {k: [] for k in variants}
    for i in range(args.calls):       # in turn, so that load hits all alike
        for k, fn in variants.items():
            t0 = time.perf_counter()
            fn(s[i], edge[i])
            samples[k].append(time.perf_counter() - t0)
    res = {k: stats_us(v) for k, v in samples.items()}
    for _k, r in res.items():
        r["meets_target"] = r["median_us"] < TARGET_US
        r["over_floor"] = r["median_us"] / res["floor"]["median_us"]

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
        latency=res, target_us=TARGET_US, target_floor_ratio=TARGET_FLOOR_RATIO,
        make_act_over_floor=res["make_act"]["over_floor"],
        timing_notes=("each call: NumPy observation and edge id in, the decision out on the "
                      "host; the variants are called in turn after warm-up"),
    )
    report["dispatch"] = args.child
    Path(args.out).write_text(json.dumps(report, indent=2))
    return report


def markdown(both: dict) -> str:
    lines = ["| CPU dispatch | variant | median (µs) | median / floor | p90 (µs) | p99 (µs) | "
             f"mean (µs) | calls | median < {both['target_us']:.0f} µs |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    names = {"floor": "floor: a trivial jitted call", "make_act": "`make_act`",
             "export": "`jax.export`, serialised and reloaded"}
    where = {"inline": "inline (`jax_cpu_enable_async_dispatch` off)",
             "async": "asynchronous (JAX's default)"}
    for mode, report in both["modes"].items():
        for k, r in report["latency"].items():
            lines.append(f"| {where[mode]} | {names[k]} | {r['median_us']:.1f} | "
                         f"{r['over_floor']:.2f} | {r['p90_us']:.1f} | {r['p99_us']:.1f} | "
                         f"{r['mean_us']:.1f} | {r['calls']} | "
                         f"{'yes' if r['meets_target'] else 'no'} |")
    target = both["target_floor_ratio"]
    lines.append("")
    for mode, report in both["modes"].items():
        ratio = report["make_act_over_floor"]
        lines.append(f"- {where[mode]}: `make_act` / floor (median) {ratio:.2f} (target at "
                     f"most {target:.0f}: {'met' if ratio <= target else 'missed'}).")
    report = both["modes"]["inline"]
    h = report["host"]
    lines += [
        "- A deployment process calls `jax.config.update(\"jax_cpu_enable_async_dispatch\", "
        "False)` before its first JAX computation: a decision then runs in the calling "
        "thread, with no hand-over to JAX's dispatch thread. Training keeps the default.",
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
