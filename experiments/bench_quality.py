"""Time to quality of TAC: wall-clock seconds and environment UE-rounds until the validation
objective first reaches 3x, 2x and 1.5x the Search reference's cost, per preset and recipe.

For each preset, every recipe (``--recipes``, default: the default recipe, whose credit the
learned critic answers, the ``oracle-credit`` reference, whose credit the simulator answers, and
the ``critic`` one) trains ``--seeds`` seeds in one vmapped run (``runs.train("tac", ...)``,
the CLI's code path, progress and checkpoints included). Both recipes are scored on the same kind of
validation set, ``--val-envs`` episodes x ``--val-rounds`` rounds drawn from each seed's fixed
validation key (the default recipe's own protocol; for the ``critic`` recipe this replaces its
16 x 10-round set, which only changes which actor it reports as best, not its training). The
Search reference (cross-entropy search on the true simulator) plays each seed's validation
episodes too (``validation.validation_objective``), so every ratio compares a policy and
Search on identical UEs, tasks and fading.

For each seed and threshold the first training iteration whose measured objective is at most
``threshold x Search`` gives the wall time (``metrics.jsonl``'s ``wall_s``, from the start of
the run, compilation and validation included) and the UE-rounds collected until then (real
UEs x rounds, the preset's mean UE count). A threshold never reached is reported as such. The
table also gives each recipe's plateau: the best validation objective, its ratio to Search
and the wall time of the iteration that first came within 5% of it.

Usage::

    python experiments/bench_quality.py [--presets small,medium,large] [--seeds 3]
        [--recipes default,oracle-credit,critic] [--out benchmarks/quality.json]
"""
from __future__ import annotations

import argparse
import datetime as dt
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchio, beside this file
from benchio import choices, save_report

THRESHOLDS = (3.0, 2.0, 1.5)


def search_scores(params, eval_keys, envs: int, rounds: int, candidates: int, iterations: int):
    """Search's mean round objective on each seed's validation episodes."""
    import jax

    from dtac_jax.algos import validation
    from dtac_jax.algos.search import SearchConfig, make_search_policy
    policy = make_search_policy(SearchConfig(candidates=candidates, iterations=iterations))
    score = jax.jit(lambda k: validation.validation_objective(policy, k, params, envs,
                                                              rounds))
    return np.array([float(score(k)) for k in eval_keys])


def first_reach(objective: np.ndarray, target: float) -> int | None:
    """Index of the first iteration whose objective is at most ``target`` (None: never)."""
    hit = np.flatnonzero(objective <= target)
    return int(hit[0]) if hit.size else None


