"""Where one training iteration's time goes: TAC's and DTAC's phases, by timed variants.

Each phase is measured by removing it: the same compiled chunk (3 seeds vmapped, as the
reproduction trains) with that phase cut to almost nothing, minus the full iteration. The rows
print side by side in one run, so their ratios hold on the machine that ran them::

    python experiments/profile_train.py                       # small and large, TAC and DTAC
    python experiments/profile_train.py --presets small --tiny  # a seconds-long smoke run
    python experiments/profile_train.py --out benchmarks/profile_train
    python experiments/profile_train.py --methods tac --envs 128,512,2048 --seeds 1 \
        --variants full,updates,credit --out benchmarks/profile_train_envs   # scaling

TAC (``TACConfig.quick``): the critic updates (``updates`` 100 -> 1), the credit's exact
what-ifs (``credit_source`` critic -> critic_linear, one pass and a tangent), the validation
(``eval_envs`` x ``eval_rounds`` -> 1 x 1), the PPO epochs (2 -> 1), and the what-ifs'
batch of states (``credit.exact_batch``: 1 on the CPU, against 8). DTAC (the reproduction's:
``TransferConfig.quick`` with ``dtac.DTAC``, from a TAC state made here by ``init``): its
updates (20 -> 1), eq. 22's what-ifs (``critic_gradient`` what_if -> straight_through), its
validation and the what-ifs' batch (64 states). ``--envs`` repeats TAC's rows at other
numbers of parallel environments (``collect.envs``); ``--variants`` keeps some of its rows
(keys: full, updates, credit, validation, epochs, batch; ``full`` is always measured).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import time
from pathlib import Path

import jax

from benchio import choices, save_report, table
from dtac_jax.algos import credit
from dtac_jax.algos import dtac as D
from dtac_jax.algos import tac as T
from dtac_jax.env import make_params, make_scenario
from dtac_jax.train import chunk_program, init_program

SEEDS = 3
#: TAC's variants: key -> row label
TAC_VARIANTS = {"full": "full", "updates": "critic updates 1", "credit": "credit critic_linear",
                "validation": "validation 1x1", "epochs": "PPO epochs 1",
                "batch": "what-ifs 8 rounds a batch"}


def tac_variants(tiny: bool, envs: int | None = None, keep=tuple(TAC_VARIANTS)):
    base = T.TACConfig.quick(iterations=60)
    if tiny:
        base = base.replace(updates=2, batch_size=8, buffer_size=512, eval_envs=2, eval_rounds=3,
                            collect=base.collect.replace(envs=4, rounds=2))
    if envs is not None:
        base = base.replace(collect=dict(envs=envs))
    ppo = base.ppo
    every = {
        "full": (base, None),
        "updates": (base.replace(updates=1), None),
        "credit": (base.replace(ppo=dataclasses.replace(ppo, credit_source="critic_linear")),
                   None),
        "validation": (base.replace(eval_envs=1, eval_rounds=1), None),
        "epochs": (base.replace(ppo=dataclasses.replace(ppo, epochs=1)), None),
        "batch": (base, 8),
    }
    return base, {TAC_VARIANTS[k]: v for k, v in every.items() if k == "full" or k in keep}


def transfer_variants(tiny: bool):
    base = D.TransferConfig.quick(iterations=20).replace(**D.DTAC)   # the reproduction's DTAC
    if tiny:
        base = base.replace(updates=2, batch_size=8, eval_envs=2, eval_rounds=3,
                            collect=base.collect.replace(envs=4, rounds=2))
    return base, {
        "full": base,
        "updates 1": base.replace(updates=1),
        "eq. 22 straight_through": base.replace(critic_gradient="straight_through"),
        "validation 1x1": base.replace(eval_envs=1, eval_rounds=1),
        "what-ifs: the whole batch at once": (base, base.batch_size),
    }


@contextlib.contextmanager
def what_if_batch(batch: int | None):
    """``credit.exact_batch`` returning ``batch`` inside the block (None: unchanged)."""
    saved = credit.exact_batch
    if batch is not None:
        credit.exact_batch = lambda: batch
    try:
        yield
    finally:
        credit.exact_batch = saved


def time_chunk(init, iteration, init_args=(), repeats: int = 2, n: int = 2, seeds: int = SEEDS):
    """``(compile and first chunk s, best s per iteration)`` of ``n``-iteration chunks."""
    keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    state = init_program(init, None)(keys, *init_args)
    prog = chunk_program(iteration, n, None)
    t = time.perf_counter()
    state, m, _ = prog(state)
    jax.block_until_ready(m)
    first = time.perf_counter() - t
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        state, m, _ = prog(state)
        jax.block_until_ready(m)
        best = min(best, (time.perf_counter() - t) / n)
    return first, best, state


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="small,large")
    ap.add_argument("--methods", default="tac,dtac")
    ap.add_argument("--tiny", action="store_true", help="tiny configs: a smoke run")
    ap.add_argument("--out", default=None, help="write OUT.md and OUT.json")
    ap.add_argument("--envs", default=None,
                    help="comma-separated collect.envs for TAC's rows (default: the config's)")
    ap.add_argument("--seeds", type=int, default=SEEDS, help=f"seeds vmapped (default {SEEDS})")
    ap.add_argument("--variants", default=",".join(TAC_VARIANTS),
                    help="TAC's rows to measure (full always)")
    ap.add_argument("--chunk", type=int, default=2, help="iterations per timed chunk (default 2)")
    ap.add_argument("--repeats", type=int, default=2, help="timed chunks, the best kept "
                    "(default 2)")
    args = ap.parse_args(argv)
    keep = choices("profile_train", "variant", args.variants, list(TAC_VARIANTS))
    try:
        envs_list = [None] if args.envs is None else [int(v) for v in args.envs.split(",")]
        if min(args.seeds, args.chunk, args.repeats) < 1 or any(
                e is not None and e < 1 for e in envs_list):
            raise ValueError
    except ValueError:
        print("profile_train: error: --envs takes comma-separated positive integers; "
              "--seeds, --chunk and --repeats positive ones", file=sys.stderr)
        return 2
    rows = []
    from dtac_jax.env import PRESETS
    for preset in choices("profile_train", "preset", args.presets, list(PRESETS)):
        params = make_params(make_scenario(preset))
        methods = choices("profile_train", "method", args.methods, ["tac", "dtac"])
        for envs in envs_list:
            tac_base, variants = tac_variants(args.tiny, envs, keep)
            if "tac" not in methods:   # DTAC's teacher: the first variant's state alone
                variants = dict(list(variants.items())[:1])
            full = None
            tac_state = None
            for name, (cfg, batch) in variants.items():
                with what_if_batch(batch):
                    init, iteration = T.make_tac(params, cfg)
                    first, per_it, state = time_chunk(init, iteration, seeds=args.seeds,
                                                      n=args.chunk, repeats=args.repeats)
                full = per_it if full is None else full
                tac_state = state if tac_state is None else tac_state
                if "tac" not in methods:
                    break
                rows.append(dict(preset=preset, method="TAC", envs=cfg.collect.envs,
                                 variant=name, compile_s=round(first - args.chunk * per_it, 1),
                                 iteration_s=round(per_it, 3), of_full=round(per_it / full, 3),
                                 phase_s=round(full - per_it, 3)))
                print(rows[-1], flush=True)
        if "dtac" not in methods:
            continue
        tr_base, variants = transfer_variants(args.tiny)
        teacher = (tac_state.best_actor, tac_state.critic, tac_state.buffer)
        full = None
        for name, cfg in variants.items():
            cfg, batch = cfg if isinstance(cfg, tuple) else (cfg, None)
            with what_if_batch(batch):
                init, iteration = D.make_transfer(params, cfg, tac_base.net, tac_base.cost_scale,
                                                tac_base.buffer_size, tac_base.critic_input)
                first, per_it, _ = time_chunk(init, iteration, teacher, seeds=args.seeds,
                                              n=args.chunk, repeats=args.repeats)
            full = per_it if full is None else full
            rows.append(dict(preset=preset, method="DTAC", envs=cfg.collect.envs, variant=name,
                             compile_s=round(first - args.chunk * per_it, 1),
                             iteration_s=round(per_it, 3), of_full=round(per_it / full, 3),
                             phase_s=round(full - per_it, 3)))
            print(rows[-1], flush=True)
    note = (f"{jax.default_backend()} backend, {jax.device_count()} device(s); {args.seeds} "
            f"seeds vmapped; seconds per training iteration, best of {args.repeats} chunk(s) of "
            f"{args.chunk} iteration(s); compile: the first chunk less its iterations. `phase` is "
            "the full iteration's time less the variant's: what the phase cut in the variant "
            "costs (negative: the variant is slower).")
    cols = ["preset", "method", "envs", "variant", "s / iteration", "of full", "phase (s)",
            "compile (s)"]
    md = note + "\n\n" + table(cols, [[r["preset"], r["method"], str(r["envs"]), r["variant"],
                                         f"{r['iteration_s']:.2f}", f"{r['of_full']:.2f}",
                                         f"{r['phase_s']:+.2f}", f"{r['compile_s']:.0f}"]
                                        for r in rows], right=(2, 4, 5, 6, 7))
    if args.out:
        save_report(dict(note=note, rows=rows), md, Path(args.out).with_suffix(".json"),
                    "Where a training iteration's time goes")
    else:
        print("\n" + md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
