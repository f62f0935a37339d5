"""One function per paper figure or table: compute (through the pipeline), plot, and return a
REPORT.md section with the paper's claim, our numbers and whether the claim holds.

A section is a dict: ``id``, ``title``, ``images`` (file names), ``body`` (Markdown: tables of
our numbers), ``claims`` (list of ``{claim, paper, ours, holds}``; ``holds`` is True, False or
None when it cannot be decided). Sections are saved in ``sections/<id>.json``.
"""
from __future__ import annotations

import json
from collections import defaultdict

import numpy as np

from dtac_jax.reproduce.pipeline import (GENERALIZATION, LABELS, POLICIES, Pipeline,
                                         episodes_to_95, read_csv, write_csv)

PERF_FIG = {"small": "fig5", "medium": "fig6", "large": "fig7"}
PREF_FIG = {"medium": "fig8", "large": "fig9"}
# Table III's "small area" and "large area": the paper's Table III discussion follows its Figs.
# 8-9, which use the scenarios of Figs. 6 and 7, and Fig. 11 calls Fig. 6's scenario the one
# "with a smaller coverage area"; so "small area" is the medium preset (Fig. 6: 7 edges, 300 m)
# and "large area" the large one (Fig. 7: 600 m).
KL_PRESETS = ("medium", "large")
KL_AREA = {"medium": "small area", "large": "large area"}
CONVERGENCE_PRESET = "large"         # paper Fig. 10: scenario of Fig. 7
PAPER_KL = {"medium": {"tl_transformer": 0.103, "dtac": 0.063},
            "large": {"tl_transformer": 0.028, "dtac": 0.015}}
CLOSE = 0.10                         # "close to": within 10% of the weighted reward
COLORS = {"tac": "tab:blue", "dtac": "tab:red", "tl_transformer": "tab:orange", "tl": "tab:green",
          "happo": "tab:purple", "random": "tab:gray", "all_local": "tab:brown",
          "greedy": "tab:olive", "search": "black", "dtac_inexperienced": "tab:pink"}
STYLE = {"all_local": ":", "greedy": ":", "search": "--"}


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(pl: Pipeline, fig, img: str) -> str:
    """Lay out, write ``<root>/<img>`` and close a figure; returns ``img``."""
    fig.tight_layout()
    fig.savefig(pl.root / img, dpi=110)
    _plt().close(fig)
    return img


def save_section(pl: Pipeline, sec: dict) -> dict:
    (pl.root / "sections" / f"{sec['id']}.json").write_text(json.dumps(sec, indent=2))
    return sec


def _md_table(header: list[str], rows: list[list]) -> str:
    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                     + ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows])


def _claim(claim, paper, ours, holds):
    return dict(claim=claim, paper=paper, ours=ours,
                holds=None if holds is None else bool(holds))


def aggregate(rows: list[dict], metric: str):
    """``{policy: (counts, mean over seeds, band)}``; the band is the spread over seeds, or the
    standard error over episodes with a single seed (weighted reward only)."""
    by = defaultdict(lambda: defaultdict(list))
    for r in rows:
        by[r["policy"]][r["n_ues"]].append(r)
    out = {}
    for pol, per_n in by.items():
        ns = sorted(per_n)
        mean = np.array([np.mean([r[metric] for r in per_n[n]]) for n in ns])
        if all(len(per_n[n]) > 1 for n in ns):
            band = np.array([np.std([r[metric] for r in per_n[n]], ddof=1) for n in ns])
        elif metric == "weighted_reward":
            band = np.array([per_n[n][0]["reward_std_err"] for n in ns])
        else:
            band = np.zeros(len(ns))
        out[pol] = (np.array(ns), mean, band)
    return out


