"""Drive a pure training algorithm: vmapped seeds, jitted chunks, checkpoints, metrics, progress.

Any algorithm given as ``init(key) -> state`` and ``iteration(state) -> (state, metrics)``
runs here (PureJaxRL style): ``jit(vmap(scan(iteration)))`` over a chunk of training iterations
is compiled once, driven from a Python loop that writes ``metrics.jsonl``, saves an Orbax
checkpoint after every chunk and shows a progress bar. Chunk boundaries are absolute
(multiples of ``chunk``), so a run interrupted and resumed computes exactly what an
uninterrupted one does. SIGINT and SIGTERM stop the run at the end of the chunk in progress,
its checkpoint saved (:mod:`dtac_jax.interrupt`).

With more than one device (:mod:`dtac_jax.parallel`), the seed axis of the state is split
over a mesh of all devices: each device runs the same compiled chunk on its block of seeds
(``jit(shard_map(vmap(scan(iteration))))``), with no communication; the seed count must be a
multiple of the device count.
"""
from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from dtac_jax import checkpoint as ckpt
from dtac_jax import interrupt
from dtac_jax import loggers
from dtac_jax import parallel
from dtac_jax import runfolder
from dtac_jax.env import SIM_VERSION


@runfolder.one_writer("run_dir")   # one process per run folder (dtac_jax/runfolder.py)
def run_training(init: Callable, iteration: Callable, config: dict, run_dir, *, iterations: int,
                 seeds: int = 1, seed: int = 0, chunk: int = 10, resume: bool = False,
                 progress: bool = True, desc: str = "train", init_args: tuple = (),
                 callback: Callable | None = None, log_to: Sequence[str] = (),
                 resumable: frozenset[str] = frozenset(),
                 read_as: Callable[[dict], dict] | None = None,
                 upgrade: Callable | None = None):
    """Train ``seeds`` independent runs at once for ``iterations`` iterations; returns the
    state.

    ``config`` (JSON-able) is written to ``run_dir/config.json``; on ``resume`` it must equal
    the stored one (except the iteration budget and the ``resumable`` fields of the algorithm's
    section, dotted: the optimiser-step settings its config class declares,
    :func:`dtac_jax.config.resumable`; ``config.json`` records their changes), else
    :class:`checkpoint.CheckpointMismatch`; ``read_as`` maps a stored config to the current
    spelling first (:func:`checkpoint.check_config`), ``upgrade`` a checkpoint in an earlier
    state layout (:func:`checkpoint.restore`). A non-finite metric or state stops the
    run with :class:`TrainingDiverged`, its last checkpoint and metrics kept as they were.
    ``init_args`` are pytrees with a leading seed axis passed to ``init(key, *init_args)``
    (e.g. the TAC parameters a transfer starts from). ``callback(iterations_done, n, rows)``, if
    given, runs after each chunk of ``n`` iterations, its metrics and checkpoint written;
    ``rows`` are the chunk's ``metrics.jsonl`` rows. ``log_to`` names experiment loggers
    (:mod:`dtac_jax.loggers`: ``tensorboard``, ``wandb``) fed the same rows.

    SIGINT or SIGTERM during the loop lets the chunk in progress finish, writes its rows and
    checkpoint, then raises :class:`~dtac_jax.interrupt.Interrupted` naming the iteration.
    """
    if iterations < 1 or seeds < 1 or chunk < 1:
        raise ValueError("iterations, seeds and chunk must all be >= 1")
    log_to = loggers.check(log_to)
    run_dir = Path(run_dir)
    config = dict(config, seeds=seeds, seed=seed, chunk=chunk, sim_version=SIM_VERSION)
    mesh = parallel.mesh_for(seeds, "seeds", "--seeds")   # None on one device
    keys = jax.random.split(jax.random.PRNGKey(seed), seeds)
    init_fn = init_program(init, None)
    # an existing run is checked before anything is traced or compiled, so a wrong --out or a
    # mismatched configuration fails at once; a resumed state is restored into init's shapes
    resuming = ckpt.latest_step(run_dir) is not None
    if resuming:
        if not resume:
            raise ValueError(f"{run_dir} already holds a checkpoint: pass --resume to continue "
                             f"it, or choose another --out")
        # learning rates etc. may change
        found = ckpt.check_config(run_dir, config, resumable, read_as)
    elif (run_dir / "metrics.jsonl").exists() and not resume:
        raise ValueError(f"{run_dir} already holds a run: choose another --out")
    runfolder.check_metrics(run_dir)   # damage is refused before the folder is touched
    runfolder.claim(run_dir)
    start, changes = 0, {}
    if resuming:
        state, start = ckpt.restore(run_dir, init_fn.eval_shape(keys, *init_args), upgrade=upgrade)
        changes = ckpt.changed_settings(config, found, resumable)   # recorded with the 1st chunk
        if changes:
            # learning rates held in optimiser states take the new config's values
            state = jax.device_put(with_optimiser_settings(state, init_fn(keys, *init_args)),
                                   jax.devices()[0])
            if parallel.is_main_process():
                print(f"{run_dir}: resuming from iteration {start} with changed settings: "
                      + ", ".join(f"{k} {old!r} -> {new!r}"
                                  for k, (old, new) in changes.items()),
                      file=sys.stderr, flush=True)
        if mesh is not None:
            state = parallel.shard(state, mesh)
    else:
        if mesh is None:
            # committed to the device as a restored checkpoint is: jit keys its programs on
            # whether inputs are committed, so a resumed run would otherwise compile again
            state = jax.device_put(init_fn(keys, *init_args), jax.devices()[0])
        else:
            state = init_program(init, mesh)(*parallel.shard((keys, *init_args), mesh))
        ckpt.write_config(run_dir, config)
    runfolder.trim_metrics(run_dir, start)   # rows written after the checkpoint, a torn line
    mngr = ckpt.manager(run_dir)
    main = parallel.is_main_process()
    sinks = loggers.make(log_to, run_dir, config, desc) if main else []

    t_start = time.time()
    bar = tqdm(total=iterations, initial=start, desc=desc, disable=not (progress and main),
               unit="it", dynamic_ncols=True)
    it = start
    with (open(run_dir / "metrics.jsonl", "a") if main else open(os.devnull, "w") as out,
          contextlib.ExitStack() as closing, interrupt.deferred() as stop):
        for sink in sinks:
            closing.callback(sink.close)
        while it < iterations:
            n = min(chunk - it % chunk, iterations - it)
            state, metrics, finite = chunk_program(iteration, n, mesh)(state)
            metrics = parallel.to_host(metrics)  # [seeds, n] per metric: one transfer per chunk
            # before any row or checkpoint of the chunk is written: the last checkpoint stays
            # the last finite state, and metrics.jsonl ends where it does
            check_finite(metrics, parallel.to_host(finite), run_dir, it, n, seed)
            if changes and main:
                ckpt.record_changes(run_dir, config, found, start, resumable)
                changes = {}
            wall = time.time() - t_start
            rows = []
            for i in range(n):
                for s in range(seeds):
                    row = {"iteration": it + i + 1, "seed": s, "wall_s": round(wall, 3)}
                    row.update({k: float(np.asarray(v)[s, i]) for k, v in metrics.items()})
                    rows.append(row)
                    out.write(json.dumps(row) + "\n")
            out.flush()
            it += n
            ckpt.save(mngr, it, state)
            bar.update(n)
            bar.set_postfix({k: f"{float(np.mean(np.asarray(v)[:, -1])):.3g}"
                             for k, v in metrics.items() if k in ("objective", "critic_loss",
                                                                  "actor_loss", "loss")})
            for sink in sinks:
                sink.log(rows)
            if callback is not None:
                callback(it, n, rows)
            if stop:   # also after the last chunk: a caller (a reproduction) stops too
                bar.close()
                raise interrupt.Interrupted(stop.signum, f"{desc} in {run_dir}", it, it)
    bar.close()
    return state


