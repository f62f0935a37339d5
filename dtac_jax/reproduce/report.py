"""``REPORT.md``: the report's assembly from the figures' sections, the claim checks and the
run records (:func:`write_report`)."""
from __future__ import annotations

import functools
import json
import platform
import time
from pathlib import Path
from typing import Any, Callable

from dtac_jax.algos.happo import HAPPOConfig
from dtac_jax.algos.tac import RECIPES, TACConfig, recipe
from dtac_jax.reproduce import figures as F
from dtac_jax.reproduce.claims import MARGIN_RULE, PAPER_CLAIMS, UNJUDGED, verdict, word
from dtac_jax.reproduce.figures import ORDER, TITLES
from dtac_jax.algos import registry
from dtac_jax.atomic import write_atomic
from dtac_jax.reproduce.pipeline import Pipeline, code_fingerprint, learned
from dtac_jax.reproduce.profiles import PRESETS


def claims_summary(secs: dict) -> list[str]:
    """The "Claims" section: each of the paper's claims (C1-C11) and the project's targets
    (P1, P2) in the paper's words, then its checks with our numbers, the threshold and the
    verdict, and the counts of each verdict; then the statements no check judges. A claim
    holds when every check of it holds, fails when one fails, and cannot be judged
    otherwise."""
    checks: dict[str, list] = {cid: [] for cid in PAPER_CLAIMS}
    for fid, sec in secs.items():
        for c in sec["claims"]:
            checks.setdefault(c.get("cid", "?"), []).append((fid, c))
    def count(ids):
        cs = [c for cid in ids for _, c in checks[cid]]
        judged = [c for c in cs if c["holds"] is not None]
        return sum(c["holds"] for c in judged), len(judged), len(cs) - len(judged)

    def whole_verdict(cs):   # fails when any check fails; open when any cannot be judged
        verdicts = [c["holds"] for _, c in cs]
        if not cs or None in verdicts and False not in verdicts:
            return None
        return all(verdicts)

    whole = {cid: whole_verdict(cs) for cid, cs in checks.items()}
    paper_ids = [cid for cid in checks if cid.startswith("C")]
    own_ids = [cid for cid in checks if not cid.startswith("C")]
    held = [cid for cid in paper_ids if whole[cid]]
    n_hold, n_judged, n_open = count(paper_ids)
    o_hold, o_judged, _ = count(own_ids)
    failed = [cid for cid in paper_ids if whole[cid] is False]
    unchecked = [cid for cid in paper_ids if not checks[cid]]
    open_ = [cid for cid in paper_ids if whole[cid] is None and checks[cid]]
    lines = ["## Claims", "",
             f"**{n_hold} of {n_judged} judged checks of the paper's claims hold**, "
             f"{n_judged - n_hold} do not, and {n_open} cannot be judged (each says why). Of "
             f"the claims {paper_ids[0]}-{paper_ids[-1]}, **{len(held)} of {len(paper_ids)} "
             f"hold** in every check ({', '.join(held) or 'none'}), {len(failed)} fail in at "
             f"least one check, and {len(open_)} have a check that cannot be judged and none "
             f"that fails. This project's own targets ({', '.join(own_ids)}): {o_hold} of "
             f"{o_judged} checks hold."
             + (f" Not checked in this folder: {', '.join(unchecked)}." if unchecked else "")
             + " Each check states the threshold its verdict uses; a claim with no numbers in "
             "the paper is judged by the comparison it states. An ordering (better, lower, "
             f"outperforms) holds only {MARGIN_RULE}: the seeds of one TAC run and its "
             "transfers are paired by TAC seed, independent runs are compared as independent "
             "samples (every cross pair), and a reference without seeds (Random, the "
             "heuristics, Search) is a constant. A margin is in the favour of the method named "
             "first.", ""]
    for cid, cs in checks.items():
        text, words = PAPER_CLAIMS.get(cid, ("(unlisted)", ""))
        lines += [f"### {cid}: {text} — {word(whole[cid]) if cs else 'not checked here'}",
                  "", f"Paper: {words}", ""]
        if not cs:
            lines += ["No figure of this report checks it (not produced yet).", ""]
            continue
        lines += ["| figure | check | paper | ours | threshold | verdict |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {fid} | {c['claim']} | {c['paper']} | {c['ours']} | "
                  f"{c.get('threshold', '-')} | {verdict(c)} |" for fid, c in cs]
        lines.append("")
    lines += ["### Statements of the paper's results not judged", "",
              "| where | the paper's words | why no check judges it |", "|---|---|---|"]
    lines += [f"| {where} | {words} | {why} |" for where, words, why in UNJUDGED]
    return lines + [""]


def factory_name(cfg: Any, factories: dict[str, Callable[..., Any]]) -> str | None:
    """The name in ``factories`` of the factory that builds ``cfg`` at its iteration count,
    or None when none does (a profile's own settings)."""
    for name, make in factories.items():
        if make(iterations=cfg.iterations) == cfg:
            return name
    return None


