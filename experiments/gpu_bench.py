"""How the stack scales on an accelerator, in one run of at most about 8 minutes on one GPU.

Each measurement runs in its own child process (this script with ``--child``), so that its
peak memory is its own and a stuck program is killed after ``--timeout`` seconds:

- **env**: the simulator alone, ``jit(lax.scan)`` over ``--rounds`` rounds of
  ``vmap(random policy, step)`` at ``--env-episodes`` parallel episodes (default 1k, 8k, 64k);
  UE-rounds per second (real UEs x rounds, from the masks).
- **tac**: TAC training (the default recipe, ``TACConfig.quick()``, with ``collect.envs`` set)
  at ``--tac-envs`` parallel environments (default 512, 4096, 16384): ``jit(lax.scan)`` over
  ``--chunk`` training iterations, as ``dtac_jax.train`` runs them; UE-rounds collected per
  second, iterations per second.
- **sweep**: ``--sweep-points`` grid points x ``--sweep-seeds`` seeds of TAC that differ only in
  their learning rates, trained as one vmapped program (``dtac sweep``'s grouping: ``init(key,
  hyper)`` per member), against one point's seeds alone; the ratio of the two programs'
  time per iteration, and of their throughput (points x iterations per second).

For each: compilation time (trace and XLA compile, ahead of time), one untimed warm-up call,
then timed calls until ``--seconds`` have passed; peak device memory
(``Device.memory_stats()["peak_bytes_in_use"]`` where the backend reports it, else the child's
peak resident set). ``--budget`` seconds bound the whole run: each child gets what is left
of it (at most ``--timeout``) and is killed at its end, and a measurement that would start
after it is recorded as skipped. Writes ``--out`` (JSON) and a Markdown copy beside it.

Usage::

    python experiments/gpu_bench.py                      # on the accelerator, ~8 minutes
    python experiments/gpu_bench.py --tiny --out /tmp/gpu_bench.json   # a check on the CPU
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchio, beside this file
from benchio import save_report, table

SCRIPT = Path(__file__).resolve()
#: (env episodes, TAC envs, sweep points, sweep seeds) at full size and at --tiny
FULL = dict(env_episodes="1024,8192,65536", tac_envs="512,4096,16384", sweep_points=16,
            sweep_seeds=2, rounds=50, chunk=2, seconds=15.0, budget=450.0, timeout=240.0)
TINY = dict(env_episodes="16,64", tac_envs="8", sweep_points=4, sweep_seeds=2, rounds=5,
            chunk=1, seconds=0.5, budget=300.0, timeout=240.0)
#: the TAC sizes a --tiny run trains with (the default's otherwise)
TINY_TAC = dict(updates=2, batch_size=8, buffer_size=256, eval_envs=2, eval_rounds=3,
                collect=dict(rounds=2), ppo=dict(minibatches=2))


# ============================================================================ children
def _peak_memory() -> dict:
    import resource

    import jax
    stats = jax.devices()[0].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return dict(peak_device_mib=None if peak is None else peak / 2 ** 20,
                peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _timed(compiled, args, seconds: float, step):
    """Warm-up call, then timed calls until ``seconds``; ``step(out) -> args`` feeds each call
    the previous one's output. Returns ``(call seconds, last output)``."""
    import jax
    out = jax.block_until_ready(compiled(*args))
    calls = []
    while sum(calls) < seconds or len(calls) < 2:
        args = step(out)
        t0 = time.perf_counter()
        out = jax.block_until_ready(compiled(*args))
        calls.append(time.perf_counter() - t0)
    return calls, out


