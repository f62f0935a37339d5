"""HAPPO: heterogeneous-agent PPO (Kuba et al., 2022) as the paper's MARL baseline (IV-A).

* One recurrent (GRU) policy per agent slot: parameter trees stacked on a leading agent axis
  and applied with ``vmap``. Padded slots neither act nor train (their loss is masked, their
  ratio counts as 1 in the compounding factor).
* Hybrid action as distrax distributions: categorical target (3) and channel (L), and Beta
  distributions on (0, 1) for ``a`` and ``b``; the joint log-probability and entropy are sums.
* Local state with ids (paper eq. 24): ``[n / N_max, k / K, normalised s^n]``; shared scalar
  reward (eq. 23) ``-log1p(w_t T_t + w_e sum_n E_t^n)`` (the log tames the heavy tail of the
  round time for value learning; it is monotone per round); centralised value function on the
  zero-padded concatenation of local states (eq. 25).
* Update: GAE, then the agents in a random order, each with ``epochs`` clipped-surrogate steps
  on advantages weighted by the compounding factor ``M`` (product of the ratios of the agents
  updated before it), then the critic. The value network predicts ``(1 - gamma)`` times the
  return (a fixed value normalisation: per-round rewards of about -5 make returns of -500).
  Recurrent policies are re-evaluated from the hidden states stored during the rollout
  (chunk length 1).

Defaults follow the reference implementation: 5 epochs, clip 0.2, entropy 0.01, lr 5e-4,
gamma 0.99, GAE lambda 0.95, hidden 128x128. ``quick()`` (what ``dtac train-happo`` and
``experiments/baselines.py`` use on CPU) changes, so that HAPPO learns within a few hundred
iterations on a 2-core CPU:

* hidden 64x64 (CPU time);
* lr 2e-3 for actors and critic, for more progress per iteration in a budget of ~200;
* gamma 0.9: rounds are coupled only through the edge caches, and with gamma 0.99 the
  return sums ~100 rounds of fading and other agents' noise against one round of signal.
  (The lr and gamma changes were not ablated beyond one short run each: 40 iterations with
  the reference values also lowered the rollout objective, from ~2,300 to ~800.)

Action parametrisation (all configurations, not reference defaults but choices this problem
needs): the executed ``a`` and ``b`` are ``ab_min + (1 - ab_min) u`` with ``u`` the Beta
sample, ``ab_min = 0.1`` (TAC floors them at 0.01). ``b`` near 0 makes the local compute time
``s_in c / (b f_ue)`` explode (and the round time is a max over UEs), ``a`` near 0 makes the
uplink rate vanish; a uniform Beta put about 1% of each on (0, 0.01), so almost every round
of 25 UEs carried one such outlier. The Beta heads start at concentrations ``ab_init =
(1.5, 1.5)`` and the categorical heads near uniform (small output-layer init, as the
reference's 0.01-gain action layers). The GRU recurrent kernels use an orthogonal init
without QR (:func:`orthogonal_no_qr`): flax's default calls LAPACK ``geqrf``, which, batched
over agents and seeds, deadlocked XLA's CPU runtime (README, known issues).

Metrics per iteration: ``objective`` is the measured mean per-round objective of the
deterministic policy (argmax, Beta means) on ``eval_envs`` fresh environments, as TAC's
``metrics.jsonl`` reports; ``rollout_objective`` is that of the stochastic training rollout.
"""
from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from dtac_jax.algos.heuristics import RecurrentPolicy
from dtac_jax.env import env as E, rng
from dtac_jax.env.env import Action, Obs
from dtac_jax.env.scenarios import EnvParams
from dtac_jax.nets.transformer import normalize_obs

LOCAL_DIM = 8  # eq. 24


