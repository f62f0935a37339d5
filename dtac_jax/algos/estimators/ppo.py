"""A stochastic policy gradient for the transformer actor, as MAT does
(``TACConfig.estimator = "ppo"``, the default).

Targets and channels are sampled from the actor's categorical ``p_x``, ``p_l`` (mixed with the
uniform by ``collect.floor``); ``a``, ``b`` from Gaussians around the actor's values with a
learned, state-independent standard deviation, clipped to ``[a_min, 1]``. Each training
iteration rolls ``collect.envs`` environments for ``collect.rounds`` rounds, trains the per-UE
critic ``Q`` of eq. 18 on the executed decisions (replay buffer, ``updates`` steps), credits
the decisions and makes ``ppo.epochs`` passes of ``ppo.minibatches`` clipped-surrogate
updates. The credit (``ppo.credit``):

* ``"difference"``: each factor of each UE (target, channel, ``a`` or ``b``) gets the change of
  the round's transformed objective had that factor alone been replaced by its expectation
  (:mod:`dtac_jax.algos.credit`), answered by ``ppo.credit_source``: the just-updated critic
  (``"critic"``, exactly; ``"critic_linear"``, to first order) or the simulator's cost
  function (``"simulator"``, the ``oracle-credit`` recipe: model-based);
* ``"team"``: every factor shares the GAE advantage of the shared reward against a learned
  state value.

Its own state (``TACState.estimator``): ``log_std`` (of the Gaussians around ``a`` and ``b``,
moved by the actor optimiser with the actor) and, with team credit, the state value network
and its optimiser (``value``, ``value_opt``).
"""
from __future__ import annotations

import math

import distrax
import jax
import jax.numpy as jnp
import optax

from dtac_jax.algos import credit, losses, replay, rollouts
from dtac_jax.env import rng
from dtac_jax.env.env import Action, Obs
from dtac_jax.nets.transformer import ValueNet

# what a round's critic credit reads
CREDIT_ITEMS = ("s", "edge", "mask", "x", "l", "a", "b", "p_x_pol", "p_l_pol", "a_mean", "b_mean")


def behaviour_probs(p, floor: float):
    """The sampling distribution: ``p`` mixed with the uniform by ``floor``."""
    return p if floor == 0 else (1.0 - floor) * p + floor / p.shape[-1]


def log_probs(out, log_std, x, l, a_raw, b_raw, floor: float = 0.0):
    """Per-UE log-probabilities of a sampled decision's three factors ``[..., N, 3]``: the target;
    the channel (offloaded UEs, else 0); ``a`` when offloaded or ``b`` when local.

    A factor that does not act (the channel and ``a`` of a local UE, ``b`` of an offloaded one)
    does not change the costs, so its score term would be pure noise and is left out.
    """
    p_x, p_l, a, b = out
    p_x, p_l = behaviour_probs(p_x, floor), behaviour_probs(p_l, floor)
    lx = jnp.log(jnp.take_along_axis(p_x, x[..., None], -1)[..., 0] + 1e-12)
    ll = jnp.log(jnp.take_along_axis(p_l, l[..., None], -1)[..., 0] + 1e-12)
    la = distrax.Normal(a, jnp.exp(log_std[0])).log_prob(a_raw)
    lb = distrax.Normal(b, jnp.exp(log_std[1])).log_prob(b_raw)
    off = x > 0
    return jnp.stack([lx, jnp.where(off, ll, 0.0), jnp.where(off, la, lb)], -1)


def entropy(out, log_std, floor: float = 0.0):
    """Per-UE entropy of the sampling distribution (targets, channels, and the Gaussians)."""
    p_x, p_l, _, _ = out
    h = (distrax.Categorical(probs=behaviour_probs(p_x, floor)).entropy()
         + distrax.Categorical(probs=behaviour_probs(p_l, floor)).entropy())
    return h + jnp.sum(log_std) + math.log(2 * math.pi * math.e)


