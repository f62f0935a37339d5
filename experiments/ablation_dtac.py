"""DTAC ablation: the decentralised transfers' losses from one TAC run, on the same evaluation
episodes, several seeds, beside Search and TAC.

One TAC run (``--tac-run``, or trained here with the default recipe) is the teacher of every
variant; each variant is a registered transfer (``dtac``, ``dtac_anchor``, ``tl_transformer``)
with overrides (``VARIANTS``), trained for the same iterations from the same seeds. Each seed's
delivered student is evaluated on the same ``--eval-episodes`` x 50-round episodes as Search
and TAC (UE counts drawn as in training). Printed and written (``--out``): weighted reward
(mean, spread and per seed), cost / Search's, cost / TAC's, the seed pairs in which the variant
beats TL transformer, and the frozen critic's fit over the transfer (the ``critic_err_*``
metrics of :func:`dtac_jax.algos.dtac.make_transfer`: mean absolute log error of the critic's
round objective on the teacher's and on the student's decisions, first and last iteration).

Usage::

    python experiments/ablation_dtac.py [--preset small] [--seeds 3] [--tac-run DIR]
        [--variants dtac,dtac_anchor,...] [--out benchmarks/ablation_dtac_small.json]
"""
from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchio, beside this file
from benchio import choices, save_report, spread, table