@dataclasses.dataclass(frozen=True)
class HAPPOConfig:
    episodes: int = 300          # training iterations: one rollout and one update each
    envs: int = 16               # parallel environments
    eval_envs: int = 4           # environments measuring the deterministic policy per episode
    rollout: int = 25            # rounds per rollout (environments persist across rollouts)
    epochs: int = 5
    clip: float = 0.2
    entropy: float = 0.01
    lr: float = 5e-4
    critic_lr: float = 5e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    hidden: tuple[int, ...] = (128, 128)
    max_grad_norm: float = 10.0
    ab_min: float = 0.1          # executed a, b = ab_min + (1 - ab_min) * Beta sample
    ab_init: tuple[float, float] = (1.5, 1.5)  # initial Beta concentrations of a and b

    def __post_init__(self):
        for f in ("episodes", "envs", "rollout", "epochs", "eval_envs"):
            if getattr(self, f) < 1:
                raise ValueError(f"HAPPOConfig.{f} must be >= 1")
        if not 0.0 <= self.ab_min < 1.0:
            raise ValueError("HAPPOConfig.ab_min must lie in [0, 1)")
        if min(self.ab_init) <= 1.0:
            raise ValueError("HAPPOConfig.ab_init concentrations must be > 1")
        if len(self.hidden) != 2:
            raise ValueError("HAPPOConfig.hidden must have two widths (MLP in, after the GRU)")

    @staticmethod
    def quick(**kw) -> "HAPPOConfig":
        """CPU budget (module docstring): 64x64, lr 2e-3 for actors and critic, gamma 0.9."""
        return HAPPOConfig(**{"hidden": (64, 64), "lr": 2e-3, "critic_lr": 2e-3, "gamma": 0.9,
                              **kw})

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        d["hidden"] = tuple(d.get("hidden", (128, 128)))
        if "ab_init" in d:
            d["ab_init"] = tuple(d["ab_init"])
        return cls(**d)


# --------------------------------------------------------------------------- networks
def orthogonal_no_qr(scale: float = 1.0, iterations: int = 60):
    """Orthogonal initialiser without a QR decomposition (Haar-distributed like
    ``nn.initializers.orthogonal``): the orthogonal polar factor of a Gaussian matrix, by
    Newton-Schulz iterations (matrix products only).

    Why: flax's default GRU recurrent init calls LAPACK ``geqrf``; batched (vmapped over agents
    and seeds) on XLA's CPU runtime it runs ``ParallelBatchMap`` on the same Eigen pool that
    executes the program and can deadlock (every thread waiting; README, known issues)."""
    def init(key, shape, dtype=jnp.float32):
        n_rows, n_cols = shape[-2], shape[-1]
        tall = n_rows >= n_cols
        g = jax.random.normal(key, shape if tall else shape[:-2] + (n_cols, n_rows), jnp.float32)
        x = g / jnp.sqrt(jnp.sum(g * g, axis=(-2, -1), keepdims=True))   # all singular values < 1

        def step(x, _):
            return 1.5 * x - 0.5 * x @ (jnp.swapaxes(x, -1, -2) @ x), None

        x, _ = jax.lax.scan(step, x, None, length=iterations)
        x = x if tall else jnp.swapaxes(x, -1, -2)
        return (scale * x).astype(dtype)

    return init


class GRUPolicy(nn.Module):
    """One agent: ``(h, local_state[8]) -> (h', distribution parameters)``."""

    hidden: tuple[int, ...]
    n_channels: int
    ab_init: tuple[float, float] = (1.5, 1.5)

    @nn.compact
    def __call__(self, h, x):
        x = nn.tanh(nn.Dense(self.hidden[0])(x))
        h, x = nn.GRUCell(self.hidden[1], recurrent_kernel_init=orthogonal_no_qr())(h, x)
        x = nn.tanh(nn.Dense(self.hidden[1])(x))
        small = nn.initializers.variance_scaling(0.01, "fan_in", "truncated_normal")
        logits_x = nn.Dense(3, name="head_x", kernel_init=small)(x)   # near-uniform at start
        logits_l = nn.Dense(self.n_channels, name="head_l", kernel_init=small)(x)
        # Beta concentrations > 1 (unimodal), starting at ab_init for both a and b
        c0 = jnp.asarray(self.ab_init * 2, x.dtype) - 1.0
        bias0 = jnp.log(jnp.expm1(c0))                              # softplus^-1
        z = nn.Dense(4, name="head_ab", kernel_init=small)(x)
        conc = 1.0 + nn.softplus(z + bias0)
        return h, (logits_x, logits_l, conc)


