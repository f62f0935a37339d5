"""The paper's estimator (``TACConfig.estimator = "critic"``): the deterministic actor's
gradient through the per-UE critic (eq. 19).

Each training iteration collects ``collect.envs`` x ``collect.rounds`` rounds with Gaussian
noise of variance ``noise_var`` on the actor's probabilities (Algorithm 1), adds them to the
replay buffer, then makes ``updates`` steps, each a critic step on a replayed batch followed
by an actor step through the just-updated critic. It keeps no state of its own.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from dtac_jax.algos import losses, replay
from dtac_jax.env import rng


def init(ctx, key, actor, hyper: dict):
    """The actor optimiser's state; no state of its own."""
    return ctx.optimizer(hyper["lr_actor"]).init(actor), {}


def train(ctx, ts, key):
    cfg = ctx.cfg

    def update(ts, key):
        """Critic step, then the actor through the just-updated critic (eq. 19)."""
        ts, (batch, c_loss) = ctx.critic_step(ts, key)
        a_loss, g_a = jax.value_and_grad(losses.actor_critic_loss)(
            ts.actor, ts.critic, batch, ctx.act, cfg.net, cfg.cost_scale,
            ts.hyper["entropy_weight"], cfg.critic_input)
        upd, actor_opt = ctx.opt_actor.update(g_a, ts.actor_opt, ts.actor)
        ts = ts.replace(actor=optax.apply_updates(ts.actor, upd), actor_opt=actor_opt)
        return ts, (c_loss, a_loss)

    k_col, k_upd = rng.split(key)
    items, objective, obs, env_state = replay.collect(
        k_col, ctx.act, ts.actor, ts.obs, ts.env_state, ts.noise_var, ctx.params, cfg.collect,
        cfg.net.a_min, cfg.critic_input, env=ctx.env)
    ts = ts.replace(buffer=ctx.buffer.add(ts.buffer, items), obs=obs, env_state=env_state)
    ts, (c_loss, a_loss) = jax.lax.scan(update, ts, rng.split(k_upd, cfg.updates))
    return ts, dict(collect_objective=jnp.mean(objective), critic_loss=jnp.mean(c_loss),
                    actor_loss=jnp.mean(a_loss))
