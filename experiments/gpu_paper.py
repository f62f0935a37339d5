"""The largest slice of the ``paper`` reproduction profile that fits a time budget on one
accelerator: one preset, its TAC, DTAC (eq. 22 alone, as the paper writes it) and TL
transformer, evaluated beside Search, and a projection of the whole profile's time.

Each method first trains 2 iterations one at a time (the first includes compilation); the
steady time per iteration then sets how many more of the paper profile's iterations (the
paper's training episodes) fit its share of the budget (TAC until 50% of it, DTAC until 70%,
TL transformer until 85%), and the run resumes to that count. The rest goes to the evaluation;
then 2 HAPPO iterations are timed (HAPPO is not in the slice; its per-iteration time enters the
projection), which may run past the budget. The projection of the full profile (every preset,
every method, the paper profile's iteration counts) scales each measured time per iteration by
the preset's mean UE count against this one's (linear: an
upper bound where the accelerator is not saturated) and adds each stage's measured compilation
once.

Usage::

    python experiments/gpu_paper.py [--preset small] [--budget-s 480] [--eval-episodes 8]
        [--out benchmarks/gpu_paper.json] [--tiny]

``--tiny`` shrinks every setting (1 seed, 3-round episodes) to check the script on a CPU in a
few minutes; its numbers say nothing about the paper's settings.
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
from benchio import save_report, table

SLICE = ("tac", "dtac", "tl_transformer")
SHARE = {"tac": 0.5, "dtac": 0.7, "tl_transformer": 0.85}   # of the budget, cumulative
CALIBRATE = 2   # iterations trained one at a time before the allocation


def tiny_paper_profile():
    """The paper profile at the tiny profile's sizes (its kinds of configs unchanged)."""
    from dtac_jax.reproduce.profiles import get_profile
    paper, tiny = get_profile("paper"), get_profile("tiny")
    return paper.replace(
        name="paper_tiny", seeds=1,
        tac=paper.tac.replace(iterations=3, updates=2, batch_size=8, buffer_size=512,
                              eval_envs=2, eval_rounds=3, collect=dict(envs=4, rounds=2)),
        transfer=paper.transfer.replace(iterations=3, updates=2, batch_size=8, eval_envs=2,
                                        eval_rounds=3),
        happo=paper.happo.replace(iterations=2, envs=2, rollout=3, epochs=1, critic_epochs=1,
                                  eval_envs=2, eval_rounds=3),
        eval_episodes=2, eval_rounds=3, train_rounds=3, ue_counts=tiny.ue_counts,
        search=tiny.search)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="gpu_paper.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="small", choices=("small", "medium", "large"))
    ap.add_argument("--budget-s", type=float, default=400.0,
                    help="wall-time budget of the training slice, seconds (default 400: with "
                         "the evaluation and HAPPO's timing, about 8 minutes)")
    ap.add_argument("--eval-episodes", type=int, default=8,
                    help="evaluation episodes per x-axis point (the paper profile: 32)")
    ap.add_argument("--out", default="benchmarks/gpu_paper.json")
    ap.add_argument("--work", default=None, help="folder for the runs (default: a temporary one)")
    ap.add_argument("--tiny", action="store_true", help="tiny settings, to check on a CPU")
    args = ap.parse_args(argv)
    if args.budget_s <= 0 or args.eval_episodes < 1:
        print("gpu_paper.py: error: --budget-s must be > 0 and --eval-episodes >= 1",
              file=sys.stderr)
        return 2

    import jax

    from dtac_jax import runs
    from dtac_jax.algos import registry
    from dtac_jax.env import make_params
    from dtac_jax.reproduce.pipeline import Pipeline, code_fingerprint
    from dtac_jax.reproduce.profiles import PRESETS, get_profile

    prof = tiny_paper_profile() if args.tiny else get_profile("paper")
    prof = prof.replace(eval_episodes=min(args.eval_episodes, prof.eval_episodes))
    work = Path(args.work or tempfile.mkdtemp(prefix="gpu_paper_"))
    pl = Pipeline(prof, out=work, progress=False, log=lambda _: None)
    preset = args.preset
    t0 = time.time()
    elapsed = lambda: time.time() - t0
    timing: dict[str, dict] = {}

    def train(method: str, iterations: int) -> list[float]:
        """Train ``method`` on the preset up to ``iterations`` (resuming), one iteration a
        chunk (one compiled program, and a resume needs the same chunk); the wall time at the
        end of each iteration."""
        algo = registry.get(method)
        stamps = [time.time()]
        runs.train(method, pl.train_scenario(preset), pl.config(method).replace(
            iterations=iterations), pl.run_dir(preset, method),
            deps={d: pl.run_dir(preset, d) for d in algo.needs}, seeds=prof.seeds,
            chunk=1, resume=True, progress=False,
            callback=lambda *_: stamps.append(time.time()))
        return stamps

    def calibrate(method: str) -> tuple[float, float]:
        """(compilation and first iteration, steady seconds per iteration) of ``method``."""
        stamps = train(method, CALIBRATE)
        steps = np.diff(stamps)
        return float(steps[0]), float(np.median(steps[1:])) if len(steps) > 1 else float(
            steps[0])

    paper_its = {m: pl.config(m).iterations for m in ("tac", "dtac", "tl_transformer", "happo")}
    for method in SLICE:
        first, per_it = calibrate(method)
        room = SHARE[method] * args.budget_s - elapsed()
        target = int(min(paper_its[method], CALIBRATE + max(0, room // per_it)))
        if target > CALIBRATE:
            train(method, target)
        timing[method] = dict(first_s=first, per_iteration_s=per_it, iterations=target,
                              paper_iterations=paper_its[method], done_at_s=elapsed())
        print(f"[{elapsed():6.0f} s] {method}: {target} of {paper_its[method]} iterations "
              f"({per_it:.2f} s each after {first:.1f} s for the first)", flush=True)

    # evaluation: the slice beside Search on the profile's x-axis, the same episodes for all
    t_eval = time.time()
    params = make_params(pl.scenario(preset))
    counts = prof.ue_counts[preset]
    results = {}
    for m in SLICE + ("search", "random_floor"):
        fam = pl.family(preset, m)
        res = pl.evaluate_family(fam, params, counts)
        results[m] = np.array([[r.weighted_reward for r in per_seed] for per_seed in res])
    eval_s = time.time() - t_eval
    happo_first, happo_per_it = calibrate("happo")
    timing["happo"] = dict(first_s=happo_first, per_iteration_s=happo_per_it,
                           iterations=CALIBRATE, paper_iterations=paper_its["happo"],
                           done_at_s=elapsed())
    total = elapsed()

    # projection of the whole profile: every preset, the paper's iterations, each transfer
    def mean_ues(p):
        return float(np.mean(prof.ue_counts[p])) * make_params(pl.scenario(p)).n_edges

    here = mean_ues(preset)
    transfers = [m for m in registry.names(learned=True, reproduce=True)
                 if registry.get(m).kind == "transfer"]
    per_method = {"tac": ["tac"], "transfer": transfers, "happo": ["happo"]}
    projection = {}
    for p in PRESETS:
        scale = mean_ues(p) / here
        secs = 0.0
        for key, names in per_method.items():
            ref = timing["dtac" if key == "transfer" else key]
            for m in names:
                secs += ref["first_s"] + scale * ref["per_iteration_s"] * paper_its.get(
                    m, paper_its["dtac"])
        secs += scale * eval_s * (get_profile("paper").eval_episodes / prof.eval_episodes) \
            * (len(registry.names(reproduce=True)) / len(results))
        projection[p] = secs
    search = -results["search"].mean()
    rows = []
    for m in SLICE + ("search", "random_floor"):
        wr = results[m]
        t = timing.get(m, {})
        rows.append([registry.get(m).label,
                     f"{t['iterations']} / {t['paper_iterations']}" if t else "-",
                     f"{t['per_iteration_s']:.2f}" if t else "-",
                     f"{t['first_s']:.1f}" if t else "-",
                     f"{wr.mean():.3f}", f"{-wr.mean() / search:.2f}"])
    device = f"{jax.default_backend()}: {jax.devices()[0].device_kind}"
    md = "\n\n".join([
        f"{dt.date.today()}, {device}, preset `{preset}`, profile `{prof.name}` "
        f"({prof.seeds} seed(s)), budget {args.budget_s:.0f} s, code fingerprint "
        f"`{code_fingerprint()}`. Wall: {total:.0f} s (evaluation {eval_s:.0f} s, "
        f"{prof.eval_episodes} episodes of {prof.eval_rounds or 50} rounds per x-axis point "
        f"{list(counts)}).",
        table(["method", "iterations (of the paper's)", "s / iteration", "first iteration (s)",
               "weighted reward", "cost / Search's"], rows, right=(2, 3, 4, 5)),
        "HAPPO (not in the slice): "
        + f"{happo_per_it:.2f} s / iteration after {happo_first:.1f} s for the first.",
        "Projection of the whole profile (the paper's iterations for TAC, DTAC, TL "
        "transformer, TL and HAPPO; its evaluation), per preset, linear in the mean UE count:",
        table(["preset", "mean UEs", "projected hours"],
              [[p, f"{mean_ues(p):.0f}", f"{projection[p] / 3600:.2f}"] for p in PRESETS],
              right=(1, 2)),
        f"Total: {sum(projection.values()) / 3600:.2f} hours on this device."])
    report = dict(date=str(dt.date.today()), device=device, preset=preset, profile=prof.name,
                  seeds=prof.seeds, budget_s=args.budget_s, wall_s=total, eval_s=eval_s,
                  code=code_fingerprint(), timing=timing,
                  weighted_reward={m: v.tolist() for m, v in results.items()},
                  projection_s=projection)
    save_report(report, md, args.out, "The paper profile's slice on one accelerator "
                "(experiments/gpu_paper.py)")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