# ---------------------------------------------------------------------- Figs. 5-7
def fig_performance(pl: Pipeline, preset: str) -> dict:
    fid = PERF_FIG[preset]
    rows = read_csv(pl.evaluate_preset(preset))
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    panels = (("avg_time", "(a) average task execution time (s)"),
              ("energy_per_task", "(b) average energy per task (J)"),
              ("weighted_reward", "(c) weighted reward (eq. 27)"))
    series = {}
    for ax, (metric, title) in zip(axes, panels):
        agg = aggregate(rows, metric)
        series[metric] = {k: dict(n_ues=v[0].tolist(), mean=v[1].tolist(), band=v[2].tolist())
                          for k, v in agg.items()}
        for pol in POLICIES:
            if pol not in agg:
                continue
            ns, m, b = agg[pol]
            ax.plot(ns, m, STYLE.get(pol, "-"), marker="o", ms=3, color=COLORS[pol],
                    label=LABELS[pol])
            ax.fill_between(ns, m - b, m + b, color=COLORS[pol], alpha=0.15, lw=0)
        ax.set_xlabel("number of UEs")
        ax.set_title(title)
        if metric != "weighted_reward":
            ax.set_yscale("log")
        else:
            ax.set_yscale("symlog", linthresh=10.0)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{fid.upper()[:3]}. {fid[3:]}: preset {preset!r} "
                 f"({pl.profile.name} profile, {pl.profile.seeds} seed(s))")
    img = _save(pl, fig, f"{fid}_{preset}.png")
    (pl.root / "data" / f"{fid}_{preset}_series.json").write_text(json.dumps(series, indent=2))

    mean = {p: float(np.mean(series["weighted_reward"][p]["mean"]))
            for p in series["weighted_reward"]}
    t = {p: float(np.mean(series["avg_time"][p]["mean"])) for p in series["avg_time"]}
    e = {p: float(np.mean(series["energy_per_task"][p]["mean"]))
         for p in series["energy_per_task"]}
    # per seed: the mean over the x-axis of the weighted reward; cost ratio to Search's
    per_seed = defaultdict(lambda: defaultdict(list))
    for r in rows:
        per_seed[r["policy"]][r["seed"]].append(r)
    seed_wr = {p: [float(np.mean([r["weighted_reward"] for r in v])) for v in d.values()]
               for p, d in per_seed.items()}
    offl = {p: float(np.mean([r["frac_edge"] + r["frac_cloud"] for r in rows
                              if r["policy"] == p])) for p in per_seed}
    search_cost = -mean["search"]

    def spread(p):
        v = seed_wr[p]
        return f"{min(v):.2f} .. {max(v):.2f}" if len(v) > 1 else ""

    table = _md_table(["policy", "avg time (s)", "energy/task (J)", "weighted reward",
                       "seeds (min .. max)", "cost / Search's", "offloaded"],
                      [[LABELS[p], t[p], e[p], mean[p], spread(p), -mean[p] / search_cost,
                        offl[p]] for p in POLICIES if p in mean])
    gap = abs(mean["dtac"] - mean["tac"]) / abs(mean["tac"])
    others = ("happo", "tl", "tl_transformer", "random")
    beaten = [LABELS[o] for o in others if mean["dtac"] > mean[o]]
    lost = [LABELS[o] for o in others if mean["dtac"] <= mean[o]]
    claims = [
        _claim("DTAC close to TAC (weighted reward within 10%)",
               "similar performance with local information only",
               f"DTAC {mean['dtac']:.2f} vs TAC {mean['tac']:.2f} ({100 * gap:.1f}% apart)",
               gap <= CLOSE),
        _claim("centralised TAC better than DTAC", "TAC better (needs global information)",
               f"TAC {mean['tac']:.2f}, DTAC {mean['dtac']:.2f}", mean["tac"] >= mean["dtac"]),
        _claim("DTAC better than HAPPO, TL, TL transformer and Random (weighted reward)",
               "DTAC outperforms every distributed baseline",
               "better than " + (", ".join(beaten) or "none")
               + ("; not better than " + ", ".join(lost) if lost else ""), not lost),
        _claim("DTAC's average time below TL's, TL transformer's and HAPPO's",
               "DTAC significantly outperforms TL, TL transformer and HAPPO in time",
               ", ".join(f"{LABELS[o]} {t[o]:.3g} s" for o in ("dtac", "tl", "tl_transformer",
                                                                "happo")),
               all(t["dtac"] < t[o] for o in ("tl", "tl_transformer", "happo"))),
    ]
    worst_seed = -min(seed_wr["tac"]) / -mean["tac"]
    claims.append(_claim("TAC learns to offload: cost within 2x Search's (aim 1.5x), at least 40% "
                         "of tasks offloaded, no seed above 1.5x the seeds' mean cost",
                         "(this project's target for the learned centralised policy)",
                         f"TAC cost {-mean['tac'] / search_cost:.2f}x Search's, "
                         f"{100 * offl['tac']:.0f}% offloaded, worst seed "
                         f"{worst_seed:.2f}x the mean",
                         -mean["tac"] <= 2 * search_cost and offl["tac"] >= 0.4
                         and worst_seed <= 1.5))
    if preset == "large":
        learned_worst = min(("tac", "dtac", "tl", "tl_transformer", "happo"), key=mean.get)
        claims.append(_claim("HAPPO the worst learned policy on the large area",
                             "HAPPO poorest, even worse than Random as UEs grow",
                             f"worst learned: {LABELS[learned_worst]} ({mean[learned_worst]:.2f});"
                             f" HAPPO {mean['happo']:.2f}, Random {mean['random']:.2f}",
                             learned_worst == "happo"))
    body = (f"Means over the x-axis ({', '.join(str(n) for n in series['avg_time']['tac']['n_ues'])}"
            f" UEs) and seeds; per-point numbers in `data/eval_{preset}.csv`.\n\n" + table)
    return save_section(pl, dict(id=fid, title=f"{fid.capitalize()}: performance on {preset!r}",
                                 images=[img], body=body, claims=claims))