#: name -> (registered algorithm, overrides, what it shows)
VARIANTS: dict[str, tuple[str, dict, str]] = {
    "dtac": ("dtac", {}, "DTAC: eq. 22 through the critic's what-ifs + 3 x KL(TAC || student)"),
    "dtac_eq22": ("dtac", dict(trust_weight=0.0), "DTAC, eq. 22 alone (no trust region)"),
    "dtac_trust10": ("dtac", dict(trust_weight=10.0), "... trust region weight 10"),
    "dtac_tangent": ("dtac", dict(critic_gradient="straight_through", trust_weight=0.0,
                                  batch_size=64),
                     "eq. 22 alone, the critic's tangent (straight-through argmax), 64 rounds "
                     "a step"),
    "dtac_anchor": ("dtac_anchor", {}, "DTAC with the MSE anchor: eq. 22 + 100 x eq. 26"),
    "tl_transformer": ("tl_transformer", {}, "TL transformer: eq. 26 alone"),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--tac-run", default=None, help="a finished TAC run (default: train one)")
    ap.add_argument("--tac-iterations", type=int, default=60)
    ap.add_argument("--iterations", type=int, default=20, help="transfer iterations per variant")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--eval-episodes", type=int, default=16)
    ap.add_argument("--eval-seed", type=int, default=123)
    ap.add_argument("--out", default=None, help="default benchmarks/ablation_dtac_<preset>.json")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    names = choices("ablation_dtac", "variant", args.variants, VARIANTS)

    import jax

    from dtac_jax import runs
    from dtac_jax.algos import registry
    from dtac_jax.algos.search import SearchConfig, make_search_policy
    from dtac_jax.algos.tac import TACConfig
    from dtac_jax.env import make_params, make_scenario
    from dtac_jax.evaluate import evaluate, evaluate_stacked
    from dtac_jax.runfolder import read_metrics

    tmp = Path(tempfile.mkdtemp(prefix="ablation_dtac_"))
    try:
        tac_dir = Path(args.tac_run) if args.tac_run else tmp / "tac"
        if args.tac_run is None:
            t = time.time()
            runs.train("tac", make_scenario(args.preset),
                       TACConfig.quick(iterations=args.tac_iterations), tac_dir, seeds=args.seeds,
                       progress=not args.no_progress)
            print(f"TAC trained ({time.time() - t:.0f} s)", flush=True)
        tac = runs.load(tac_dir)
        params = make_params(tac.scenario)
        key = jax.random.PRNGKey(args.eval_seed)
        search = evaluate(make_search_policy(SearchConfig()), params, key,
                          episodes=args.eval_episodes)
        s_cost = -search.weighted_reward
        stacked, make = runs.family(tac)
        tac_res = evaluate_stacked(make, stacked, params, key, episodes=args.eval_episodes)
        tac_wr = np.array([r.weighted_reward for r in tac_res])
        print(f"Search {search.weighted_reward:.2f}; TAC {tac_wr.mean():.2f}", flush=True)
        report = dict(date=dt.datetime.now().isoformat(timespec="seconds"), preset=args.preset,
                      seeds=tac.seeds, eval_episodes=args.eval_episodes, tac_run=str(tac_dir),
                      search=search.as_dict(), tac=[r.as_dict() for r in tac_res], variants={})
        rows = [["Search (reference)", "", f"{search.weighted_reward:.2f}", "1.00", "", "", "",
                 ""],
                ["TAC (teacher)", "", spread(tac_wr), f"{-tac_wr.mean() / s_cost:.2f}", "1.00",
                 "", "", ""]]
        per_seed = {}
        for name in names:
            algo_name, over, what = VARIANTS[name]
            algo = registry.get(algo_name)
            cfg = algo.quick(iterations=args.iterations, **over)
            print(f"== {name}: {what}", flush=True)
            t = time.time()
            runs.train(algo_name, None, cfg, tmp / name, deps={"tac": tac_dir},
                       progress=not args.no_progress)
            wall = time.time() - t
            stacked, make = runs.family(runs.load(tmp / name))
            res = evaluate_stacked(make, stacked, params, key, episodes=args.eval_episodes)
            wr = np.array([r.weighted_reward for r in res])
            per_seed[name] = wr
            fit = _critic_fit(read_metrics(tmp / name))
            report["variants"][name] = dict(what=what, config=cfg.to_dict(), train_wall_s=wall,
                                            critic_fit=fit, results=[r.as_dict() for r in res])
            rows.append([name, what, spread(wr), f"{-wr.mean() / s_cost:.2f}",
                         f"{wr.mean() / tac_wr.mean():.2f}", "", fit.get("text", ""),
                         f"{wall:.0f}"])
            print(" | ".join(rows[-1]), flush=True)
        if "tl_transformer" in per_seed:
            ref = per_seed["tl_transformer"]
            for row in rows[2:]:
                wr = per_seed[row[0]]
                row[5] = (f"{int(np.sum(wr > ref))}/{len(wr)}, "
                          f"{100 * (wr.mean() - ref.mean()) / -ref.mean():+.1f}%")
        _write(report, rows, args, jax.default_backend())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _critic_fit(rows) -> dict:
    """The critic's fit metrics of the first and last transfer iteration, averaged over seeds."""
    keys = ("critic_err_teacher", "critic_err_student", "critic_bias_student")
    rows = [r for r in rows if all(k in r for k in keys)]
    if not rows:
        return {}
    first, last = min(r["iteration"] for r in rows), max(r["iteration"] for r in rows)
    fit = {f"{k}_{w}": float(np.mean([r[k] for r in rows if r["iteration"] == i]))
           for k in keys for w, i in (("first", first), ("last", last))}
    fit["text"] = (f"{fit['critic_err_teacher_first']:.2f} -> {fit['critic_err_teacher_last']:.2f}"
                   f" / {fit['critic_err_student_first']:.2f} -> "
                   f"{fit['critic_err_student_last']:.2f} "
                   f"(bias {fit['critic_bias_student_last']:+.2f})")
    return fit


def _write(report, rows, args, backend):
    columns = ["variant", "what", "weighted reward, mean ± std over seeds (per seed)",
               "cost / Search's", "cost / TAC's",
               "beats TL transformer: seed pairs, cost margin",
               "critic log error, teacher's / student's decisions (first -> last iteration)",
               "train wall (s)"]
    md = (f"DTAC ablation on `{args.preset}`: {report['seeds']} seeds, one TAC teacher per seed "
          f"(`{report['tac_run']}`), each transfer {args.iterations} iterations; each seed's "
          f"delivered student evaluated on the same {args.eval_episodes} episodes x 50 rounds "
          f"(eval seed {args.eval_seed}) as Search and TAC; {backend} backend, "
          f"{report['date']}.\n\n" + table(columns, rows, right=(7,)))
    save_report(report, md, args.out or f"benchmarks/ablation_dtac_{args.preset}.json",
                f"DTAC ablation ({args.preset})")

if __name__ == "__main__":
    sys.exit(main())