class TrainingDiverged(ValueError):
    """A training chunk produced a non-finite metric (loss, objective, ...) or state (parameters,
    optimiser state, ...). Raised before the chunk's metrics rows and checkpoint are written,
    so the run folder holds the state of the last finite checkpoint; the message is one line
    naming the run folder, the seed and the iteration."""


def with_optimiser_settings(state, fresh):
    """``state`` with the hyper-parameters (learning rates) of every
    ``optax.inject_hyperparams`` optimiser state taken from ``fresh``, a state of the same
    structure made by ``init`` from the current config; everything else is ``state``'s."""
    def is_hyper(x):
        return isinstance(x, (optax.InjectHyperparamsState,
                              optax.InjectStatefulHyperparamsState))

    return jax.tree_util.tree_map(
        lambda s, f: s._replace(hyperparams=f.hyperparams) if is_hyper(s) else s, state, fresh,
        is_leaf=is_hyper)


def all_finite(state) -> jax.Array:
    """Whether one seed's state is finite: every floating array leaf holds finite values only;
    a floating scalar leaf may be infinite (a sentinel such as the validation score before the
    first measurement) but not NaN. Computed inside the jitted chunk, so the check moves one
    flag per seed to the host, not the parameters."""
    ok = jnp.asarray(True)
    for x in jax.tree_util.tree_leaves(state):
        if jnp.issubdtype(x.dtype, jnp.inexact):
            ok = ok & (jnp.all(jnp.isfinite(x)) if x.ndim else ~jnp.isnan(x))
    return ok


