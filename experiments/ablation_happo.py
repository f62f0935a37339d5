"""HAPPO ablation: the reference-following default against one change at a time, on several
presets and seeds, on the same evaluation episodes as all-local and Search.

Each variant is :meth:`HAPPOConfig.quick` plus overrides (``VARIANTS``). It trains ``--seeds``
seeds in one vmapped program (``runs.train("happo", ...)``); each seed's delivered actor (the
validation-best, ``best_actors``) is evaluated on the same ``--eval-episodes`` x 50-round
episodes (``evaluate.evaluate_stacked``) as all-local (the best heuristic) and Search. Printed
and written (``--out``): weighted reward (mean and spread over seeds), cost relative to
all-local's and Search's, the offloading mix, and the training curve's collapse ratio (the
worst seed's mean validation objective over the last quarter of training divided by its mean
over the quarter before the half-way point; above 1 means it got worse late).

Usage::

    python experiments/ablation_happo.py [--presets small,large] [--seeds 3]
        [--iterations 150] [--variants default,per-slot,...] [--out benchmarks/ablation_happo.json]
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
from benchio import choices, save_report

#: name -> (overrides of HAPPOConfig.quick(), what it shows)
VARIANTS: dict[str, tuple[dict, str]] = {
    "default": ({}, "shared actor with agent id, MLP, HARL's value stabilisers and lr"),
    "per-slot": (dict(share_param=False), "one actor per UE slot (HARL's default)"),
    "gru": (dict(policy="gru"), "the paper's recurrent (GRU) actor"),
    "no-stabilisers": (dict(value_norm=False, huber_delta=0.0, value_clip=0.0),
                       "no value normalisation, squared error, unclipped value loss"),
    "envs128": (dict(envs=128), "128 environments instead of 32"),
    "lr2e-3": (dict(lr_actor=2e-3, lr_critic=2e-3), "learning rate 2e-3 instead of HARL's 5e-4"),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="small,medium,large")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=None,
                    help="training iterations (default: the quick profile's)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--eval-episodes", type=int, default=16)
    ap.add_argument("--eval-seed", type=int, default=123)
    ap.add_argument("--out", default="benchmarks/ablation_happo.json")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    names = choices("ablation_happo", "variant", args.variants, VARIANTS)
    from dtac_jax.env.scenarios import PRESETS
    presets = choices("ablation_happo", "preset", args.presets, tuple(PRESETS))

    import jax

    from dtac_jax.algos.happo import HAPPOConfig, happo_policy
    from dtac_jax.algos.heuristics import fixed_target_policy
    from dtac_jax.algos.search import SearchConfig, make_search_policy
    from dtac_jax.env import make_params, make_scenario
    from dtac_jax.evaluate import evaluate, evaluate_stacked
    from dtac_jax.reproduce.figures import late_over_mid
    from dtac_jax.reproduce.profiles import PROFILES
    from dtac_jax.runs import train
    from dtac_jax.train import read_metrics

    iterations = args.iterations or PROFILES["quick"].happo.iterations
    key = jax.random.PRNGKey(args.eval_seed)
    report = dict(date=dt.datetime.now().isoformat(timespec="seconds"), seeds=args.seeds,
                  iterations=iterations, eval_episodes=args.eval_episodes, presets={})
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="ablation_happo_"))
    try:
        for preset in presets:
            scn = make_scenario(preset)
            params = make_params(scn)
            refs = {name: evaluate(pol, params, key, episodes=args.eval_episodes)
                    for name, pol in (("all-local", fixed_target_policy(0)),
                                      ("Search", make_search_policy(SearchConfig())))}
            local_cost = -refs["all-local"].weighted_reward
            search_cost = -refs["Search"].weighted_reward
            entry = report["presets"][preset] = dict(
                refs={k: v.as_dict() for k, v in refs.items()}, variants={})
            for name, r in refs.items():
                rows.append([preset, name, "", f"{r.weighted_reward:.2f}",
                             f"{-r.weighted_reward / local_cost:.2f}",
                             f"{-r.weighted_reward / search_cost:.2f}", "", "",
                             f"{r.frac_local:.2f} / {r.frac_edge:.2f} / {r.frac_cloud:.2f}"])
            print(" | ".join(rows[-2]), "\n" + " | ".join(rows[-1]), flush=True)
            for name in names:
                over, what = VARIANTS[name]
                cfg = HAPPOConfig.quick(iterations=iterations, **over)
                t = time.time()
                state = train("happo", scn, cfg, tmp / f"{preset}_{name}", seeds=args.seeds,
                              progress=not args.no_progress)
                wall = time.time() - t
                metrics = read_metrics(tmp / f"{preset}_{name}")
                obj = np.array([[m["objective"] for m in metrics if m["seed"] == s]
                                for s in range(args.seeds)])
                late = late_over_mid(tmp / f"{preset}_{name}")
                res = evaluate_stacked(
                    lambda a, params=params, cfg=cfg: happo_policy(a, params, cfg),
                    state.best_actors, params, key, episodes=args.eval_episodes)
                wr = np.array([r.weighted_reward for r in res])
                mix = np.array([[r.frac_local, r.frac_edge, r.frac_cloud] for r in res]).mean(0)
                entry["variants"][name] = dict(what=what, config=cfg.to_dict(), train_wall_s=wall,
                                               budget=cfg.budget(params),
                                               results=[r.as_dict() for r in res],
                                               validation_curve=obj.tolist())
                rows.append([preset, name, what,
                             f"{wr.mean():.2f} ({', '.join(f'{v:.1f}' for v in wr)})",
                             f"{(-wr / local_cost).mean():.2f} "
                             f"(max {(-wr / local_cost).max():.2f})",
                             f"{(-wr / search_cost).mean():.2f}", f"{late:.2f}",
                             f"{wall:.0f}",
                             f"{mix[0]:.2f} / {mix[1]:.2f} / {mix[2]:.2f}"])
                print(" | ".join(rows[-1]), flush=True)
                _write(report, rows, args, iterations, jax.default_backend())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _write(report, rows, args, iterations, backend):
    header = ("| preset | variant | what | weighted reward, mean (per seed) | cost / all-local's "
              "| cost / Search's | collapse ratio | train wall (s) | local / edge / cloud |\n"
              "|---|---|---|---|---|---|---:|---:|---|")
    md = (f"HAPPO ablation: {args.seeds} seeds x {iterations} iterations per variant, each "
          f"seed's delivered (validation-best) actor evaluated on the same "
          f"{args.eval_episodes} episodes x 50 rounds (eval seed {args.eval_seed}) as all-local "
          f"and Search; {backend} backend, {report['date']}. Collapse ratio: the worst seed's "
          "mean validation objective over the last quarter of training over its mean in the "
          "quarter before the half-way point (above 1: worse late).\n\n" + header + "\n"
          + "\n".join("| " + " | ".join(r) + " |" for r in rows))
    save_report(report, md, args.out, "HAPPO ablation")


if __name__ == "__main__":
    sys.exit(main())
