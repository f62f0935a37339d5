"""The shared reproduction pipeline: train each policy once per preset, evaluate on the same
episodes, cache every finished stage.

Layout of ``<out>/<profile>/``::

    runs/<preset>/<method>/     training runs (config.json, ckpt/, metrics.jsonl)
    stages/<stage>.json         finished stages: their configuration and result (the cache)
    data/*.csv                  raw numbers behind every figure and table
    sections/<figure>.json      one REPORT.md section per figure or table
    *.png, table*.md/.csv       figures and tables
    REPORT.md

A stage is skipped when its file exists with the same configuration; ``force`` reruns (and
retrains) every stage the current call needs. An interrupted training stage resumes from its
last checkpoint. Every file here is written atomically (:mod:`dtac_jax.atomic`): a process
killed at any moment leaves each file finished or absent, so a run started again after a
``kill -9`` redoes the unfinished stage and ends with the same CSVs, tables and report
(docs/failures.md).
"""
from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from dtac_jax.algos import registry, rollouts
from dtac_jax.atomic import remove_stale, replacing, write_atomic
from dtac_jax.env import SIM_VERSION, make_params, make_scenario
from dtac_jax.env.scenarios import EnvParams
from dtac_jax.evaluate import episode_keys, evaluate_grid
from dtac_jax.reproduce.profiles import Profile
from dtac_jax import runs
from dtac_jax.train import read_metrics

#: The code that decides a reproduction's numbers: the simulator, the networks, the algorithms,
#: the training driver, the evaluation, the profiles and this pipeline (not the figures' and the
#: report's text, which are rebuilt from the cached stages).
FINGERPRINTED = ("env", "nets", "algos", "train.py", "runs.py", "evaluate.py", "checkpoint.py",
                 "reproduce/profiles.py", "reproduce/pipeline.py")