def child_env(episodes: int, rounds: int, seconds: float) -> dict:
    import jax
    import numpy as np

    from bench_sim import make_rollout
    from dtac_jax.env import env as jenv
    from dtac_jax.env import rng
    from dtac_jax.env.scenarios import make_params, make_scenario

    params = make_params(make_scenario("small"))
    key = jax.random.PRNGKey(0)
    obs, state = jax.jit(jax.vmap(jenv.reset, in_axes=(0, None)))(rng.split(key, episodes),
                                                                   params)
    t0 = time.perf_counter()
    compiled = make_rollout(params, episodes, rounds).lower(key, obs, state).compile()
    compile_s = time.perf_counter() - t0
    n = [0]

    def step(_):
        n[0] += 1
        return jax.random.fold_in(key, n[0]), obs, state
    calls, (real, objective) = _timed(compiled, (key, obs, state), seconds, step)
    assert np.isfinite(np.asarray(objective)).all()
    ue_rounds = int(real) * rounds
    return dict(episodes=episodes, rounds=rounds, compile_s=compile_s, calls=len(calls),
                median_call_s=float(np.median(calls)),
                ue_rounds_per_s=ue_rounds * len(calls) / sum(calls), **_peak_memory())


def _tac_program(envs: int, tiny: bool):
    """``(init, iteration, cfg, params)`` of the default recipe at ``envs`` environments."""
    from dtac_jax.algos.tac import TACConfig, make_tac
    from dtac_jax.env.scenarios import make_params, make_scenario

    params = make_params(make_scenario("small"))
    cfg = TACConfig.quick(collect=dict(envs=envs))
    if tiny:
        cfg = cfg.replace(**TINY_TAC)
    init, iteration = make_tac(params, cfg)
    return init, iteration, cfg, params


def child_tac(envs: int, chunk: int, seconds: float, tiny: bool) -> dict:
    import jax
    import numpy as np

    init, iteration, cfg, _ = _tac_program(envs, tiny)
    state = jax.block_until_ready(jax.jit(init)(jax.random.PRNGKey(0)))
    run = jax.jit(lambda s: jax.lax.scan(lambda c, _: iteration(c), s, None, length=chunk))
    t0 = time.perf_counter()
    compiled = run.lower(state).compile()
    compile_s = time.perf_counter() - t0
    calls, (state, metrics) = _timed(compiled, (state,), seconds, lambda out: (out[0],))
    real = float(np.asarray(state.env_state.mask).sum(-1).mean())   # real UEs per env
    per_call = real * cfg.collect.envs * cfg.collect.rounds * chunk
    return dict(envs=envs, rounds_per_iteration=cfg.collect.rounds, updates=cfg.updates,
                chunk=chunk, compile_s=compile_s, calls=len(calls),
                median_call_s=float(np.median(calls)),
                iterations_per_s=chunk * len(calls) / sum(calls),
                ue_rounds_per_s=per_call * len(calls) / sum(calls),
                finite=bool(np.isfinite(np.asarray(metrics["objective"])).all()),
                **_peak_memory())


