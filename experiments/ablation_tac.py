"""TAC ablation: each change of the default recipe alone and all together, on the same
evaluation episodes, several seeds, beside the Search reference.

Every variant is a :func:`dtac_jax.algos.tac.recipe` plus overrides (``VARIANTS``). Each trains
``--seeds`` seeds in one vmapped program (``runs.train("tac", ...)``); each seed's delivered actor
(``best_actor``) is evaluated on the same ``--eval-episodes`` x 50-round episodes
(``evaluate.evaluate_stacked``, UE counts drawn as in training), and so is Search. Printed and
written (``--out``): weighted reward (mean and spread over seeds), ratio of the cost to
Search's, and the offloading mix.

Usage::

    python experiments/ablation_tac.py [--preset small] [--seeds 3]
        [--variants critic,critic+executed,...] [--out benchmarks/ablation_small.json]
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

#: name -> (recipe, overrides, what it shows)
VARIANTS: dict[str, tuple[str, dict, str]] = {
    "paper": ("paper", {}, "the paper's recipe: the critic estimator at lr 2e-5"),
    "critic": ("critic", {}, "the critic recipe: gradient through the critic, noise on the "
               "probabilities, critic fed the noisy probabilities, 32 envs x 10 rounds"),
    "critic+val": ("critic", dict(eval_envs=32, eval_rounds=50),
                   "... with the default's validation set (32 x 50 rounds)"),
    "critic+executed": ("critic", dict(critic_input="executed"),
                        "... critic fed the executed one-hot target and channel"),
    "critic+sample": ("critic", dict(collect=dict(explore="sample", floor=0.1)),
                      "... targets and channels sampled from the probabilities (floor 0.1)"),
    "critic+envs": ("critic", dict(collect=dict(envs=256)), "... 256 environments"),
    "critic+all": ("critic", dict(critic_input="executed", eval_envs=32, eval_rounds=50,
                                  collect=dict(envs=256, explore="sample", floor=0.1,
                                               noise_var=0.01, noise_decay=0.99)),
                   "the four changes to the paper's estimator together"),
    "ppo-team": ("default", dict(ppo=dict(credit="team")),
                 "stochastic policy gradient, GAE of the shared reward (MAT-style)"),
    "default": ("default", {}, "stochastic policy gradient with difference credit from the "
                "learned critic, to first order (the default)"),
    "critic-linear": ("default", dict(ppo=dict(credit_source="critic_linear")),
                      "... the critic's what-ifs to first order (one backward pass a round)"),
    "horizon-2": ("default", dict(ppo=dict(horizon=2)),
                  "... the critic also predicts the next 2 rounds' discounted objective "
                  "(gamma 0.5), which the credit counts"),
    "horizon-4": ("default", dict(ppo=dict(horizon=4)), "... the next 4 rounds"),
    "oracle-credit": ("oracle-credit", {}, "... difference credit from the simulator's cost "
                      "function (model-based reference)"),
    "default-oldval": ("default", dict(eval_envs=16, eval_rounds=10),
                       "the default with the critic recipe's validation set (16 x 10 rounds)"),
}
ITERATIONS = {"critic": 150, "default": 60, "oracle-credit": 60, "paper": 150}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--eval-episodes", type=int, default=16)
    ap.add_argument("--eval-seed", type=int, default=123)
    ap.add_argument("--out", default=None, help="default benchmarks/ablation_<preset>.json")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    names = choices("ablation_tac", "variant", args.variants, VARIANTS)

    import jax

    from dtac_jax.algos.policy import actor_fn, greedy
    from dtac_jax.algos.search import SearchConfig, make_search_policy
    from dtac_jax.algos.tac import recipe
    from dtac_jax.env import make_params, make_scenario
    from dtac_jax.evaluate import evaluate, evaluate_stacked
    from dtac_jax.runs import train

    scn = make_scenario(args.preset)
    params = make_params(scn)
    key = jax.random.PRNGKey(args.eval_seed)
    t = time.time()
    search = evaluate(make_search_policy(SearchConfig()), params, key,
                      episodes=args.eval_episodes)
    print(f"Search: {search.weighted_reward:.2f} ({time.time() - t:.0f} s)", flush=True)
    s_cost = -search.weighted_reward
    rows = [["Search (reference)", "", f"{search.weighted_reward:.2f}", "1.00", "",
             f"{search.frac_local:.2f} / {search.frac_edge:.2f} / {search.frac_cloud:.2f}"]]
    report = dict(date=dt.datetime.now().isoformat(timespec="seconds"), preset=args.preset,
                  seeds=args.seeds, eval_episodes=args.eval_episodes,
                  search=search.as_dict(), variants={})
    tmp = Path(tempfile.mkdtemp(prefix="ablation_"))
    try:
        for name in names:
            rec, over, what = VARIANTS[name]
            cfg = recipe(rec, **over)
            cfg = cfg.replace(iterations=ITERATIONS[rec])
            print(f"== {name}: {what} ({cfg.iterations} iterations x {args.seeds} seeds)",
                  flush=True)
            t = time.time()
            state = train("tac", scn, cfg, tmp / name, seeds=args.seeds,
                          progress=not args.no_progress)
            wall = time.time() - t
            res = evaluate_stacked(lambda a, cfg=cfg: greedy(actor_fn(cfg.net, "full"), a),
                                   state.best_actor, params, key, episodes=args.eval_episodes)
            wr = np.array([r.weighted_reward for r in res])
            mix = np.array([[r.frac_local, r.frac_edge, r.frac_cloud] for r in res]).mean(0)
            ratio = -wr / s_cost
            report["variants"][name] = dict(what=what, config=cfg.to_dict(), train_wall_s=wall,
                                            results=[r.as_dict() for r in res])
            rows.append([name, what, spread(wr),
                         f"{ratio.mean():.2f} (max {ratio.max():.2f})", f"{wall:.0f}",
                         f"{mix[0]:.2f} / {mix[1]:.2f} / {mix[2]:.2f}"])
            print(" | ".join(rows[-1]), flush=True)
            _write(report, rows, args, jax.default_backend())   # after every variant
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _write(report, rows, args, backend):
    columns = ["variant", "what", "weighted reward, mean ± std over seeds (per seed)",
               "cost / Search's", "train wall (s)", "local / edge / cloud"]
    md = (f"TAC ablation on `{args.preset}`: {args.seeds} seeds per variant, each seed's "
          f"delivered (validation-best) actor evaluated on the same {args.eval_episodes} "
          f"episodes x 50 rounds (eval seed {args.eval_seed}) as Search; "
          f"{backend} backend, {report['date']}.\n\n" + table(columns, rows, right=(4,)))
    save_report(report, md, args.out or f"benchmarks/ablation_{args.preset}.json",
                f"TAC ablation ({args.preset})")

if __name__ == "__main__":
    sys.exit(main())