class ValueNet(nn.Module):
    hidden: tuple[int, ...]

    @nn.compact
    def __call__(self, s_global):
        x = s_global
        for w in self.hidden:
            x = nn.tanh(nn.Dense(w)(x))
        return nn.Dense(1)(x)[..., 0]


def hybrid_distribution(dist_params):
    """The four independent factors of the hybrid action."""
    logits_x, logits_l, conc = dist_params
    return (distrax.Categorical(logits=logits_x), distrax.Categorical(logits=logits_l),
            distrax.Beta(conc[..., 0], conc[..., 1]), distrax.Beta(conc[..., 2], conc[..., 3]))


A_EPS = 1e-4


def joint_log_prob(dist_params, x, l, a, b):
    dx, dl, da, db = hybrid_distribution(dist_params)
    a = jnp.clip(a, A_EPS, 1.0 - A_EPS)
    b = jnp.clip(b, A_EPS, 1.0 - A_EPS)
    return dx.log_prob(x) + dl.log_prob(l) + da.log_prob(a) + db.log_prob(b)


def joint_entropy(dist_params):
    return sum(d.entropy() for d in hybrid_distribution(dist_params))


def sample_action(key, dist_params):
    dx, dl, da, db = hybrid_distribution(dist_params)
    kx, kl, ka, kb = rng.split(key, 4)
    return (dx.sample(seed=kx).astype(jnp.int32), dl.sample(seed=kl).astype(jnp.int32),
            jnp.clip(da.sample(seed=ka), A_EPS, 1.0 - A_EPS),
            jnp.clip(db.sample(seed=kb), A_EPS, 1.0 - A_EPS))


def scale_ab(u, ab_min: float):
    """Executed ``a`` or ``b`` from the Beta variable ``u`` in (0, 1): ``ab_min + (1 - ab_min)
    u``."""
    return ab_min + (1.0 - ab_min) * u


def mode_action(dist_params, ab_min: float = 0.0):
    """Deterministic evaluation action: argmax categoricals, Beta means (mapped by
    :func:`scale_ab`)."""
    logits_x, logits_l, conc = dist_params
    mean = scale_ab(conc[..., 0::2] / (conc[..., 0::2] + conc[..., 1::2]), ab_min)
    return (jnp.argmax(logits_x, -1).astype(jnp.int32), jnp.argmax(logits_l, -1).astype(jnp.int32),
            mean[..., 0], mean[..., 1])


def local_states(obs: Obs, params: EnvParams):
    """Eq. 24 per agent, ``[N, 8]``; padded agents are all zeros."""
    n = obs.mask.shape[-1]
    slot = jnp.broadcast_to(jnp.arange(n), obs.edge.shape)
    ids = jnp.stack([slot / n, obs.edge / params.n_edges], -1).astype(obs.s.dtype)
    x = jnp.concatenate([ids, normalize_obs(obs.s)], -1)
    return jnp.where(obs.mask[..., None], x, 0.0)


def global_state(local):
    """Eq. 25: concatenation of the (zero-padded) local states, ``[8 * N_max]``."""
    return local.reshape(local.shape[:-2] + (-1,))


# --------------------------------------------------------------------------- HAPPO maths
def gae(rewards, values, dones, last_value, gamma, lam):
    """Generalised advantage estimation over the leading time axis; returns (adv, returns)."""
    def body(carry, inp):
        adv_next, v_next = carry
        r, v, d = inp
        nonterm = 1.0 - d
        delta = r + gamma * v_next * nonterm - v
        adv = delta + gamma * lam * nonterm * adv_next
        return (adv, v), adv

    _, adv = jax.lax.scan(body, (jnp.zeros_like(last_value), last_value),
                          (rewards, values, dones.astype(rewards.dtype)), reverse=True)
    return adv, adv + values


