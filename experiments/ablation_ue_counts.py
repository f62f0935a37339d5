"""TAC trained on different UE-count distributions, evaluated where the figures evaluate: every
edge at the same count, at each of the quick profile's x-axis counts, beside Search.

Each variant trains the default recipe (``--iterations``, ``--seeds`` seeds in one vmapped
program) with a training environment whose UE counts come from a generator
(``EnvConfig.ue_counts``) or from a scenario with another ``ue_min``; every seed's delivered
actor and Search play the same ``--eval-episodes`` x 50-round episodes (evaluation key
``--eval-seed``) at each count of the x-axis. Printed and written (``--out``): the cost per
count (mean over seeds), the cost over the x-axis against Search's (sum over counts, per seed),
and the local fraction.

Usage::

    python experiments/ablation_ue_counts.py [--preset small] [--seeds 3]
        [--variants uniform,uniform-wide,level] [--out benchmarks/ablation_ue_counts_small.json]
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
from benchio import choices, save_report, table

#: name -> (what, EnvConfig.ue_counts or None, scenario ue_min or None: the x-axis' lowest)
VARIANTS: dict[str, tuple[str, str | None, bool]] = {
    "uniform": ("the system model: each edge uniform in the preset's [ue_min, ue_max]",
                None, False),
    "uniform-wide": ("each edge uniform in [lowest x-axis count, ue_max], independently",
                     None, True),
    "level": ("level(lo=lowest x-axis count): a load level per episode, edges within 1 of it",
              "level", True),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=60)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--eval-episodes", type=int, default=8)
    ap.add_argument("--eval-seed", type=int, default=7)
    ap.add_argument("--out", default=None,
                    help="default benchmarks/ablation_ue_counts_<preset>.json")
    args = ap.parse_args(argv)
    names = choices("ablation_ue_counts", "variant", args.variants, VARIANTS)

    import jax

    from dtac_jax.algos.policy import actor_fn, greedy
    from dtac_jax.algos.search import SearchConfig, make_search_policy
    from dtac_jax.algos.tac import recipe
    from dtac_jax.env import make_params, make_scenario
    from dtac_jax.evaluate import evaluate_grid
    from dtac_jax.reproduce.profiles import get_profile
    from dtac_jax.runs import train

    counts = get_profile("quick").ue_counts[args.preset]
    scn = make_scenario(args.preset)
    params = make_params(scn)
    key = jax.random.PRNGKey(args.eval_seed)
    search = evaluate_grid(lambda _: make_search_policy(SearchConfig()), None, params, key,
                           args.eval_episodes, None, counts)[0]
    s_cost = np.array([-r.weighted_reward for r in search])
    print(f"Search per count {counts}: {s_cost.round(2)}", flush=True)
    report = dict(date=dt.datetime.now().isoformat(timespec="seconds"), preset=args.preset,
                  seeds=args.seeds, iterations=args.iterations, counts=list(counts),
                  eval_episodes=args.eval_episodes, eval_seed=args.eval_seed,
                  search=s_cost.tolist(), variants={})
    rows = [["Search (reference)", "", " / ".join(f"{c:.2f}" for c in s_cost), "1.00", ""]]
    tmp = Path(tempfile.mkdtemp(prefix="ablation_ue_"))
    try:
        for name in names:
            what, gen, wide = VARIANTS[name]
            lo = min(counts)
            cfg = recipe("default").replace(iterations=args.iterations)
            if gen is not None:
                cfg = cfg.replace(env=cfg.env.replace(ue_counts=f"{gen}(lo={lo})"))
            train_scn = scn.replace(ue_min=lo) if wide and gen is None else scn
            print(f"== {name}: {what}", flush=True)
            t = time.time()
            state = train("tac", train_scn, cfg, tmp / name, seeds=args.seeds, progress=False)
            wall = time.time() - t
            res = evaluate_grid(lambda a, cfg=cfg: greedy(actor_fn(cfg.net, "full"), a),
                                state.best_actor, params, key, args.eval_episodes, None, counts)
            cost = np.array([[-r.weighted_reward for r in row] for row in res])  # [seed, count]
            ratio = cost.sum(1) / s_cost.sum()
            local = np.array([[r.frac_local for r in row] for row in res]).mean(0)
            report["variants"][name] = dict(what=what, config=cfg.to_dict(),
                                            train_ue_min=train_scn.ue_min, train_wall_s=wall,
                                            cost=cost.tolist(), ratio=ratio.tolist(),
                                            local=local.tolist())
            rows.append([name, what, " / ".join(f"{c:.2f}" for c in cost.mean(0)),
                         f"{ratio.mean():.2f} ({' / '.join(f'{r:.2f}' for r in ratio)})",
                         " / ".join(f"{v:.2f}" for v in local)])
            print(" | ".join(rows[-1]), flush=True)
            _write(report, rows, args, counts, jax.default_backend())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _write(report, rows, args, counts, backend):
    per = "/".join(map(str, counts))
    columns = ["variant", "trained on", f"cost at {per} UEs per edge (mean over seeds)",
               "cost over the x-axis / Search's (per seed)", "local fraction per count"]
    md = (f"TAC (default recipe, {args.iterations} iterations, {args.seeds} seeds) trained "
          f"on `{args.preset}` with different UE-count distributions; each seed's delivered "
          f"actor and Search on the same {args.eval_episodes} episodes x 50 rounds (evaluation "
          f"key {args.eval_seed}) with every edge at each x-axis count of the quick profile; "
          f"{backend} backend, {report['date']}.\n\n" + table(columns, rows, right=(3,)))
    save_report(report, md, args.out or f"benchmarks/ablation_ue_counts_{args.preset}.json",
                f"Training UE counts ({args.preset})")


if __name__ == "__main__":
    sys.exit(main())