def run_recipe(preset: str, name: str, args, run_dir: Path):
    from dtac_jax.algos.tac import recipe
    from dtac_jax.env import make_scenario
    from dtac_jax.runs import train
    from dtac_jax.train import read_metrics

    iterations = {"default": args.iterations_default, "oracle-credit": args.iterations_default,
                  "critic": args.iterations_critic, "paper": args.iterations_critic}[name]
    cfg = recipe(name, iterations=iterations, eval_envs=args.val_envs,
                 eval_rounds=args.val_rounds)
    scn = make_scenario(preset)
    t0 = time.time()
    state = train("tac", scn, cfg, run_dir, seeds=args.seeds, seed=args.seed, chunk=args.chunk,
                  progress=not args.no_progress)
    wall = time.time() - t0
    rows = read_metrics(run_dir)
    per_seed = {s: sorted((r for r in rows if r["seed"] == s), key=lambda r: r["iteration"])
                for s in range(args.seeds)}
    ue_rounds_per_iteration = (cfg.collect.envs * cfg.collect.rounds
                               * scn.n_edges * (scn.ue_min + scn.ue_max) / 2)
    return cfg, state, per_seed, ue_rounds_per_iteration, wall


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="small,medium,large")
    ap.add_argument("--recipes", default="default,oracle-credit,critic")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--iterations-default", type=int, default=60)
    ap.add_argument("--iterations-critic", type=int, default=150,
                    help="iterations of the critic / paper recipes (their own default)")
    ap.add_argument("--val-envs", type=int, default=32)
    ap.add_argument("--val-rounds", type=int, default=50)
    ap.add_argument("--search-candidates", type=int, default=256)
    ap.add_argument("--search-iterations", type=int, default=5)
    ap.add_argument("--chunk", type=int, default=5)
    ap.add_argument("--out", default="benchmarks/quality.json")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)

    import jax

    from dtac_jax.env import make_params, make_scenario
    from dtac_jax.reproduce.profiles import PRESETS
    presets = choices("bench_quality", "preset", args.presets, PRESETS)
    from dtac_jax.algos.tac import RECIPES
    recipes = choices("bench_quality", "recipe", args.recipes, RECIPES)

    tmp = Path(tempfile.mkdtemp(prefix="bench_quality_"))
    report = dict(date=dt.datetime.now().isoformat(timespec="seconds"),
                  machine=platform.platform(), jax=jax.__version__,
                  backend=jax.default_backend(), devices=jax.device_count(),
                  settings=vars(args), thresholds=list(THRESHOLDS), presets={})
    lines = ["| preset | recipe | seed | Search | best (x Search) | "
             + " | ".join(f"{t:g}x: s / M UE-rounds / it" for t in THRESHOLDS)
             + " | plateau (within 5% of best): s |",
             "|---|---|---:|---:|---:|" + "---:|" * len(THRESHOLDS) + "---:|"]
    try:
        for preset in presets:
            params = make_params(make_scenario(preset))
            out = report["presets"][preset] = {}
            search = None
            for name in recipes:
                print(f"== {preset}: recipe {name!r}, {args.seeds} seeds", flush=True)
                cfg, state, per_seed, upe, wall = run_recipe(preset, name, args,
                                                             tmp / preset / name)
                if search is None:   # the validation keys depend on the seed only
                    t = time.time()
                    search = search_scores(params, list(state.eval_key), args.val_envs,
                                           args.val_rounds, args.search_candidates,
                                           args.search_iterations)
                    print(f"   Search on the validation episodes: {np.round(search, 2)} "
                          f"({time.time() - t:.0f} s)", flush=True)
                res = out[name] = dict(iterations=cfg.iterations, train_wall_s=round(wall, 1),
                                       ue_rounds_per_iteration=upe, seeds=[])
                for s, rows in per_seed.items():
                    obj = np.array([r["objective"] for r in rows])
                    walls = np.array([r["wall_s"] for r in rows])
                    best = float(np.min(obj))
                    seed_res = dict(search=float(search[s]), best=best,
                                    best_ratio=best / float(search[s]), reach={})
                    cells = []
                    for thr in THRESHOLDS:
                        i = first_reach(obj, thr * float(search[s]))
                        if i is None:
                            seed_res["reach"][f"{thr:g}"] = None
                            cells.append("not reached")
                        else:
                            seed_res["reach"][f"{thr:g}"] = dict(
                                iteration=i + 1, wall_s=float(walls[i]),
                                ue_rounds=float((i + 1) * upe))
                            cells.append(f"{walls[i]:.0f} / {(i + 1) * upe / 1e6:.2f} / {i + 1}")
                    plateau = first_reach(obj, 1.05 * best)
                    seed_res["plateau_wall_s"] = float(walls[plateau])
                    res["seeds"].append(seed_res)
                    lines.append(f"| {preset} | {name} | {s} | {search[s]:.2f} | "
                                 f"{best:.2f} ({best / search[s]:.2f}x) | " + " | ".join(cells)
                                 + f" | {walls[plateau]:.0f} |")
                print("\n".join(lines[-args.seeds:]), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    md = ("Time to quality of TAC (validation objective vs the Search reference on the same "
          f"{args.val_envs} x {args.val_rounds}-round validation episodes per seed; wall "
          "seconds from the start of the run, compilation included; a cell is seconds / "
          "million UE-rounds collected / training iterations). "
          f"{report['backend']} backend, {report['devices']} device(s), jax {report['jax']}, "
          f"{report['date']}.\n\n" + "\n".join(lines))
    save_report(report, md, args.out, "TAC time to quality")
    return 0


if __name__ == "__main__":
    sys.exit(main())
