"""Distributed execution (Algorithm 1, lines 20-22): one UE decides from its own state alone.

``act = make_act("runs/dtac")`` gives a jitted ``act(obs[6], edge_id) -> (x, l, a, b)`` that
needs nothing but that UE's observation and its edge id. Because DTAC's attention is the
identity, its output equals the batched DTAC actor's output for that UE.

``make_act`` reads the run folder alone: its ``config.json`` (the transfer config and the
network shape it recorded from its TAC run) and the delivered student in its checkpoint. The
TAC run it started from is not needed, so the folder deploys wherever it is copied.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

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
    cfg = TransferConfig.from_dict(dict(conf["transfer"], episodes=1))
    net = NetConfig.from_dict(conf["net"])
    if not 0 <= seed_index < int(conf["seeds"]):
        raise ValueError(f"{run_dir} holds {conf['seeds']} seed(s): seed_index {seed_index} "
                         "is not one of them")
    if cfg.student != "transformer":
        raise ValueError(f"{run_dir} holds a {cfg.student} student; deploy expects DTAC "
                         f"(identity-attention transformer)")
    student = ckpt.restore_part(run_dir, delivered_field(cfg))
    return act_fn(seed_slice(student, seed_index), cfg, net)


def act_fn(student_params, cfg, net):
    _, act = student_model(cfg, net)

    @jax.jit
    def act_one(obs, edge_id):
        from dtac_jax.env.env import Obs
        o = Obs(s=jnp.asarray(obs)[None, :], mask=jnp.ones((1,), bool),
                edge=jnp.asarray(edge_id, jnp.int32)[None])
        p_x, p_l, a, b = act(student_params, o)
        return (jnp.argmax(p_x[0]).astype(jnp.int32), jnp.argmax(p_l[0]).astype(jnp.int32),
                a[0], b[0])

    return act_one