# ---------------------------------------------------------------------- Figs. 8-9
def preferences(rows) -> dict[str, np.ndarray]:
    by = defaultdict(list)
    for r in rows:
        by[r["policy"]].append([r["frac_local"], r["frac_edge"], r["frac_cloud"]])
    return {p: np.mean(v, axis=0) for p, v in by.items()}


def fig_preferences(pl: Pipeline, preset: str) -> dict:
    fid = PREF_FIG.get(preset, "pref")
    rows = read_csv(pl.evaluate_preset(preset))
    pref = preferences(rows)
    pols = [p for p in POLICIES if p in pref]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 4))
    x = np.arange(len(pols))
    for i, (lab, col) in enumerate((("local", "tab:green"), ("edge", "tab:blue"),
                                    ("cloud", "tab:gray"))):
        ax.bar(x + (i - 1) * 0.27, [pref[p][i] for p in pols], 0.27, label=lab, color=col)
    ax.set_xticks(x, [LABELS[p] for p in pols], rotation=20)
    ax.set_ylabel("fraction of tasks")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(f"Offloading preference, preset {preset!r} ({pl.profile.name} profile)")
    img = _save(pl, fig, f"{fid}_{preset}.png")
    write_csv(pl.root / "data" / f"{fid}_{preset}_preferences.csv",
              [dict(policy=p, local=float(pref[p][0]), edge=float(pref[p][1]),
                    cloud=float(pref[p][2])) for p in pols])
    dist = {p: float(np.abs(pref[p] - pref["tac"]).sum()) for p in pols}
    distributed = ("dtac", "tl_transformer", "tl", "happo")
    closest = min(distributed, key=dist.get)
    claims = [
        _claim("DTAC's preference the closest to TAC's among the distributed methods",
               "DTAC learns offloading preferences similar to centralised TAC",
               ", ".join(f"{LABELS[p]} {dist[p]:.2f}" for p in distributed)
               + " (L1 distance to TAC)", closest == "dtac"),
        _claim("DTAC computes locally more often than TAC",
               "increased preference on local computation",
               f"local: DTAC {pref['dtac'][0]:.2f}, TAC {pref['tac'][0]:.2f}",
               pref["dtac"][0] > pref["tac"][0]),
    ]
    if preset == "medium":
        claims.append(_claim("HAPPO offloads most tasks to the edge",
                             "HAPPO stuck in a local optimum: most tasks to the edge",
                             f"HAPPO edge fraction {pref['happo'][1]:.2f}", pref["happo"][1] > 0.5))
    if preset == "large":
        claims.append(_claim("HAPPO prefers cloud or local over edge",
                             "HAPPO converges to offloading to the cloud or computing locally",
                             "HAPPO local/edge/cloud "
                             + "/".join(f"{v:.2f}" for v in pref["happo"]),
                             pref["happo"][1] < max(pref["happo"][0], pref["happo"][2])))
    table = _md_table(["policy", "local", "edge", "cloud", "L1 to TAC"],
                      [[LABELS[p], *map(float, pref[p]), dist[p]] for p in pols])
    return save_section(pl, dict(
        id=fid, title=f"{fid.capitalize()}: offloading preference on {preset!r}", images=[img],
        body="Fractions of tasks per target, averaged over the x-axis UE counts.\n\n" + table,
        claims=claims))


