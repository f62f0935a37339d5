"""Training runs on disk: start, resume and load a run of any registered algorithm.

A run folder is what :mod:`dtac_jax.train` writes: ``config.json``, ``ckpt/``, ``metrics.jsonl``.
``config.json`` records the algorithm's ``kind`` and ``name``, the scenario, the algorithm
config (under the kind's key), the folders of the runs it started from (``<name>_run``) and
whatever the entry's ``record`` adds, so a run can be rebuilt, resumed and evaluated from its
folder alone. Every algorithm goes through the same two functions, :func:`train` and
:func:`load`, driven by its :mod:`~dtac_jax.algos.registry` entry.
"""
from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import jax

from dtac_jax import checkpoint as ckpt
from dtac_jax import runfolder
from dtac_jax.algos import registry
from dtac_jax.env.scenarios import Scenario, make_params
from dtac_jax.train import init_program, read_metrics, run_training, seed_slice

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
    algo_dict.pop("episodes")  # the budget may grow on resume
    conf = dict(kind=algo.kind, name=getattr(cfg, "name", algo.name), scenario=scn.to_dict(),
                **{algo.kind: algo_dict})
    if algo.record is not None:
        conf.update(algo.record(cfg, loaded))
    conf.update({f"{d}_run": str(Path(t.run_dir)) for d, t in loaded.items()})
    init, episode, init_args = build(algo, scn, cfg, loaded)
    return run_training(init, episode, conf, run_dir, episodes=cfg.episodes, seeds=seeds,
                        seed=seed, chunk=chunk, resume=resume, progress=progress,
                        desc=algo.label, init_args=init_args, callback=callback, log_to=log_to)


_BUILT: OrderedDict = OrderedDict()   # see build()


def build(algo: registry.Algorithm, scn: Scenario, cfg, deps: dict):
    """``algo.make(make_params(scn), cfg, deps)``, built once per process for the same
    algorithm, scenario, config and dependency runs: the same ``init`` and ``episode`` come
    back, so the driver calls the jitted programs it made for them before and nothing is
    traced again (a resumed run, a run loaded after it was trained, another run of the same
    config). The key leaves out the config's episode budget (``make`` must not depend on it: a
    resume may raise it) and holds the dependency runs by identity (:func:`load` returns the
    same object while a run is unchanged)."""
    key = (algo.name, json.dumps(scn.to_dict(), sort_keys=True),
           json.dumps(dict(cfg.to_dict(), episodes=None), sort_keys=True),
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
    checkpoint are unchanged: the reproduction loads each TAC run for every method that starts
    from it and for every figure, and each fresh load traces the method's ``init``."""
    run_dir = Path(run_dir)
    config_file = run_dir / "config.json"
    stamp = ((str(run_dir.resolve()), config_file.stat().st_mtime_ns, ckpt.latest_step(run_dir))
             if config_file.exists() else None)
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
    cfg = algo.config.from_dict(dict(conf[algo.kind], episodes=1))
    deps = {d: load(conf[f"{d}_run"]) for d in algo.needs}
    init, _, init_args = build(algo, scn, cfg, deps)
    # the state's shapes and dtypes only: init is traced, not run (no environment is reset)
    keys = jax.random.split(jax.random.PRNGKey(0), conf["seeds"])
    like = init_program(init, None).eval_shape(keys, *init_args)
    state = ckpt.restore(run_dir, like)[0]
    return Trained(algo, run_dir, scn, cfg, state, deps, conf)


def _check_kind(trained: Trained, kind: str) -> Trained:
    if trained.algo.kind != kind:
        raise ValueError(f"{trained.run_dir} is not a {kind} run (kind {trained.algo.kind!r})")
    return trained


def train_tac(scn: Scenario, cfg, run_dir, **kw):
    """:func:`train` of ``"tac"``."""
    return train("tac", scn, cfg, run_dir, **kw)


def train_transfer(tac_dir, cfg, run_dir, **kw):
    """:func:`train` of a decentralised transfer (DTAC, TL transformer, TL by ``cfg.loss`` and
    ``cfg.student``) from the TAC run in ``tac_dir`` (same scenario and seeds)."""
    name = cfg.name if cfg.name in registry.names(learned=True) else "dtac"
    return train(name, None, cfg, run_dir, deps={"tac": tac_dir}, **kw)


def train_happo(scn: Scenario, cfg, run_dir, **kw):
    """:func:`train` of ``"happo"``."""
    return train("happo", scn, cfg, run_dir, **kw)


def load_tac(run_dir):
    """``(scenario, TACConfig, state stacked over seeds)`` of a TAC run."""
    t = _check_kind(load(run_dir), "tac")
    return t.scenario, t.config, t.state


def load_transfer(run_dir):
    """``(scenario, TransferConfig, NetConfig, student parameters stacked over seeds)`` of a
    transfer run (its delivered students)."""
    t = _check_kind(load(run_dir), "transfer")
    return (t.scenario, t.config, t.deps["tac"].config.net,
            t.algo.deliverable(t.state, t.config))


def load_happo(run_dir):
    """``(scenario, HAPPOConfig, state stacked over seeds)`` of a HAPPO run."""
    t = _check_kind(load(run_dir), "happo")
    return t.scenario, t.config, t.state


def happo_curve(run_dir, seed: int = 0) -> dict:
    """HAPPO's training curve from its ``metrics.jsonl`` (the same format as TAC's): arrays
    ``episode``, ``objective`` (measured per-round objective of the deterministic policy, as
    TAC logs it), ``rollout_objective`` (the stochastic training rollout's) and ``wall_s``,
    for one seed. ``reproduce.pipeline.episodes_to_95`` reads the same ``objective``."""
    import numpy as np

    conf = ckpt.read_config(Path(run_dir))
    if conf.get("kind") != "happo":
        raise ValueError(f"{run_dir} is not a happo run (kind {conf.get('kind')!r})")
    rows = [r for r in read_metrics(run_dir) if r["seed"] == seed]
    return {k: np.array([r[k] for r in rows]) for k in ("episode", "objective",
                                                         "rollout_objective", "wall_s")}


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