def code_fingerprint() -> str:
    """A short hash of the :data:`FINGERPRINTED` sources: two checkouts with the same
    fingerprint train and evaluate the same numbers (with the same library versions)."""
    import hashlib
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for item in FINGERPRINTED:
        path = root / item
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for f in files:
            h.update(f.relative_to(root).as_posix().encode() + b"\0")
            h.update(f.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return h.hexdigest()[:12]


def current_spelling(config: dict) -> dict:
    """A stored stage configuration with the renamed fields (``Config.RENAMED``) of a
    training stage's algorithm config under their current names, so that a stage cached
    before a rename stays cached."""
    method, cfg = config.get("method"), config.get("config")
    if not (isinstance(cfg, dict) and method in registry.names(learned=True)):
        return config
    renamed = registry.get(method).config.RENAMED
    return dict(config, config={renamed.get(k, k): v for k, v in cfg.items()})


def learned() -> tuple[str, ...]:
    """The trained methods the reproduction compares (registry order)."""
    return registry.names(learned=True, reproduce=True)


def policies() -> tuple[str, ...]:
    """Every policy the reproduction compares: the learned ones, then the references."""
    return learned() + registry.names(learned=False, reproduce=True)


def label(name: str) -> str:
    return "DTAC (trained on medium)" if name == "dtac_inexperienced" else registry.get(name).label


METRICS = ("avg_time", "energy_per_task", "weighted_reward", "frac_local", "frac_edge",
           "frac_cloud", "cache_hit_rate", "reward_std_err")
GENERALIZATION = ("medium", "large")   # Fig. 11: trained on, evaluated on


@dataclasses.dataclass
class Family:
    """A policy with its parameters stacked over seeds: ``make(params_i) -> policy``."""

    name: str
    stacked: object          # pytree with a leading seed axis, or None (no parameters)
    make: Callable
    seeds: int
    actor: Callable | None = None   # act(params_i, obs) -> ActionDist, for actor networks


class Pipeline:
    def __init__(self, profile: Profile, out="results", force: bool = False, log=print,
                 progress: bool = True, log_to=()):
        self.profile = profile
        self.log_to = tuple(log_to)   # experiment loggers of the training runs
        self.root = Path(out) / profile.name
        self.force = force
        self.log = log
        self.progress = progress
        self.t0 = time.time()
        self._forced: set[str] = set()
        self._logged: set[str] = set()
        for d in ("runs", "stages", "data", "sections"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        for d in (".", "stages", "data", "sections"):   # left by a killed writer
            remove_stale(self.root / d)
        write_atomic(self.root / "profile.json", json.dumps(profile.to_dict(), indent=2))

    # ------------------------------------------------------------------ stage cache
    def stage(self, name: str, config: dict, fn: Callable[[], dict]) -> dict:
        """Run ``fn`` unless stage ``name`` finished before with the same ``config``."""
        path = self._stage_path(name)
        fresh = self.force and name not in self._forced
        if path.exists() and not fresh:
            stored = json.loads(path.read_text())
            if stored.get("sim_version") != SIM_VERSION:
                self.log(f"[{self.elapsed()}] {name}: made by simulator version "
                         f"{stored.get('sim_version', '<3')}, this is {SIM_VERSION}: rerunning")
                fresh = True
            elif current_spelling(stored["config"]) == json.loads(json.dumps(config)):
                if name not in self._logged:
                    self.log(f"[{self.elapsed()}] {name}: cached")
                    self._logged.add(name)
                return stored["result"]
            else:
                self.log(f"[{self.elapsed()}] {name}: configuration changed, rerunning")
                fresh = True
        self._forced.add(name)
        self.log(f"[{self.elapsed()}] {name}: running")
        t = time.time()
        result = fn(fresh)   # fresh: start over (no resume of a run left by another config)
        result = dict(result, wall_s=round(time.time() - t, 1), finished=time.time())
        write_atomic(path, json.dumps(dict(config=config, sim_version=SIM_VERSION,
                                           code=code_fingerprint(), result=result), indent=2))
        self.log(f"[{self.elapsed()}] {name}: done in {result['wall_s']:.0f} s")
        return result

    def elapsed(self) -> str:
        s = int(time.time() - self.t0)
        return f"{s // 60:02d}:{s % 60:02d}"

    # ------------------------------------------------------------------ configurations
    def scenario(self, preset: str):
        over = {} if self.profile.eval_rounds is None else {"rounds": self.profile.eval_rounds}
        return make_scenario(preset, **over)

    def train_scenario(self, preset: str):
        """The training scenario: the preset with the profile's ``train_rounds`` (default:
        the calibrated 50-round episodes)."""
        over = {} if self.profile.train_rounds is None else {"rounds": self.profile.train_rounds}
        return make_scenario(preset, **over)

    def config(self, method: str, preset: str | None = None):
        """The training config of ``method``: the profile's config of its kind (``tac``,
        ``transfer``, ``happo``) with the registry entry's fixed fields, else the entry's
        ``quick()``; then the profile's own fields for it (``Profile.methods``); on
        ``preset``, training on the profile's UE-count generator for it
        (``Profile.train_ue_counts``)."""
        algo = registry.get(method)
        base = getattr(self.profile, algo.kind, None)
        cfg = base.replace(**algo.fixed) if base is not None else algo.quick()
        cfg = cfg.replace(**self.profile.methods.get(method, {}))
        spec = self.train_ue_counts(method, preset)
        return cfg if spec is None else cfg.replace(env=cfg.env.replace(ue_counts=spec))

    def train_ue_counts(self, method: str, preset: str | None) -> str | None:
        """The UE-count generator ``method`` trains on for ``preset`` when the profile sets
        one and the method's config takes a training environment (an ``env`` field), else
        None: the method's own (the report's settings table says which)."""
        cfg = registry.get(method).config
        if cfg is None or "env" not in {f.name for f in dataclasses.fields(cfg)}:
            return None
        return self.profile.train_ue_counts.get(preset)

    def run_dir(self, preset: str, method: str) -> Path:
        return self.root / "runs" / preset / method

    # ------------------------------------------------------------------ training
    def train(self, preset: str, method: str) -> dict:
        """Train ``method`` on ``preset`` (first the runs it starts from)."""
        algo = registry.get(method)
        for dep in algo.needs:
            self.train(preset, dep)
        p = self.profile
        run = self.run_dir(preset, method)
        cfg = self.config(method, preset)
        config = dict(preset=preset, method=method, seeds=p.seeds, config=cfg.to_dict())
        for dep in algo.needs:
            config[dep] = self.stamp(f"train:{preset}:{dep}")

        def go(fresh):
            if fresh and run.exists():
                shutil.rmtree(run)
            self.log(f"    training {algo.label} on {preset}: {cfg.iterations} iterations x "
                     f"{p.seeds} seed(s) -> {run}")
            runs.train(method, self.train_scenario(preset), cfg, run,
                       deps={d: self.run_dir(preset, d) for d in algo.needs}, seeds=p.seeds,
                       chunk=p.chunk, resume=True, progress=self.progress,
                       log_to=self.log_to)
            return dict(run=str(run), iterations=cfg.iterations)

        return self.stage(f"train:{preset}:{method}", config, go)

    def train_all(self, preset: str, methods=None):
        for m in learned() if methods is None else methods:
            self.train(preset, m)

    # ------------------------------------------------------------------ policies
    def family(self, preset: str, method: str) -> Family:
        """A trained (or reference) policy family of ``preset``."""
        algo = registry.get(method)
        if not algo.learned:
            pol = algo.policy(None, getattr(self.profile, algo.kind, None), None, {})
            return Family(method, None, lambda _: pol, 1)
        trained = runs.load(self.run_dir(preset, method))
        stacked, make = runs.family(trained)
        actor = (None if algo.actor is None
                 else algo.actor(trained.config, trained.deps))
        return Family(method, stacked, make, trained.seeds, actor)

    # ------------------------------------------------------------------ evaluation
    def eval_key(self):
        return jax.random.PRNGKey(2024)

    def evaluate_family(self, fam: Family, params: EnvParams, counts) -> list[list]:
        """``[seed][count] -> EvalResult`` on the profile's evaluation episodes: one compiled
        program per policy, vmapped over seeds, UE counts and episodes."""
        return evaluate_grid(fam.make, fam.stacked, params, self.eval_key(),
                             self.profile.eval_episodes, counts=counts)

    def evaluate_preset(self, preset: str) -> Path:
        """Every policy of ``preset`` on the same episodes at every x-axis UE count."""
        p = self.profile
        self.train_all(preset)
        counts = p.ue_counts[preset]
        out = self.root / "data" / f"eval_{preset}.csv"
        config = dict(preset=preset, counts=list(counts), episodes=p.eval_episodes,
                      rounds=p.eval_rounds, search=[p.search.candidates, p.search.iterations],
                      policies=list(policies()),
                      trained={m: self.stamp(f"train:{preset}:{m}") for m in learned()})

        def go(_):
            params = make_params(self.scenario(preset))
            rows = []
            for i, m in enumerate(policies(), 1):
                t = time.time()
                res = self.evaluate_family(self.family(preset, m), params, counts)
                rows += _rows(preset, m, preset, counts, params.n_edges, res)
                mean = np.mean([r.weighted_reward for r in res[0]])
                self.log(f"    [{i}/{len(policies())}] {label(m):<15} weighted reward "
                         f"{mean:10.3f} (mean over {len(counts)} UE counts, "
                         f"{time.time() - t:.0f} s)")
            write_csv(out, rows)
            return dict(csv=str(out))

        self.stage(f"eval:{preset}", config, go)
        return out

    def _stage_path(self, name: str) -> Path:
        return self.root / "stages" / f"{name.replace(':', '__')}.json"

    def stamp(self, name: str):
        """When stage ``name`` last finished: downstream stages include it in their
        configuration, so they rerun after it reruns."""
        path = self._stage_path(name)
        return json.loads(path.read_text())["result"].get("finished") if path.exists() else None

    def evaluate_generalization(self) -> Path:
        """Fig. 11: DTAC trained on ``medium`` and on ``large``, both evaluated on ``large``."""
        src, dst = GENERALIZATION
        p = self.profile
        self.train(src, "dtac")
        for m in ("tac", "dtac"):
            self.train(dst, m)
        counts = p.ue_counts[dst]
        out = self.root / "data" / "generalization.csv"
        config = dict(src=src, dst=dst, counts=list(counts), episodes=p.eval_episodes,
                      rounds=p.eval_rounds,
                      trained=[self.stamp(f"train:{src}:dtac"),
                               self.stamp(f"train:{dst}:dtac"),
                               self.stamp(f"train:{dst}:tac")])

        def go(_):
            params = make_params(self.scenario(dst))
            rows = []
            for label, preset, m in (("dtac_inexperienced", src, "dtac"), ("dtac", dst, "dtac"),
                                     ("tac", dst, "tac"), ("random", dst, "random")):
                res = self.evaluate_family(self.family(preset, m), params, counts)
                rows += _rows(dst, label, preset, counts, params.n_edges, res)
            write_csv(out, rows)
            return dict(csv=str(out))

        self.stage("eval:generalization", config, go)
        return out

    def kl_table(self, preset: str) -> Path:
        """Table III: KL divergence of the students' offloading distributions from TAC's, on
        the states TAC visits in the evaluation episodes (mean over real UEs and rounds), and
        between the aggregate offloading preferences."""
        students = tuple(m for m in learned() if "tac" in registry.get(m).needs
                         and registry.get(m).actor is not None)   # the transfers
        for m in ("tac",) + students:
            self.train(preset, m)
        p = self.profile
        out = self.root / "data" / f"kl_{preset}.csv"
        config = dict(preset=preset, episodes=p.eval_episodes, rounds=p.eval_rounds,
                      trained={m: self.stamp(f"train:{preset}:{m}")
                               for m in ("tac",) + students})

        def go(_):
            params = make_params(self.scenario(preset))
            keys = episode_keys(self.eval_key(), p.eval_episodes)
            tac_fam = self.family(preset, "tac")
            tac_params = tac_fam.stacked
            tac_px = lambda prm, ob: tac_fam.actor(prm, ob).p_x
            obs = jax.jit(jax.vmap(lambda prm: jax.vmap(
                lambda k: visited_obs(tac_fam.make(prm), params, k, params.rounds))(keys)))(
                tac_params)                                           # [S, E, R, ...]
            rows = []
            for m in students:
                fam = self.family(preset, m)
                stacked, px = fam.stacked, lambda prm, ob, f=fam: f.actor(prm, ob).p_x

                def kl_one(tp, sp, o, px=px):
                    pt = jax.vmap(jax.vmap(lambda ob: tac_px(tp, ob)))(o)
                    ps = jax.vmap(jax.vmap(lambda ob: px(sp, ob)))(o)
                    return kl_stats(pt, ps, o.mask)

                res = jax.device_get(jax.jit(jax.vmap(kl_one))(tac_params, stacked, obs))
                for s in range(tac_fam.seeds):
                    rows.append(dict(preset=preset, policy=m, seed=s,
                                     **{k: float(v[s]) for k, v in res.items()}))
            write_csv(out, rows)
            return dict(csv=str(out))

        self.stage(f"kl:{preset}", config, go)
        return out


# ---------------------------------------------------------------------- helpers
def visited_obs(policy, params: EnvParams, keys, rounds: int):
    """The joint observations a (deterministic) policy visits in one evaluation episode (the
    keys of :func:`dtac_jax.evaluate.episode_keys`)."""
    return rollouts.episode(
        policy, params, keys[0],
        lambda t: (jax.random.fold_in(keys[1], t), jax.random.fold_in(keys[2], t)), rounds,
        lambda obs, action, state, info: obs)


def kl_stats(p_teacher, p_student, mask, eps: float = 1e-8) -> dict:
    """Per-state mean KL(teacher || student) over real UEs, and the KL between the aggregate
    distributions of executed (argmax) offloading decisions."""
    pt = jnp.clip(p_teacher, eps, 1.0)
    ps = jnp.clip(p_student, eps, 1.0)
    kl = jnp.sum(pt * (jnp.log(pt) - jnp.log(ps)), -1)
    m = mask.astype(kl.dtype)
    per_state = jnp.sum(kl * m) / jnp.maximum(jnp.sum(m), 1.0)

    def pref(p):
        onehot = jax.nn.one_hot(jnp.argmax(p, -1), 3) * m[..., None]
        return jnp.clip(jnp.sum(onehot, tuple(range(onehot.ndim - 1))) / jnp.sum(m), eps, 1.0)

    qt, qs = pref(p_teacher), pref(p_student)
    agree = jnp.sum((jnp.argmax(p_teacher, -1) == jnp.argmax(p_student, -1)) * m) / jnp.sum(m)
    return dict(kl_per_state=per_state, kl_preference=jnp.sum(qt * (jnp.log(qt) - jnp.log(qs))),
                argmax_agreement=agree)


def _rows(preset, policy, trained_on, counts, n_edges, res) -> list[dict]:
    rows = []
    for s, per_seed in enumerate(res):
        for c, r in zip(counts, per_seed):
            d = r.as_dict()
            rows.append(dict(preset=preset, policy=policy, trained_on=trained_on, seed=s,
                             ues_per_edge=c, n_ues=c * n_edges,
                             **{k: d[k] for k in METRICS}, episodes=d["episodes"],
                             rounds=d["rounds"]))
    return rows


def write_csv(path: Path, rows: list[dict]):
    """Write ``rows`` (dicts with the same keys) to ``path`` atomically."""
    with replacing(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def read_csv(path: Path) -> list[dict]:
    with open(path) as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k, v in r.items():
            try:
                r[k] = float(v) if any(c in v for c in ".eE") or k not in (
                    "seed", "ues_per_edge", "n_ues", "episodes", "rounds") else int(v)
            except ValueError:
                pass
    return rows


def iterations_to_95(run_dir, seed: int | None = None) -> tuple[int, int]:
    """Training iterations a run needed to reach 95% of its final objective (lower is
    better; the paper counts them as training episodes): the last iteration of the first
    window whose moving median of the measured objective is within 5% of the final level, the
    median of the last 10% of iterations. The window is :func:`convergence_window`; medians,
    not means, because single-iteration measurements of a max-over-UEs objective have spikes
    of several orders of magnitude. Averaged over seeds (rounded) unless ``seed`` is given.
    Returns ``(iterations to 95%, iterations trained)``."""
    rows = read_metrics(run_dir)
    seeds = sorted({r["seed"] for r in rows}) if seed is None else [seed]
    hits, total = [], 0
    for s in seeds:
        obj = np.array([r["objective"] for r in rows if r["seed"] == s])
        total = len(obj)
        w = convergence_window(total)
        moving = np.array([np.median(obj[i:i + w]) for i in range(total - w + 1)])
        final = np.median(obj[-max(1, total // 10):])
        hit = np.flatnonzero(moving <= final * 1.05)
        hits.append(int(hit[0]) + w if hit.size else total)
    return int(round(float(np.mean(hits)))), total


def convergence_window(iterations: int) -> int:
    """The moving median's window of :func:`iterations_to_95`: ``max(3, iterations // 10)``
    (at most ``iterations``). A run reaches 95% no earlier than its window's end, so a saving
    in iterations between two runs can show at most ``1 - window(a) / iterations(b)``; 3 (a
    median that ignores one spike) lets a 20-iteration transfer show up to 85%."""
    return min(max(3, iterations // 10), iterations)
