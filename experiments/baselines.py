"""Train every learned policy and evaluate all policies on the same episodes (issue: baselines).

For each preset: TAC, then from it DTAC (critic loss), TL transformer (MSE) and TL (MLP, MSE),
and HAPPO; then Random, the heuristics, Search and the learned policies on the same evaluation
episodes. Prints and writes (``--out``, default ``results/baselines``):

* ``<preset>.md`` / ``.json``: average time, energy per task, weighted reward, target fractions;
* ``params.md``: parameter counts of each network;
* ``convergence.md``: training episodes each method needed to reach 95% of its final
  objective (first episode whose 5-episode moving average of the measured objective is within
  5% of the mean of the last 10% of episodes).

Finished runs are reused (``runs/baselines/<preset>/<policy>``); ``--force`` retrains.

    python experiments/baselines.py --presets small,medium
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import jax

from dtac_jax.algos.dtac import TransferConfig
from dtac_jax.algos.happo import HAPPOConfig
from dtac_jax.algos.heuristics import HEURISTICS
from dtac_jax.algos.search import make_search_policy
from dtac_jax.algos.tac import TACConfig
from dtac_jax.env import make_params, make_scenario
from dtac_jax.evaluate import evaluate, format_table
from dtac_jax.nets.complexity import complexity, param_count
from dtac_jax.nets.transformer import NetConfig
from dtac_jax.reproduce.pipeline import episodes_to_95
from dtac_jax.runs import load_policy, load_transfer, train_happo, train_tac, train_transfer

TRANSFERS = {"dtac": dict(loss="critic", student="transformer"),
             "tl_transformer": dict(loss="mse", student="transformer"),
             "tl": dict(loss="mse", student="mlp")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="small,medium")
    ap.add_argument("--tac-episodes", type=int, default=150)
    ap.add_argument("--transfer-episodes", type=int, default=100)
    ap.add_argument("--happo-episodes", type=int, default=200)
    ap.add_argument("--eval-episodes", type=int, default=16)
    ap.add_argument("--runs", default="runs/baselines")
    ap.add_argument("--out", default="results/baselines")
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--skip-happo", action="store_true",
                    help="do not train or evaluate HAPPO (the slowest baseline to train)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    conv_rows, params_md = [], None
    for preset in args.presets.split(","):
        t0 = time.time()
        scn = make_scenario(preset)
        root = Path(args.runs) / preset
        if args.force and root.exists():
            shutil.rmtree(root)
        print(f"== {preset}: training", flush=True)
        train_tac(scn, TACConfig(episodes=args.tac_episodes), root / "tac", resume=True)
        for name, kw in TRANSFERS.items():
            train_transfer(root / "tac", TransferConfig(episodes=args.transfer_episodes, **kw),
                           root / name, resume=True)
        with_happo = not args.skip_happo
        learned = ("tac", *TRANSFERS) + (("happo",) if with_happo else ())
        if with_happo:
            train_happo(scn, HAPPOConfig.quick(episodes=args.happo_episodes), root / "happo",
                        resume=True)
        print(f"== {preset}: evaluating on the same {args.eval_episodes} episodes", flush=True)
        params = make_params(scn)
        policies = {"random": HEURISTICS["random"], "all_local": HEURISTICS["all_local"],
                    "greedy": HEURISTICS["greedy"], "search": make_search_policy()}
        for run in learned:
            name, _, pol = load_policy(root / run)
            policies[name] = pol
        key = jax.random.PRNGKey(123)
        results = {}
        for name, pol in policies.items():
            results[name] = evaluate(pol, params, key, episodes=args.eval_episodes)
            print(f"  {name:<15} {results[name].weighted_reward:10.3f}", flush=True)
        table = format_table(results)
        print(table)
        (out / f"{preset}.md").write_text(table + "\n")
        (out / f"{preset}.json").write_text(json.dumps(
            {k: v.as_dict() for k, v in results.items()}, indent=2))
        for run in learned:
            n95, total = episodes_to_95(root / run)
            conv_rows.append(f"| {preset} | {run} | {n95} | {total} |")
        if params_md is None:
            c = complexity(NetConfig())
            _, tl_cfg, _, tl_student = load_transfer(root / "tl")
            tl_n = param_count(jax.tree_util.tree_map(lambda v: v[0], tl_student))
            hcfg = HAPPOConfig.quick()
            from dtac_jax.algos.happo import make_happo
            h_state = jax.eval_shape(make_happo(params, hcfg)[0], jax.random.PRNGKey(0))
            h_actor = param_count(h_state.actors)
            h_critic = param_count(h_state.critic)
            params_md = (
                "| network | parameters |\n|---|---|\n"
                f"| TAC / DTAC / TL transformer actor | {c['actor_params']:,} |\n"
                f"| TAC critic (shared by the transfers) | {c['critic_params']:,} |\n"
                f"| TL MLP student ({'x'.join(map(str, tl_cfg.mlp_hidden))}) | {tl_n:,} |\n"
                f"| HAPPO actor ({hcfg.policy}, "
                f"{'shared by' if hcfg.share_param else 'one per slot,'} all {scn.n_max} agent "
                f"slots, {'x'.join(map(str, hcfg.hidden))}) | {h_actor:,} |\n"
                f"| HAPPO critic ({'x'.join(map(str, hcfg.hidden))}) | {h_critic:,} |\n")
            (out / "params.md").write_text(params_md)
        print(f"== {preset} done in {time.time() - t0:.0f} s", flush=True)
    conv = ("| preset | method | episodes to 95% of final objective | episodes trained |\n"
            "|---|---|---|---|\n" + "\n".join(conv_rows) + "\n")
    (out / "convergence.md").write_text(conv)
    print(params_md)
    print(conv)
    print(f"written to {out}/")


if __name__ == "__main__":
    main()
