"""Training runs on disk: start, resume and load a run of any registered algorithm.

A run folder is what :mod:`dtac_jax.train` writes: ``config.json``, ``ckpt/``, ``metrics.jsonl``.
``config.json`` records the algorithm's ``kind`` and ``name``, the scenario, the algorithm
config (under the kind's key), the folders of the runs it started from (``<name>_run``, a path
relative to the run's own folder: :func:`dependency`) and whatever the entry's ``record`` adds,
so a run can be rebuilt, resumed and evaluated from its folder and the folders it names, from
any working directory and after the folders are copied together elsewhere. Every algorithm
goes through the same two functions, :func:`train` and :func:`load`, driven by its
:mod:`~dtac_jax.algos.registry` entry.
"""
from __future__ import annotations

import dataclasses
import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import jax

from dtac_jax import checkpoint as ckpt
from dtac_jax import runfolder
from dtac_jax.algos import registry
from dtac_jax.config import resumable
from dtac_jax.env.scenarios import Scenario, make_params
from dtac_jax.train import init_program, run_training, seed_slice

DEPENDENT_SEED_OFFSET = 1000  # a run started from another uses its seeds, base seed + this


@dataclasses.dataclass(frozen=True)
class Trained:
    """A run loaded from its folder: the state is stacked over seeds."""

    algo: registry.Algorithm
    run_dir: Path
    scenario: Scenario
    config: Any
    state: Any
    deps: dict            # name -> Trained: the runs it started from
    record: dict          # its config.json

    @property
    def seeds(self) -> int:
        return int(self.record["seeds"])


def train(name: str, scn: Scenario, cfg, run_dir, *, deps: dict | None = None, seeds: int = 1,
          seed: int = 0, chunk: int = 10, resume: bool = False, progress: bool = True,
          callback=None, log_to=()):
    """Train algorithm ``name`` with config ``cfg`` on ``scn`` into ``run_dir``; returns the
    final state (stacked over seeds). ``deps`` maps each of the algorithm's ``needs`` to a run
    folder; a run that starts from others takes the first one's seeds and scenario, and base
    seed plus :data:`DEPENDENT_SEED_OFFSET`. ``callback`` and ``log_to`` (experiment loggers) are
    :func:`~dtac_jax.train.run_training`'s."""
    algo = registry.get(name)
    runfolder.check_out(run_dir)   # a file or a busy folder, before the runs it starts from load
    for d, p in (deps or {}).items():   # a run of another kind is named before it is loaded
        if d in algo.needs and ckpt.read_config(Path(p)).get("kind") != registry.get(d).kind:
            raise ValueError(f"{p} is not a {registry.get(d).kind} run (kind "
                             f"{ckpt.read_config(Path(p)).get('kind')!r}): {algo.label} starts "
                             f"from a trained {d} run")
    loaded = {d: load(p) for d, p in (deps or {}).items()}
    missing = [d for d in algo.needs if d not in loaded]
    if missing:
        raise ValueError(f"{algo.label} starts from a trained {', '.join(missing)} run: give "
                         "its folder")
    if algo.needs:
        first = loaded[algo.needs[0]]
        scn, seeds = first.scenario, first.seeds
        seed = int(first.record["seed"]) + DEPENDENT_SEED_OFFSET
    algo_dict = cfg.to_dict()
    algo_dict.pop("iterations")  # the budget may grow on resume
    conf = dict(kind=algo.kind, name=getattr(cfg, "name", algo.name), scenario=scn.to_dict(),
                **{algo.kind: algo_dict})
    if algo.record is not None:
        conf.update(algo.record(cfg, loaded))
    conf.update({f"{d}_run": _dependency_entry(run_dir, d, t.run_dir) for d, t in loaded.items()})
    init, iteration, init_args = build(algo, scn, cfg, loaded)
    return run_training(init, iteration, conf, run_dir, iterations=cfg.iterations, seeds=seeds,
                        seed=seed, chunk=chunk, resume=resume, progress=progress,
                        desc=algo.label, init_args=init_args, callback=callback, log_to=log_to,
                        resumable=resumable(algo.config), read_as=read_as_current(algo),
                        upgrade=algo.upgrade)


