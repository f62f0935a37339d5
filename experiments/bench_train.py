"""Training throughput of TAC and HAPPO, peak memory of TAC at 1024 episodes, optional wall time.

Figures (each measured in its own child process, so that memory peaks are per measurement and
a hung XLA program is killed after ``--timeout`` seconds instead of stalling the benchmark):

- **TAC** (``algos.tac.make_tac``): ``jit(lax.scan(iteration))`` over ``--chunk`` training
  iterations, as ``dtac_jax.train`` runs it. Per training iteration it collects
  ``collect.envs x collect.rounds`` environment rounds (noisy transformer actor + env step) and
  makes ``updates`` critic-then-actor minibatch updates.
- **HAPPO** (``algos.happo.make_happo``, ``HAPPOConfig.quick()`` sizes): its two phases
  (``iteration.rollout``, then ``iteration.learn``) jitted
  separately with ``block_until_ready`` between them, to time the rollout's share
  (``train.run_training`` runs the fused iteration). Per iteration it collects ``envs x rollout``
  rounds and makes ``epochs`` clipped-surrogate steps for each of the ``N_max`` agents plus
  ``epochs`` critic steps.
- **Memory**: peak resident set (``ru_maxrss``, and psutil's RSS) of a child process that
  builds and runs TAC training with ``collect.envs = 1024`` parallel episodes.
- ``--time-cmd CMD``: wall time of a shell command (e.g. ``"dtac reproduce --profile quick"``),
  run once, after the rest.

Reported per algorithm: compile time, then over timed iterations: UE-rounds collected per
second (real UEs x rounds, from the environment masks), gradient updates per second (TAC:
minibatch updates, each one critic and one actor step; HAPPO: optimizer steps, agents' and
critic's) and training iterations per second; the ratio TAC / HAPPO is printed side by side.

Usage::

    python experiments/bench_train.py [--seconds 20] [--memory-envs 1024]
        [--time-cmd "dtac reproduce --profile quick"] [--out benchmarks/train.json]
"""
from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import platform
import resource
import subprocess
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchio, beside this file
from benchio import save_report


# ============================================================================ children
def _tac_child(q, preset: str, envs: int | None, chunk: int, seconds: float, seed: int):
    try:
        import jax
        import numpy as np
        import psutil

        from dtac_jax.algos.tac import TACConfig, make_tac
        from dtac_jax.env.scenarios import make_params, make_scenario

        params = make_params(make_scenario(preset))
        cfg = TACConfig.quick()
        if envs is not None:   # the default's collection (rounds, exploration) at more envs
            cfg = cfg.replace(collect=dict(envs=envs))
        init, iteration = make_tac(params, cfg)
        state = jax.block_until_ready(jax.jit(init)(jax.random.PRNGKey(seed)))
        run = jax.jit(lambda s: jax.lax.scan(lambda c, _: iteration(c), s, None, length=chunk))
        t0 = time.perf_counter()
        compiled = run.lower(state).compile()
        compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        state, _ = jax.block_until_ready(compiled(state))   # warm-up chunk
        warm_s = time.perf_counter() - t0
        calls, ue_rounds, t_sum = 0, 0, 0.0
        while t_sum < seconds or calls < 2:
            real = int(np.asarray(state.env_state.mask).sum(-1).mean())  # mean real UEs per env
            t0 = time.perf_counter()
            state, metrics = jax.block_until_ready(compiled(state))
            t_sum += time.perf_counter() - t0
            calls += 1
            ue_rounds += real * cfg.collect.envs * cfg.collect.rounds * chunk
        iterations = calls * chunk
        q.put(dict(
            algo="TAC", preset=preset, envs=cfg.collect.envs,
            rounds_per_iteration=cfg.collect.rounds, updates_per_iteration=cfg.updates,
            batch_size=cfg.batch_size, chunk=chunk, compile_s=compile_s, warmup_chunk_s=warm_s,
            timed_iterations=iterations, timed_s=t_sum,
            iterations_per_s=iterations / t_sum, ue_rounds_per_s=ue_rounds / t_sum,
            updates_per_s=iterations * cfg.updates / t_sum,
            optimizer_steps_per_s=2 * iterations * cfg.updates / t_sum,
            peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            rss_mib=psutil.Process().memory_info().rss / 2 ** 20,
            finite=bool(np.isfinite(np.asarray(metrics["objective"])).all())))
    except Exception:  # reported to the parent
        q.put(dict(algo="TAC", error=traceback.format_exc()))