# ---------------------------------------------------------------------- Table III
def table_kl(pl: Pipeline, presets=KL_PRESETS) -> dict:
    rows, claims, all_rows = [], [], []
    for preset in presets:
        data = read_csv(pl.kl_table(preset))
        all_rows += data
        m = {p: (float(np.mean([r["kl_per_state"] for r in data if r["policy"] == p])),
                 float(np.mean([r["kl_preference"] for r in data if r["policy"] == p])),
                 float(np.mean([r["argmax_agreement"] for r in data if r["policy"] == p])))
             for p in ("tl_transformer", "dtac", "tl")}
        paper = PAPER_KL.get(preset, {})
        for p in ("tl_transformer", "dtac", "tl"):
            rows.append([preset, LABELS[p], paper.get(p, "-"), m[p][0], m[p][1], m[p][2]])
        claims.append(_claim(f"DTAC closer to TAC than TL transformer (KL, {preset})",
                             f"TL transformer {paper.get('tl_transformer')}, DTAC "
                             f"{paper.get('dtac')}",
                             f"TL transformer {m['tl_transformer'][0]:.3g}, DTAC "
                             f"{m['dtac'][0]:.3g} (per state)",
                             m["dtac"][0] < m["tl_transformer"][0]))
    header = ["area", "policy", "paper KL", "KL per state", "KL of preferences",
              "argmax agreement"]
    md = _md_table(header, rows)
    (pl.root / "table3_kl.md").write_text(md + "\n")
    write_csv(pl.root / "table3_kl.csv", [dict(zip(header, r)) for r in rows])
    body = ("KL(TAC || student) of the offloading probabilities on the states TAC visits in the "
            "evaluation episodes, averaged over real UEs and rounds; also between the aggregate "
            "local/edge/cloud preferences, and how often the executed targets agree. "
            "Files: `table3_kl.md`, `table3_kl.csv`.\n\n" + md)
    return save_section(pl, dict(id="table3", title="Table III: action similarity to TAC (KL)",
                                 images=[], body=body, claims=claims))


# ---------------------------------------------------------------------- Fig. 10
def curves(run_dir) -> tuple[np.ndarray, np.ndarray]:
    from dtac_jax.train import read_metrics
    rows = read_metrics(run_dir)
    seeds = sorted({r["seed"] for r in rows})
    obj = np.array([[r["objective"] for r in rows if r["seed"] == s] for s in seeds])
    return obj.mean(0), (obj.std(0) if len(seeds) > 1 else np.zeros(obj.shape[1]))