def read_as_current(algo: registry.Algorithm):
    """A stored config with its algorithm section as the config class reads it today (a
    field added since takes the value ``from_dict`` gives it, a renamed one its new name), so
    a run written by an earlier version resumes."""
    def read_as(conf: dict) -> dict:
        section = algo.config.from_dict(conf[algo.kind]).to_dict()
        section.pop("iterations")
        return dict(conf, **{algo.kind: section})
    return read_as


def _dependency_entry(run_dir, name: str, dep_dir) -> str:
    """What ``run_dir``'s ``config.json`` records of the ``name`` run in ``dep_dir``: its path
    relative to ``run_dir``. A run resumed from a folder whose ``config.json`` names the same
    run in another spelling (a folder written with a working-directory path) keeps that
    spelling, so the stored config still matches."""
    rel = os.path.relpath(os.path.abspath(dep_dir), os.path.abspath(run_dir))
    try:
        stored = ckpt.read_config(Path(run_dir))
        if os.path.samefile(dependency(Path(run_dir), stored, name, quiet=True), dep_dir):
            return stored[f"{name}_run"]
    except (OSError, ValueError, KeyError):   # no run there yet, or it names no such run
        pass
    return rel


def dependency(run_dir: Path, conf: dict, name: str, quiet: bool = False) -> Path:
    """The folder of the ``name`` run that the run in ``run_dir`` (its ``config.json`` is
    ``conf``) started from. ``<name>_run`` is a path relative to ``run_dir`` (or absolute).
    A folder written by dtac-jax 0.x names it relative to the working directory of its
    training: found from there, it loads with one line on stderr
    saying how to make it portable; not found either way, :class:`~dtac_jax.runfolder.
    RunFolderError` in one line says where it was looked for and how to fix it."""
    run_dir = Path(run_dir)
    stored = conf.get(f"{name}_run")
    if not isinstance(stored, str):
        raise runfolder.RunFolderError(
            f"run folder {run_dir}: config.json names no {name} run ({name}_run) although "
            f"this algorithm starts from one: the file is damaged")
    given = Path(stored)
    here = Path(os.path.normpath(run_dir / given))   # given itself when it is absolute
    if (here / "config.json").exists():
        return here
    if not given.is_absolute() and (given / "config.json").exists():
        if not quiet:
            fix = os.path.relpath(given.resolve(), run_dir.resolve())
            runfolder.report(f"{run_dir}: config.json names its {name} run relative to the "
                             f"working directory ({stored}); set \"{name}_run\": \"{fix}\" "
                             "there to load it from any directory")
        return given
    raise runfolder.RunFolderError(
        f"run folder {run_dir}: the {name} run it started from is not at {here} "
        f"(\"{name}_run\": \"{stored}\" in its config.json, a path relative to the run "
        f"folder; folders of dtac-jax 0.x name it relative to the directory they were "
        f"trained in): copy the {name} run there, or set \"{name}_run\" to its path "
        f"relative to {run_dir}")


_BUILT: OrderedDict = OrderedDict()   # see build()


def build(algo: registry.Algorithm, scn: Scenario, cfg, deps: dict):
    """``algo.make(make_params(scn), cfg, deps)``, built once per process for the same
    algorithm, scenario, config and dependency runs: the same ``init`` and ``iteration`` come
    back, so the driver calls the jitted programs it made for them before and nothing is
    traced again (a resumed run, a run loaded after it was trained, another run of the same
    config). The key leaves out the config's iteration budget (``make`` must not depend on it: a
    resume may raise it) and holds the dependency runs by identity (:func:`load` returns the
    same object while a run is unchanged)."""
    key = (algo.name, json.dumps(scn.to_dict(), sort_keys=True),
           json.dumps(dict(cfg.to_dict(), iterations=None), sort_keys=True),
           tuple(sorted((d, id(t)) for d, t in deps.items())))
    hit = _BUILT.get(key)
    if hit is not None and all(hit[0][d] is t for d, t in deps.items()):
        _BUILT.move_to_end(key)
        return hit[1]
    made = algo.make(make_params(scn), cfg, deps)
    _BUILT[key] = (dict(deps), made)
    if len(_BUILT) > 16:
        _BUILT.popitem(last=False)
    return made


