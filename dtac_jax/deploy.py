"""Distributed execution (Algorithm 1, lines 20-22): one UE decides from its own state alone.

``act = make_act("runs/dtac")`` gives a jitted ``act(obs[6], edge_id) -> (x, l, a, b)`` that
needs nothing but that UE's observation and its edge id. Because DTAC's attention is the
identity, its output equals the batched DTAC actor's output for that UE.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from dtac_jax.algos.dtac import student_model
from dtac_jax.runs import load_transfer
from dtac_jax.train import seed_slice


def make_act(run_dir, seed_index: int = 0):
    scn, cfg, net, student = load_transfer(run_dir)
    if cfg.student != "transformer":
        raise ValueError(f"{run_dir} holds a {cfg.student} student; deploy expects DTAC "
                         f"(identity-attention transformer)")
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