def fig_convergence(pl: Pipeline, preset: str = CONVERGENCE_PRESET) -> dict:
    pl.train_all(preset)
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    n95, rows = {}, []
    for ax, group, title in ((axes[0], ("tac", "happo"), "(a) centralised training"),
                             (axes[1], ("dtac", "tl_transformer", "tl"),
                              "(b) decentralised transfer")):
        for m in group:
            run = pl.run_dir(preset, m)
            mean, sd = curves(run)
            ep = np.arange(1, len(mean) + 1)
            ax.plot(ep, mean, color=COLORS[m], label=LABELS[m])
            ax.fill_between(ep, mean - sd, mean + sd, color=COLORS[m], alpha=0.15, lw=0)
            n95[m] = episodes_to_95(run)
            rows += [dict(method=m, episode=int(e), objective=float(v), std=float(s))
                     for e, v, s in zip(ep, mean, sd)]
        ax.set_yscale("log")
        ax.set_xlabel("training episode")
        ax.set_ylabel("objective per round (lower is better)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"Fig. 10: convergence on {preset!r} ({pl.profile.name} profile)")
    img = _save(pl, fig, f"fig10_{preset}.png")
    write_csv(pl.root / "data" / f"fig10_{preset}_curves.csv", rows)
    final = {m: float(np.median(curves(pl.run_dir(preset, m))[0][-max(1, n95[m][1] // 10):]))
             for m in n95}
    table = _md_table(["method", "episodes to 95% of final", "episodes trained",
                       "final objective"],
                      [[LABELS[m], n95[m][0], n95[m][1], final[m]] for m in n95])
    save_tac = 1 - n95["tac"][0] / max(n95["happo"][0], 1)
    save_dtac = 1 - n95["dtac"][0] / max(n95["tl_transformer"][0], 1)
    claims = [
        _claim("TAC needs fewer training episodes than HAPPO and reaches a better objective",
               "TAC saves 73% of HAPPO's training episodes",
               f"TAC {n95['tac'][0]} vs HAPPO {n95['happo'][0]} episodes to 95% "
               f"({100 * save_tac:.0f}% fewer); final objective TAC {final['tac']:.3g}, "
               f"HAPPO {final['happo']:.3g}",
               save_tac > 0 and final["tac"] < final["happo"]),
        _claim("DTAC's transfer converges in fewer episodes than TL transformer's",
               "DTAC saves 78% of TL transformer's episodes",
               f"DTAC {n95['dtac'][0]} vs TL transformer {n95['tl_transformer'][0]} "
               f"({100 * save_dtac:.0f}% fewer)", save_dtac > 0),
    ]
    body = ("Objective per round of every method's deterministic policy after each training "
            "episode's updates, in the real simulator: TAC and the transfers on their run's "
            "fixed validation episodes (`eval_envs` x `eval_rounds`, drawn once per run), "
            "HAPPO on `eval_envs` fresh episodes of `rollout` rounds per iteration (its "
            "stochastic rollout cost is in its `metrics.jsonl` as `rollout_objective`); the "
            "final objective is the median of the last 10% of episodes. Episodes differ in "
            "content between TAC (its recipe's rollout and updates, docs/algorithms.md), the "
            "transfers (a teacher rollout and 20 updates on replayed rounds) and HAPPO (one "
            "on-policy rollout and PPO epochs). Curves in `data/fig10_" + preset
            + "_curves.csv`.\n\n" + table)
    return save_section(pl, dict(id="fig10", title=f"Fig. 10: convergence on {preset!r}",
                                 images=[img], body=body, claims=claims))


# ---------------------------------------------------------------------- Fig. 11
def fig_generalization(pl: Pipeline) -> dict:
    src, dst = GENERALIZATION
    rows = read_csv(pl.evaluate_generalization())
    agg = aggregate(rows, "weighted_reward")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for pol in ("tac", "dtac", "dtac_inexperienced", "random"):
        ns, m, b = agg[pol]
        ax.plot(ns, m, "--" if pol == "dtac_inexperienced" else "-", marker="o", ms=3,
                color=COLORS[pol], label=f"{LABELS[pol]} (trained on {dst})" if pol in ("tac", "dtac")
                else LABELS[pol])
        ax.fill_between(ns, m - b, m + b, color=COLORS[pol], alpha=0.15, lw=0)
    ax.set_yscale("symlog", linthresh=10.0)
    ax.set_xlabel("number of UEs")
    ax.set_ylabel("weighted reward")
    ax.set_title(f"Fig. 11: DTAC trained on {src!r}, evaluated on {dst!r}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    img = _save(pl, fig, "fig11_generalization.png")
    ns = agg["dtac"][0]
    inexp, trained = agg["dtac_inexperienced"][1], agg["dtac"][1]
    gap = abs(inexp.mean() - trained.mean()) / abs(trained.mean())
    table = _md_table(["UEs", f"DTAC trained on {dst}", f"DTAC trained on {src}", "TAC", "Random"],
                      [[int(n), float(trained[i]), float(inexp[i]), float(agg["tac"][1][i]),
                        float(agg["random"][1][i])] for i, n in enumerate(ns)])
    claims = [
        _claim("inexperienced DTAC close to the DTAC trained on the scenario (within 10%)",
               "differs only marginally", f"{inexp.mean():.2f} vs {trained.mean():.2f} "
               f"({100 * gap:.1f}% apart, mean over the x-axis)", gap <= CLOSE),
        _claim("inexperienced DTAC at least as good with the fewest UEs",
               "even better when fewer than 30 UEs",
               f"{int(ns[0])} UEs: {inexp[0]:.2f} vs {trained[0]:.2f}", inexp[0] >= trained[0]),
    ]
    return save_section(pl, dict(id="fig11", title="Fig. 11: generalization", images=[img],
                                 body="Weighted reward on the large area.\n\n" + table,
                                 claims=claims))


# ---------------------------------------------------------------------- Table IV
def table_complexity(pl: Pipeline) -> dict:
    import jax

    from dtac_jax.algos.happo import GRUPolicy, HAPPOConfig, LOCAL_DIM, ValueNet
    from dtac_jax.nets.transformer import NetConfig, complexity, param_count
    from dtac_jax.env import make_params, make_scenario

    params = make_params(make_scenario("small"))
    n = params.n_max
    c = complexity(NetConfig(), n=n)
    rows = [["DTAC actor", c["actor_params"], c["actor_identity_flops_per_ue"], "8.17k"],
            ["DTAC / TAC critic", c["critic_params"], c["critic_full_flops_per_ue"], "8.52k"],
            ["TAC actor (full attention)", c["actor_params"], c["actor_full_flops_per_ue"], "-"]]
    happo = {}
    for label, hcfg in (("HAPPO 128x128 (reference)", HAPPOConfig()),
                        ("HAPPO 64x64 (quick)", HAPPOConfig.quick())):
        pol = GRUPolicy(hcfg.hidden, params.l_channels)
        h0 = jax.numpy.zeros((hcfg.hidden[1],))
        x0 = jax.numpy.zeros((LOCAL_DIM,))
        ap = pol.init(jax.random.PRNGKey(0), h0, x0)
        a_cost = jax.jit(pol.apply).lower(ap, h0, x0).compile().cost_analysis()
        a_cost = a_cost[0] if isinstance(a_cost, (list, tuple)) else a_cost
        vn = ValueNet(hcfg.hidden)
        g0 = jax.numpy.zeros((LOCAL_DIM * n,))
        vp = vn.init(jax.random.PRNGKey(0), g0)
        v_cost = jax.jit(vn.apply).lower(vp, g0).compile().cost_analysis()
        v_cost = v_cost[0] if isinstance(v_cost, (list, tuple)) else v_cost
        happo[label] = (param_count(ap) * n, param_count(vp))
        rows.append([f"{label} actor, {n} agent slots", param_count(ap) * n,
                     float(a_cost.get("flops", np.nan)),
                     "799k" if "reference" in label else "-"])
        rows.append([f"{label} critic", param_count(vp), float(v_cost.get("flops", np.nan)) / n,
                     "1436k" if "reference" in label else "-"])
    header = ["network", "parameters", "FLOPs per UE (XLA cost analysis)", "paper params"]
    md = _md_table(header, rows)
    (pl.root / "table4_complexity.md").write_text(md + "\n")
    write_csv(pl.root / "table4_complexity.csv", [dict(zip(header, r)) for r in rows])
    ref = happo["HAPPO 128x128 (reference)"]
    claims = [
        _claim("DTAC actor and critic near 8k parameters each", "8.17k and 8.52k",
               f"{c['actor_params']:,} and {c['critic_params']:,}",
               abs(c["actor_params"] / 8170 - 1) < 0.2 and abs(c["critic_params"] / 8520 - 1) < 0.2),
        _claim("HAPPO's actor far larger than DTAC's (over 10x)", "799k vs 8.17k",
               f"{ref[0]:,} vs {c['actor_params']:,} ({n} slots, preset small)",
               ref[0] > 10 * c["actor_params"]),
        _claim("HAPPO's critic larger than DTAC's", "1436k vs 8.52k",
               f"{ref[1]:,} vs {c['critic_params']:,} (input: {LOCAL_DIM} x {n} = "
               f"{LOCAL_DIM * n} features)", ref[1] > c["critic_params"]),
    ]
    body = (f"N = {n} UE slots (preset small). The transformer's FLOPs per UE are one joint "
            "forward pass divided by N; HAPPO's actor runs once per UE. Files: "
            "`table4_complexity.md`, `table4_complexity.csv`.\n\n" + md)
    return save_section(pl, dict(id="table4", title="Table IV: complexity", images=[],
                                 body=body, claims=claims))


# ---------------------------------------------------------------------- registry
FIGURES = {
    "fig5": lambda pl: fig_performance(pl, "small"),
    "fig6": lambda pl: fig_performance(pl, "medium"),
    "fig7": lambda pl: fig_performance(pl, "large"),
    "fig8": lambda pl: fig_preferences(pl, "medium"),
    "fig9": lambda pl: fig_preferences(pl, "large"),
    "table3": table_kl,
    "fig10": fig_convergence,
    "fig11": fig_generalization,
    "table4": table_complexity,
}
# presets each figure needs
NEEDS = {"fig5": {"small"}, "fig6": {"medium"}, "fig7": {"large"}, "fig8": {"medium"},
         "fig9": {"large"}, "table3": set(KL_PRESETS), "fig10": {CONVERGENCE_PRESET},
         "fig11": set(GENERALIZATION), "table4": set()}
GROUPS = {"fig5_7": ("fig5", "fig6", "fig7"), "fig8_9": ("fig8", "fig9")}