def clipped_surrogate(logp, logp_old, adv, m_factor, mask, clip):
    """HAPPO agent objective (to minimise): ``-E[min(r M A, clip(r) M A)]`` over real samples."""
    ratio = jnp.exp(logp - logp_old)
    w = m_factor * adv
    s = jnp.minimum(ratio * w, jnp.clip(ratio, 1 - clip, 1 + clip) * w)
    return -jnp.sum(jnp.where(mask, s, 0.0)) / jnp.maximum(jnp.sum(mask), 1)


class Batch(NamedTuple):
    local: jax.Array      # [T, E, N, 8]
    h: jax.Array          # [T, E, N, H] hidden state before the step
    x: jax.Array
    l: jax.Array
    a: jax.Array          # Beta variables u_a, u_b in (0, 1) (executed: scale_ab(u, ab_min))
    b: jax.Array
    logp: jax.Array       # [T, E, N]
    mask: jax.Array       # [T, E, N]
    s_global: jax.Array   # [T, E, 8N]
    reward: jax.Array     # [T, E]
    done: jax.Array       # [T, E]
    value: jax.Array      # [T, E]
    objective: jax.Array  # [T, E]


def update_actors(key, actors, opt_states, batch: Batch, adv, policy: GRUPolicy, opt,
                  cfg: HAPPOConfig):
    """Sequential agent updates in a random order with the compounding factor ``M``.

    Returns ``(actors, opt_states, order, m_used [N, T, E], ratios [N, T, E])``, where
    ``m_used[k]`` is the factor agent ``order[k]`` trained with and ``ratios[k]`` its
    new/old probability ratio after its update (1 on padded samples).
    """
    n = batch.mask.shape[-1]
    order = jax.random.permutation(key, n)

    def evaluate(p, i):
        _, dist = policy.apply(p, batch.h[:, :, i], batch.local[:, :, i])
        return (joint_log_prob(dist, batch.x[:, :, i], batch.l[:, :, i], batch.a[:, :, i],
                               batch.b[:, :, i]), joint_entropy(dist))

    def agent(carry, i):
        actors, opt_states, m = carry
        p = jax.tree_util.tree_map(lambda v: v[i], actors)
        o = jax.tree_util.tree_map(lambda v: v[i], opt_states)
        mask = batch.mask[:, :, i]

        def loss(p):
            logp, ent = evaluate(p, i)
            surr = clipped_surrogate(logp, batch.logp[:, :, i], adv, m, mask, cfg.clip)
            return surr - cfg.entropy * jnp.sum(jnp.where(mask, ent, 0.0)) / jnp.maximum(
                jnp.sum(mask), 1)

        def epoch(po, _):
            p, o = po
            g = jax.grad(loss)(p)
            u, o = opt.update(g, o, p)
            return (optax.apply_updates(p, u), o), None

        (p, o), _ = jax.lax.scan(epoch, (p, o), None, length=cfg.epochs)
        logp_new, _ = evaluate(p, i)
        ratio = jnp.where(mask, jnp.exp(logp_new - batch.logp[:, :, i]), 1.0)
        ratio = jax.lax.stop_gradient(ratio)
        actors = jax.tree_util.tree_map(lambda v, x: v.at[i].set(x), actors, p)
        opt_states = jax.tree_util.tree_map(lambda v, x: v.at[i].set(x), opt_states, o)
        return (actors, opt_states, m * ratio), (m, ratio)

    m0 = jnp.ones(batch.reward.shape, batch.reward.dtype)
    (actors, opt_states, _), (m_used, ratios) = jax.lax.scan(agent, (actors, opt_states, m0),
                                                              order)
    return actors, opt_states, order, m_used, ratios