_LOADED: dict[tuple, Trained] = {}   # see load()


def load(run_dir) -> Trained:
    """The run in ``run_dir`` (and the runs it started from) restored from its checkpoint.

    A run loaded before in this process is returned from memory while its config and latest
    checkpoint are unchanged and it finds the same runs it started from: the reproduction loads
    each TAC run for every method that starts from it and for every figure, and each fresh load
    traces the method's ``init``."""
    run_dir = Path(run_dir)
    config_file = run_dir / "config.json"
    stamp = None
    if config_file.exists():   # the runs it started from, as found from here
        conf = ckpt.read_config(run_dir)
        found = tuple(str(dependency(run_dir, conf, d, quiet=True).resolve())
                      for d in registry.for_run(conf).needs)
        stamp = (str(run_dir.resolve()), config_file.stat().st_mtime_ns,
                 ckpt.latest_step(run_dir), found)
    if stamp in _LOADED:
        return _LOADED[stamp]
    trained = _load(run_dir)
    if stamp is not None:
        if len(_LOADED) >= 32:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[stamp] = trained
    return trained


def _load(run_dir: Path) -> Trained:
    conf = ckpt.read_config(run_dir)
    algo = registry.for_run(conf)
    scn = Scenario.from_dict(conf["scenario"])
    cfg = algo.config.from_dict(dict(conf[algo.kind], iterations=1))
    deps = {d: load(dependency(run_dir, conf, d)) for d in algo.needs}
    init, _, init_args = build(algo, scn, cfg, deps)
    # the state's shapes and dtypes only: init is traced, not run (no environment is reset)
    keys = jax.random.split(jax.random.PRNGKey(0), conf["seeds"])
    like = init_program(init, None).eval_shape(keys, *init_args)
    state = ckpt.restore(run_dir, like, upgrade=algo.upgrade)[0]
    return Trained(algo, run_dir, scn, cfg, state, deps, conf)


def train_transfer(tac_dir, cfg, run_dir, **kw):
    """:func:`train` of a decentralised transfer (DTAC, TL transformer, TL by ``cfg.loss`` and
    ``cfg.student``) from the TAC run in ``tac_dir`` (same scenario and seeds)."""
    name = cfg.name if cfg.name in registry.names(learned=True) else "dtac"
    return train(name, None, cfg, run_dir, deps={"tac": tac_dir}, **kw)


def family(trained: Trained):
    """``(stacked, make)``: a run's deliverable parameters stacked over seeds and
    ``make(params_of_one_seed) -> policy`` (for :func:`evaluate.evaluate_grid`, which
    evaluates every seed in one program)."""
    params = make_params(trained.scenario)
    algo, cfg, deps = trained.algo, trained.config, trained.deps
    return (algo.deliverable(trained.state, cfg),
            lambda theta: algo.policy(theta, cfg, params, deps))


def load_family(run_dir):
    """``(name, scenario, stacked, make)`` of a finished run (:func:`family`)."""
    t = load(run_dir)
    return (t.record.get("name", t.algo.name), t.scenario, *family(t))


def load_policy(run_dir, seed_index: int = 0):
    """``(name, scenario, policy)`` of one seed of a finished run, for :func:`evaluate.evaluate`."""
    name, scn, stacked, make = load_family(run_dir)
    return name, scn, make(seed_slice(stacked, seed_index))
