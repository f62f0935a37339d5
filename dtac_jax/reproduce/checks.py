"""The claim checks behind the report's figures and tables: verdicts from the evaluated rows
and the training curves, each a :func:`~dtac_jax.reproduce.claims.check` (the paper's words,
our numbers, the threshold, the verdict). :mod:`dtac_jax.reproduce.figures` computes and plots
the data and calls these; they read only what they are given, so a test can feed them rows.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from dtac_jax.reproduce.claims import (MARGIN_RULE, WORDS, Margin, all_hold, better, check,
                                       compare, family, no_noise_reason)
from dtac_jax.reproduce.pipeline import convergence_window, iterations_to_95, label


CLOSE = 0.10                         # "close to": within 10% of the weighted reward
def seed_values(rows: list[dict], metric: str) -> dict[str, np.ndarray]:
    """``{policy: [seeds]}``: each seed's mean of ``metric`` over the x-axis."""
    return {p: v.mean(1) for p, v in point_values(rows, metric).items()}


def point_values(rows: list[dict], metric: str) -> dict[str, np.ndarray]:
    """``{policy: [seeds, x-axis points]}`` of ``metric``: seeds by id, points on the x-axis
    every row shares (increasing UE count); a missing or repeated point raises."""
    ns = sorted({r["n_ues"] for r in rows})
    by = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        cell = by[r["policy"]][r["seed"]]
        if r["n_ues"] in cell:
            raise ValueError(f"two rows for {r['policy']}, seed {r['seed']}, {r['n_ues']} UEs")
        cell[r["n_ues"]] = r[metric]
    for p, d in by.items():
        for seed, cell in d.items():
            if sorted(cell) != ns:
                raise ValueError(f"{p}, seed {seed}: x-axis {sorted(cell)}, expected {ns}")
    return {p: np.array([[d[s][n] for n in ns] for s in sorted(d)]) for p, d in by.items()}


def vs(values: dict, a: str, b: str, higher: bool = True, scale_b: float = 1.0,
        fmt: str = ".3g", unit: str = "") -> tuple[Margin, str]:
    """The margin of ``a`` over ``b`` and its text: both means, the difference and its noise."""
    m = compare(values, a, b, higher, scale_b)
    va, vb = float(np.mean(values[a])), float(np.mean(values[b]))
    scaled = f"{scale_b:.3g} x " if scale_b != 1 else ""
    return m, (f"{label(a)} {va:{fmt}}{unit} vs {scaled}{label(b)} {vb * scale_b:{fmt}}{unit} "
               f"({m.text(label(a))})")


def _ordering(values: dict, a: str, others, higher: bool = True, scale_b: float = 1.0,
              unit: str = "") -> tuple[bool | None, str, str | None]:
    """``a`` beats every one of ``others`` beyond seed noise: the verdict, the text, and the
    reason when it cannot be judged."""
    ms, texts = zip(*(vs(values, a, o, higher, scale_b, unit=unit) for o in others))
    return all_hold(ms), "; ".join(texts), no_noise_reason(ms)


def _per_point(points: dict, ns, a: str, others, higher: bool = True) -> str:
    """Where along the x-axis ``a`` beats every one of ``others`` beyond seed noise."""
    held = []
    for i in range(len(ns)):
        at = {p: v[:, i] for p, v in points.items()}
        held.append(all_hold([compare(at, a, o, higher) for o in others]))
    return "per x-axis point: " + ", ".join(f"{n} UEs {WORDS[h]}" for n, h in zip(ns, held))


def linear_decline(values, tol: float = 0.25) -> bool:
    """``values`` (over increasing UE counts) fall steadily: never rise by more than ``tol``
    of the total fall, and every inner point lies within ``tol`` of the total fall from the
    straight line between the end points."""
    v = np.asarray(values, float)
    fall = v[0] - v[-1]
    if fall <= 0:
        return False
    line = np.linspace(v[0], v[-1], len(v))
    return bool(np.all(np.diff(v) <= tol * fall) and np.all(np.abs(v - line) <= tol * fall))


