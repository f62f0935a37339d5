"""Transformer actor and critic of TAC / DTAC (paper Fig. 3, section III-B).

UE tokens are the embedded, log-normalised observation plus an embedding of the UE's edge id
(the position embedding). A stack of encoder blocks, then decoder blocks (self-attention on
the input tokens, cross-attention to the encoder output). Padding is masked out of every
attention. Every attention takes ``attention_fn``: the same modules and the same parameter
tree run with scaled dot-product attention (TAC, eq. 20) or identity attention
``Attn(Q, K, V) = V`` (DTAC, eq. 21), which makes each UE's output a function of its own
token only.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from dtac_jax.config import Config
from dtac_jax.env.env import OBS_DIM
from dtac_jax.nets.distributions import ActionDist

MAX_EDGES = 16  # size of the edge-id embedding table (K <= 16)


def scaled_dot_product_attention(query, key, value, bias=None, mask=None, **kwargs):
    """Standard attention (paper eq. 20): ``softmax(Q K^T / sqrt(d_k)) V``."""
    return nn.dot_product_attention(query, key, value, bias=bias, mask=mask, **kwargs)


def identity_attention(query, key, value, bias=None, mask=None, **kwargs):
    """DTAC's attention (paper eq. 21): ``Attn(Q, K, V) = V``; each token keeps its own value."""
    del query, key, bias, mask, kwargs
    return value


ATTENTION = {"full": scaled_dot_product_attention, "identity": identity_attention}


def normalize_obs(s: jax.Array) -> jax.Array:
    """Fixed per-token log-scale normalisation of the eq. 14 observation (no batch statistics,
    so it never mixes information between UEs). Received power in W, times in s."""
    power = (jnp.log10(s[..., :1] + 1e-16) + 10.0) / 2.0
    times = jnp.log10(s[..., 1:] + 1e-3) / 1.5
    return jnp.concatenate([power, times], axis=-1)


@dataclasses.dataclass(frozen=True)
class NetConfig(Config):
    d_model: int = 16
    heads: int = 2
    d_ff: int = 32
    encoders: int = 2
    decoders: int = 1
    n_channels: int = 4   # L, size of the p_l head
    a_min: float = 0.01   # floor of a and b (both in [a_min, 1))

    def __post_init__(self):
        if self.d_model % self.heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by heads ({self.heads})")
        for f in ("d_model", "heads", "d_ff", "n_channels"):
            if getattr(self, f) < 1:
                raise ValueError(f"NetConfig.{f} must be >= 1")
        if self.encoders < 0 or self.decoders < 0 or self.encoders + self.decoders < 1:
            raise ValueError("NetConfig needs at least one encoder or decoder block")


class _Attention(nn.Module):
    cfg: NetConfig
    attention_fn: Callable

    @nn.compact
    def __call__(self, q_in, kv_in, mask):
        attn_mask = nn.make_attention_mask(mask, mask)
        return nn.MultiHeadDotProductAttention(
            num_heads=self.cfg.heads, qkv_features=self.cfg.d_model,
            out_features=self.cfg.d_model, attention_fn=self.attention_fn,
            deterministic=True)(q_in, kv_in, mask=attn_mask)


class _FeedForward(nn.Module):
    cfg: NetConfig

    @nn.compact
    def __call__(self, h):
        return nn.Dense(self.cfg.d_model)(nn.gelu(nn.Dense(self.cfg.d_ff)(h)))


class EncoderBlock(nn.Module):
    cfg: NetConfig
    attention_fn: Callable

    @nn.compact
    def __call__(self, h, mask):
        h = nn.LayerNorm()(h + _Attention(self.cfg, self.attention_fn)(h, h, mask))
        return nn.LayerNorm()(h + _FeedForward(self.cfg)(h))


class DecoderBlock(nn.Module):
    cfg: NetConfig
    attention_fn: Callable

    @nn.compact
    def __call__(self, h, memory, mask):
        h = nn.LayerNorm()(h + _Attention(self.cfg, self.attention_fn)(h, h, mask))
        h = nn.LayerNorm()(h + _Attention(self.cfg, self.attention_fn)(h, memory, mask))
        return nn.LayerNorm()(h + _FeedForward(self.cfg)(h))


