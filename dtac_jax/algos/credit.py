"""Per-UE credit for TAC's stochastic-policy estimator: difference rewards.

A UE's decision has three factors: its target, its channel and its ``(a, b)``. Each factor of
each UE is credited with the change of the round's transformed objective ``log1p(o / scale)``
when that factor alone is replaced by its expectation under the policy, everyone else's
decision held fixed (difference rewards: Wolpert and Tumer 2002; as a policy gradient,
Castellini et al. 2021). The credit is ``[N, 3]`` per round, in the shared reward's units:
positive when the sampled choice beat the policy's expectation. With a horizon
(``PPOConfig.horizon``), the critic's value of a decision also counts its estimate of the
discounted transformed objective of the rounds that follow (what a decision leaves in the edge
caches), so the credit reaches beyond the round.

What answers the "what if" questions is the credit *source* (:data:`SOURCES`):

* ``"critic"``: the learned critic of eq. 18 (:func:`dtac_jax.algos.losses.critic_predict`)
  asked every question exactly: ``1 + N (2 + L)`` forward passes per round in one ``vmap``, a
  COMA-style counterfactual baseline from a learned critic (181 transformer passes a round on
  ``small``). This is what the paper's estimator has: its critic and nothing else.
* ``"critic_linear"``: the same critic to first order: one backward pass gives the value's
  derivatives with respect to every UE's one-hot target and channel and its ``a``, ``b`` at the
  executed decision, and each what-if is read off the tangent (``c(o | x_n = k) ~ c(o) +
  g_x[n, k] - g_x[n, x_n]``). Cheap, but its credit correlates poorly with the exact one
  (docs/algorithms.md).
* ``"simulator"``: the simulator's own ``round_costs`` on the hidden state of the round, the
  same what-ifs in one ``vmap``. Model-based: information the paper's model-free method
  does not have. It is the ``oracle-credit`` recipe, a reference, not the default.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from dtac_jax.algos import losses
from dtac_jax.env import env as E
from dtac_jax.env import physics
from dtac_jax.env.env import Action, Obs
from dtac_jax.env.scenarios import EnvParams
from dtac_jax.nets.transformer import NetConfig

SOURCES = ("critic", "critic_linear", "simulator")


def exact_batch() -> int:
    """Joint states per vmapped batch of a critic's what-ifs (``lax.map``'s ``batch_size``),
    for TAC's credit and DTAC's eq. 22.

    On the CPU one state at a time is fastest: a state's ``1 + N (2 + L)`` passes already fill
    the cores, and larger batches leave the cache (2-core CPU, quick TAC, 3 vmapped seeds, per
    training iteration: small 5.27 s at 1, 6.20 s at 8, 11.5 s at 32, 15.4 s at 256; large 7.19 s
    at 1, 9.66 s at 8; ``experiments/profile_train.py``). Accelerators take 64 at once.
    """
    return 1 if jax.default_backend() == "cpu" else 64


def counterfactual_objectives(obj: Callable, action: Action, ab_mean, n_channels: int):
    """Round objectives with one UE's decision replaced, holding everyone else's (one round).

    ``obj(x, channel, a, b) -> scalar`` evaluates a joint decision. Returns ``(obj, obj_x [N,
    3], obj_l [N, L], obj_m [N])``: the objective of ``action``; with UE ``n``'s target set to
    each of the three; with its channel set to each of the ``L``; with its ``a``, ``b`` set to
    ``ab_mean`` (``[N]`` each; ``None``: not asked, ``obj_m`` is ``None``). The executed
    choice's entry is ``obj`` itself, so ``1 + N (2 + L)`` evaluations in one vmap.
    """
    n = action.x.shape[0]
    eye = jnp.eye(n, dtype=bool)
    ues = jnp.arange(n)

    def replaced(values, field):  # [n, n]: row i has UE i's field set to values[i]
        return jnp.where(eye, values[:, None], field[None, :])

    base = obj(action.x, action.channel, action.a, action.b)

    def alternatives(field, n_values, joint):  # [n, n_values]; joint(field') -> (x, channel)
        shifts = jnp.arange(1, n_values, dtype=field.dtype)
        choice = (field[None, :] + shifts[:, None]) % n_values            # [n_values - 1, n]
        objs = jax.vmap(lambda c: jax.vmap(lambda f: obj(*joint(f), action.a, action.b))(
            replaced(c, field)))(choice)
        out = jnp.broadcast_to(base, (n, n_values)).astype(objs.dtype)
        return out.at[ues[None, :], choice].set(objs)

    per_target = alternatives(action.x, 3, lambda f: (f, action.channel))
    per_channel = alternatives(action.channel, n_channels, lambda f: (action.x, f))
    if ab_mean is None:
        return base, per_target, per_channel, None
    at_mean = jax.vmap(obj, in_axes=(None, None, 0, 0))(
        action.x, action.channel, replaced(ab_mean[0], action.a), replaced(ab_mean[1], action.b))
    return base, per_target, per_channel, at_mean


def simulator_objective(env_state, params: EnvParams) -> Callable:
    """``obj(x, channel, a, b)``: the round objective by the simulator's own ``round_costs`` on
    the round's hidden state ``env_state`` (one env)."""
    kw = E.physics_kwargs(env_state, params)

    def obj(x, channel, a, b):
        _, e_ue, t_round = physics.round_costs(x=x, channel=channel, a=a, b=b,
                                               edge_block=params.ue_max, **kw)
        return physics.objective(t_round, e_ue, params.w_time, params.w_energy)

    return obj