def performance_claims(preset: str, rows: list[dict], happo_late: float,
                       small_rows: list[dict] | None = None) -> list[dict]:
    """The checks of Figs. 5-7 (C1-C5, C10, P1, P2) from the evaluation ``rows`` of
    ``preset`` (per seed and x-axis point), HAPPO's :func:`late_over_mid` ratio and, on the
    medium preset, the small preset's rows (C10). Every ordering beats seed noise
    (:mod:`dtac_jax.reproduce.claims`)."""
    area = preset
    distributed = ("happo", "tl", "tl_transformer")
    learned = ("tac", "dtac", "tl", "tl_transformer", "happo")
    wr, tv, ev = (seed_values(rows, m) for m in ("weighted_reward", "avg_time",
                                                  "energy_per_task"))
    pts = {m: point_values(rows, m) for m in ("weighted_reward", "avg_time")}
    ns = sorted({r["n_ues"] for r in rows})
    mean = {p: float(v.mean()) for p, v in wr.items()}
    e = {p: float(v.mean()) for p, v in ev.items()}
    offl = {p: float(np.mean([r["frac_edge"] + r["frac_cloud"] for r in rows
                              if r["policy"] == p])) for p in wr}
    search_cost = -mean["search"]
    gap = abs(mean["dtac"] - mean["tac"]) / abs(mean["tac"])
    fmt = lambda d, keys, unit="": ", ".join(f"{label(k)} {d[k]:.3g}{unit}"
                                             for k in keys)
    claims = []

    def add(cid, what, paper, verdict, threshold):
        holds, ours, reason = verdict
        claims.append(check(cid, what, paper, ours, threshold, holds, reason))

    c1 = _ordering(wr, "dtac", distributed + ("random",))
    add("C1", f"DTAC's weighted reward above HAPPO's, TL's, TL transformer's and Random's "
        f"({area})", "DTAC best of the distributed schemes",
        (c1[0], c1[1] + "; " + _per_point(pts["weighted_reward"], ns, "dtac",
                                          distributed + ("random",)), c1[2]),
        "DTAC's mean over the x-axis higher than each, " + MARGIN_RULE)
    claims.append(check("C2", f"DTAC close to TAC ({area})", "similar performance",
                        f"DTAC {mean['dtac']:.2f} vs TAC {mean['tac']:.2f} "
                        f"({100 * gap:.1f}% apart)",
                        f"|DTAC - TAC| <= {100 * CLOSE:.0f}% of |TAC| (means over seeds)",
                        gap <= CLOSE))
    add("C2", f"TAC better than DTAC ({area})", "TAC better (global information)",
        _ordering(wr, "tac", ("dtac",)), "TAC's weighted reward higher, " + MARGIN_RULE)
    add("C3", f"DTAC's average time well below TL's, TL transformer's and HAPPO's ({area})",
        "significantly lower", _ordering(tv, "dtac", distributed, higher=False, scale_b=0.9,
                                         unit=" s"),
        "DTAC's time below 0.9x each of theirs, " + MARGIN_RULE)
    if preset == "small":
        low = [compare(ev, a, b, higher=False) for a in ("dtac", "tl_transformer")
               for b in ("tl", "happo")]
        close = all(abs(e[m] / e["tac"] - 1) <= 0.2 for m in ("dtac", "tl_transformer"))
        claims.append(check(
            "C4", "DTAC and TL transformer the lowest energy per task of the distributed "
            "schemes, comparable to TAC (small)", "lowest, comparable to TAC",
            fmt(e, ("tac", "dtac", "tl_transformer", "tl", "happo"), " J") + "; "
            + "; ".join(f"{label(a)} below {label(b)}: {m.text(label(a))}" for m, (a, b) in zip(
                low, [(a, b) for a in ("dtac", "tl_transformer") for b in ("tl", "happo")])),
            "DTAC's and TL transformer's energy each below TL's and HAPPO's, " + MARGIN_RULE
            + "; and each within 20% of TAC's",
            False if not close else all_hold(low), no_noise_reason(low) if close else None))
        linear = {m: linear_decline(series_mean) for m, series_mean in
                  ((m, pts["weighted_reward"][m].mean(0)) for m in learned)}
        claims.append(check(
            "C5", "only HAPPO's weighted reward degrades unstably with the number of UEs, "
            "the others' linearly (small)", "HAPPO unstable; TL-based linear",
            "; ".join(f"{label(m)} " + "/".join(f"{v:.3g}" for v in
                                                   pts["weighted_reward"][m].mean(0))
                      for m in learned),
            "linear: falls with every step up in UEs (a rise of at most 25% of the total "
            "fall) and each inner point within 25% of the total fall from the chord; HAPPO "
            "not linear, every other learned method linear (means over seeds)",
            not linear["happo"] and all(linear[m] for m in learned if m != "happo")))
    if preset == "medium":
        m1, t1 = vs(ev, "tl_transformer", "dtac", higher=False, unit=" J")
        m2, t2 = vs(tv, "dtac", "tl_transformer", higher=False, scale_b=1 / 1.1, unit=" s")
        add("C4", "TL transformer saves more energy than DTAC, with a much worse time "
            "(medium)", "more energy saved, much worse time",
            (all_hold([m1, m2]), f"energy {t1}; time {t2}", no_noise_reason([m1, m2])),
            "TL transformer's energy below DTAC's and DTAC's time below TL transformer's / "
            "1.1, " + MARGIN_RULE)
        ht = _ordering(tv, "dtac", ("happo", "tl"), higher=False, unit=" s")
        he = _ordering(ev, "dtac", ("happo", "tl"), higher=False, unit=" J")
        add("C4", "DTAC below HAPPO and TL in both time and energy (medium)",
            "substantial reduction in time and energy vs HAPPO and TL",
            (all_hold_v(ht[0], he[0]), f"time: {ht[1]}; energy: {he[1]}", ht[2] or he[2]),
            "DTAC's time and energy each below HAPPO's and TL's, " + MARGIN_RULE)
        claims.append(degrade_check(small_rows, rows))
    if preset == "large":
        a = _ordering(ev, "dtac", distributed, higher=False, unit=" J")
        others = [m for m in learned if m != "happo"]
        b = [compare(ev, m, "happo", higher=False) for m in others]
        c = [compare(wr, m, "happo") for m in others]
        verdict = all_hold_v(a[0], all_hold(b), all_hold(c))
        worst = "; ".join(f"{label(m)} {what}: {mg.text(label(m))}" for what, ms in (
            ("energy below HAPPO's", b), ("reward above HAPPO's", c))
            for m, mg in zip(others, ms))
        add("C4", "DTAC the lowest energy of the distributed schemes; HAPPO the worst learned "
            "in energy and weighted reward (large)", "DTAC most energy saved; HAPPO worst",
            (verdict, f"DTAC's energy: {a[1]}; {worst}", no_noise_reason(b + c) or a[2]),
            "DTAC's energy below TL's, TL transformer's and HAPPO's; HAPPO's energy above and "
            "its weighted reward below each other learned method's; " + MARGIN_RULE)
        tp = pts["avg_time"]
        per_point = [all_hold([compare({p: v[:, i] for p, v in tp.items()}, m, "happo",
                                       higher=False) for m in others])
                     for i in range(len(ns))]
        last = {p: v[:, -1] for p, v in tp.items()}
        m_rand, t_rand = vs(last, "random_floor", "happo", higher=False, unit=" s")
        verdict = all_hold_v(*per_point, m_rand.holds)
        add("C5", "HAPPO the poorest learned method in time at every UE count, and worse "
            "than Random at the most UEs (large)", "poorest, worse than Random as UEs grow",
            (verdict, "HAPPO the slowest learned method: "
             + ", ".join(f"{n} UEs {WORDS[h]}" for n, h in zip(ns, per_point))
             + f"; at {ns[-1]} UEs {t_rand}; the literal Random "
               f"{float(np.mean(last['random'])):.3g} s",
             no_noise_reason([m_rand]) if verdict is None else None),
            "at every x-axis point HAPPO's time above each other learned method's, and at the "
            "last above Random's with a, b >= 0.1 (the literal Random's mean time has no finite "
            "expectation), " + MARGIN_RULE)
        claims.append(check(
            "C5", "HAPPO worse than the literal Random (a, b uniform in (0, 1]) at the most UEs "
            "(large)", "worse than Random as UEs grow",
            f"at {ns[-1]} UEs: HAPPO {float(np.mean(last['happo'])):.3g} s, literal Random "
            f"{float(np.mean(last['random'])):.3g} s", "HAPPO's time above the literal "
            "Random's", None,
            reason="the literal Random's mean time has no finite expectation: a local task's "
                   "time grows as 1 / b and E[1 / b] diverges for b uniform in (0, 1], so its "
                   "sample mean is set by the smallest b drawn; judged against Random with a, "
                   "b >= 0.1 above"))
    best_heuristic = max(("all_local", "greedy"), key=mean.get)
    mh, th = vs(wr, "happo", best_heuristic)
    claims.append(check(
        "P2", f"HAPPO better than the best heuristic, no seed worse than Random ({area})",
        "(this project's target)",
        f"{th}; HAPPO's seeds {min(wr['happo']):.2f} .. {max(wr['happo']):.2f}, Random "
        f"{mean['random']:.2f}",
        "HAPPO's weighted reward above the best heuristic's (all-local, greedy), "
        + MARGIN_RULE + "; every seed's above Random's",
        all_hold_v(mh.holds, min(wr["happo"]) > mean["random"]), no_noise_reason([mh])))
    claims.append(check(
        "P2", f"HAPPO's validation curve does not collapse late in training ({area})",
        "(this project's target)", f"worst seed: {happo_late:.2f}",
        "every seed's mean validation objective over the last quarter of training <= 1.1x "
        "its mean over the quarter before the half-way point", happo_late <= 1.1))
    worst_seed = -min(wr["tac"]) / -mean["tac"]
    claims.append(check(
        "P1", f"TAC learns to offload ({area})", "(this project's target)",
        f"TAC cost {-mean['tac'] / search_cost:.2f}x Search's, {100 * offl['tac']:.0f}% "
        f"offloaded, worst seed {worst_seed:.2f}x the mean",
        "cost <= 2x Search's (aim 1.5x), >= 40% offloaded, no seed above 1.5x the seeds' mean",
        -mean["tac"] <= 2 * search_cost and offl["tac"] >= 0.4 and worst_seed <= 1.5))
    return claims