class Backbone(nn.Module):
    """Token embedding + position (edge-id) embedding, encoders, then decoders."""

    cfg: NetConfig
    attention_fn: Callable

    @nn.compact
    def __call__(self, features, edge, mask):
        x0 = nn.Dense(self.cfg.d_model, name="embed")(features)
        x0 = x0 + nn.Embed(MAX_EDGES, self.cfg.d_model, name="edge_embed")(edge)
        h = x0
        for i in range(self.cfg.encoders):
            h = EncoderBlock(self.cfg, self.attention_fn, name=f"encoder_{i}")(h, mask)
        memory, h = h, x0  # decoders query the input tokens, attend to the encoder output
        for i in range(self.cfg.decoders):
            h = DecoderBlock(self.cfg, self.attention_fn, name=f"decoder_{i}")(h, memory, mask)
        return h


class Actor(nn.Module):
    """Joint state -> :class:`ActionDist` (p_x [N,3], p_l [N,L], a [N], b [N]) (paper eq. 16)."""

    cfg: NetConfig
    attention: str = "full"

    @nn.compact
    def __call__(self, s, edge, mask):
        h = Backbone(self.cfg, ATTENTION[self.attention], name="backbone")(
            normalize_obs(s), edge, mask)
        p_x = nn.softmax(nn.Dense(3, name="head_x")(h))
        p_l = nn.softmax(nn.Dense(self.cfg.n_channels, name="head_l")(h))
        ab = nn.sigmoid(nn.Dense(2, name="head_ab")(h))
        ab = self.cfg.a_min + (1.0 - self.cfg.a_min) * ab
        return ActionDist(p_x, p_l, ab[..., 0], ab[..., 1])


class Critic(nn.Module):
    """(joint state, p_x, p_l, a, b) -> per-UE predicted (time, energy) costs, transformed.

    With ``future``, a third per-UE output whose sum over the real UEs predicts the discounted
    transformed objective of the rounds that follow (multi-round credit, ``PPOConfig.horizon``).
    """

    cfg: NetConfig
    attention: str = "full"
    future: bool = False

    @nn.compact
    def __call__(self, s, edge, mask, p_x, p_l, a, b):
        feats = jnp.concatenate([normalize_obs(s), p_x, p_l, a[..., None], b[..., None]], -1)
        h = Backbone(self.cfg, ATTENTION[self.attention], name="backbone")(feats, edge, mask)
        return nn.Dense(3 if self.future else 2, name="head_q")(h)


def critic_module(cfg: NetConfig, critic_params, attention: str = "full") -> Critic:
    """The :class:`Critic` that ``critic_params`` belong to (with or without the future
    output, read from the head's shape)."""
    return Critic(cfg, attention, future=critic_params["params"]["head_q"]["kernel"].shape[-1] == 3)


class ValueNet(nn.Module):
    """Joint state -> scalar state value (the stochastic-policy TAC's baseline): the critic's
    backbone on the observations alone, mean-pooled over the real UEs."""

    cfg: NetConfig

    @nn.compact
    def __call__(self, s, edge, mask):
        h = Backbone(self.cfg, scaled_dot_product_attention, name="backbone")(
            normalize_obs(s), edge, mask)
        w = mask[..., None].astype(h.dtype)
        pooled = jnp.sum(h * w, axis=-2) / jnp.maximum(jnp.sum(w, axis=-2), 1.0)
        return nn.Dense(1, name="head_v")(pooled)[..., 0]


def init_actor_critic(key, cfg: NetConfig, n: int = 4, future: bool = False) -> dict[str, Any]:
    """Initial ``{"actor": ..., "critic": ...}`` parameters (shape-agnostic in N); ``future``:
    the critic's multi-round output (:class:`Critic`)."""
    ka, kc = jax.random.split(key)
    s = jnp.ones((n, OBS_DIM))
    edge = jnp.zeros((n,), jnp.int32)
    mask = jnp.ones((n,), bool)
    actor = Actor(cfg).init(ka, s, edge, mask)
    p_x, p_l, a, b = Actor(cfg).apply(actor, s, edge, mask)
    critic = Critic(cfg, future=future).init(kc, s, edge, mask, p_x, p_l, a, b)
    return {"actor": actor, "critic": critic}
