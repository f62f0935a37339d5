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
from dtac_jax.nets.transformer import NetConfig, critic_module

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


def future_targets(objective, done, gamma: float, horizon: int, scale: float):
    """The critic's multi-round target of every round of a rollout (leading axis: rounds):
    ``G_t = sum_{k=1..horizon} gamma^k log1p(o_{t+k} / scale)`` over the rounds of the same
    episode (an episode's end stops the sum). Returns ``(G, valid)``: ``valid`` where the
    rollout holds every round the sum needs (the last ``horizon`` rounds of a rollout have an
    unfinished future unless their episode ends)."""
    r = objective.shape[0]
    c = cost_transform(objective, scale)
    pad = lambda v: jnp.concatenate([v, jnp.zeros((horizon,) + v.shape[1:], v.dtype)])
    c_p, alive_p = pad(c), pad(1.0 - done.astype(c.dtype))
    t = jnp.arange(r).reshape((r,) + (1,) * (c.ndim - 1))
    g = jnp.zeros_like(c)
    alive = jnp.ones_like(c)
    valid = jnp.ones(c.shape, bool)
    for k in range(1, horizon + 1):
        alive = alive * alive_p[k - 1:k - 1 + r]   # the episode goes on after round t + k - 1
        g = g + gamma ** k * alive * c_p[k:k + r]
        valid = valid & ((t + k <= r - 1) | (alive == 0))
    return g, valid


def cost_transform(cost, scale):
    """Monotone target transform ``log1p(cost / scale)``: costs span orders of magnitude."""
    return jnp.log1p(cost / scale)


def cost_inverse(pred, scale):
    """Inverse of :func:`cost_transform`, capped above (``pred <= 30``) against overflow. Below
    zero it is not clipped, so its gradient never vanishes; a prediction below zero means a
    cost in ``(-scale, 0)``, a bounded error."""
    return scale * jnp.expm1(jnp.minimum(pred, 30.0))


def critic_loss(critic_params, batch, net: NetConfig, scale: float):
    """Paper eq. 18: MSE of the per-UE (time, energy) prediction, real UEs only. A critic with
    the future output also regresses its sum over the real UEs on ``batch["future"]`` where
    ``batch["future_valid"]``."""
    critic = critic_module(net, critic_params)
    pred = jax.vmap(critic.apply, in_axes=(None, 0, 0, 0, 0, 0, 0, 0))(
        critic_params, batch["s"], batch["edge"], batch["mask"], batch["p_x"], batch["p_l"],
        batch["a"], batch["b"])
    err = (pred[..., :2] - cost_transform(batch["cost"], scale)) ** 2
    m = batch["mask"][..., None]
    loss = jnp.sum(jnp.where(m, err, 0.0)) / (2.0 * jnp.maximum(jnp.sum(batch["mask"]), 1))
    if critic.future:
        f = jnp.sum(jnp.where(batch["mask"], pred[..., 2], 0.0), -1)
        valid = batch["future_valid"]
        loss = loss + jnp.sum(jnp.where(valid, (f - batch["future"]) ** 2, 0.0)) / (
            2.0 * jnp.maximum(jnp.sum(valid), 1))
    return loss


def policy_entropy(p_x, p_l, mask):
    """Sum over real UEs of the entropies of the target and channel distributions."""
    h = ActionDist(p_x, p_l, None, None).entropy()
    return jnp.sum(jnp.where(mask, h, 0.0), axis=-1)


def straight_through(p):
    """``one_hot(argmax p)`` forward, the gradient of ``p`` backward."""
    hard = jax.nn.one_hot(jnp.argmax(p, -1), p.shape[-1], dtype=p.dtype)
    return p + jax.lax.stop_gradient(hard - p)


def critic_predict(critic_params, net: NetConfig, obs: Obs, p_x, p_l, a, b, scale: float):
    """The critic's estimate of one round's objective ``max_n Q_time + sum_n Q_energy`` over
    the real UEs (paper eq. 19 without the entropy) for the decisions ``(p_x, p_l, a, b)``, and
    its estimate of the discounted transformed objective of the rounds that follow (0 for a
    critic without the future output).

    The critic predicts transformed weighted costs (``w_time t``, ``w_energy e``), so the
    weights are already inside ``Q``. One joint state (no batch axis).
    """
    critic = critic_module(net, critic_params)
    pred = critic.apply(critic_params, obs.s, obs.edge, obs.mask, p_x, p_l, a, b)
    q = cost_inverse(pred[..., :2], scale)
    q_time = jnp.max(jnp.where(obs.mask, q[..., 0], -jnp.inf), axis=-1)
    q_energy = jnp.sum(jnp.where(obs.mask, q[..., 1], 0.0), axis=-1)
    future = (jnp.sum(jnp.where(obs.mask, pred[..., 2], 0.0), -1) if critic.future
              else jnp.zeros((), pred.dtype))
    return q_time + q_energy, future


def critic_objective(critic_params, net: NetConfig, obs: Obs, p_x, p_l, a, b, scale: float):
    """The round objective of :func:`critic_predict`."""
    return critic_predict(critic_params, net, obs, p_x, p_l, a, b, scale)[0]


def actor_critic_loss(actor_params, critic_params, batch, act: Callable, net: NetConfig,
                      scale: float, entropy_weight: float, critic_input: str = "probs"):
    """Paper eqs. 19 / 22: ``max_n Q_time + sum_n Q_energy - w_s sum_n H`` through the critic
    (:func:`critic_objective`), averaged over the batch's rounds.

    ``act`` decides whether the actor attends (TAC) or not (DTAC). A critic trained on executed
    one-hot decisions (``critic_input="executed"``) is fed the actor's argmax decisions, with
    straight-through gradients to the probabilities.
    """
    obs = Obs(s=batch["s"], mask=batch["mask"], edge=batch["edge"])
    p_x, p_l, a, b = jax.vmap(act, in_axes=(None, 0))(actor_params, obs)
    q_x, q_l = ((straight_through(p_x), straight_through(p_l)) if critic_input == "executed"
                else (p_x, p_l))
    q = jax.vmap(critic_objective, in_axes=(None, None, 0, 0, 0, 0, 0, None))(
        critic_params, net, obs, q_x, q_l, a, b, scale)
    ent = policy_entropy(p_x, p_l, obs.mask)
    return jnp.mean(q - entropy_weight * ent)


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


def teacher_kl(actor_params, teacher_params, batch, act: Callable, teacher_act: Callable):
    """``KL(teacher || student)`` of the target and channel distributions, per real UE: a trust
    region around the teacher for DTAC's eq. 22 (``TransferConfig.trust_weight``)."""
    obs = Obs(s=batch["s"], mask=batch["mask"], edge=batch["edge"])
    s_x, s_l, _, _ = jax.vmap(act, in_axes=(None, 0))(actor_params, obs)
    t_x, t_l, _, _ = jax.lax.stop_gradient(jax.vmap(teacher_act, in_axes=(None, 0))(
        teacher_params, obs))
    kl = lambda t, q: jnp.sum(t * (jnp.log(t + 1e-12) - jnp.log(q + 1e-12)), -1)
    per_ue = kl(t_x, s_x) + kl(t_l, s_l)
    return jnp.sum(jnp.where(obs.mask, per_ue, 0.0)) / jnp.maximum(jnp.sum(obs.mask), 1)