def all_hold_v(*verdicts) -> bool | None:
    """Several verdicts together: False if any fails, None if any is undecided, else True."""
    if any(v is False for v in verdicts):
        return False
    return None if any(v is None for v in verdicts) else True


def degrade_check(small_rows: list[dict] | None, medium_rows: list[dict]) -> dict:
    """C10: TL's and TL transformer's cost above TAC's grows from the small preset (Fig. 5) to
    the medium one (Fig. 6, "this large scenario"), beyond seed noise."""
    words = "significantly degrades in the larger scenario"
    threshold = ("each one's relative excess cost over TAC (cost / TAC's - 1, per seed) higher "
                 "on medium than on small, " + MARGIN_RULE)
    what = "TL and TL transformer degrade from the small to the medium scenario, against TAC"
    if small_rows is None:
        return check("C10", what, words, "the small preset is not evaluated in this folder",
                     threshold, None, reason="needs the small preset's evaluation (Fig. 5)")

    def excess(rows):
        wr = seed_values(rows, "weighted_reward")
        return {m: wr[m] / wr["tac"] - 1 for m in ("tl", "tl_transformer")}

    small, medium = excess(small_rows), excess(medium_rows)
    ms = [better(medium[m], small[m], paired=False) for m in ("tl", "tl_transformer")]
    ours = "; ".join(f"{label(m)} {100 * small[m].mean():.0f}% -> {100 * medium[m].mean():.0f}% "
                     f"above TAC ({mg.text('medium')})"
                     for m, mg in zip(("tl", "tl_transformer"), ms))
    return check("C10", what, words, ours, threshold, all_hold(ms), no_noise_reason(ms))


