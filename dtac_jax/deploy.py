"""Distributed execution (Algorithm 1, lines 20-22): one UE decides from its own state alone.

``act = make_act("runs/dtac")`` gives ``act(obs[6], edge_id) -> (x, l, a, b)`` (Python numbers,
from an ahead-of-time compiled executable) that needs nothing but that UE's observation and its
edge id. Because DTAC's attention is the identity, its output equals the batched DTAC actor's
output for that UE (to float rounding: the decision runs the actor folded for one token,
:func:`fold_identity_actor`).

On the CPU a deployment process should call ``jax.config.update("jax_cpu_enable_async_dispatch",
False)`` before its first JAX computation: a decision then runs in the calling thread, about
1.8x a trivial jitted call instead of 6x (``benchmarks/deploy.md``). The setting is
process-wide and fixed when JAX starts, so ``make_act`` does not change it for you.

``make_act`` reads the run folder alone: its ``config.json`` (the transfer config and the
network shape it recorded from its TAC run) and the delivered student in its checkpoint. The
TAC run it started from is not needed, so the folder deploys wherever it is copied.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from dtac_jax import checkpoint as ckpt
from dtac_jax.algos.dtac import TransferConfig, delivered_field
from dtac_jax.nets.transformer import NetConfig, normalize_obs
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


def fold_identity_actor(actor_params, net: NetConfig) -> dict:
    """The DTAC actor's parameters (:class:`~dtac_jax.nets.transformer.Actor` with identity
    attention) folded for one UE into one affine map before each LayerNorm, and one for the
    three heads.

    With ``Attn(Q, K, V) = V`` an attention block maps a token ``h`` to ``out(value(h))``: the
    two projections multiply into one ``d x d`` matrix, the residual ``h +`` adds the identity
    (the query and key projections do not enter). A feed-forward block's residual is one
    product of ``[h, gelu(...)]`` with ``[I; W2]``, a decoder's cross-attention one of ``[h,
    memory]``. Each map gets one more output column, the mean of the others, which is the
    LayerNorm's mean. Measured on the 2-core CPU (``experiments/bench_deploy.py``, 8.3k
    parameters, inline dispatch, median against a trivial jitted call's 7.1 µs): the flax actor
    run on one token compiles to 18 products and 45 fused kernels, 16.6 µs a decision, most of
    it per-kernel dispatch; this program to 12 and 19, 12.9 µs (``benchmarks/deploy.md``).
    :func:`folded_decision` is the forward pass; tests/driver/test_deploy.py checks it against
    the flax actor at several network shapes."""
    p = actor_params["params"]
    bb = p["backbone"]
    d = net.d_model
    eye = jnp.eye(d, dtype=jnp.float32)

    def with_mean(m, c):  # (m, c) -> ([m, mean of m's columns], [c, mean(c)])
        return (jnp.concatenate([m, jnp.mean(m, axis=1, keepdims=True)], axis=1),
                jnp.concatenate([c, jnp.mean(c, keepdims=True)]))

    def attention(block):
        m = block["MultiHeadDotProductAttention_0"]
        wv, bv = m["value"]["kernel"].reshape(d, -1), m["value"]["bias"].reshape(-1)
        wo = m["out"]["kernel"].reshape(-1, d)
        return wv @ wo, bv @ wo + m["out"]["bias"]

    def ffn(block):  # flax names the output layer first (created first in the expression)
        f = block["_FeedForward_0"]
        return dict(w1=f["Dense_1"]["kernel"], b1=f["Dense_1"]["bias"],
                    res=with_mean(jnp.concatenate([eye, f["Dense_0"]["kernel"]]),
                                  f["Dense_0"]["bias"]))

    encoders = []
    for i in range(net.encoders):
        blk = bb[f"encoder_{i}"]
        a, c = attention(blk["_Attention_0"])
        encoders.append(dict(att=with_mean(eye + a, c), ln=(blk["LayerNorm_0"], blk["LayerNorm_1"]),
                             **ffn(blk)))
    decoders = []
    for i in range(net.decoders):
        blk = bb[f"decoder_{i}"]
        a0, c0 = attention(blk["_Attention_0"])
        a1, c1 = attention(blk["_Attention_1"])
        decoders.append(dict(att=with_mean(eye + a0, c0),
                             cross=with_mean(jnp.concatenate([eye, a1]), c1),
                             ln=(blk["LayerNorm_0"], blk["LayerNorm_1"], blk["LayerNorm_2"]),
                             **ffn(blk)))
    heads = ("head_x", "head_l", "head_ab")
    return dict(embed=bb["embed"], edge_embed=bb["edge_embed"]["embedding"],
                encoders=encoders, decoders=decoders,
                w_head=jnp.concatenate([p[h]["kernel"] for h in heads], axis=1),
                b_head=jnp.concatenate([p[h]["bias"] for h in heads]))


def folded_decision(folded: dict, s, edge, net: NetConfig):
    """One UE's ``(x, channel, a, b)`` from its observation ``s`` [OBS_DIM] and edge id: the
    identity-attention actor's forward pass on one token, on :func:`fold_identity_actor`'s
    parameters (the argmax of the logits is the argmax of the probabilities)."""
    d = net.d_model

    def norm(u, mc, ln):  # flax's LayerNorm (epsilon 1e-6, fast variance) of u @ m + c
        z = u @ mc[0] + mc[1]
        y, mean = z[:d], z[d]
        var = jnp.maximum(jnp.mean(y * y) - mean * mean, 0.0)
        return (y - mean) * jax.lax.rsqrt(var + 1e-6) * ln["scale"] + ln["bias"]

    def feed_forward(h, blk, ln):
        g = nn.gelu(h @ blk["w1"] + blk["b1"])
        return norm(jnp.concatenate([h, g]), blk["res"], ln)

    x0 = (normalize_obs(s) @ folded["embed"]["kernel"] + folded["embed"]["bias"]
          + jnp.take(folded["edge_embed"], edge, axis=0))
    h = x0
    for e in folded["encoders"]:
        h = feed_forward(norm(h, e["att"], e["ln"][0]), e, e["ln"][1])
    memory, h = h, x0   # as the Backbone: decoders query the input token, attend to memory
    for dcd in folded["decoders"]:
        h = norm(h, dcd["att"], dcd["ln"][0])
        h = norm(jnp.concatenate([h, memory]), dcd["cross"], dcd["ln"][1])
        h = feed_forward(h, dcd, dcd["ln"][2])
    z = h @ folded["w_head"] + folded["b_head"]
    ab = net.a_min + (1.0 - net.a_min) * jax.nn.sigmoid(z[3 + net.n_channels:])
    return jnp.argmax(z[:3]), jnp.argmax(z[3:3 + net.n_channels]), ab[0], ab[1]


def decide_fn(student_params, cfg, net):
    """The pure decision of one UE, for ``jit`` and ``jax.export``: ``decide(packed) ->
    float32[4]`` with ``packed = [obs (6 numbers), edge id]`` (float32[7]) and the output
    ``[x, channel, a, b]`` (the two choices as whole numbers); the DTAC student's forward pass
    on one token (:func:`folded_decision`)."""
    from dtac_jax.env.env import OBS_DIM
    if cfg.student != "transformer":
        raise ValueError(f"deploy expects DTAC's identity-attention transformer student, not "
                         f"{cfg.student!r}")
    folded = fold_identity_actor(student_params, net)

    def decide(packed):
        packed = jnp.asarray(packed, jnp.float32)
        x, channel, a, b = folded_decision(folded, packed[:OBS_DIM],
                                           packed[OBS_DIM].astype(jnp.int32), net)
        return jnp.stack([x.astype(jnp.float32), channel.astype(jnp.float32), a, b])

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