def check_finite(metrics: dict, finite, run_dir, done: int, n: int, seed: int = 0) -> None:
    """Raise :class:`TrainingDiverged` if the chunk of ``n`` iterations after iteration
    ``done`` has a non-finite metric (``[seeds, n]`` arrays; the first such iteration, then
    seed, is named) or a seed whose state is not :func:`all_finite` at the chunk's end
    (``finite``: ``[seeds]``). Seeds are named by their index in ``metrics.jsonl``; ``seed``
    is the run's base seed."""
    bad = {k: ~np.isfinite(np.asarray(v, np.float64)) for k, v in metrics.items()}
    first = None                           # (iteration index in chunk, seed index, metric)
    for k, b in bad.items():
        for s, i in zip(*np.nonzero(b)):
            if first is None or (i, s) < first[:2]:
                first = (int(i), int(s), k)
    finite = np.asarray(finite).reshape(-1)
    if first is not None:
        i, s, k = first
        value = float(np.asarray(metrics[k])[s, i])
        what = f"{k} is {value}"
    elif not finite.all():
        i = n - 1
        s = int(np.flatnonzero(~finite)[0])
        what = "the training state (parameters or optimiser state) is not finite"
    else:
        return
    raise TrainingDiverged(
        f"training diverged in {run_dir}: {what} at iteration {done + i + 1} of seed index {s} "
        f"(--seed {seed}); the run keeps its last finite checkpoint (iteration {done}): resume "
        "it with a smaller learning rate (docs/failures.md)")


# The jitted programs of a training run are kept per process for the functions ``init`` and
# ``iteration`` they were made from: a later run of the same functions (a resumed run, a run of
# the same algorithm and config: dtac_jax.runs builds them once per config) calls the same
# jitted objects, which trace nothing again. A bounded cache; the programs hold the functions.
@functools.lru_cache(maxsize=32)
def init_program(init: Callable, mesh) -> Callable:
    """``jit(vmap(init))`` (``mesh``: its data-parallel form), outputs strongly typed: a
    restored checkpoint has no weak types, and the chunk program must see the same input types
    fresh and resumed, else it compiles twice."""
    fn = jax.vmap(_strongly_typed(init))
    return jax.jit(fn) if mesh is None else parallel.data_parallel(fn, mesh)


@functools.lru_cache(maxsize=32)
def chunk_program(iteration: Callable, n: int, mesh) -> Callable:
    """``jit(vmap(scan(iteration)))`` over ``n`` iterations, with the seeds' finiteness flags
    (``mesh``: its data-parallel form)."""
    def run(s):
        s, m = jax.lax.scan(lambda c, _: iteration(c), s, None, length=n)
        return s, m, all_finite(s)
    fn = jax.vmap(run)
    return jax.jit(fn) if mesh is None else parallel.data_parallel(fn, mesh)


def _strongly_typed(fn: Callable) -> Callable:
    """``fn`` with every output leaf converted to a strong (not weakly typed) dtype."""
    def wrapped(*args):
        return jax.tree_util.tree_map(lambda x: jax.lax.convert_element_type(x, x.dtype),
                                      fn(*args))
    return wrapped


def read_metrics(run_dir) -> list[dict]:
    """The rows of ``run_dir/metrics.jsonl`` (:func:`dtac_jax.runfolder.read_metrics`: a
    torn last line left out, other damage named by file and line)."""
    return runfolder.read_metrics(run_dir)


def seed_slice(state, i: int = 0):
    """The ``i``-th seed of a vmapped state."""
    return jax.tree_util.tree_map(lambda v: v[i], state)
