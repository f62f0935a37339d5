"""Train every learned method of the registry and evaluate all policies on the same episodes.

For each preset, every learned method (:func:`dtac_jax.algos.registry.names`, each after the
runs it starts from: TAC, then DTAC, TL transformer and TL from it, HAPPO, and any method a
user registers) trains with its ``quick()`` config, then every compared policy (the learned
ones, Random, the heuristics and Search) runs on the same evaluation episodes. Writes
(``--out``, default ``results/baselines``):

* ``<preset>.md`` / ``.json``: average time, energy per task, weighted reward, target fractions;
* ``params.md``: parameter counts of each method's delivered network (and its critic);
* ``convergence.md``: training iterations each method needed to reach 95% of its final
  objective (:func:`dtac_jax.reproduce.pipeline.iterations_to_95`).

Finished runs are reused (``runs/baselines/<preset>/<method>``); ``--force`` retrains.

    python experiments/baselines.py --presets small,medium --iterations tac=150 --skip happo
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import jax

from dtac_jax.algos import registry
from dtac_jax.env import make_params, make_scenario
from dtac_jax.evaluate import evaluate, format_table
from dtac_jax.nets.complexity import param_count
from dtac_jax.reproduce.pipeline import iterations_to_95, policies
from dtac_jax.runs import family, load, train
from dtac_jax.train import seed_slice


def _iterations(items: list[str]) -> dict[str, int]:
    out = {}
    for item in items:
        name, _, n = item.partition("=")
        registry.get(name)          # a one-line error for an unknown method
        out[name] = int(n)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="small,medium")
    ap.add_argument("--iterations", action="append", default=[], metavar="METHOD=N",
                    help="training iterations of a learned method (default: its quick() "
                         "budget)")
    ap.add_argument("--skip", action="append", default=[], metavar="METHOD",
                    help="neither train nor evaluate METHOD (e.g. happo, the slowest to train)")
    ap.add_argument("--eval-episodes", type=int, default=16)
    ap.add_argument("--runs", default="runs/baselines")
    ap.add_argument("--out", default="results/baselines")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    try:
        iterations = _iterations(args.iterations)
        for name in args.skip:
            registry.get(name)
    except ValueError as err:
        ap.error(str(err))
    skipped = set(args.skip)
    for name in list(skipped):   # what starts from a skipped run is skipped with it
        skipped |= {m for m in registry.names(learned=True) if name in registry.get(m).needs}
    compared = [m for m in policies() if m not in skipped]
    learned = [m for m in compared if registry.get(m).learned]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    conv_rows, param_rows = [], None
    for preset in args.presets.split(","):
        t0 = time.time()
        scn = make_scenario(preset)
        root = Path(args.runs) / preset
        if args.force and root.exists():
            shutil.rmtree(root)
        print(f"== {preset}: training {', '.join(learned)}", flush=True)
        for name in learned:     # registration order puts each method after its dependencies
            algo = registry.get(name)
            cfg = algo.quick(**({"iterations": iterations[name]} if name in iterations else {}))
            train(name, scn, cfg, root / name, deps={d: root / d for d in algo.needs},
                  resume=True)
        print(f"== {preset}: evaluating on the same {args.eval_episodes} episodes", flush=True)
        params = make_params(scn)
        key = jax.random.PRNGKey(123)
        results = {}
        for name in compared:
            algo = registry.get(name)
            if algo.learned:
                stacked, make = family(load(root / name))
                pol = make(seed_slice(stacked, 0))
            else:
                pol = algo.policy(None, algo.config.quick() if algo.config else None, params, {})
            results[name] = evaluate(pol, params, key, episodes=args.eval_episodes)
            print(f"  {name:<15} {results[name].weighted_reward:10.3f}", flush=True)
        table = format_table(results)
        print(table)
        (out / f"{preset}.md").write_text(table + "\n")
        (out / f"{preset}.json").write_text(json.dumps(
            {k: v.as_dict() for k, v in results.items()}, indent=2))
        for name in learned:
            n95, total = iterations_to_95(root / name)
            conv_rows.append(f"| {preset} | {name} | {n95} | {total} |")
        if param_rows is None:   # network sizes do not depend on the preset
            param_rows = []
            for name in learned:
                trained = load(root / name)
                delivered = trained.algo.deliverable(trained.state, trained.config)
                param_rows.append(f"| {trained.algo.label} | "
                                  f"{param_count(seed_slice(delivered, 0)):,} |")
                critic = getattr(trained.state, "critic", None)
                if critic is not None and not trained.algo.needs:   # its own, not a frozen one
                    param_rows.append(f"| {trained.algo.label} critic | "
                                      f"{param_count(seed_slice(critic, 0)):,} |")
            (out / "params.md").write_text("| network | parameters |\n|---|---|\n"
                                           + "\n".join(param_rows) + "\n")
        print(f"== {preset} done in {time.time() - t0:.0f} s", flush=True)
    conv = ("| preset | method | iterations to 95% of final objective | iterations trained |\n"
            "|---|---|---|---|\n" + "\n".join(conv_rows) + "\n")
    (out / "convergence.md").write_text(conv)
    print((out / "params.md").read_text())
    print(conv)
    print(f"written to {out}/")


if __name__ == "__main__":
    main()
