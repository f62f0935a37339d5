"""Pieces shared by TAC, DTAC and the transfer baselines.

Data collection from many vmapped episodes (deterministic argmax policy plus Gaussian noise on
the action probabilities, paper Algorithm 1 lines 2-5), the flashbax replay buffer, the losses
(critic MSE to transformed costs, eq. 18; actor loss through the critic, eqs. 19 / 22; MSE to a
teacher, eq. 26) and the wrapper that turns actor parameters into an evaluable policy.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import distrax
import flashbax as fbx
import jax
import jax.numpy as jnp

from dtac_jax.config import Config
from dtac_jax.env import env as E
from dtac_jax.env import rng
from dtac_jax.env.env import Action, Obs
from dtac_jax.algos.heuristics import as_recurrent
from dtac_jax.env.scenarios import EnvParams
from dtac_jax.nets.transformer import Actor, Critic, NetConfig


@dataclasses.dataclass(frozen=True)
class CollectConfig(Config):
    envs: int = 32            # parallel episodes stepped together
    rounds: int = 10          # rounds collected per env per training episode
    noise_var: float = 0.05   # initial variance v of the Gaussian exploration noise
    noise_decay: float = 0.98  # v <- v * eps every training episode (Algorithm 1 line 12)
    explore: str = "prob_noise"  # how targets and channels explore (EXPLORE)
    floor: float = 0.0        # when sampling (PPO; explore="sample"): p mixed with the uniform

    def __post_init__(self):
        for f in ("envs", "rounds"):
            if getattr(self, f) < 1:
                raise ValueError(f"{f} must be >= 1, got {getattr(self, f)}")
        if self.noise_var < 0 or not (0 < self.noise_decay <= 1):
            raise ValueError("noise_var must be >= 0 and noise_decay in (0, 1]")
        if self.explore not in EXPLORE:
            raise ValueError(f"unknown exploration scheme {self.explore!r} (known: "
                             f"{', '.join(EXPLORE)})")
        if not 0 <= self.floor < 1:
            raise ValueError(f"floor must be in [0, 1), got {self.floor}")


# "prob_noise": argmax of the probabilities plus N(0, v) (the paper); "sample": targets and
# channels drawn from the (floored) probabilities
EXPLORE = ("prob_noise", "sample")


# --------------------------------------------------------------------------- buffer
def make_buffer(buffer_size: int, batch_size: int):
    """On-device replay of joint rounds (flashbax item buffer)."""
    return fbx.make_item_buffer(max_length=buffer_size, min_length=batch_size,
                                sample_batch_size=batch_size, add_batches=True)


def example_item(params: EnvParams, n_channels: int):
    n = params.n_max
    f = params.s_in.dtype
    return dict(s=jnp.zeros((n, E.OBS_DIM), f), edge=jnp.zeros((n,), jnp.int32),
                mask=jnp.zeros((n,), bool), p_x=jnp.zeros((n, 3), f),
                p_l=jnp.zeros((n, n_channels), f), a=jnp.zeros((n,), f), b=jnp.zeros((n,), f),
                cost=jnp.zeros((n, 2), f))


# --------------------------------------------------------------------------- acting
def actor_fn(net: NetConfig, attention: str) -> Callable:
    """``act(actor_params, obs) -> (p_x, p_l, a, b)`` for one joint state."""
    model = Actor(net, attention)
    return lambda prm, obs: model.apply(prm, obs.s, obs.edge, obs.mask)


def to_action(p_x, p_l, a, b) -> Action:
    """Executed decision: ``x = argmax p_x``, ``l = argmax p_l`` (paper III-B)."""
    return Action(x=jnp.argmax(p_x, -1).astype(jnp.int32),
                  channel=jnp.argmax(p_l, -1).astype(jnp.int32), a=a, b=b)


def learned_policy(actor_params, net: NetConfig, attention: str):
    """An evaluable ``policy(key, obs, state, params)`` from actor parameters (deterministic)."""
    act = actor_fn(net, attention)

    def policy(key, obs: Obs, state, params: EnvParams) -> Action:
        return to_action(*act(actor_params, obs))

    return policy


def mean_ues(params: EnvParams) -> float:
    """Mean number of real UEs per round (per-edge counts uniform on ``ue_min..ue_max``)."""
    return params.n_edges * (params.ue_min + params.ue_max) / 2


def budget(episodes: int, env_rounds: int, params: EnvParams, **grad_steps) -> dict:
    """A training budget in the units every learned method is compared in: environment
    rounds stepped for training, UE-rounds (real UEs at the mean count) and gradient steps
    (one per optimiser update, by network)."""
    return dict(episodes=episodes, env_rounds=env_rounds,
                ue_rounds=int(round(env_rounds * mean_ues(params))), **grad_steps)


def init_envs(key, params: EnvParams, envs: int):
    return jax.vmap(E.reset, in_axes=(0, None))(rng.split(key, envs), params)


def rollout(key, behave: Callable, obs, env_state, params: EnvParams, envs: int, rounds: int,
            bootstrap: Callable | None = None, carry=None):
    """Step ``envs`` vmapped episodes for ``rounds`` rounds; the one training rollout.

    ``behave(key, obs, env_state) -> (Action, extras)`` acts on the batched joint observations
    (``extras``: a dict of per-env arrays stored with the round; the environment states are
    there for counterfactual credit, :func:`counterfactual_objectives`). Episodes that end are reset in place, so
    caches warm up across training episodes. ``bootstrap(obs) -> [envs]``, if given, is applied
    to each round's next observation *before* any reset (the value of a time-limited state).

    A recurrent behaviour passes its memory as ``carry`` (leaves with a leading ``envs`` axis):
    it is then called ``behave(key, obs, env_state, carry) -> (Action, extras, carry)``, and the
    carry of an episode that ends is zeroed.

    Returns ``(items, obs, env_state)``, or ``(items, obs, env_state, carry)`` with a ``carry``;
    ``items`` has leading axes ``[rounds, envs]`` and holds ``s``, ``edge``, ``mask``, ``cost``
    (per-UE weighted costs), ``objective``, ``done``, the ``extras`` and, with ``bootstrap``,
    ``next_value``.
    """
    recurrent = carry is not None

    def one_round(loop, k):
        obs, st, memory = loop
        k_act, k_step, k_reset = rng.split(k, 3)
        if recurrent:
            action, extras, memory = behave(k_act, obs, st, memory)
        else:
            action, extras = behave(k_act, obs, st)
        obs2, st2, reward, done, info = jax.vmap(E.step, in_axes=(0, 0, 0, None))(
            rng.split(k_step, envs), st, action, params)
        item = dict(s=obs.s, edge=obs.edge, mask=obs.mask, cost=-reward,
                    objective=info["objective"], done=done, **extras)
        if bootstrap is not None:
            item["next_value"] = bootstrap(obs2)
        obs_r, st_r = init_envs(k_reset, params, envs)
        pick = lambda new, old: jnp.where(  # noqa: E731
            done.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)
        obs2 = jax.tree_util.tree_map(pick, obs_r, obs2)
        st2 = jax.tree_util.tree_map(pick, st_r, st2)
        memory = jax.tree_util.tree_map(lambda m: pick(jnp.zeros_like(m), m), memory)
        return (obs2, st2, memory), item

    (obs, env_state, carry), items = jax.lax.scan(one_round, (obs, env_state, carry),
                                                  rng.split(key, rounds))
    return (items, obs, env_state, carry) if recurrent else (items, obs, env_state)


def counterfactual_objectives(env_state, action: Action, ab_mean, params: EnvParams):
    """Round objectives with one UE's decision replaced, holding everyone else's (one env).

    Returns ``(obj, obj_x [N, 3], obj_l [N, L], obj_m [N])``: the objective of ``action``; with
    UE ``n``'s target set to each of the three; with its channel set to each of the ``L``; with
    its ``a``, ``b`` set to ``ab_mean`` (``[N]`` each). Evaluated by the simulator's own
    ``round_costs`` on the same state (difference rewards: Wolpert and Tumer 2002; Castellini
    et al. 2021), ``N (4 + L)`` evaluations in one vmap.
    """
    from dtac_jax.env import physics
    n = action.x.shape[0]
    kw = E.physics_kwargs(env_state, params)

    def obj(x, channel, a, b):
        _, e_ue, t_round = physics.round_costs(x=x, channel=channel, a=a, b=b,
                                               edge_block=params.ue_max, **kw)
        return physics.objective(t_round, e_ue, params.w_time, params.w_energy)

    eye = jnp.eye(n, dtype=bool)

    def replaced(values, field):  # [n, n]: row i has UE i's field set to values[i]
        return jnp.where(eye, values[:, None], field[None, :])

    base = obj(action.x, action.channel, action.a, action.b)
    per_target = jax.vmap(lambda k: jax.vmap(obj, in_axes=(0, None, None, None))(
        replaced(jnp.full((n,), k, action.x.dtype), action.x), action.channel, action.a,
        action.b))(jnp.arange(3, dtype=action.x.dtype)).T
    n_ch = params.l_channels
    per_channel = jax.vmap(lambda k: jax.vmap(obj, in_axes=(None, 0, None, None))(
        action.x, replaced(jnp.full((n,), k, action.channel.dtype), action.channel),
        action.a, action.b))(jnp.arange(n_ch, dtype=action.channel.dtype)).T
    at_mean = jax.vmap(obj, in_axes=(None, None, 0, 0))(
        action.x, action.channel, replaced(ab_mean[0], action.a), replaced(ab_mean[1], action.b))
    return base, per_target, per_channel, at_mean


def flatten_rounds(items):
    """``[rounds, envs, ...] -> [rounds * envs, ...]`` for every leaf."""
    return jax.tree_util.tree_map(lambda v: v.reshape((-1,) + v.shape[2:]), items)


def critic_item(items):
    """The replay-buffer item (:func:`example_item`) of rollout items."""
    return {k: items[k] for k in ("s", "edge", "mask", "p_x", "p_l", "a", "b", "cost")}


def noisy_behaviour(act: Callable, actor_params, noise_var, a_min: float,
                    critic_input: str = "probs", explore: str = "prob_noise",
                    floor: float = 0.0) -> Callable:
    """Paper Algorithm 1 line 4: ``argmax`` of the probabilities plus ``N(0, v)`` noise; ``a``,
    ``b`` perturbed by the same noise and clipped to ``[a_min, 1]``. With ``explore="sample"``
    targets and channels are drawn from the probabilities mixed with the uniform by ``floor``
    instead (the executed one-hots then replace the noisy probabilities for argmax).

    The stored critic input is the noisy probabilities (``critic_input="probs"``, the paper) or
    the executed one-hot target and channel (``"executed"``), with the executed ``a``, ``b``.
    """
    std = jnp.sqrt(noise_var)

    def behave(key, obs, env_state):
        p_x, p_l, a, b = jax.vmap(act, in_axes=(None, 0))(actor_params, obs)
        kx, kl, ka, kb = rng.split(key, 4)
        if explore == "sample":
            mix = lambda p: (1.0 - floor) * p + floor / p.shape[-1]  # noqa: E731
            draw = lambda k, p: jax.nn.one_hot(  # noqa: E731
                jax.random.categorical(k, jnp.log(mix(p) + 1e-12)), p.shape[-1], dtype=p.dtype)
            p_x, p_l = draw(kx, p_x), draw(kl, p_l)
        else:
            p_x = p_x + std * jax.random.normal(kx, p_x.shape, p_x.dtype)
            p_l = p_l + std * jax.random.normal(kl, p_l.shape, p_l.dtype)
        a = jnp.clip(a + std * jax.random.normal(ka, a.shape, a.dtype), a_min, 1.0)
        b = jnp.clip(b + std * jax.random.normal(kb, b.shape, b.dtype), a_min, 1.0)
        action = to_action(p_x, p_l, a, b)
        if critic_input == "executed":
            p_x = jax.nn.one_hot(action.x, p_x.shape[-1], dtype=p_x.dtype)
            p_l = jax.nn.one_hot(action.channel, p_l.shape[-1], dtype=p_l.dtype)
        return action, dict(p_x=p_x, p_l=p_l, a=a, b=b)

    return behave


def collect(key, act: Callable, actor_params, obs, env_state, noise_var, params: EnvParams,
            cfg: CollectConfig, a_min: float, critic_input: str = "probs"):
    """Step ``cfg.envs`` episodes for ``cfg.rounds`` rounds with noisy argmax actions.

    Returns ``(items [rounds*envs, ...], objective [rounds, envs], obs, env_state)``.
    """
    behave = noisy_behaviour(act, actor_params, noise_var, a_min, critic_input, cfg.explore,
                             cfg.floor)
    items, obs, env_state = rollout(key, behave, obs, env_state, params, cfg.envs, cfg.rounds)
    return flatten_rounds(critic_item(items)), items["objective"], obs, env_state


def validation_objective(act: Callable, actor_params, key, params: EnvParams, envs: int,
                         rounds: int):
    """Mean round objective of the deterministic policy on a fixed validation set.

    ``envs`` episodes are reset from ``key`` and stepped ``rounds`` rounds with keys drawn from
    ``key`` (the real simulator, not the critic). Every actor scored with the same key meets
    the same UEs, tasks and fading, so the comparison between two actors (the best-actor
    choice, the convergence curves) carries no sampling noise of its own.
    """
    def policy(_, obs, state, params_):
        return to_action(*act(actor_params, obs))

    return policy_validation_objective(policy, key, params, envs, rounds)


def policy_validation_objective(policy, key, params: EnvParams, envs: int, rounds: int):
    """:func:`validation_objective` of any policy, plain ``policy(key, obs, state, params) ->
    Action`` or :class:`~dtac_jax.algos.heuristics.RecurrentPolicy` (the same episodes for the
    same ``key``; the policy's own keys come from a separate stream)."""
    policy = as_recurrent(policy)
    k_reset, k_steps = rng.split(key)
    obs, env_state = init_envs(k_reset, params, envs)
    k_policy = jax.random.fold_in(key, 1)
    memory = jax.vmap(lambda _: policy.init(params))(jnp.arange(envs))

    def one_round(carry, inp):
        obs, st, memory = carry
        k, t = inp
        pol_keys = rng.split(jax.random.fold_in(k_policy, t), envs)
        memory, action = jax.vmap(policy.apply, in_axes=(0, 0, 0, 0, None))(
            memory, pol_keys, obs, st, params)
        obs, st, _, _, info = jax.vmap(E.step, in_axes=(0, 0, 0, None))(
            rng.split(k, envs), st, action, params)
        return (obs, st, memory), info["objective"]

    _, objective = jax.lax.scan(one_round, (obs, env_state, memory),
                                (rng.split(k_steps, rounds), jnp.arange(rounds)))
    return jnp.mean(objective)


VALIDATION_STREAM = 0x7A1  # fold_in constant of the validation episodes' key


def validation_key(key):
    """The key of the fixed validation episodes of a run started from ``key``. Every learned
    method (TAC, the transfers, HAPPO) derives it this way from its per-seed key, and
    :func:`dtac_jax.train.run_training` gives seed ``i`` the same key in every run with the
    same ``seed``, so all methods are validated and selected on the same episodes."""
    return jax.random.fold_in(key, VALIDATION_STREAM)


def track_best(best, best_score, score, current, objective, ema: float):
    """Smooth the measured objective (EMA over episodes; ``ema = 0``: none) and keep the
    parameters that had the lowest smoothed value. Returns ``(best, best_score, score)``."""
    if ema == 0:  # no smoothing (also: a NaN score must not stick through 0 * NaN)
        score = objective
    else:
        score = jnp.where(jnp.isinf(score), objective, ema * score + (1 - ema) * objective)
    better = score < best_score
    best = jax.tree_util.tree_map(lambda b, c: jnp.where(better, c, b), best, current)
    return best, jnp.where(better, score, best_score), score


# --------------------------------------------------------------------------- returns
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


# --------------------------------------------------------------------------- losses
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
    h = distrax.Categorical(probs=p_x).entropy() + distrax.Categorical(probs=p_l).entropy()
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