# --------------------------------------------------------------------------- training
@struct.dataclass
class HAPPOState:
    actors: Any
    critic: Any
    actor_opt: Any
    critic_opt: Any
    obs: Any
    env_state: Any
    h: jax.Array
    key: jax.Array
    episode: jax.Array


def shared_reward(objective):
    """Eq. 23 as a reward, log-compressed: ``-log1p(w_t T_t + w_e sum_n E_t^n)``."""
    return -jnp.log1p(objective)


def make_happo(params: EnvParams, cfg: HAPPOConfig):
    n = params.n_max
    policy = GRUPolicy(cfg.hidden, params.l_channels, cfg.ab_init)
    value = ValueNet(cfg.hidden)
    opt = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(cfg.lr))
    copt = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(cfg.critic_lr))
    hdim = cfg.hidden[1]
    dtype = params.s_in.dtype
    # apply every agent's own parameters to its own slot: params axis 0, data axis -2
    apply_agents = jax.vmap(policy.apply, in_axes=(0, -2, -2), out_axes=-2)

    def dist_agents(actors, h, local):
        h2, (lx, ll, conc) = apply_agents(actors, h, local)
        return h2, (lx, ll, conc)

    def init(key) -> HAPPOState:
        ka, kc, ke, kr = rng.split(key, 4)
        actors = jax.vmap(lambda k: policy.init(k, jnp.zeros((hdim,), dtype),
                                                jnp.zeros((LOCAL_DIM,), dtype)))(
            rng.split(ka, n))
        critic = value.init(kc, jnp.zeros((LOCAL_DIM * n,), dtype))
        obs, env_state = jax.vmap(E.reset, in_axes=(0, None))(rng.split(ke, cfg.envs),
                                                             params)
        return HAPPOState(actors=actors, critic=critic, actor_opt=jax.vmap(opt.init)(actors),
                          critic_opt=copt.init(critic), obs=obs, env_state=env_state,
                          h=jnp.zeros((cfg.envs, n, hdim), dtype), key=kr,
                          episode=jnp.zeros((), jnp.int32))

    def rollout(ts: HAPPOState, key):
        def one(carry, k):
            obs, st, h = carry
            k_act, k_step, k_reset = rng.split(k, 3)
            local = local_states(obs, params)                      # [E, N, 8]
            h2, dist = jax.vmap(dist_agents, in_axes=(None, 0, 0))(ts.actors, h, local)
            x, l, a, b = sample_action(k_act, dist)
            logp = joint_log_prob(dist, x, l, a, b)
            sg = global_state(local)
            v = value.apply(ts.critic, sg) / (1.0 - cfg.gamma)
            act = Action(x=x, channel=l, a=scale_ab(a, cfg.ab_min), b=scale_ab(b, cfg.ab_min))
            obs2, st2, _, done, info = jax.vmap(E.step, in_axes=(0, 0, 0, None))(
                rng.split(k_step, cfg.envs), st, act, params)
            obs_r, st_r = jax.vmap(E.reset, in_axes=(0, None))(
                rng.split(k_reset, cfg.envs), params)
            pick = lambda new, old: jnp.where(  # noqa: E731
                done.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)
            obs2 = jax.tree_util.tree_map(pick, obs_r, obs2)
            st2 = jax.tree_util.tree_map(pick, st_r, st2)
            h2 = jnp.where(done[:, None, None], 0.0, h2)
            item = Batch(local=local, h=h, x=x, l=l, a=a, b=b, logp=logp, mask=obs.mask,
                         s_global=sg, reward=shared_reward(info["objective"]), done=done,
                         value=v, objective=info["objective"])
            return (obs2, st2, h2), item

        (obs, st, h), batch = jax.lax.scan(one, (ts.obs, ts.env_state, ts.h),
                                           rng.split(key, cfg.rollout))
        last_v = value.apply(ts.critic, global_state(local_states(obs, params))) / (1.0 - cfg.gamma)
        return ts.replace(obs=obs, env_state=st, h=h), batch, last_v

    def measure(ts: HAPPOState, key):
        """Objective of the deterministic policy (argmax, Beta means), as TAC's metrics.jsonl
        reports it: ``eval_envs`` fresh environments, ``rollout`` rounds, mean per round."""
        k_reset, k_steps = rng.split(key)
        obs, st = jax.vmap(E.reset, in_axes=(0, None))(rng.split(k_reset, cfg.eval_envs),
                                                      params)

        def one(carry, k):
            obs, st, h = carry
            h2, dist = jax.vmap(dist_agents, in_axes=(None, 0, 0))(ts.actors, h,
                                                                   local_states(obs, params))
            x, l, a, b = mode_action(dist, cfg.ab_min)
            obs2, st2, _, _, info = jax.vmap(E.step, in_axes=(0, 0, 0, None))(
                rng.split(k, cfg.eval_envs), st, Action(x=x, channel=l, a=a, b=b), params)
            return (obs2, st2, h2), info["objective"]

        h0 = jnp.zeros((cfg.eval_envs, n, hdim), dtype)
        _, obj = jax.lax.scan(one, (obs, st, h0), rng.split(k_steps, cfg.rollout))
        return jnp.mean(obj)

    def collect_phase(ts: HAPPOState):
        key, k_roll, k_eval = rng.split(ts.key, 3)
        measured = measure(ts, k_eval)
        ts, batch, last_v = rollout(ts, k_roll)
        return ts.replace(key=key), batch, last_v, measured

    def episode(ts: HAPPOState):
        return learn_phase(*collect_phase(ts))

    def learn_phase(ts: HAPPOState, batch: Batch, last_v, measured):
        key, k_order = rng.split(ts.key)
        adv, returns = gae(batch.reward, batch.value, batch.done, last_v, cfg.gamma,
                           cfg.gae_lambda)
        adv_n = (adv - adv.mean()) / (adv.std() + 1e-8)
        actors, actor_opt, _, _, _ = update_actors(k_order, ts.actors, ts.actor_opt, batch,
                                                   adv_n, policy, opt, cfg)

        def vloss(c):  # the network predicts (1 - gamma) * return: a fixed value normalisation
            return jnp.mean((value.apply(c, batch.s_global) - (1.0 - cfg.gamma) * returns) ** 2)

        def vepoch(co, _):
            c, o = co
            lval, g = jax.value_and_grad(vloss)(c)
            u, o = copt.update(g, o, c)
            return (optax.apply_updates(c, u), o), lval

        (critic, critic_opt), vl = jax.lax.scan(vepoch, (ts.critic, ts.critic_opt), None,
                                                length=cfg.epochs)
        ts = ts.replace(actors=actors, actor_opt=actor_opt, critic=critic,
                        critic_opt=critic_opt, key=key, episode=ts.episode + 1)
        return ts, dict(objective=measured, rollout_objective=jnp.mean(batch.objective),
                        value_loss=vl[-1], reward=jnp.mean(batch.reward))

    # the two halves, e.g. to time the rollout's share (experiments/bench_train.py)
    episode.collect_phase, episode.learn_phase = collect_phase, learn_phase
    episode.measure = measure   # (state, key) -> measured objective of the deterministic policy
    return init, episode


def happo_policy(actors, params: EnvParams, cfg: HAPPOConfig) -> RecurrentPolicy:
    """Deterministic HAPPO policy for evaluation (argmax categoricals, Beta means)."""
    policy = GRUPolicy(cfg.hidden, params.l_channels, cfg.ab_init)
    apply_agents = jax.vmap(policy.apply, in_axes=(0, -2, -2), out_axes=-2)

    def init(env_params):
        return jnp.zeros((env_params.n_max, cfg.hidden[1]), env_params.s_in.dtype)

    def apply(h, key, obs, state, env_params):
        h2, dist = apply_agents(actors, h, local_states(obs, env_params))
        x, l, a, b = mode_action(dist, cfg.ab_min)
        return h2, Action(x=x, channel=l, a=a, b=b)

    return RecurrentPolicy(init, apply)
