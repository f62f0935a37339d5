"""Training runs on disk: start, resume and load TAC and transfer (DTAC / TL) runs.

A run folder is what :mod:`dtac_jax.train` writes: ``config.json``, ``ckpt/``, ``metrics.jsonl``.
``config.json`` records the kind (``tac`` or ``transfer``), the scenario and the algorithm
config, so a run can be rebuilt, resumed and evaluated from its folder alone.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import jax

from dtac_jax import checkpoint as ckpt
from dtac_jax.algos import common
from dtac_jax.algos.dtac import TransferConfig, final_student, make_transfer, student_policy
from dtac_jax.algos.tac import TACConfig, make_tac
from dtac_jax.env.scenarios import Scenario, make_params
from dtac_jax.train import run_training, seed_slice


def _tac_config_dict(scn: Scenario, cfg: TACConfig) -> dict:
    algo = cfg.to_dict()
    algo.pop("episodes")  # the budget may grow on resume
    return dict(kind="tac", name="tac", scenario=scn.to_dict(), tac=algo)


def train_tac(scn: Scenario, cfg: TACConfig, run_dir, *, seeds=1, seed=0, chunk=10,
              resume=False, progress=True):
    params = make_params(scn)
    init, episode = make_tac(params, cfg)
    return run_training(init, episode, _tac_config_dict(scn, cfg), run_dir,
                        episodes=cfg.episodes, seeds=seeds, seed=seed, chunk=chunk,
                        resume=resume, progress=progress, desc="TAC")


def _read_run(run_dir, kind: str):
    """``(config dict, scenario)`` of a run folder of the given kind."""
    conf = ckpt.read_config(Path(run_dir))
    if conf.get("kind") != kind:
        raise ValueError(f"{run_dir} is not a {kind} run (kind {conf.get('kind')!r})")
    return conf, Scenario.from_dict(conf["scenario"])


def _restore(run_dir, init, conf: dict, *init_args):
    """Restore a run's state into the structure ``init`` builds for its seeds (its shapes and
    dtypes only: ``init`` is traced, not run, so no environment is reset or scored)."""
    keys = jax.random.split(jax.random.PRNGKey(0), conf["seeds"])
    like = jax.eval_shape(jax.vmap(init), keys, *init_args)
    return ckpt.restore(Path(run_dir), like)[0]


def load_tac(run_dir):
    """``(scenario, TACConfig, state stacked over seeds)`` of a TAC run."""
    conf, scn = _read_run(run_dir, "tac")
    cfg = TACConfig.from_dict(dict(conf["tac"], episodes=1))
    init, _ = make_tac(make_params(scn), cfg)
    return scn, cfg, _restore(run_dir, init, conf)


def train_transfer(tac_dir, cfg: TransferConfig, run_dir, *, chunk=10, resume=False,
                   progress=True):
    """Decentralised transfer from the TAC run in ``tac_dir`` (same scenario and seeds)."""
    scn, tac_cfg, tac_state = load_tac(tac_dir)
    params = make_params(scn)
    init, episode = make_transfer(params, cfg, tac_cfg.net, tac_cfg.cost_scale,
                                  tac_cfg.buffer_size, tac_cfg.critic_input)
    algo = cfg.to_dict()
    algo.pop("episodes")
    conf = dict(kind="transfer", name=cfg.name, scenario=scn.to_dict(), transfer=algo,
                net=dataclasses.asdict(tac_cfg.net), cost_scale=tac_cfg.cost_scale,
                buffer_size=tac_cfg.buffer_size, critic_input=tac_cfg.critic_input,
                tac_run=str(Path(tac_dir)))
    seeds = int(jax.tree_util.tree_leaves(tac_state.key)[0].shape[0])
    return run_training(init, episode, conf, run_dir, episodes=cfg.episodes, seeds=seeds,
                        seed=ckpt.read_config(Path(tac_dir))["seed"] + 1000, chunk=chunk,
                        resume=resume, progress=progress, desc=cfg.name.upper(),
                        init_args=(tac_state.best_actor, tac_state.critic, tac_state.buffer))




def load_transfer(run_dir):
    """``(scenario, TransferConfig, NetConfig, student params stacked over seeds)``."""
    conf, scn = _read_run(run_dir, "transfer")
    cfg = TransferConfig.from_dict(dict(conf["transfer"], episodes=1))
    from dtac_jax.nets.transformer import NetConfig
    net = NetConfig(**conf["net"])
    _, _, tac_state = load_tac(conf["tac_run"])
    init, _ = make_transfer(make_params(scn), cfg, net, conf["cost_scale"], conf["buffer_size"],
                            conf.get("critic_input", "probs"))
    state = _restore(run_dir, init, conf, tac_state.best_actor, tac_state.critic,
                     tac_state.buffer)
    return scn, cfg, net, final_student(state, cfg)


def train_happo(scn: Scenario, cfg, run_dir, *, seeds=1, seed=0, chunk=10, resume=False,
                progress=True):
    from dtac_jax.algos.happo import make_happo
    algo = cfg.to_dict()
    algo.pop("episodes")
    conf = dict(kind="happo", name="happo", scenario=scn.to_dict(), happo=algo)
    init, episode = make_happo(make_params(scn), cfg)
    return run_training(init, episode, conf, run_dir, episodes=cfg.episodes, seeds=seeds,
                        seed=seed, chunk=chunk, resume=resume, progress=progress, desc="HAPPO")


def load_happo(run_dir):
    from dtac_jax.algos.happo import HAPPOConfig, make_happo
    conf, scn = _read_run(run_dir, "happo")
    cfg = HAPPOConfig.from_dict(dict(conf["happo"], episodes=1))
    init, _ = make_happo(make_params(scn), cfg)
    return scn, cfg, _restore(run_dir, init, conf)


def happo_curve(run_dir, seed: int = 0) -> dict:
    """HAPPO's training curve from its ``metrics.jsonl`` (the same format as TAC's): arrays
    ``episode``, ``objective`` (measured per-round objective of the deterministic policy, as
    TAC logs it), ``rollout_objective`` (the stochastic training rollout's) and ``wall_s``,
    for one seed. ``reproduce.pipeline.episodes_to_95`` reads the same ``objective``."""
    import numpy as np

    from dtac_jax.train import read_metrics
    _read_run(run_dir, "happo")
    rows = [r for r in read_metrics(run_dir) if r["seed"] == seed]
    return {k: np.array([r[k] for r in rows]) for k in ("episode", "objective",
                                                         "rollout_objective", "wall_s")}


def load_family(run_dir):
    """``(name, scenario, stacked, make)`` of a finished run: its deliverable parameters
    stacked over seeds and ``make(params_of_one_seed) -> policy`` (for
    :func:`evaluate.evaluate_stacked`, which evaluates every seed in one program)."""
    conf = ckpt.read_config(Path(run_dir))
    if conf.get("kind") == "happo":
        from dtac_jax.algos.happo import happo_policy
        scn, cfg, state = load_happo(run_dir)
        params = make_params(scn)
        return "happo", scn, state.best_actors, lambda prm: happo_policy(prm, params, cfg)
    if conf.get("kind") == "tac":
        scn, cfg, state = load_tac(run_dir)
        return "tac", scn, state.best_actor, lambda prm: common.learned_policy(prm, cfg.net,
                                                                               "full")
    scn, cfg, net, student = load_transfer(run_dir)
    return cfg.name, scn, student, lambda prm: student_policy(prm, cfg, net)


def load_policy(run_dir, seed_index: int = 0):
    """``(name, scenario, policy)`` of one seed of a finished run, for :func:`evaluate.evaluate`."""
    name, scn, stacked, make = load_family(run_dir)
    return name, scn, make(seed_slice(stacked, seed_index))