def _value_fn(ctx):
    value_net = ValueNet(ctx.cfg.net)
    return lambda prm, obs: value_net.apply(prm, obs.s, obs.edge, obs.mask)


def init(ctx, key, actor, hyper: dict):
    """The actor optimiser's state over ``(actor, log_std)``; ``log_std`` and, with team
    credit, the state value and its optimiser. ``key`` is the networks' initialisation key."""
    cfg = ctx.cfg
    log_std = jnp.full((2,), math.log(cfg.ppo.init_std), ctx.params.s_in.dtype)
    own = dict(log_std=log_std)
    if cfg.ppo.credit == "team":   # the state value (the difference credit needs none)
        n = 4
        value = ValueNet(cfg.net).init(jax.random.fold_in(key, 1), jnp.ones((n, 6)),
                                       jnp.zeros((n,), jnp.int32), jnp.ones((n,), bool))
        own.update(value=value, value_opt=ctx.optimizer(hyper["lr_value"]).init(value))
    return ctx.optimizer(hyper["lr_actor"]).init((actor, log_std)), own


def train(ctx, ts, key):
    cfg, params, act = ctx.cfg, ctx.params, ctx.act
    floor = cfg.collect.floor   # sampling: p mixed with the uniform by this weight
    team = cfg.ppo.credit == "team"
    source = cfg.ppo.credit_source
    oracle = not team and source == "simulator"   # credit computed in the rollout
    value_fn = _value_fn(ctx)
    own = ts.estimator
    log_std = own["log_std"]

    def ab_means(a, b):
        return jnp.clip(a, cfg.net.a_min, 1.0), jnp.clip(b, cfg.net.a_min, 1.0)

    def oracle_advantages(env_state, action, p_x, p_l, a, b):
        value = credit.simulator_value(env_state, params, cfg.ppo.reward_scale)
        return credit.exact_advantages(value, action, behaviour_probs(p_x, floor),
                                       behaviour_probs(p_l, floor), ab_means(a, b))

    def critic_advantages(critic, item):
        """One round's difference credit from the learned critic (no simulator call)."""
        obs = Obs(s=item["s"], mask=item["mask"], edge=item["edge"])
        action = Action(x=item["x"], channel=item["l"], a=item["a"], b=item["b"])
        p_x = behaviour_probs(item["p_x_pol"], floor)
        p_l = behaviour_probs(item["p_l_pol"], floor)
        ab = ab_means(item["a_mean"], item["b_mean"])
        if source == "critic_linear":
            return credit.linearised_advantages(critic, cfg.net, obs, action, p_x, p_l, ab,
                                                cfg.cost_scale, cfg.ppo.reward_scale)
        value = credit.critic_value(critic, cfg.net, obs, cfg.cost_scale, cfg.ppo.reward_scale)
        return credit.exact_advantages(value, action, p_x, p_l, ab)

    def behave(key, obs, env_state):
        out = jax.vmap(act, in_axes=(None, 0))(ts.actor, obs)
        p_x, p_l, a, b = out
        kx, kl, ka, kb = rng.split(key, 4)
        x = jax.random.categorical(kx, jnp.log(behaviour_probs(p_x, floor) + 1e-12))
        l = jax.random.categorical(kl, jnp.log(behaviour_probs(p_l, floor) + 1e-12))
        std = jnp.exp(log_std)
        a_raw = a + std[0] * jax.random.normal(ka, a.shape, a.dtype)
        b_raw = b + std[1] * jax.random.normal(kb, b.shape, b.dtype)
        action = Action(x=x.astype(jnp.int32), channel=l.astype(jnp.int32),
                        a=jnp.clip(a_raw, cfg.net.a_min, 1.0),
                        b=jnp.clip(b_raw, cfg.net.a_min, 1.0))
        logp = log_probs(out, log_std, action.x, action.channel, a_raw, b_raw, floor)
        extras = dict(p_x=jax.nn.one_hot(action.x, 3, dtype=p_x.dtype),
                      p_l=jax.nn.one_hot(action.channel, p_l.shape[-1], dtype=p_l.dtype),
                      a=action.a, b=action.b, x=action.x, l=action.channel,
                      a_raw=a_raw, b_raw=b_raw, logp=logp)
        if team:
            extras["value"] = jax.vmap(value_fn, in_axes=(None, 0))(own["value"], obs)
            return action, extras
        if oracle or cfg.ppo.diagnose_credit:   # needs the round's hidden state
            extras["ue_adv"] = jax.vmap(oracle_advantages)(env_state, action, p_x, p_l, a, b)
        if not oracle:   # the critic's what-ifs come after its update (below)
            extras.update(p_x_pol=p_x, p_l_pol=p_l, a_mean=a, b_mean=b)
        return action, extras

    def ppo_loss(theta, mb, entropy_weight):
        actor, log_std = theta
        obs = Obs(s=mb["s"], mask=mb["mask"], edge=mb["edge"])
        out = jax.vmap(act, in_axes=(None, 0))(actor, obs)
        logp = log_probs(out, log_std, mb["x"], mb["l"], mb["a_raw"], mb["b_raw"], floor)
        ratio = jnp.exp(logp - mb["logp"])                      # [B, N, 3] per factor
        adv = mb["adv"]                                         # [B, N, 3]
        surr = jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - cfg.ppo.clip, 1 + cfg.ppo.clip) * adv)
        m = mb["mask"]
        n_real = jnp.maximum(jnp.sum(m), 1)
        pg = -jnp.sum(jnp.where(m[..., None], surr, 0.0)) / n_real
        ent = jnp.sum(jnp.where(m, entropy(out, log_std, floor), 0.0)) / n_real
        return pg - entropy_weight * ent, (pg, ent)

    def value_loss(value, mb):
        obs = Obs(s=mb["s"], mask=mb["mask"], edge=mb["edge"])
        v = jax.vmap(value_fn, in_axes=(None, 0))(value, obs)
        return 0.5 * jnp.mean((v - mb["target"]) ** 2)

    def minibatch(ts, mb):
        adv, m = mb["adv"], mb["mask"][..., None]
        if team:   # [B] -> every factor of every UE, normalised
            adv = (adv - jnp.mean(adv)) / (jnp.std(adv) + 1e-8)
            adv = jnp.broadcast_to(adv[:, None, None], mb["logp"].shape)
        else:      # [B, N, 3], already centred: scaled only
            n = jnp.maximum(jnp.sum(jnp.broadcast_to(m, adv.shape)), 1)
            adv = adv / (jnp.sqrt(jnp.sum(jnp.where(m, adv ** 2, 0.0)) / n) + 1e-8)
        mb = dict(mb, adv=adv)
        own = ts.estimator
        (loss, (pg, ent)), g = jax.value_and_grad(ppo_loss, has_aux=True)(
            (ts.actor, own["log_std"]), mb, ts.hyper["entropy_weight"])
        upd, actor_opt = ctx.opt_actor.update(g, ts.actor_opt, (ts.actor, own["log_std"]))
        actor, new_log_std = optax.apply_updates((ts.actor, own["log_std"]), upd)
        own = dict(own, log_std=new_log_std)
        ts = ts.replace(actor=actor, actor_opt=actor_opt, estimator=own)
        if not team:   # the counterfactual credits need no state value
            return ts, (pg, ent, jnp.zeros_like(pg))
        v_loss, g_v = jax.value_and_grad(value_loss)(own["value"], mb)
        opt_v = ctx.optimizer(cfg.ppo.lr_value)
        upd, value_opt = opt_v.update(g_v, own["value_opt"], own["value"])
        own = dict(own, value=optax.apply_updates(own["value"], upd), value_opt=value_opt)
        return ts.replace(estimator=own), (pg, ent, v_loss)

    k_col, k_epochs, k_crit = rng.split(key, 3)
    boot = lambda o: jax.vmap(value_fn, in_axes=(None, 0))(own["value"], o)
    items, obs, env_state = rollouts.rollout(k_col, behave, ts.obs, ts.env_state, params,
                                             cfg.collect.envs, cfg.collect.rounds,
                                             bootstrap=boot if team else None, env=ctx.env)
    if ctx.horizon:
        items["future"], items["future_valid"] = losses.future_targets(
            items["objective"], items["done"], cfg.ppo.gamma, ctx.horizon, cfg.ppo.reward_scale)
    ts = ts.replace(buffer=ctx.buffer.add(ts.buffer, replay.flatten_rounds(
        replay.critic_item(items))), obs=obs, env_state=env_state)
    # the critic learns from this rollout before it answers the credit's what-ifs
    def critic_only(ts, k):
        ts, (_, c_loss) = ctx.critic_step(ts, k)
        return ts, c_loss

    ts, c_loss = jax.lax.scan(critic_only, ts, rng.split(k_crit, cfg.updates))
    if team:   # GAE of the shared reward; the value's targets
        reward = -losses.cost_transform(items["objective"], cfg.ppo.reward_scale)
        adv, target = losses.gae(reward, items["value"], items["next_value"],
                                 items["done"], cfg.ppo.gamma, cfg.ppo.gae_lambda)
        ppo_credit = dict(adv=adv, target=target)
    elif oracle:   # per-UE, per-factor difference advantages from the rollout
        ppo_credit = dict(adv=items["ue_adv"])
    elif source == "critic_linear":   # ... from the just-updated critic, in one vmap
        adv = jax.vmap(jax.vmap(critic_advantages, in_axes=(None, 0)), in_axes=(None, 0))(
            ts.critic, items)
        ppo_credit = dict(adv=adv)
    else:   # critic: 1 + N (2 + L) passes a round; rounds mapped in batches for memory
        flat = replay.flatten_rounds({k: items[k] for k in CREDIT_ITEMS})
        adv = jax.lax.map(lambda it: critic_advantages(ts.critic, it), flat,
                          batch_size=credit.exact_batch())
        ppo_credit = dict(adv=adv.reshape(items["x"].shape + (3,)))
    diag = {}
    if cfg.ppo.diagnose_credit and not team:
        diag = credit.correlations(ppo_credit["adv"], items["ue_adv"], items["mask"],
                                   items["x"] > 0)
    data = replay.flatten_rounds(dict(
        s=items["s"], edge=items["edge"], mask=items["mask"], x=items["x"], l=items["l"],
        a_raw=items["a_raw"], b_raw=items["b_raw"], logp=items["logp"], **ppo_credit))
    n = cfg.collect.envs * cfg.collect.rounds
    mbs = cfg.ppo.minibatches

    def epoch(ts, k):
        perm = jax.random.permutation(k, n)
        shuffled = jax.tree_util.tree_map(
            lambda v: v[perm].reshape((mbs, n // mbs) + v.shape[1:]), data)
        return jax.lax.scan(minibatch, ts, shuffled)

    ts, (pg, ent, v_loss) = jax.lax.scan(epoch, ts, rng.split(k_epochs, cfg.ppo.epochs))
    x = jnp.where(items["mask"], items["x"], -1)
    n_real = jnp.maximum(jnp.sum(items["mask"]), 1)
    std = jnp.exp(ts.estimator["log_std"])
    metrics = dict(collect_objective=jnp.mean(items["objective"]),
                   critic_loss=jnp.mean(c_loss), actor_loss=jnp.mean(pg),
                   value_loss=jnp.mean(v_loss), entropy=jnp.mean(ent),
                   std_a=std[0], std_b=std[1],
                   collect_edge=jnp.sum(x == 1) / n_real,
                   collect_cloud=jnp.sum(x == 2) / n_real, **diag)
    return ts, metrics
