"""Losses and returns: the critic's MSE to transformed costs (paper eq. 18), the actor loss
through the critic (eqs. 19 / 22), MSE to a teacher (eq. 26), the policy entropy, and
generalised advantage estimation with time limits.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from dtac_jax.env.env import Obs
from dtac_jax.nets.distributions import ActionDist
from dtac_jax.nets.transformer import Critic, NetConfig

def gae(rewards, values, next_values, dones, gamma: float, lam: float):
    """Generalised advantage estimation over the leading (round) axis with time limits.

    ``next_values`` are the values of each round's next state before any reset, so an
    episode cut by its round limit is bootstrapped, not treated as terminal; ``dones`` only
    stop the lambda-trace from crossing into the next episode. Returns ``(adv, targets)``.
    """
    def body(adv_next, inp):
        r, v, nv, d = inp
        adv = r + gamma * nv - v + gamma * lam * (1.0 - d) * adv_next
        return adv, adv

    _, adv = jax.lax.scan(body, jnp.zeros_like(values[0]),
                          (rewards, values, next_values, dones.astype(values.dtype)),
                          reverse=True)
    return adv, adv + values


def cost_transform(cost, scale):
    """Monotone target transform ``log1p(cost / scale)``: costs span orders of magnitude."""
    return jnp.log1p(cost / scale)


def cost_inverse(pred, scale):
    return scale * jnp.expm1(jnp.clip(pred, 0.0, 30.0))


def critic_loss(critic_params, batch, net: NetConfig, scale: float):
    """Paper eq. 18: MSE of the per-UE (time, energy) prediction, real UEs only."""
    pred = jax.vmap(Critic(net).apply, in_axes=(None, 0, 0, 0, 0, 0, 0, 0))(
        critic_params, batch["s"], batch["edge"], batch["mask"], batch["p_x"], batch["p_l"],
        batch["a"], batch["b"])
    err = (pred - cost_transform(batch["cost"], scale)) ** 2
    m = batch["mask"][..., None]
    return jnp.sum(jnp.where(m, err, 0.0)) / (2.0 * jnp.maximum(jnp.sum(batch["mask"]), 1))


def policy_entropy(p_x, p_l, mask):
    """Sum over real UEs of the entropies of the target and channel distributions."""
    h = ActionDist(p_x, p_l, None, None).entropy()
    return jnp.sum(jnp.where(mask, h, 0.0), axis=-1)


def straight_through(p):
    """``one_hot(argmax p)`` forward, the gradient of ``p`` backward."""
    hard = jax.nn.one_hot(jnp.argmax(p, -1), p.shape[-1], dtype=p.dtype)
    return p + jax.lax.stop_gradient(hard - p)


def actor_critic_loss(actor_params, critic_params, batch, act: Callable, net: NetConfig,
                      scale: float, entropy_weight: float, critic_input: str = "probs"):
    """Paper eqs. 19 / 22: ``max_n Q_time + sum_n Q_energy - w_s sum_n H`` through the critic.

    The critic predicts weighted costs (``w_time t``, ``w_energy e``), so the weights are
    already inside ``Q``. ``act`` decides whether the actor attends (TAC) or not (DTAC). A
    critic trained on executed one-hot decisions (``critic_input="executed"``) is fed the
    actor's argmax decisions, with straight-through gradients to the probabilities.
    """
    obs = Obs(s=batch["s"], mask=batch["mask"], edge=batch["edge"])
    p_x, p_l, a, b = jax.vmap(act, in_axes=(None, 0))(actor_params, obs)
    q_x, q_l = ((straight_through(p_x), straight_through(p_l)) if critic_input == "executed"
                else (p_x, p_l))
    pred = jax.vmap(Critic(net).apply, in_axes=(None, 0, 0, 0, 0, 0, 0, 0))(
        critic_params, obs.s, obs.edge, obs.mask, q_x, q_l, a, b)
    q = cost_inverse(pred, scale)
    q_time = jnp.max(jnp.where(obs.mask, q[..., 0], -jnp.inf), axis=-1)
    q_energy = jnp.sum(jnp.where(obs.mask, q[..., 1], 0.0), axis=-1)
    ent = policy_entropy(p_x, p_l, obs.mask)
    return jnp.mean(q_time + q_energy - entropy_weight * ent)


def imitation_loss(actor_params, teacher_params, batch, act: Callable, teacher_act: Callable):
    """Paper eq. 26: MSE between the student's and the teacher's joint actions."""
    obs = Obs(s=batch["s"], mask=batch["mask"], edge=batch["edge"])
    student = jax.vmap(act, in_axes=(None, 0))(actor_params, obs)
    teacher = jax.vmap(teacher_act, in_axes=(None, 0))(teacher_params, obs)
    teacher = jax.lax.stop_gradient(teacher)
    sq = [jnp.sum((s_ - t_) ** 2, axis=-1) if s_.ndim == 3 else (s_ - t_) ** 2
          for s_, t_ in zip(student, teacher)]
    per_ue = sum(sq)
    return jnp.sum(jnp.where(obs.mask, per_ue, 0.0)) / jnp.maximum(jnp.sum(obs.mask), 1)