def child_sweep(points: int, seeds: int, chunk: int, seconds: float, tiny: bool,
                envs: int) -> dict:
    """``points`` x ``seeds`` members differing in their learning rates, vmapped."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    init, iteration, _, _ = _tac_program(envs, tiny)
    m = points * seeds
    lrs = np.repeat(np.geomspace(1e-4, 3e-3, points), seeds).astype(np.float32)
    keys = jnp.tile(jax.random.split(jax.random.PRNGKey(0), seeds), (points, 1))
    state = jax.block_until_ready(jax.jit(jax.vmap(lambda k, lr: init(k, dict(lr_actor=lr))))(
        keys, jnp.asarray(lrs)))
    run = jax.jit(jax.vmap(lambda s: jax.lax.scan(lambda c, _: iteration(c), s, None,
                                                  length=chunk)))
    t0 = time.perf_counter()
    compiled = run.lower(state).compile()
    compile_s = time.perf_counter() - t0
    calls, (state, metrics) = _timed(compiled, (state,), seconds, lambda out: (out[0],))
    return dict(points=points, seeds=seeds, members=m, envs=envs, chunk=chunk,
                compile_s=compile_s, calls=len(calls), median_call_s=float(np.median(calls)),
                iteration_s=float(np.median(calls)) / chunk,
                member_iterations_per_s=m * chunk * len(calls) / sum(calls),
                finite=bool(np.isfinite(np.asarray(metrics["objective"])).all()),
                **_peak_memory())


CHILDREN = {"env": child_env, "tac": child_tac, "sweep": child_sweep}


def run_child(kind: str, kw: dict, timeout: float) -> dict:
    """``CHILDREN[kind](**kw)`` in a fresh process (this script with ``--child``)."""
    t0 = time.perf_counter()
    try:
        p = subprocess.run([sys.executable, str(SCRIPT), "--child", json.dumps([kind, kw])],
                           capture_output=True, text=True, timeout=timeout)
        lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
        res = (json.loads(lines[-1]) if p.returncode == 0 and lines
               else dict(error=(p.stderr or p.stdout)[-1500:] or f"exit {p.returncode}"))
    except subprocess.TimeoutExpired:
        res = dict(error=f"timed out after {timeout:.0f} s (killed)")
    res["child_wall_s"] = time.perf_counter() - t0
    return res


# ============================================================================ report
def _mem(r: dict) -> str:
    if "error" in r or "skipped" in r:
        return "-"
    if r.get("peak_device_mib") is not None:
        return f"{r['peak_device_mib']:.0f} (device)"
    return f"{r['peak_rss_mib']:.0f} (host RSS)"


def _fail(r: dict) -> str | None:
    if "skipped" in r:
        return f"skipped: {r['skipped']}"
    if "error" in r:
        return "failed: " + r["error"].strip().splitlines()[-1][:120]
    return None


def markdown(rep: dict) -> str:
    lines = [f"- Device: {rep['device']} ({rep['backend']}), jax {rep['jax']}, {rep['date']}; "
             f"`{rep['command']}`; the whole run took {rep['wall_s']:.0f} s.", ""]
    rows = []
    for r in rep["env"]:
        f = _fail(r)
        rows.append([f"{r['episodes']:,}", f or f"{r['ue_rounds_per_s'] / 1e6:.2f} M",
                     "-" if f else f"{r['compile_s']:.1f}", _mem(r)])
    lines += ["**The simulator** (random policy, small preset, "
              f"{rep['settings']['rounds']} rounds a call):", "",
              table(["parallel episodes", "UE-rounds/s", "compile s", "peak memory MiB"], rows,
                    (0, 1, 2, 3)), ""]
    rows = []
    for r in rep["tac"]:
        f = _fail(r)
        rows.append([f"{r['envs']:,}", f or f"{r['ue_rounds_per_s'] / 1e3:.1f} k",
                     "-" if f else f"{r['iterations_per_s']:.2f}",
                     "-" if f else f"{r['compile_s']:.1f}", _mem(r)])
    lines += ["**TAC training** (the default recipe with `collect.envs` set; UE-rounds "
              "collected per second of whole iterations: rollout, critic updates, credit, "
              "PPO epochs, validation):", "",
              table(["envs", "UE-rounds/s", "iterations/s", "compile s", "peak memory MiB"],
                    rows, (0, 1, 2, 3, 4)), ""]
    sw, one = rep["sweep"], rep["sweep_one"]
    f = _fail(sw) or _fail(one)
    if f:
        lines += [f"**A vmapped sweep**: {f}", ""]
    else:
        slow = sw["iteration_s"] / one["iteration_s"]
        gain = sw["member_iterations_per_s"] / one["member_iterations_per_s"]
        lines += [f"**A vmapped sweep** ({sw['points']} learning rates x {sw['seeds']} seeds = "
                  f"{sw['members']} TAC runs in one program, {sw['envs']} envs each, against "
                  f"one point's {one['members']} seeds):", "",
                  table(["program", "members", "s per iteration", "member-iterations/s",
                         "compile s", "peak memory MiB"],
                        [["one point", str(one["members"]), f"{one['iteration_s']:.3f}",
                          f"{one['member_iterations_per_s']:.2f}", f"{one['compile_s']:.1f}",
                          _mem(one)],
                         ["the grid, vmapped", str(sw["members"]), f"{sw['iteration_s']:.3f}",
                          f"{sw['member_iterations_per_s']:.2f}", f"{sw['compile_s']:.1f}",
                          _mem(sw)]], (1, 2, 3, 4, 5)), "",
                  f"The grid's iteration takes {slow:.2f}x one point's; its throughput is "
                  f"{gain:.2f}x ({sw['points']} points in the time of {sw['points'] / slow:.1f})."]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="gpu_bench.py", description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="CPU-sized check of the script")
    for k, v in FULL.items():
        ap.add_argument("--" + k.replace("_", "-"), type=type(v), default=None,
                        help=f"default {v} (--tiny: {TINY[k]})")
    ap.add_argument("--out", default="benchmarks/gpu_bench.json")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:   # one measurement, its result as the last line of stdout
        kind, kw = json.loads(args.child)
        print(json.dumps(CHILDREN[kind](**kw)), flush=True)
        return 0
    s = {k: (getattr(args, k) if getattr(args, k) is not None
             else (TINY if args.tiny else FULL)[k]) for k in FULL}
    try:
        env_n = [int(v) for v in str(s["env_episodes"]).split(",")]
        tac_n = [int(v) for v in str(s["tac_envs"]).split(",")]
        if min(env_n + tac_n) < 1 or s["sweep_points"] < 1 or s["sweep_seeds"] < 1:
            raise ValueError
    except ValueError:
        print("gpu_bench.py: error: --env-episodes and --tac-envs take comma-separated "
              "positive integers; --sweep-points and --sweep-seeds positive", file=sys.stderr)
        return 2
    if s["budget"] <= 0 or s["seconds"] <= 0:
        print("gpu_bench.py: error: --budget and --seconds must be > 0", file=sys.stderr)
        return 2
    import jax
    t_start = time.perf_counter()

    def measure(kind, kw):
        left = s["budget"] - (time.perf_counter() - t_start)
        if left < 1:
            return dict(kw, skipped=f"the {s['budget']:.0f} s budget was spent")
        print(f"[{time.perf_counter() - t_start:6.0f} s] {kind} {kw}", flush=True)
        res = run_child(kind, kw, min(s["timeout"], left))
        return dict(kw, **res)

    tiny = bool(args.tiny)
    env = [measure("env", dict(episodes=n, rounds=s["rounds"], seconds=s["seconds"]))
           for n in env_n]
    tac = [measure("tac", dict(envs=n, chunk=s["chunk"], seconds=s["seconds"], tiny=tiny))
           for n in tac_n]
    sweep_kw = dict(chunk=s["chunk"], seconds=s["seconds"], tiny=tiny, envs=tac_n[0])
    one = measure("sweep", dict(points=1, seeds=s["sweep_seeds"], **sweep_kw))
    sweep = measure("sweep", dict(points=s["sweep_points"], seeds=s["sweep_seeds"], **sweep_kw))
    dev = jax.devices()[0]
    rep = dict(date=dt.datetime.now().isoformat(timespec="seconds"), backend=dev.platform,
               device=getattr(dev, "device_kind", str(dev)), jax=jax.__version__,
               python=platform.python_version(), tiny=tiny, settings=s,
               command="python experiments/gpu_bench.py" + (" --tiny" if tiny else ""),
               wall_s=time.perf_counter() - t_start, env=env, tac=tac, sweep=sweep,
               sweep_one=one)
    save_report(rep, markdown(rep), args.out, "Accelerator scaling (experiments/gpu_bench.py)")
    failed = [r for r in env + tac + [one, sweep] if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