def _happo_child(q, preset: str, seconds: float, seed: int):
    try:
        import jax
        import numpy as np
        import psutil

        from dtac_jax.algos.happo import HAPPOConfig, make_happo
        from dtac_jax.env.scenarios import make_params, make_scenario

        params = make_params(make_scenario(preset))
        cfg = HAPPOConfig.quick()
        init, iteration = make_happo(params, cfg)
        def collect_phase(s):   # the rollout; learn_phase adds the update
            return iteration.rollout(s, s.key)

        learn_phase = iteration.learn
        state = jax.block_until_ready(jax.jit(init)(jax.random.PRNGKey(seed)))
        collect_j, learn_j = jax.jit(collect_phase), jax.jit(learn_phase)
        t0 = time.perf_counter()
        collect_c = collect_j.lower(state).compile()
        out = jax.block_until_ready(collect_c(state))
        learn_c = learn_j.lower(*out).compile()
        compile_s = time.perf_counter() - t0   # includes one rollout (to get learn's inputs)
        state, _ = jax.block_until_ready(learn_c(*out))   # warm-up iteration
        n = params.n_max
        iters, ue_rounds, t_sum, t_collect = 0, 0, 0.0, 0.0
        while t_sum < seconds or iters < 2:
            real = int(np.asarray(state.env_state.mask).sum(-1).mean())
            t0 = time.perf_counter()
            out = jax.block_until_ready(collect_c(state))
            t1 = time.perf_counter()
            state, metrics = jax.block_until_ready(learn_c(*out))
            t2 = time.perf_counter()
            t_sum += t2 - t0
            t_collect += t1 - t0
            iters += 1
            ue_rounds += real * cfg.envs * cfg.rollout
        steps = iters * (cfg.epochs * n + cfg.critic_epochs)
        q.put(dict(
            algo="HAPPO", preset=preset, envs=cfg.envs, rounds_per_iteration=cfg.rollout,
            epochs=cfg.epochs, agents=n, hidden=list(cfg.hidden), compile_s=compile_s,
            timed_iterations=iters, timed_s=t_sum, collect_share=t_collect / t_sum,
            iterations_per_s=iters / t_sum, ue_rounds_per_s=ue_rounds / t_sum,
            updates_per_s=steps / t_sum, optimizer_steps_per_s=steps / t_sum,
            peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            rss_mib=psutil.Process().memory_info().rss / 2 ** 20,
            finite=bool(np.isfinite(float(metrics["rollout_objective"])))))
    except Exception:  # reported to the parent
        q.put(dict(algo="HAPPO", error=traceback.format_exc()))


