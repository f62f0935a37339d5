"""``dtac sweep``: a grid over TAC hyper-parameters x seeds, a results table and plots.

Grid points that differ only in continuous hyper-parameters (:data:`CONTINUOUS`: learning
rates, exploration noise, entropy weight) form a group that trains as one TAC run: its points
x seeds are the members of one vmapped, compiled program (the values are part of the state,
:data:`dtac_jax.algos.tac.HYPER`), in one run folder ``<shared values>__vmap<P>_<hash>``
whose ``config.json`` lists the points under ``sweep`` (member ``m`` is point
``m // seeds``, seed ``m % seeds``). A point alone in its group (or every point, with
``vmap_hyper=False``) is a TAC run folder ``<name>=<value>__...`` trained by
:func:`dtac_jax.runs.train` (``"tac"``) with its seeds vmapped. Either way, seed ``s`` of a point
starts from the same key, so a member computes what the point trained alone does (up to
float round-off). Seeds (and members) are split over the devices when there are several.

After training, every member's best actor is evaluated on the same evaluation episodes
(:func:`dtac_jax.evaluate.evaluate_stacked`, one program for all members). ``sweep.csv`` gets
one row per grid point and seed; ``plot_<param>.png`` shows the objectives against each swept
parameter. Re-running the same command skips the finished points (listed in ``done.json`` of
the folder that trained them) and resumes an interrupted run from its checkpoint; adding
values to a grid runs only the new points.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import itertools
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from dtac_jax import runfolder
from dtac_jax.atomic import write_atomic, write_csv_atomic
from dtac_jax.config import Config, resumable

#: name -> (type, help). ``lr`` sets both learning rates.
PARAMS: dict[str, tuple[type, str]] = {
    "lr_actor": (float, "actor learning rate"),
    "lr_critic": (float, "critic learning rate"),
    "lr": (float, "both learning rates"),
    "noise_var": (float, "initial exploration noise variance"),
    "noise_decay": (float, "exploration noise decay per iteration"),
    "entropy_weight": (float, "entropy weight w_s"),
    "updates": (int, "updates per iteration"),
    "batch_size": (int, "joint rounds per update"),
    "ues_per_edge": (int, "fixed UE count per edge (training and evaluation)"),
    "preset": (str, "scenario preset"),
    "iterations": (int, "training iterations"),
}

#: former parameter names -> current ones (the config fields' names)
RENAMED = {"actor_lr": "lr_actor", "critic_lr": "lr_critic", "episodes": "iterations"}

#: parameters that are values in the TAC state, not constants of the compiled program: points
#: that differ only in these train vmapped in one program
CONTINUOUS = ("lr_actor", "lr_critic", "lr", "noise_var", "noise_decay", "entropy_weight")

# train_s: wall time of the run that trained the point (a group's, for all its members);
# run: that run's folder under the sweep's
COLUMNS = ["point", "seed_index", "seed", "preset", "iterations", "final_objective",
           "eval_objective", "eval_weighted_reward", "eval_avg_time", "eval_energy_per_task",
           "train_s", "run"]
#: former names of :data:`COLUMNS` -> current ones: a sweep folder whose table and records use
#: them continues, read in the current spelling (a folder whose grid swept a parameter by a
#: former name is refused: its columns and point folders carry that name)
FORMER_COLUMNS = {"episodes": "iterations"}


def parse_grid(specs: list[str]) -> dict[str, list]:
    """``["lr_actor=1e-3,3e-4", "preset=small,medium"]`` -> ``{"lr_actor": [1e-3, 3e-4], ...}``
    (in the order given). One-line ``ValueError`` for unknown names or bad values; a former
    name (:data:`RENAMED`) is read as its current one with one line on stderr."""
    grid: dict[str, list] = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip()
        if name in RENAMED:
            print(f"dtac sweep: --grid {name} is deprecated: it is read as {RENAMED[name]}",
                  file=sys.stderr)
            name = RENAMED[name]
        if not sep or not values.strip():
            raise ValueError(f"bad --grid {spec!r}: expected NAME=V1,V2,... "
                             f"(valid names: {', '.join(PARAMS)})")
        if name not in PARAMS:
            raise ValueError(f"unknown sweep parameter {name!r} (valid: {', '.join(PARAMS)})")
        if name in grid:
            raise ValueError(f"--grid {name} given twice")
        kind = PARAMS[name][0]
        out = []
        for v in values.split(","):
            v = v.strip()
            try:
                out.append(kind(float(v)) if kind is int and float(v).is_integer() else kind(v))
            except ValueError:
                raise ValueError(f"--grid {name}: {v!r} is not a valid {kind.__name__}") from None
        if len(set(out)) != len(out):
            raise ValueError(f"--grid {name}: repeated value")
        grid[name] = out
    if "lr" in grid and ({"lr_actor", "lr_critic"} & set(grid)):
        raise ValueError("--grid lr sets both learning rates: do not combine it with "
                         "lr_actor / lr_critic")
    return grid


def point_name(point: dict) -> str:
    return "__".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in point.items()) or "base"


@dataclasses.dataclass(frozen=True)
class SweepBase(Config):
    """Settings shared by every grid point (a grid parameter overrides its field). Each point
    trains the TAC ``recipe`` (:func:`dtac_jax.algos.tac.recipe`) with the fields of ``tac``
    on top, on the ``preset`` with the fields of ``scenario`` on top; TAC's and the scenario's
    settings are theirs alone (``--set tac.collect.envs=64 --set scenario.rounds=20``)."""

    RENAMED = {"episodes": "iterations"}

    preset: str = "small"
    iterations: int = 20               # training iterations of each point (the recipe's count
                                       # is a reproduction's; a sweep sets its own)
    recipe: str = "default"
    seeds: int = 2
    seed: int = 0
    chunk: int = 10
    eval_episodes: int = 16            # the final evaluation's episodes
    eval_seed: int = 12345
    # TACConfig and Scenario fields set on top of the recipe and the preset (nested configs as
    # dicts), e.g. ``--set tac.net.d_model=64 --set scenario.l_channels=6``
    tac: dict[str, Any] = dataclasses.field(default_factory=dict)
    scenario: dict[str, Any] = dataclasses.field(default_factory=dict)


def _build(base: SweepBase, point: dict):
    """``(scenario, TACConfig)`` of one grid point."""
    from dtac_jax.algos.tac import recipe
    from dtac_jax.env import make_scenario

    p = dict(point)
    scn = make_scenario(p.get("preset", base.preset), **base.scenario)
    if "ues_per_edge" in p:
        scn = scn.with_fixed_ues(p["ues_per_edge"])
    d = recipe(base.recipe).replace(**base.tac)
    collect = dict(noise_var=p.get("noise_var", d.collect.noise_var),
                   noise_decay=p.get("noise_decay", d.collect.noise_decay))
    batch = p.get("batch_size", d.batch_size)
    cfg = d.replace(iterations=p.get("iterations", base.iterations),
                    updates=p.get("updates", d.updates), batch_size=batch,
                    buffer_size=max(d.buffer_size, batch),
                    lr_actor=p.get("lr_actor", p.get("lr", d.lr_actor)),
                    lr_critic=p.get("lr_critic", p.get("lr", d.lr_critic)),
                    entropy_weight=p.get("entropy_weight", d.entropy_weight), collect=collect)
    return scn, cfg


def groups(grid: dict[str, list], points: list[dict]) -> list[tuple[dict, list[dict]]]:
    """``[(shared, points)]``: the points grouped by their values of the grid's parameters
    that are not :data:`CONTINUOUS` (``shared``), in the order of first appearance."""
    out: dict[tuple, tuple[dict, list[dict]]] = {}
    for pt in points:
        shared = {k: v for k, v in pt.items() if k not in CONTINUOUS}
        out.setdefault(tuple(shared.items()), (shared, []))[1].append(pt)
    return list(out.values())


def group_name(shared: dict, points: list[dict]) -> str:
    """Run folder of a vmapped group: the shared values, the point count and a hash of the
    points (another set of points, e.g. after values were added to the grid, is another
    folder)."""
    digest = hashlib.sha1("\n".join(map(point_name, points)).encode()).hexdigest()[:6]
    return (f"{point_name(shared)}__" if shared else "") + f"vmap{len(points)}_{digest}"


def done_points(out) -> set[str]:
    """Names of the points that a finished run folder under ``out`` (``done.json``) trained."""
    names = set()
    for path in sorted(Path(out).glob("*/done.json")):
        record = json.loads(path.read_text())
        names.update(point_name(p) for p in record.get("points", [record.get("point")]))
    return names


def _current(row: dict) -> dict:
    """A ``sweep.csv`` row with the :data:`FORMER_COLUMNS` under their current names."""
    return {FORMER_COLUMNS.get(k, k): v for k, v in row.items()}


def train_group(scn, cfgs: list, run_dir, *, seeds: int, seed: int = 0, chunk: int = 10,
                resume: bool = False, progress: bool = True, record: dict | None = None,
                log_to=()):
    """Train TAC runs whose configs ``cfgs`` differ only in :data:`dtac_jax.algos.tac.HYPER`
    as one vmapped program of ``len(cfgs) x seeds`` members into ``run_dir`` (member ``m``:
    config ``m // seeds``, started from the key of seed ``m % seeds`` of a run of that config
    alone). ``record`` is added to ``config.json`` under ``sweep``; ``log_to`` names experiment
    loggers (:mod:`dtac_jax.loggers`). Returns the state stacked over members."""
    import jax
    import numpy as np

    from dtac_jax import runs
    from dtac_jax.algos import registry, tac
    from dtac_jax.env import make_params
    from dtac_jax.train import run_training

    cfg = cfgs[0]
    values = [tac.hyper_params(c) for c in cfgs]
    for i, c in enumerate(cfgs[1:], 1):
        if tac.with_hyper(c, values[0]) != cfg:
            raise ValueError(f"config {i} of a vmapped group differs from the first in more "
                             f"than the hyper-parameters {', '.join(tac.HYPER)}")
    params = make_params(scn)
    dtype = params.s_in.dtype
    hyper = {k: np.repeat(np.asarray([v[k] for v in values], dtype), seeds) for k in tac.HYPER}
    keys = np.tile(np.asarray(jax.random.split(jax.random.PRNGKey(seed), seeds)),
                   (len(cfgs), 1))
    algo_dict = cfg.to_dict()
    algo_dict.pop("iterations")    # the budget may grow on resume, as runs.train's
    conf = dict(kind="tac", name="tac", scenario=scn.to_dict(), tac=algo_dict,
                sweep=dict(record or {}, seeds_per_point=seeds,
                           hyper={k: [v[k] for v in values] for k in tac.HYPER}))
    init, iteration, _ = runs.build(registry.get("tac"), scn, cfg, {})   # once per process
    # the driver's own keys (split over all members) are not used: each member starts from
    # its seed's key, as the point's run alone would
    return run_training(lambda _, h, k: init(k, h), iteration, conf, run_dir,
                        iterations=cfg.iterations, seeds=len(cfgs) * seeds, seed=seed,
                        chunk=chunk, resume=resume, progress=progress, desc=f"TAC x{len(cfgs)}",
                        init_args=(hyper, keys), log_to=log_to,
                        resumable=resumable(tac.TACConfig),
                        read_as=runs.read_as_current(registry.get("tac")),
                        upgrade=registry.get("tac").upgrade)


#: SweepBase fields that TAC's and the scenario's own configs hold (``tac`` / ``scenario``)
_MOVED = ("rounds", "envs", "collect_rounds", "updates", "batch_size", "buffer_size",
          "eval_envs", "eval_rounds")


def _current_settings(old: dict) -> dict:
    """A stored ``sweep.json`` as this version writes it: grid names and base fields renamed
    (:data:`RENAMED`, ``SweepBase.RENAMED``), and the moved base fields dropped when they were
    unset (a sweep that set one stays another sweep)."""
    base = {SweepBase.RENAMED.get(k, k): v for k, v in old.get("base", {}).items()
            if not (k in _MOVED and v is None)}
    return dict(old, base=base, params=[RENAMED.get(p, p) for p in old.get("params", [])])


@runfolder.one_writer("out")   # one sweep per folder (each point's run folder is locked too)
def run_sweep(grid: dict[str, list], base: SweepBase, out, *, vmap_hyper: bool = True,
              progress: bool = True, log=print, log_to=()) -> list[dict]:
    """Run every grid point not yet finished; return all rows of ``sweep.csv``. With
    ``vmap_hyper`` (the default) points that differ only in :data:`CONTINUOUS` parameters
    train in one vmapped program; without it, every point is a program of its own. ``log_to``
    names experiment loggers for every training run (:mod:`dtac_jax.loggers`)."""
    import jax

    from dtac_jax import checkpoint as ckpt
    from dtac_jax import parallel
    from dtac_jax.algos.policy import actor_fn, greedy
    from dtac_jax.env import make_params
    from dtac_jax.evaluate import evaluate_stacked
    from dtac_jax.runs import train
    from dtac_jax.train import read_metrics

    # check every point's configuration before training any (or creating the folder)
    points = [dict(zip(grid, vals)) for vals in itertools.product(*grid.values())]
    built = {point_name(pt): _build(base, pt) for pt in points}
    out = Path(out)
    settings = dict(base=base.to_dict(), params=list(grid))
    meta = out / "sweep.json"
    if meta.exists():
        old = _current_settings(runfolder.read_json(meta, "sweep folder"))
        diff = ckpt.first_difference(json.loads(json.dumps(settings)), old)
        if diff:
            diff = diff.replace("checkpoint has", "sweep has")
            raise ValueError(f"{out} holds a sweep with other settings ({diff}): choose "
                             f"another --out")
    csv_path = out / "sweep.csv"
    columns = list(grid) + COLUMNS
    if csv_path.exists():
        with open(csv_path, newline="") as f:
            header = next(csv.reader(f), columns)
        n = len(grid)   # the swept parameters' columns, then COLUMNS
        if header[:n] + [FORMER_COLUMNS.get(c, c) for c in header[n:]] != columns:
            raise ValueError(f"{csv_path} has other columns ({', '.join(header)}): choose "
                             f"another --out")
    runfolder.claim(out)   # the checks above only read; this creates the folder
    if not meta.exists():
        write_atomic(meta, json.dumps(settings, indent=2))
    if parallel.is_main_process():
        write_csv(out, columns)   # rows of a point whose record a kill left out of the table
    done = done_points(out)
    todo = groups(grid, points) if vmap_hyper else [(pt, [pt]) for pt in points]
    main = parallel.is_main_process()
    seeds = base.seeds
    for i, (shared, members) in enumerate(todo, 1):
        tag = f"[{i}/{len(todo)}]"
        for pt in members:
            if point_name(pt) in done:
                log(f"{tag} {point_name(pt)}: done, skipped")
        members = [pt for pt in members if point_name(pt) not in done]
        if not members:
            continue
        names = [point_name(pt) for pt in members]
        name = names[0] if len(members) == 1 else group_name(shared, members)
        scn, cfg = built[names[0]]
        run_dir = out / name
        resume = ckpt.latest_step(run_dir) is not None
        if run_dir.exists() and not resume:
            shutil.rmtree(run_dir)   # started but no checkpoint yet: start again
        what = (f"{len(members)} points ({', '.join(names)}) x {seeds} seeds in one program"
                if len(members) > 1 else f"{seeds} seeds")
        log(f"{tag} {name}: training {cfg.iterations} iterations x {what}"
            + (" (resuming)" if resume else ""))
        t0 = time.time()
        if len(members) == 1:
            state = train("tac", scn, cfg, run_dir, seeds=seeds, seed=base.seed, chunk=base.chunk,
                          resume=resume, progress=progress, log_to=log_to)
        else:
            state = train_group(scn, [built[n][1] for n in names], run_dir, seeds=seeds,
                                seed=base.seed, chunk=base.chunk, resume=resume,
                                progress=progress, record=dict(points=members),
                                log_to=log_to)
        train_s = time.time() - t0
        last = {}
        for m in read_metrics(run_dir):
            if m["iteration"] == cfg.iterations:
                last[m["seed"]] = m["objective"]
        results = evaluate_stacked(lambda a, net=cfg.net: greedy(actor_fn(net, "full"), a),
                                   state.best_actor, make_params(scn),
                                   jax.random.PRNGKey(base.eval_seed),
                                   episodes=base.eval_episodes)
        rows = []
        for m, r in enumerate(results):
            pt, s = members[m // seeds], m % seeds
            rows.append(dict(pt, point=point_name(pt), seed_index=s, seed=base.seed,
                             preset=scn.name, iterations=cfg.iterations,
                             final_objective=last.get(m, float("nan")),
                             eval_objective=-r.weighted_reward,
                             eval_weighted_reward=r.weighted_reward, eval_avg_time=r.avg_time,
                             eval_energy_per_task=r.energy_per_task,
                             train_s=round(train_s, 2), run=name))
        if main:   # the point's record, then the table that collects every record
            write_atomic(run_dir / "done.json", json.dumps(dict(points=members, rows=rows),
                                                           indent=2))
            write_csv(out, columns)
        for pt in members:
            log(f"    {point_name(pt)}: eval objective per seed: "
                + ", ".join(f"{r['eval_objective']:.3f}" for r in rows if r["point"] ==
                            point_name(pt)) + f"  ({train_s:.1f} s)")
    all_rows = read_rows(csv_path)
    if main and all_rows:
        for p in plot_sweep(all_rows, list(grid), out):
            log(f"plot {p}")
    return all_rows


def write_csv(out, columns: list[str]) -> None:
    """Write ``out/sweep.csv`` whole (atomically): its rows so far, in their order, then the
    rows of every finished point (``*/done.json``) it lacks. The records are the truth and the
    table is made from them, so a kill between the two leaves nothing missing or doubled."""
    out = Path(out)
    rows = read_rows(out / "sweep.csv")
    have = {r["run"] for r in rows}
    for path in sorted(out.glob("*/done.json")):
        record = json.loads(path.read_text())
        new = [{k: r.get(k) for k in columns} for r in map(_current, record.get("rows", []))
               if str(r.get("run")) not in have]
        rows += new
        have.update(str(r["run"]) for r in new)
    if not rows and (out / "sweep.csv").exists():
        return
    write_csv_atomic(out / "sweep.csv", rows, columns)


def read_rows(csv_path) -> list[dict]:
    """The rows of a ``sweep.csv``, the :data:`FORMER_COLUMNS` under their current names."""
    csv_path = Path(csv_path)
    if not csv_path.exists():
        return []
    with open(csv_path, newline="") as f:
        return [_current(r) for r in csv.DictReader(f)]


def _sort_key(v: str):
    try:
        return (0, float(v), "")
    except ValueError:
        return (1, 0.0, v)


def plot_sweep(rows: list[dict], params: list[str], out) -> list[Path]:
    """One PNG per swept parameter: training (final iteration) and evaluated objective of every
    seed against the parameter's value, with the mean over seeds and other parameters."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    paths = []
    for p in params:
        values = sorted({r[p] for r in rows}, key=_sort_key)
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for col, label, marker, shift in (("final_objective", "training (last iteration)", "o",
                                           -0.08),
                                          ("eval_objective", "evaluation", "s", 0.08)):
            means = []
            for i, v in enumerate(values):
                ys = np.array([float(r[col]) for r in rows if r[p] == v])
                ax.scatter(np.full(len(ys), i + shift), ys, marker=marker, alpha=0.4,
                           color="C0" if marker == "o" else "C1")
                means.append(np.nanmean(ys) if len(ys) else np.nan)
            ax.plot(np.arange(len(values)) + shift, means, marker=marker, label=label,
                    color="C0" if marker == "o" else "C1")
        ax.set_xticks(range(len(values)), values)
        ax.set_xlabel(p)
        ax.set_ylabel("round objective (lower is better)")
        if all(float(r["eval_objective"]) > 0 for r in rows):
            ax.set_yscale("log")
        ax.set_title(f"sweep over {p}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = Path(out) / f"plot_{p}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths
