"""``dtac reproduce``: the figures asked for, in the paper's order, then ``REPORT.md``
(:func:`reproduce`); the command's options (:func:`add_arguments`)."""
from __future__ import annotations

from pathlib import Path

from dtac_jax import runfolder
from dtac_jax.reproduce import figures as F
from dtac_jax.reproduce.figures import ORDER, TITLES
from dtac_jax.reproduce.pipeline import Pipeline
from dtac_jax.reproduce.profiles import PRESETS, Profile, get_profile
from dtac_jax.reproduce.report import write_report


def parse_only(only: str | None) -> list[str]:
    if not only:
        return list(ORDER)
    out = []
    for item in only.split(","):
        item = item.strip().lower().replace("_performance", "").replace("_preferences", "")
        item = {"table3_similarity": "table3", "fig10_convergence": "fig10",
                "fig11_generalization": "fig11", "table4_complexity": "table4"}.get(item, item)
        if item in F.GROUPS:
            out += F.GROUPS[item]
        elif item in ORDER:
            out.append(item)
        else:
            raise ValueError(f"unknown figure {item!r} (known: {', '.join(ORDER)}, fig5_7, "
                             f"fig8_9)")
    return [f for f in ORDER if f in out]


def _root(args: dict) -> Path:
    """The folder :func:`reproduce` writes, ``out/<profile name>``, from its arguments."""
    prof = args["profile"]
    return Path(args["out"]) / (get_profile(prof).name if isinstance(prof, str) else prof.name)


@runfolder.one_writer(_root)   # one reproduction per results folder
def reproduce(profile: str | Profile = "quick", only: str | None = None, out="results",
              force: bool = False, presets: str | None = None, progress: bool = True,
              log=print, log_to=()) -> Path:
    """Regenerate the figures in ``only`` (default all) and rewrite ``REPORT.md``; returns
    its path. ``profile`` is a profile's name or a :class:`Profile` (e.g. one with fields
    overridden); results go to ``out/<profile.name>``. ``presets`` restricts the presets
    trained (figures needing others are skipped and say so). ``log_to`` names experiment
    loggers (:mod:`dtac_jax.loggers`) for every training run."""
    prof = get_profile(profile) if isinstance(profile, str) else profile
    allowed = set(PRESETS) if not presets else set(presets.split(","))
    bad = allowed - set(PRESETS)
    if bad:
        raise ValueError(f"unknown preset(s) {', '.join(sorted(bad))} "
                         f"(known: {', '.join(PRESETS)})")
    figs = parse_only(only)
    runfolder.claim(Path(out) / prof.name)
    pl = Pipeline(prof, out=out, force=force, log=log, progress=progress, log_to=log_to)
    log(f"dtac reproduce: profile {prof.name!r}, figures {', '.join(figs)}, presets "
        f"{', '.join(p for p in PRESETS if p in allowed)} -> {pl.root}")
    for i, fid in enumerate(figs, 1):
        need = set(F.NEEDS[fid])
        if fid == "table3":   # on the presets at hand when Table III's areas are left out
            need = need & allowed or allowed
        if fid == "fig10" and F.CONVERGENCE_PRESET not in allowed and allowed:
            need = {sorted(allowed, key=PRESETS.index)[-1]}
        if not need <= allowed:
            sec = dict(id=fid, title=TITLES[fid], images=[], claims=[],
                       body=f"Not run: needs preset(s) {', '.join(sorted(need))}, outside "
                            f"--presets {presets}.", skipped=True)
            F.save_section(pl, sec)
            log(f"== [{i}/{len(figs)}] {TITLES[fid]}: skipped (needs {', '.join(sorted(need))})")
            continue
        log(f"== [{i}/{len(figs)}] {TITLES[fid]}  (elapsed {pl.elapsed()})")
        if fid == "table3":
            F.table_kl(pl, sorted(need, key=PRESETS.index))
        elif fid == "fig10":
            F.fig_convergence(pl, next(iter(need)))
        else:
            F.FIGURES[fid](pl)
    path = write_report(pl)
    log(f"report: {path}  (total {pl.elapsed()})")
    return path


def add_arguments(ap):
    """The options of ``dtac reproduce``."""
    from dtac_jax.reproduce.profiles import PROFILES
    ap.add_argument("--profile", default="quick", choices=tuple(PROFILES),
                    help="quick (CPU, ~40 minutes on 2 cores), paper (the paper's settings; "
                         "GPU), full (paper scale, the project's recipes; GPU), tiny")
    ap.add_argument("--only", default=None,
                    help="comma-separated figures: fig5..fig11, fig5_7, fig8_9, table3, table4")
    ap.add_argument("--presets", default=None, help="restrict training to these presets")
    ap.add_argument("--out", default="results", help="results root (default results/)")
    ap.add_argument("--force", action="store_true", help="retrain and recompute every stage")
    ap.add_argument("--no-progress", action="store_true")