def simulator_value(env_state, params: EnvParams, reward_scale: float) -> Callable:
    """``value(x, channel, a, b)``: the simulator's transformed round objective
    ``log1p(o / reward_scale)``."""
    obj = simulator_objective(env_state, params)
    return lambda *decision: jnp.log1p(obj(*decision) / reward_scale)


def _critic_value(critic_params, net: NetConfig, obs: Obs, cost_scale: float,
                  reward_scale: float, p_x, p_l, a, b):
    o, future = losses.critic_predict(critic_params, net, obs, p_x, p_l, a, b, cost_scale)
    return jnp.log1p(o / reward_scale) + future


def critic_value(critic_params, net: NetConfig, obs: Obs, cost_scale: float,
                 reward_scale: float) -> Callable:
    """``value(x, channel, a, b)``: the learned critic's transformed round objective, plus its
    estimate of the discounted transformed objective of the rounds that follow when it has the
    future output; fed the decision as the executed one-hot target and channel it is trained
    on."""
    def value(x, channel, a, b):
        dtype = obs.s.dtype
        return _critic_value(critic_params, net, obs, cost_scale, reward_scale,
                             jax.nn.one_hot(x, 3, dtype=dtype),
                             jax.nn.one_hot(channel, net.n_channels, dtype=dtype), a, b)
    return value


def exact_advantages(value: Callable, action: Action, p_x, p_l, ab_mean):
    """Per-UE, per-factor advantages ``[N, 3]`` (one round) from exact what-ifs of ``value``
    (a transformed cost: lower is better).

    The target and the channel: the exact expectation over their categories ``p_x``, ``p_l``
    (the sampling distributions) of the value with that factor replaced, minus the sampled
    decision's; ``(a, b)``: the value at ``ab_mean`` (the Gaussians' means) minus the sampled
    decision's.
    """
    base, per_x, per_l, at_mean = counterfactual_objectives(value, action, ab_mean,
                                                            p_l.shape[-1])
    return jnp.stack([jnp.sum(p_x * per_x, -1) - base, jnp.sum(p_l * per_l, -1) - base,
                      at_mean - base], -1)


def linearised_advantages(critic_params, net: NetConfig, obs: Obs, action: Action, p_x, p_l,
                          ab_mean, cost_scale: float, reward_scale: float):
    """:func:`exact_advantages` of the critic's value (:func:`critic_value`), with every
    what-if read off the tangent at the executed decision: one forward and one backward pass
    per round."""
    dtype = obs.s.dtype
    hx = jax.nn.one_hot(action.x, 3, dtype=dtype)
    hl = jax.nn.one_hot(action.channel, net.n_channels, dtype=dtype)
    gx, gl, ga, gb = jax.grad(
        lambda *d: _critic_value(critic_params, net, obs, cost_scale, reward_scale, *d),
        argnums=(0, 1, 2, 3))(hx, hl, action.a, action.b)
    adv_x = jnp.sum(p_x * gx, -1) - jnp.sum(hx * gx, -1)
    adv_l = jnp.sum(p_l * gl, -1) - jnp.sum(hl * gl, -1)
    adv_ab = ga * (ab_mean[0] - action.a) + gb * (ab_mean[1] - action.b)
    return jnp.stack([adv_x, adv_l, adv_ab], -1)


def correlations(adv, reference, mask, offloaded) -> dict:
    """Pearson correlation of each factor's credit with a reference credit (``[..., N, 3]``
    each) over the real UEs, and over the offloaded ones for the channel (a local UE's channel
    changes nothing): ``credit_corr_target``, ``credit_corr_channel``, ``credit_corr_ab``."""
    def corr(u, v, m):
        w = m.astype(u.dtype)
        n = jnp.maximum(jnp.sum(w), 1.0)
        u, v = u - jnp.sum(w * u) / n, v - jnp.sum(w * v) / n
        return jnp.sum(w * u * v) / jnp.sqrt(jnp.sum(w * u * u) * jnp.sum(w * v * v) + 1e-30)
    return dict(credit_corr_target=corr(adv[..., 0], reference[..., 0], mask),
                credit_corr_channel=corr(adv[..., 1], reference[..., 1], mask & offloaded),
                credit_corr_ab=corr(adv[..., 2], reference[..., 2], mask))