def seed_preferences(rows) -> dict[str, np.ndarray]:
    """``{policy: [seeds, 3]}``: each seed's (local, edge, cloud) fractions over the x-axis."""
    return {p: np.stack([seed_values(rows, f)[p] for f in ("frac_local", "frac_edge",
                                                           "frac_cloud")], -1)
            for p in {r["policy"] for r in rows}}


def preference_claims(preset: str, rows: list[dict]) -> list[dict]:
    """The checks of Figs. 8-9 (C6): per-seed preferences, orderings beyond seed noise."""
    pref = seed_preferences(rows)
    tac = pref["tac"]
    distributed = ("dtac", "tl_transformer", "tl", "happo")

    def l1(p):   # per seed: to the TAC seed it descends from, else the mean over TAC's seeds
        if family(p) == "tac":
            return np.abs(pref[p] - tac).sum(-1)
        return np.abs(pref[p][:, None] - tac[None]).sum(-1).mean(1)

    dist = {p: l1(p) for p in distributed}
    close = _ordering(dist, "dtac", ("tl_transformer", "tl", "happo"), higher=False)
    local = {p: v[:, 0] for p, v in pref.items()}
    edge = {p: v[:, 1] for p, v in pref.items()}
    m_local, t_local = vs(local, "dtac", "tac", fmt=".2f")
    claims = [
        check("C6", f"DTAC's preference the closest to TAC's of the distributed methods "
              f"({preset})", "DTAC's preference similar to TAC's", close[1],
              "DTAC's L1 distance of the (local, edge, cloud) fractions to TAC's below each "
              "other distributed method's, " + MARGIN_RULE, close[0], close[2]),
        check("C6", f"DTAC computes locally more often than TAC ({preset})",
              "increased preference on local computation", t_local,
              "DTAC's local fraction above TAC's, " + MARGIN_RULE, m_local.holds,
              no_noise_reason([m_local])),
    ]
    if preset == "medium":
        for m, words in (("happo", "most tasks to the edge servers"),
                         ("tl", "the similar problem as that of the HAPPO (most tasks to the "
                                "edge)")):
            mg = better(edge[m], [0.5], paired=False)
            claims.append(check("C6", f"{label(m)} offloads most tasks to the edge (medium)",
                                words, f"{label(m)} edge fraction {edge[m].mean():.2f} "
                                f"({mg.text(label(m))} over 0.5)",
                                "edge fraction above 0.5, " + MARGIN_RULE, mg.holds,
                                no_noise_reason([mg])))
    if preset == "large":
        h = pref["happo"]
        mg = better(np.maximum(h[:, 0], h[:, 2]), h[:, 1], paired=True)
        claims.append(check("C6", "HAPPO prefers cloud or local over edge (large)",
                            "offloading to the cloud or computing locally",
                            "HAPPO local/edge/cloud " + "/".join(f"{v:.2f}" for v in h.mean(0))
                            + f" ({mg.text('the larger of local and cloud')} over edge)",
                            "edge fraction below the local or the cloud fraction, "
                            + MARGIN_RULE, mg.holds, no_noise_reason([mg])))
    return claims