def tac_recipe_name(cfg: TACConfig) -> str | None:
    """The :func:`dtac_jax.algos.tac.recipe` that ``cfg`` is (at its iteration count), or
    None."""
    return factory_name(cfg, {r: functools.partial(recipe, r) for r in RECIPES})


def happo_factory_name(cfg: HAPPOConfig) -> str | None:
    """``quick`` or ``paper`` when ``cfg`` is that :class:`HAPPOConfig` factory's, or None."""
    return factory_name(cfg, {"quick": HAPPOConfig.quick, "paper": HAPPOConfig.paper})


def settings_table(pl: Pipeline, preset: str = "large") -> list[str]:
    """The profile's training settings per learned method, with the budgets on ``preset`` in
    the comparison's units."""
    budgets = F.training_budgets(pl, preset)
    tac, happo = pl.config("tac"), pl.config("happo")
    tac_name, happo_name = tac_recipe_name(tac), happo_factory_name(happo)
    tac_label = f"recipe `{tac_name}`" if tac_name else "own settings"
    happo_label = f"`HAPPOConfig.{happo_name}`" if happo_name else "own settings"
    rounds = pl.train_scenario(preset).rounds
    desc = {"tac": f"{tac_label}: {tac.estimator} estimator, lr actor "
                   f"{tac.lr_actor:g} / critic {tac.lr_critic:g}, {tac.collect.envs} envs x "
                   f"{tac.collect.rounds} rounds per iteration",
            "happo": f"{happo_label}: {happo.policy} actor "
                     f"{'shared' if happo.share_param else 'per slot'} "
                     f"{'x'.join(map(str, happo.hidden))}, lr {happo.lr_actor:g}, "
                     f"{happo.envs} envs x "
                     f"{happo.rollout} rounds per iteration, {happo.epochs} epochs"}
    desc.update({m: f"loss `{c.loss}`, {c.student} student, lr {c.lr_actor:g}, "
                    f"{c.collect.envs} envs "
                    f"x {c.collect.rounds} rounds, {c.updates} updates per iteration"
                 for m, c in ((m, pl.config(m)) for m in learned())
                 if registry.get(m).kind == "transfer"})
    lines = ["## Training settings", "",
             f"Training environment episodes of {rounds} rounds; every method validated after "
             f"each training iteration on fixed episodes drawn once per seed "
             f"({F.validation_sizes(pl)})"
             f" and delivering its validation-best parameters. Budgets on `{preset}` "
             "(UE-rounds at its mean UE count).", "", train_counts_line(pl), "",
             "| method | settings | iterations | UE-rounds | actor steps | critic steps |",
             "|---|---|---:|---:|---:|---:|"]
    for m in learned():
        b = budgets[m]
        settings = desc.get(m, f"`{type(pl.config(m)).__name__}`")
        lines.append(f"| {F.label(m)} | {settings} | {b['iterations']} | {b['ue_rounds']:.3g} | "
                     f"{b['actor_steps']} | {b['critic_steps']} |")
    return lines + [""]


def train_counts_line(pl: Pipeline) -> str:
    """Which UE counts each preset's learned methods train on, in words."""
    spec = {p: pl.profile.train_ue_counts.get(p) for p in PRESETS}
    if not any(spec.values()):
        return ("Training UE counts: each edge's count drawn uniformly in the preset's "
                "`[ue_min, ue_max]` at every reset (the system model).")
    per = ", ".join(f"{p} `{s}`" if s else f"{p} the scenario's draw" for p, s in spec.items())
    own = [F.label(m) for m in learned()
           if any(s and pl.train_ue_counts(m, p) is None for p, s in spec.items())]
    but = f" but {', '.join(own)}, which train on their own" if own else ""
    return (f"Training UE counts (`Profile.train_ue_counts`, every learned method{but}): "
            f"{per}. `level(lo=n, jitter=j)` draws a load level per environment episode "
            "uniformly in `[n, ue_max]` and each edge's count within `j` (default 1) of it, "
            "so training covers the figures' x-axes, where every edge has the same count "
            "(docs/algorithms.md, \"Training UE counts\"); validation and evaluation use the "
            "scenario's simulator (validation its uniform draw per edge, evaluation the "
            "x-axis counts).")


