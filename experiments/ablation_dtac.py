"""DTAC ablation: the decentralised transfers' losses from one TAC run, on the same evaluation
episodes, several seeds, beside Search and TAC.

The protocol of the quick reproduction (``dtac reproduce --profile quick``): one TAC run
(``--tac-run``, e.g. a reproduction's ``runs/<preset>/tac``, or trained here with the profile's
TAC config) is the teacher of every variant; each variant is a registered transfer (``dtac``,
``dtac_anchor``, ``tl_transformer``) with the profile's config for it (its training UE counts,
``Profile.train_ue_counts``, included) and the variant's overrides (``VARIANTS``), trained for
the same iterations from the same seeds. Each seed's delivered student, TAC and Search play the
same ``--eval-episodes`` x 50-round episodes (evaluation key ``--eval-seed``) with every edge at
each count of the profile's x-axis for the preset, as the figures do. Printed and written
(``--out``): the cost (minus the weighted reward) over the x-axis (mean over its counts; mean,
spread and per seed), against Search's and TAC's, the seed pairs in which the variant beats TL
transformer, and the frozen critic's fit over the transfer (the ``critic_err_*`` metrics of
:func:`dtac_jax.algos.dtac.make_transfer`: mean absolute log error of the critic's round
objective on the teacher's and on the student's decisions, first and last iteration).

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
    "dtac_eq22": ("dtac", dict(trust_weight=0.0),
                  "DTAC, eq. 22 alone: through the critic's what-ifs, no trust region, no anchor"),
    "dtac_trust1": ("dtac", dict(trust_weight=1.0), "... + 1 x KL(TAC || student)"),
    "dtac_trust3": ("dtac", dict(trust_weight=3.0), "... + 3 x KL(TAC || student)"),
    "dtac_trust10": ("dtac", dict(trust_weight=10.0), "... + 10 x KL(TAC || student)"),
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
    ap.add_argument("--tac-iterations", type=int, default=None,
                    help="TAC iterations when training one (default: the profile's)")
    ap.add_argument("--iterations", type=int, default=None,
                    help="transfer iterations per variant (default: the profile's)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--eval-episodes", type=int, default=16)
    ap.add_argument("--eval-seed", type=int, default=123)
    ap.add_argument("--out", default=None, help="default benchmarks/ablation_dtac_<preset>.json")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    names = choices("ablation_dtac", "variant", args.variants, VARIANTS)

    import jax

    from dtac_jax import runs
    from dtac_jax.algos.search import SearchConfig, make_search_policy
    from dtac_jax.env import make_params, make_scenario
    from dtac_jax.evaluate import evaluate_grid
    from dtac_jax.reproduce.pipeline import Pipeline
    from dtac_jax.reproduce.profiles import get_profile
    from dtac_jax.runfolder import read_metrics

    tmp = Path(tempfile.mkdtemp(prefix="ablation_dtac_"))
    try:
        profile = get_profile("quick")
        pipe = Pipeline(profile, out=tmp / "pipeline", log=lambda *a: None, progress=False)
        counts = profile.ue_counts[args.preset]
        tac_dir = Path(args.tac_run) if args.tac_run else tmp / "tac"
        if args.tac_run is None:
            cfg = pipe.config("tac", args.preset)
            if args.tac_iterations is not None:
                cfg = cfg.replace(iterations=args.tac_iterations)
            t = time.time()
            runs.train("tac", make_scenario(args.preset), cfg, tac_dir, seeds=args.seeds,
                       progress=not args.no_progress)
            print(f"TAC trained ({time.time() - t:.0f} s)", flush=True)
        tac = runs.load(tac_dir)
        params = make_params(tac.scenario)
        key = jax.random.PRNGKey(args.eval_seed)

        def x_axis_cost(stacked, make) -> np.ndarray:
            """Cost over the x-axis (mean over its counts), per policy of ``stacked``."""
            res = evaluate_grid(make, stacked, params, key, args.eval_episodes, None, counts)
            return np.array([np.mean([-r.weighted_reward for r in row]) for row in res])

        s_cost = float(x_axis_cost(None, lambda _: make_search_policy(SearchConfig()))[0])
        tac_cost = x_axis_cost(*runs.family(tac))
        print(f"Search {s_cost:.2f}; TAC {tac_cost.round(2)}", flush=True)
        report = dict(date=dt.datetime.now().isoformat(timespec="seconds"), preset=args.preset,
                      seeds=tac.seeds, counts=list(counts), eval_episodes=args.eval_episodes,
                      eval_seed=args.eval_seed, tac_run=str(tac_dir), search=s_cost,
                      tac=tac_cost.tolist(), variants={})
        rows = [["Search (reference)", "", f"{s_cost:.2f}", "1.00", "", "", "", ""],
                ["TAC (teacher)", "", spread(tac_cost), f"{tac_cost.mean() / s_cost:.2f}",
                 "1.00", "", "", ""]]
        per_seed = {}
        default = pipe.config("dtac", args.preset)
        for name in names:
            algo_name, over, what = VARIANTS[name]
            cfg = pipe.config(algo_name, args.preset).replace(**over)
            if args.iterations is not None:
                cfg = cfg.replace(iterations=args.iterations)
            label = f"{name} (the default)" if cfg == default.replace(
                iterations=cfg.iterations) else name
            print(f"== {label}: {what}", flush=True)
            t = time.time()
            runs.train(algo_name, None, cfg, tmp / name, deps={"tac": tac_dir},
                       progress=not args.no_progress)
            wall = time.time() - t
            cost = x_axis_cost(*runs.family(runs.load(tmp / name)))
            per_seed[name] = cost
            fit = _critic_fit(read_metrics(tmp / name))
            report["variants"][name] = dict(what=what, default=label != name,
                                            config=cfg.to_dict(), train_wall_s=wall,
                                            critic_fit=fit, cost=cost.tolist())
            rows.append([label, what, spread(cost), f"{cost.mean() / s_cost:.2f}",
                         f"{cost.mean() / tac_cost.mean():.2f}", "", fit.get("text", ""),
                         f"{wall:.0f}"])
            print(" | ".join(rows[-1]), flush=True)
        if "tl_transformer" in per_seed:
            ref = per_seed["tl_transformer"]
            for row, name in zip(rows[2:], names):
                if name == "tl_transformer":
                    continue
                c = per_seed[name]
                row[5] = (f"{int(np.sum(c < ref))}/{len(c)}, "
                          f"{100 * (ref.mean() - c.mean()) / ref.mean():+.1f}%")
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
    per = "/".join(map(str, report["counts"]))
    columns = ["variant", "what", f"cost over the x-axis ({per} UEs per edge), mean ± std over "
               "seeds (per seed)", "cost / Search's", "cost / TAC's",
               "beats TL transformer: seed pairs, cost margin",
               "critic log error, teacher's / student's decisions (first -> last iteration)",
               "train wall (s)"]
    md = (f"DTAC ablation on `{args.preset}`, the quick profile's protocol: {report['seeds']} "
          f"seeds, one TAC teacher per seed (`{report['tac_run']}`), each transfer with the "
          f"profile's config for it and the variant's overrides; each seed's delivered student, "
          f"TAC and Search on the same {args.eval_episodes} episodes x 50 rounds (evaluation key "
          f"{args.eval_seed}) with every edge at {per} UEs; cost = minus the weighted reward, "
          f"mean over the x-axis; {backend} backend, {report['date']}.\n\n"
          + table(columns, rows, right=(7,)))
    save_report(report, md, args.out or f"benchmarks/ablation_dtac_{args.preset}.json",
                f"DTAC ablation ({args.preset})")


if __name__ == "__main__":
    sys.exit(main())