# ---------------------------------------------------------------------- Table III
def seed_curves(run_dir) -> np.ndarray:
    """``[seeds, iterations]``: each seed's validation objective after each training
    iteration."""
    from dtac_jax.train import read_metrics
    rows = read_metrics(run_dir)
    return np.array([[r["objective"] for r in rows if r["seed"] == s]
                     for s in sorted({r["seed"] for r in rows})])


def saving_check(cid: str, what: str, paper: float, fast: str, slow: str, n95: dict,
                 extra: str = "", fast_plus: tuple[str, ...] = ()) -> dict:
    """A "saves ``paper`` of the training episodes" check: ``fast`` (plus the runs
    ``fast_plus`` that precede it) against ``slow``, in training iterations (the paper's
    training episodes) to 95% of the final objective; cannot be judged when the measure cannot
    show ``paper`` at these budgets."""
    runs = (fast,) + fast_plus
    spent = sum(n95[m][0] for m in runs)
    saving = 1 - spent / max(n95[slow][0], 1)
    reach = 1 - sum(convergence_window(n95[m][1]) for m in runs) / n95[slow][1]
    names = " + ".join(label(m) for m in runs)
    ours = (f"{names} {spent} vs {label(slow)} {n95[slow][0]} iterations to 95% of the final "
            f"objective (the paper's training episodes; {100 * saving:.0f}% fewer{extra})")
    threshold = f"saving >= {100 * paper:.0f}% (iterations, the paper's unit)"
    if reach < paper:
        return check(cid, what, f"saves {100 * paper:.0f}%", ours, threshold, None,
                     reason=f"at these budgets the measure shows at most {100 * reach:.0f}% "
                            f"({names}: {' + '.join(str(n95[m][1]) for m in runs)} iterations "
                            f"trained, windows of "
                            f"{' + '.join(str(convergence_window(n95[m][1])) for m in runs)}; "
                            f"{label(slow)}: {n95[slow][1]})")
    return check(cid, what, f"saves {100 * paper:.0f}%", ours, threshold, saving >= paper)