def run_child(target, args, timeout: float) -> dict:
    """Run ``target(q, *args)`` in a fresh (spawned) process; kill it after ``timeout`` s."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=target, args=(q, *args))
    t0 = time.perf_counter()
    proc.start()
    try:
        res = q.get(timeout=timeout)
    except Exception:  # queue.Empty: timed out
        res = dict(error=f"timed out after {timeout:.0f} s (killed)", timed_out=True)
    proc.join(timeout=10)
    if proc.is_alive():
        proc.kill()
        proc.join()
    res["child_wall_s"] = time.perf_counter() - t0
    return res


def time_command(cmd: str, timeout: float) -> dict:
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, shell=True, timeout=timeout, capture_output=True, text=True)
        rc, tail = p.returncode, (p.stdout + p.stderr)[-2000:]
    except subprocess.TimeoutExpired:
        rc, tail = None, f"timed out after {timeout:.0f} s"
    return dict(command=cmd, wall_s=time.perf_counter() - t0, returncode=rc, output_tail=tail)


# ============================================================================ report
def markdown(report: dict) -> str:
    lines = ["| algorithm | parallel envs | rounds / iteration | UE-rounds / s | updates / s | "
             "optimizer steps / s | iterations / s | compile (s) | peak RSS (MiB) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["throughput"]:
        if "error" in r:
            lines.append(f"| {r.get('algo', '?')} | error: {r['error'].strip().splitlines()[-1]} "
                         "| | | | | | | |")
            continue
        lines.append(f"| {r['algo']} | {r['envs']} | {r['rounds_per_iteration']} | "
                     f"{r['ue_rounds_per_s']:,.0f} | {r['updates_per_s']:,.1f} | "
                     f"{r['optimizer_steps_per_s']:,.1f} | {r['iterations_per_s']:.2f} | "
                     f"{r['compile_s']:.1f} | {r['peak_rss_mib']:.0f} |")
    lines.append("")
    rat = report.get("ratios", {})
    if rat:
        lines.append(f"- TAC / HAPPO, same run: {rat['ue_rounds']:.2f}x the UE-rounds collected "
                     f"per second, {rat['iterations']:.2f}x the training iterations per "
                     "second.")
    tac = next((r for r in report["throughput"] if r.get("algo") == "TAC" and "error" not in r),
               None)
    if tac:
        lines.append(f"- TAC iteration (`TACConfig.quick()`, the default recipe): "
                     f"{tac['envs']} envs x "
                     f"{tac['rounds_per_iteration']} rounds collected, then the PPO epochs and "
                     f"{tac['updates_per_iteration']} critic minibatch updates (batch "
                     f"{tac['batch_size']} joint rounds); run as `jit(scan)` over "
                     f"{tac['chunk']} iterations.")
    hap = next((r for r in report["throughput"] if r.get("algo") == "HAPPO" and "error" not in r),
               None)
    if hap:
        lines.append(f"- HAPPO iteration (`HAPPOConfig.quick()`, shared MLP {hap['hidden']}): "
                     f"{hap['envs']} envs x {hap['rounds_per_iteration']} rounds, then "
                     f"{hap['epochs']} epochs for each of {hap['agents']} agent slots in turn "
                     f"and the critic's epochs (updates = optimizer steps); phases timed as two "
                     f"programs (the validation the fused iteration also runs is not timed); "
                     f"the rollout takes {100 * hap['collect_share']:.0f}% of the time.")
    m = report.get("memory")
    if m:
        if "error" in m:
            lines.append(f"- Memory at {report['args']['memory_envs']} episodes: error "
                         f"({m['error'].strip().splitlines()[-1]}).")
        else:
            lines.append(f"- Peak resident memory of TAC training with {m['envs']} parallel "
                         f"episodes: {m['peak_rss_mib']:.0f} MiB (ru_maxrss of a fresh child "
                         f"process; includes JAX/XLA start-up). Its throughput there: "
                         f"{m['ue_rounds_per_s']:,.0f} UE-rounds/s, "
                         f"{m['updates_per_s']:.1f} updates/s.")
    c = report.get("command")
    if c:
        lines.append(f"- `{c['command']}`: {c['wall_s']:.1f} s wall (exit code "
                     f"{c['returncode']}).")
    h = report["host"]
    lines.append(f"- Device: {report['device']}; jax {report['versions']['jax']}; "
                 f"{h['cpu_count']} CPUs, load average {h['loadavg_start']} at start, "
                 f"{h['loadavg_end']} at end; {report['date']}.")
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--seconds", type=float, default=20.0,
                    help="timed training wall per algorithm (after compile and warm-up)")
    ap.add_argument("--chunk", type=int, default=5, help="TAC iterations per compiled call")
    ap.add_argument("--memory-envs", type=int, default=1024,
                    help="parallel episodes of the TAC memory measurement (0: skip)")
    ap.add_argument("--memory-seconds", type=float, default=5.0)
    ap.add_argument("--timeout", type=float, default=900.0, help="per child process, s")
    ap.add_argument("--skip", default="", help="comma-separated: tac, happo")
    ap.add_argument("--time-cmd", default=None,
                    help='shell command to time once, e.g. "dtac reproduce --profile quick"')
    ap.add_argument("--time-cmd-timeout", type=float, default=7200.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/train.json")
    args = ap.parse_args(argv)
    skip = {s.strip().lower() for s in args.skip.split(",") if s.strip()}
    loadavg_start = [round(v, 2) for v in os.getloadavg()]

    results = []
    if "tac" not in skip:
        print("TAC training throughput ...", flush=True)
        results.append(run_child(_tac_child, (args.preset, None, args.chunk, args.seconds,
                                              args.seed), args.timeout))
        print(f"  {_line(results[-1])}", flush=True)
    if "happo" not in skip:
        print("HAPPO training throughput (phased) ...", flush=True)
        results.append(run_child(_happo_child, (args.preset, args.seconds, args.seed),
                                 args.timeout))
        print(f"  {_line(results[-1])}", flush=True)
    memory = None
    if args.memory_envs > 0:
        print(f"TAC at {args.memory_envs} parallel episodes (memory) ...", flush=True)
        memory = run_child(_tac_child, (args.preset, args.memory_envs, 1, args.memory_seconds,
                                        args.seed), args.timeout)
        print(f"  {_line(memory)}", flush=True)
    command = None
    if args.time_cmd:
        print(f"timing: {args.time_cmd} ...", flush=True)
        command = time_command(args.time_cmd, args.time_cmd_timeout)
        print(f"  {command['wall_s']:.1f} s (exit {command['returncode']})", flush=True)

    ok = {r["algo"]: r for r in results if "error" not in r}
    ratios = {}
    if "TAC" in ok and "HAPPO" in ok:
        ratios = dict(ue_rounds=ok["TAC"]["ue_rounds_per_s"] / ok["HAPPO"]["ue_rounds_per_s"],
                      iterations=ok["TAC"]["iterations_per_s"] / ok["HAPPO"]["iterations_per_s"])

    import jax
    import jaxlib
    import numpy as np
    report = dict(
        benchmark="training throughput (TAC, HAPPO) and peak memory of TAC at many episodes",
        preset=args.preset, args=vars(args),
        date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        device=", ".join(f"{d.platform}:{d.device_kind}" for d in jax.devices()),
        versions=dict(jax=jax.__version__, jaxlib=jaxlib.__version__, numpy=np.__version__,
                      python=platform.python_version()),
        host=dict(platform=platform.platform(), cpu_count=os.cpu_count(),
                  loadavg_start=loadavg_start,
                  loadavg_end=[round(v, 2) for v in os.getloadavg()]),
        throughput=results, ratios=ratios, memory=memory, command=command,
    )
    save_report(report, markdown(report), args.out, f"Training throughput ({args.preset} preset)")
    return report


def _line(r: dict) -> str:
    if "error" in r:
        return "ERROR: " + r["error"].strip().splitlines()[-1]
    return (f"{r['ue_rounds_per_s']:,.0f} UE-rounds/s, {r['updates_per_s']:,.1f} updates/s, "
            f"compile {r['compile_s']:.1f} s, peak RSS {r['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
