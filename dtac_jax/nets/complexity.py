"""Model complexity (paper Table IV): parameter counts and FLOPs per UE.

FLOPs are XLA's cost analysis of the compiled forward pass, so they count what runs, not a
hand-derived formula.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from dtac_jax.env.env import OBS_DIM
from dtac_jax.nets.transformer import Actor, Critic, NetConfig, init_actor_critic


def param_count(tree) -> int:
    return int(sum(x.size for x in jax.tree_util.tree_leaves(tree)))


def complexity(cfg: NetConfig, n: int = 30) -> dict[str, float]:
    """Parameter counts and FLOPs per UE (XLA cost analysis of one joint forward pass / N)."""
    # sizes only: initialised in one compiled program rather than op by op
    p = jax.jit(init_actor_critic, static_argnums=1)(jax.random.PRNGKey(0), cfg)
    s = jnp.ones((n, OBS_DIM))
    edge = jnp.zeros((n,), jnp.int32)
    mask = jnp.ones((n,), bool)
    out = {"actor_params": param_count(p["actor"]), "critic_params": param_count(p["critic"])}
    for attn in ("full", "identity"):
        actor = Actor(cfg, attn)
        def f(prm, actor=actor):
            return actor.apply(prm, s, edge, mask)
        acts = jax.jit(f)(p["actor"])
        out[f"actor_{attn}_flops_per_ue"] = xla_flops(f, p["actor"]) / n
        critic = Critic(cfg, attn)
        out[f"critic_{attn}_flops_per_ue"] = xla_flops(
            lambda prm, critic=critic, acts=acts: critic.apply(prm, s, edge, mask, *acts),
            p["critic"]) / n
    return out


def xla_flops(fn, *args) -> float:
    """FLOPs of ``jit(fn)(*args)`` by XLA's cost analysis of the compiled program (NaN when
    the backend reports none)."""
    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost.get("flops", float("nan")))