def signals(pl: Pipeline) -> str:
    """Which signal trains what, in words, for the report's header: read from the configs the
    pipeline trains each method with (the profile's, the registry entry's fixed fields and the
    profile's own fields for the method)."""
    tac = pl.config("tac")
    tr = pl.config("dtac")
    sees = {"executed": "the executed decisions", "probs": "the actor's probabilities (with "
            "their exploration noise)"}[tac.critic_input]
    if tac.estimator == "ppo" and tac.ppo.credit == "difference":
        source = {"critic": "answered by the learned critic (its what-ifs asked exactly)",
                  "critic_linear": "answered by the learned critic to first order",
                  "simulator": "answered by the simulator's own cost function (model-based: "
                               "information the paper's method does not have)"}[
            tac.ppo.credit_source]
        horizon = (f", counting the critic's estimate of the next {tac.ppo.horizon} rounds"
                   if tac.ppo.horizon else ", one round at a time")
        text = ("TAC's actor is trained by a clipped stochastic policy gradient with per-UE "
                f"difference credit {source}{horizon}; the critic learns the per-UE costs of "
                f"{sees} (eq. 18).")
    elif tac.estimator == "ppo":
        text = ("TAC's actor is trained by a clipped stochastic policy gradient with the GAE "
                "of the shared reward against a learned state value; the critic learns the "
                f"per-UE costs of {sees} (eq. 18).")
    else:
        text = ("TAC's actor is trained through its critic (eq. 19), the critic on the "
                f"per-UE costs of {sees} (eq. 18).")
    how = (", differentiated through the critic's exact per-UE what-ifs"
           if tr.loss == "critic" and tac.critic_input == "executed"
           and tr.critic_gradient == "what_if" else "")
    dtac = (f"DTAC's student is fine-tuned through the frozen TAC critic (eq. 22{how})"
            if tr.loss == "critic" else f"DTAC's student imitates TAC (loss `{tr.loss}`)")
    extra = [f"{tr.anchor_weight:g} x the MSE to TAC's actions (eq. 26)" if tr.anchor_weight
             else "", f"{tr.trust_weight:g} x KL(TAC || student)" if tr.trust_weight else ""]
    extra = [e for e in extra if e]
    dtac += (" plus " + " and ".join(extra) if extra else " alone, with no imitation term")
    return (text + " " + dtac + "; TL transformer and TL imitate TAC (eq. 26). "
            "docs/algorithms.md lists the deviations from the paper and the measurements "
            "behind them.")


def fingerprints(pl: Pipeline) -> str:
    """Which code made the cached stages (:func:`pipeline.code_fingerprint`), against this
    checkout's, in words for the report's header."""
    made = set()
    for f in (pl.root / "stages").glob("*.json"):
        made.add(json.loads(f.read_text()).get("code", "unrecorded"))
    here = code_fingerprint()
    if made <= {here}:
        return f"Training and evaluation code fingerprint `{here}` (this checkout's)."
    return ("The stages were made by training and evaluation code "
            f"{', '.join(f'`{c}`' for c in sorted(made))}; this checkout's is `{here}`: the "
            "numbers may differ from what it trains (`--force` reruns every stage).")


def write_report(pl: Pipeline) -> Path:
    secs = {}
    for fid in ORDER:
        p = pl.root / "sections" / f"{fid}.json"
        if p.exists():
            secs[fid] = json.loads(p.read_text())
    prof = pl.profile
    tac_name = tac_recipe_name(prof.tac)
    walls = {}
    for f in sorted((pl.root / "stages").glob("*.json")):
        walls[f.stem.replace("__", ":")] = json.loads(f.read_text())["result"].get("wall_s")
    import jax
    lines = [f"# DTAC reproduction report — profile `{prof.name}`", "",
             f"Generated {time.strftime('%Y-%m-%d %H:%M')} on {platform.node() or 'this machine'}"
             f" ({jax.default_backend()}: {jax.devices()[0].device_kind}, "
             f"{jax.device_count()} device(s)). Profile: {prof.seeds} seed(s); TAC "
             f"{prof.tac.iterations}, transfers {prof.transfer.iterations}, HAPPO "
             f"{prof.happo.iterations} training iterations; {prof.eval_episodes} evaluation "
             f"episodes of {prof.eval_rounds or 50} rounds per point, the same for every "
             f"policy. Stage wall times add up to {sum(v or 0 for v in walls.values()):.0f} s "
             f"(`stages/`). {fingerprints(pl)}", "",
             (f"TAC recipe `{tac_name}` (`dtac_jax.algos.tac.recipe`). " if tac_name
              else "TAC: the profile's own settings. ")
             + signals(pl) + " ", ""]
    if prof.name != "paper":
        lines += [f"The `{prof.name}` profile trains for far fewer iterations than the "
                  "paper's training episodes and evaluates fewer UE counts; verdicts below are "
                  "for these numbers, not a final word on the paper's claims (`dtac reproduce "
                  "--profile paper` on a GPU).", ""]
    lines += settings_table(pl) + claims_summary(secs)
    missing = [f for f in ORDER if f not in secs or secs[f].get("skipped")]
    if missing:
        lines += ["", f"Not produced in this folder yet: {', '.join(missing)}."]
    for fid in ORDER:
        s = secs.get(fid)
        lines += ["", f"## {s['title'] if s else TITLES[fid]}", ""]
        if s is None:
            lines.append(f"Not run yet: `dtac reproduce --profile {prof.name} --only {fid}`.")
            continue
        for img in s["images"]:
            lines += [f"![{fid}]({img})", ""]
        lines.append(s["body"])
        if s["claims"]:
            lines += ["", "Claims:", ""]
            for c in s["claims"]:
                lines.append(f"- {c.get('cid', '')} *{c['claim']}* — paper: {c['paper']}; "
                             f"ours: {c['ours']}; threshold: {c.get('threshold', '-')}. "
                             f"**{verdict(c).replace('**', '')}**.")
    return write_atomic(pl.root / "REPORT.md", "\n".join(lines) + "\n")
