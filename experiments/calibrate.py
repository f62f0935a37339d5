"""Reprint the calibration of the constants docs/model.md leaves open ("Modelling notes").

For every preset: Search and the heuristics on the same episodes; the offloading-target
fractions under Search (each must be >= 5% of UE-rounds) and Search's margin over the best
heuristic. Writes ``results/calibration.json``.

    python experiments/calibrate.py [--episodes 8] [--rounds 20]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax

from dtac_jax.algos.heuristics import HEURISTICS
from dtac_jax.algos.search import SearchConfig, make_search_policy
from dtac_jax.env import make_params, make_scenario
from dtac_jax.evaluate import evaluate

CALIBRATED = ("f_ue", "kappa", "zipf_alpha", "cache_capacity", "w_time", "w_energy", "rounds")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--out", default="results/calibration.json")
    args = ap.parse_args()
    scn0 = make_scenario("small")
    print("calibrated constants (shared by all presets):")
    for f in CALIBRATED:
        print(f"  {f:<15} = {getattr(scn0, f)}")
    search = make_search_policy(SearchConfig())
    report, ok = {}, True
    print("\n| preset | Search local | edge | cloud | Search reward | best heuristic "
          "| its reward |")
    print("|---|---|---|---|---|---|---|")
    for preset in ("small", "medium", "large"):
        t0 = time.time()
        params = make_params(make_scenario(preset))
        key = jax.random.PRNGKey(2024)
        s = evaluate(search, params, key, args.episodes, args.rounds)
        heur = {n: evaluate(p, params, key, args.episodes, args.rounds)
                for n, p in HEURISTICS.items()}
        best = max(heur, key=lambda n: heur[n].weighted_reward)
        fr = (s.frac_local, s.frac_edge, s.frac_cloud)
        passed = min(fr) >= 0.05 and s.weighted_reward > heur[best].weighted_reward
        ok &= passed
        print(f"| {preset} | {fr[0]:.2f} | {fr[1]:.2f} | {fr[2]:.2f} | {s.weighted_reward:.3f} | "
              f"{best} | {heur[best].weighted_reward:.3f} |   ({time.time() - t0:.0f} s, "
              f"{'ok' if passed else 'FAILS'})", flush=True)
        report[preset] = dict(search=s.as_dict(),
                              heuristics={n: r.as_dict() for n, r in heur.items()},
                              criteria_met=passed)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(dict(constants={f: getattr(scn0, f) for f in CALIBRATED},
                                              presets=report), indent=2))
    print(f"\ncriteria (each target >= 5% under Search, Search beats every heuristic): "
          f"{'met in every preset' if ok else 'NOT met'}; written to {args.out}")


if __name__ == "__main__":
    main()
