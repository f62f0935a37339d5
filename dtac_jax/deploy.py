"""Distributed execution (Algorithm 1, lines 20-22): one UE decides from its own state alone.

``act = make_act("runs/dtac")`` gives ``act(obs[6], edge_id) -> (x, l, a, b)`` (Python numbers,
from an ahead-of-time compiled executable) that needs nothing but that UE's observation and its
edge id. Because DTAC's attention is the
identity, its output equals the batched DTAC actor's output for that UE.

On the CPU a deployment process should call ``jax.config.update("jax_cpu_enable_async_dispatch",
False)`` before its first JAX computation: a decision then runs in the calling thread, about
2.3x a trivial jitted call instead of 6x (``benchmarks/deploy.md``). The setting is
process-wide and fixed when JAX starts, so ``make_act`` does not change it for you.

``make_act`` reads the run folder alone: its ``config.json`` (the transfer config and the
network shape it recorded from its TAC run) and the delivered student in its checkpoint. The
TAC run it started from is not needed, so the folder deploys wherever it is copied.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from dtac_jax import checkpoint as ckpt
from dtac_jax.algos.dtac import TransferConfig, delivered_field, student_model
from dtac_jax.nets.transformer import NetConfig
from dtac_jax.train import seed_slice


def make_act(run_dir, seed_index: int = 0):
    """The jitted one-UE decision of seed ``seed_index`` of the DTAC run in ``run_dir``."""
    conf = ckpt.read_config(run_dir)
    if conf.get("kind") != "transfer":
        raise ValueError(f"{run_dir} is not a transfer run (kind {conf.get('kind')!r}): deploy "
                         "expects a DTAC run folder")
    cfg = TransferConfig.from_dict(dict(conf["transfer"], iterations=1))
    net = NetConfig.from_dict(conf["net"])
    if not 0 <= seed_index < int(conf["seeds"]):
        raise ValueError(f"{run_dir} holds {conf['seeds']} seed(s): seed_index {seed_index} "
                         "is not one of them")
    if cfg.student != "transformer":
        raise ValueError(f"{run_dir} holds a {cfg.student} student; deploy expects DTAC "
                         f"(identity-attention transformer)")
    student = ckpt.restore_part(run_dir, delivered_field(cfg))
    return act_fn(seed_slice(student, seed_index), cfg, net)


def decide_fn(student_params, cfg, net):
    """The pure decision of one UE, for ``jit`` and ``jax.export``: ``decide(packed) ->
    float32[4]`` with ``packed = [obs (6 numbers), edge id]`` (float32[7]) and the output
    ``[x, channel, a, b]`` (the two choices as whole numbers)."""
    from dtac_jax.env.env import OBS_DIM, Obs
    _, act = student_model(cfg, net)

    def decide(packed):
        packed = jnp.asarray(packed, jnp.float32)
        o = Obs(s=packed[None, :OBS_DIM], mask=jnp.ones((1,), bool),
                edge=packed[OBS_DIM].astype(jnp.int32)[None])
        p_x, p_l, a, b = act(student_params, o)
        return jnp.stack([jnp.argmax(p_x[0]).astype(jnp.float32),
                          jnp.argmax(p_l[0]).astype(jnp.float32), a[0], b[0]])

    return decide


def act_fn(student_params, cfg, net):
    """``act(obs, edge_id) -> (x, channel, a, b)`` as Python numbers, one UE.

    A decision is one call of an ahead-of-time compiled executable on one preallocated input
    buffer, with one output buffer: the observation and the edge id are packed into it on the
    host, so a call moves one array each way and does no tracing or cache lookup (measured
    against a trivial jitted call in ``experiments/bench_deploy.py``). ``act.decide`` is the
    pure function it compiles (:func:`decide_fn`), for ``jax.export``. One ``act`` serves one
    thread at a time (the input buffer is shared)."""
    from dtac_jax.env.env import OBS_DIM
    decide = decide_fn(student_params, cfg, net)
    compiled = jax.jit(decide).lower(
        jax.ShapeDtypeStruct((OBS_DIM + 1,), jnp.float32)).compile()
    packed = np.empty(OBS_DIM + 1, np.float32)

    def act_one(obs, edge_id):
        packed[:OBS_DIM] = obs      # the previous call has finished: its output was read
        packed[OBS_DIM] = edge_id
        out = np.asarray(compiled(packed))
        return int(out[0]), int(out[1]), float(out[2]), float(out[3])

    act_one.decide = decide
    return act_one