def convergence_claims(run_dirs: dict, n95: dict, ue95: dict) -> list[dict]:
    """The checks of Fig. 10 (C9) and of the overall training cost (C11) from each method's
    validation curves (``run_dirs``), its :func:`iterations_to_95` and UE-rounds to 95%."""
    curves_ = {m: seed_curves(d) for m, d in run_dirs.items()}
    final = {m: np.array([np.median(c[-max(1, len(c) // 10):]) for c in cs])
             for m, cs in curves_.items()}
    per_seed95 = {m: np.array([iterations_to_95(run_dirs[m], seed=s)[0]
                               for s in range(len(curves_[m]))]) for m in run_dirs}
    # stability: each seed's coefficient of variation of the objective over its last half
    cv = {m: np.array([np.std(c[len(c) // 2:]) / np.mean(c[len(c) // 2:]) for c in cs])
          for m, cs in curves_.items()}
    ue_save = lambda a, b: 100 * (1 - ue95[a] / max(ue95[b], 1))
    m_final, t_final = vs(final, "tac", "happo", higher=False)
    m_eff, t_eff = vs(per_seed95, "dtac", "tl_transformer", higher=False, fmt=".3g")
    m_stab, t_stab = vs(cv, "dtac", "tl_transformer", higher=False)
    return [
        saving_check("C9", "TAC needs 73% fewer training episodes than HAPPO", 0.73, "tac",
                     "happo", n95, f"; in UE-rounds {ue_save('tac', 'happo'):.0f}% fewer"),
        check("C9", "TAC converges to a better objective than HAPPO", "superior performance",
              f"final objective (each seed's median over its last 10% of iterations, mean over "
              f"seeds): {t_final}",
              "TAC's final objective below HAPPO's, " + MARGIN_RULE, m_final.holds,
              no_noise_reason([m_final])),
        saving_check("C9", "DTAC's transfer needs 78% fewer episodes than TL transformer's",
                     0.78, "dtac", "tl_transformer", n95,
                     f"; in UE-rounds {ue_save('dtac', 'tl_transformer'):.0f}% fewer"),
        check("C9", "DTAC's transfer converges more efficiently than TL transformer's",
              "more efficient convergence", f"iterations to 95% (mean over seeds): {t_eff}",
              "DTAC's iterations to 95% of its final objective below TL transformer's, "
              + MARGIN_RULE, m_eff.holds, no_noise_reason([m_eff])),
        check("C9", "DTAC's transfer converges more stably than TL transformer's",
              "more stable convergence", f"coefficient of variation of the validation "
              f"objective over the last half of the transfer: {t_stab}",
              "DTAC's coefficient of variation below TL transformer's, " + MARGIN_RULE,
              m_stab.holds, no_noise_reason([m_stab])),
        saving_check("C11", "TAC + DTAC need 73% fewer training episodes than HAPPO", 0.73,
                     "dtac", "happo", n95, fast_plus=("tac",)),
        saving_check("C11", "DTAC's transfer needs 73% fewer episodes than TL's", 0.73,
                     "dtac", "tl", n95),
    ]


# ---------------------------------------------------------------------- Fig. 11
def generalization_claims(rows: list[dict]) -> list[dict]:
    """The checks of Fig. 11 (C8): the DTAC trained on the smaller area against the one
    trained on the larger, both evaluated on the larger (independent runs)."""
    pts = point_values(rows, "weighted_reward")
    ns = sorted({r["n_ues"] for r in rows})
    inexp, trained = pts["dtac_inexperienced"], pts["dtac"]
    below30 = [i for i, n in enumerate(ns) if n < 30]
    above = [i for i, n in enumerate(ns) if n >= 30]
    margins = [better(inexp[:, i], trained[:, i], paired=False) for i in below30]
    better_below = (check("C8", "inexperienced DTAC better below 30 UEs",
                          "even better when fewer than 30 UEs",
                          "; ".join(f"{ns[i]} UEs: {inexp[:, i].mean():.2f} vs "
                                    f"{trained[:, i].mean():.2f} "
                                    f"({m.text('the inexperienced DTAC')})"
                                    for i, m in zip(below30, margins)),
                          "the inexperienced DTAC's weighted reward above the trained one's "
                          "at every x-axis point below 30 UEs, " + MARGIN_RULE,
                          all_hold(margins), no_noise_reason(margins))
                    if below30 else
                    check("C8", "inexperienced DTAC better below 30 UEs",
                          "even better when fewer than 30 UEs", "no x-axis point below 30 UEs",
                          "-", None, reason="the profile's x-axis has no point below 30 UEs"))
    what = "inexperienced DTAC close to the DTAC trained on the scenario, from 30 UEs"
    words = "differs only marginally (as the number of UEs increases)"
    threshold = (f"within {100 * CLOSE:.0f}% of the trained DTAC's weighted reward, mean over "
                 "the x-axis points from 30 UEs and the seeds")
    if above:
        a, t = inexp[:, above].mean(), trained[:, above].mean()
        gap = abs(a - t) / abs(t)
        close = check("C8", what, words, f"{a:.2f} vs {t:.2f} ({100 * gap:.1f}% apart; "
                      f"{', '.join(str(ns[i]) for i in above)} UEs)", threshold, gap <= CLOSE)
    else:
        close = check("C8", what, words, "no x-axis point from 30 UEs", threshold, None,
                      reason="the profile's x-axis has no point from 30 UEs")
    return [close, better_below]


# ---------------------------------------------------------------------- Table IV
