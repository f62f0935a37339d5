"""Command line: ``dtac evaluate`` (reference policies; learned ones follow in later stages)."""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path


def _policies(names: list[str], search_cfg):
    from dtac_jax.algos.heuristics import HEURISTICS
    from dtac_jax.algos.search import make_search_policy

    known = {**HEURISTICS, "search": None}
    out = {}
    for n in names:
        if n not in known:
            raise ValueError(f"unknown policy {n!r} (known: {', '.join(known)})")
        out[n] = make_search_policy(search_cfg) if n == "search" else known[n]
    return out


def cmd_evaluate(args) -> int:
    import jax

    from dtac_jax.algos.search import SearchConfig
    from dtac_jax.env import make_params, make_scenario
    from dtac_jax.evaluate import evaluate, format_table

    overrides = {}
    if args.rounds is not None:
        overrides["rounds"] = args.rounds
    scn = make_scenario(args.preset, **overrides)
    if args.ues_per_edge is not None:
        scn = scn.with_fixed_ues(args.ues_per_edge)
    params = make_params(scn)
    policies = _policies(args.policies.split(","),
                         SearchConfig(candidates=args.search_candidates,
                                      iterations=args.search_iterations))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    key = jax.random.PRNGKey(args.seed)
    results = {}
    print(f"evaluating {len(policies)} policies on preset {scn.name!r}: {args.episodes} episodes "
          f"x {scn.rounds} rounds (same episodes for all)", flush=True)
    for i, (name, pol) in enumerate(policies.items(), 1):
        t0 = time.time()
        results[name] = evaluate(pol, params, key, episodes=args.episodes)
        print(f"  [{i}/{len(policies)}] {name:<10} weighted reward "
              f"{results[name].weighted_reward:10.3f}  ({time.time() - t0:.1f} s)", flush=True)
    table = format_table(results)
    print(table)
    rows = [dict(policy=k, **v.as_dict()) for k, v in results.items()]
    with open(out / "evaluate.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (out / "evaluate.json").write_text(json.dumps(
        dict(scenario=scn.to_dict(), seed=args.seed, results=rows), indent=2))
    (out / "evaluate.md").write_text(table + "\n")
    print(f"results written to {out / 'evaluate.csv'}, {out / 'evaluate.json'}, "
          f"{out / 'evaluate.md'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dtac", description="DTAC in JAX: cloud-edge offloading.")
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("evaluate", help="evaluate policies on the same episodes",
                       description="Evaluate policies on the same episodes; print a table and "
                                   "write CSV/JSON/Markdown to --out.")
    e.add_argument("--preset", default="small", help="small | medium | large (default small)")
    e.add_argument("--policies", default="random,all_local,all_edge,all_cloud,greedy,search",
                   help="comma-separated policy names")
    e.add_argument("--episodes", type=int, default=16)
    e.add_argument("--rounds", type=int, default=None, help="rounds per episode (preset default)")
    e.add_argument("--ues-per-edge", type=int, default=None, help="fix the UE count per edge")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--search-candidates", type=int, default=256)
    e.add_argument("--search-iterations", type=int, default=5)
    e.add_argument("--out", default="results/evaluate", help="output folder")
    e.set_defaults(func=cmd_evaluate)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"dtac {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
