"""Hyper-parameter sweep: one compiled program per grid point against one vmapped program.

The same ``dtac sweep`` grid (``--lrs`` learning rates x ``--seeds`` seeds of the default TAC
recipe, ``lr`` setting both the actor's and the critic's) runs twice, in two modes
(:func:`dtac_jax.sweep.run_sweep`):

- **per point** (``vmap_hyper=False``, ``dtac sweep --no-vmap-hyper``): every learning rate is
  a TAC run of its own, its seeds vmapped;
- **vmapped** (the default): all points x seeds are the members of one program (the learning
  rates live in the optimiser states, ``optax.inject_hyperparams``).

Each mode runs in a fresh child process, twice: **cold** with an empty persistent compilation
cache (what a first ``dtac sweep`` costs), then **warm** with the cache the cold run filled
(a repeated sweep: tracing, lowering and running, no XLA compilation). Reported per run: wall
time of ``run_sweep`` (training, checkpoints, the final evaluation, the CSV), the seconds
spent in XLA compilation (``jax.monitoring`` backend-compile events; a program loaded from the
persistent cache is not compiled), and the ratio of the two modes side by side. The modes'
evaluated objectives are compared (they train the same runs, up to round-off).

Usage::

    python experiments/bench_sweep.py [--lrs 1e-3,5e-4,2e-4,1e-4] [--seeds 2] [--iterations 2]
        [--envs 32] [--out benchmarks/sweep.json]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchio, beside this file
from benchio import save_report

MODES = {"per point": False, "vmapped": True}


def _child(args) -> None:
    """One sweep in this process; prints one JSON line."""
    import jax
    from jax import monitoring

    jax.config.update("jax_compilation_cache_dir", args.cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)   # the CLI's
    compiles = []

    def listen(event, duration, **kw):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(duration)

    monitoring.register_event_duration_secs_listener(listen)
    from dtac_jax.sweep import parse_grid, run_sweep
    base = _base(args)
    t0 = time.time()
    rows = run_sweep(parse_grid([f"lr={args.lrs}"]), base, args.child_out,
                     vmap_hyper=args.child == "vmapped", progress=False, log=lambda m: None)
    wall = time.time() - t0
    print(json.dumps(dict(wall_s=wall, compiles=len(compiles), compile_s=sum(compiles),
                          runs=len({r["run"] for r in rows}),
                          rows=[[r["point"], r["seed_index"], float(r["eval_objective"])]
                                for r in rows])))


def _base(args):
    from dtac_jax.sweep import SweepBase
    tac = {"collect": {"envs": args.envs}} if args.envs else {}
    return SweepBase(preset=args.preset, iterations=args.iterations, seeds=args.seeds,
                     chunk=args.chunk, eval_episodes=args.eval_episodes, tac=tac)


def run_child(args, mode: str, cache: Path, out: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--cache", str(cache), "--child-out",
           str(out), "--preset", args.preset, "--lrs", args.lrs, "--seeds", str(args.seeds),
           "--iterations", str(args.iterations), "--chunk", str(args.chunk),
           "--eval-episodes", str(args.eval_episodes)]
    cmd += ["--envs", str(args.envs)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    if p.returncode != 0:
        return dict(error=p.stderr[-2000:] or p.stdout[-2000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def markdown(report: dict) -> str:
    a, res = report["args"], report["results"]
    lines = ["| mode | run folders | cold: wall (s) | cold: XLA compiling (s) | "
             "warm: wall (s) | warm: XLA compiling (s) |",
             "|---|---:|---:|---:|---:|---:|"]
    for mode in MODES:
        c, w = res[mode]["cold"], res[mode]["warm"]
        if "error" in c or "error" in w:
            err = (c.get("error") or w.get("error")).strip().splitlines()[-1]
            lines.append(f"| {mode} | error: {err} | | | | |")
            continue
        lines.append(f"| {mode} | {c['runs']} | {c['wall_s']:.1f} | {c['compile_s']:.1f} | "
                     f"{w['wall_s']:.1f} | {w['compile_s']:.1f} |")
    r = report.get("ratios")
    if r:
        lines.append(f"| **per point / vmapped** | | **{r['cold']:.2f}x** | | "
                     f"**{r['warm']:.2f}x** | |")
    lines.append("")
    n = len(a["lrs"].split(","))
    lines.append(f"- Grid: `lr={a['lrs']}` ({n} points) x {a['seeds']} seeds = {n * a['seeds']} "
                 f"runs of the `default` TAC recipe on the `{a['preset']}` preset, "
                 f"{a['iterations']} iterations each (chunks of {a['chunk']}), collect envs "
                 f"{a['envs'] or 'the recipe default'}, then each run's best actor evaluated on "
                 f"{a['eval_episodes']} episodes. Wall: `run_sweep` in a fresh child process "
                 f"(JAX start-up excluded); cold: empty persistent compilation cache; warm: the "
                 f"cache the cold run filled.")
    if report.get("max_rel_diff") is not None:
        lines.append(f"- The two modes' evaluated objectives agree to a relative "
                     f"{report['max_rel_diff']:.1e} (the same runs, up to round-off).")
    h = report["host"]
    lines.append(f"- Device: {report['device']}; jax {report['versions']['jax']}; "
                 f"{h['cpu_count']} CPUs, load average {h['loadavg_start']} at start, "
                 f"{h['loadavg_end']} at end; {report['date']}.")
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--lrs", default="1e-3,5e-4,2e-4,1e-4", help="the learning-rate grid")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=2)
    ap.add_argument("--envs", type=int, default=32,
                    help="collect envs (0: the recipe's)")
    ap.add_argument("--eval-episodes", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=1800.0, help="per child process, s")
    ap.add_argument("--out", default="benchmarks/sweep.json")
    ap.add_argument("--child", choices=list(MODES), help=argparse.SUPPRESS)
    ap.add_argument("--cache", help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args)
        return {"child": True}
    loadavg_start = [round(v, 2) for v in os.getloadavg()]
    results = {m: {} for m in MODES}
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        tmp = Path(tmp)
        # cold runs first (each mode its own empty cache), then the warm ones, interleaved
        for phase in ("cold", "warm"):
            for mode in MODES:
                print(f"{mode}, {phase} ...", flush=True)
                slug = mode.replace(" ", "_")
                r = run_child(args, mode, tmp / f"cache_{slug}", tmp / f"out_{slug}_{phase}")
                results[mode][phase] = r
                print("  " + (f"{r['wall_s']:.1f} s, {r['compile_s']:.1f} s compiling"
                              if "error" not in r
                              else "ERROR: " + r["error"].strip().splitlines()[-1]), flush=True)
    ok = all("error" not in r for m in results.values() for r in m.values())
    ratios, max_rel = None, None
    if ok:
        p, v = results["per point"], results["vmapped"]
        ratios = dict(cold=p["cold"]["wall_s"] / v["cold"]["wall_s"],
                      warm=p["warm"]["wall_s"] / v["warm"]["wall_s"])
        a = {(pt, s): x for pt, s, x in p["cold"]["rows"]}
        b = {(pt, s): x for pt, s, x in v["cold"]["rows"]}
        max_rel = max(abs(a[k] - b[k]) / abs(a[k]) for k in a)

    import jax
    import jaxlib
    import numpy as np
    report = dict(
        benchmark="dtac sweep: one program per grid point against one vmapped program",
        args={k: v for k, v in vars(args).items() if k not in ("child", "cache", "child_out")},
        date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        device=", ".join(f"{d.platform}:{d.device_kind}" for d in jax.devices()),
        versions=dict(jax=jax.__version__, jaxlib=jaxlib.__version__, numpy=np.__version__,
                      python=platform.python_version()),
        host=dict(platform=platform.platform(), cpu_count=os.cpu_count(),
                  loadavg_start=loadavg_start,
                  loadavg_end=[round(v, 2) for v in os.getloadavg()]),
        results=results, ratios=ratios, max_rel_diff=max_rel)
    save_report(report, markdown(report), args.out, "Vmapped hyper-parameter sweep")
    return report if ok else {}


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
