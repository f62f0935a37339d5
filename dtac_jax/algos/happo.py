"""HAPPO: heterogeneous-agent PPO (Kuba et al., 2022), the paper's MARL baseline (IV-A).

The algorithm and, where the paper is silent, its settings follow the reference implementation,
PKU-MARL/HARL (``harl/algorithms/actors/happo.py``, ``harl/runners/on_policy_ha_runner.py``,
``harl/configs/algos_cfgs/happo.yaml``); docs/algorithms.md lists every choice beside HARL's
value and says which ones the paper fixes.

* **Agents.** One agent per UE slot. With ``share_param`` (the default) all slots share one
  actor, told apart by the agent id and edge in their local state (eq. 24), as HARL's
  ``share_param``: the sequential updates below then move the same network once per agent,
  each on that agent's samples. Without it every slot has its own actor (parameter trees
  stacked on a leading agent axis). Padded slots neither act nor train (their loss is masked,
  their ratio counts as 1 in the compounding factor).
* **Policy.** ``policy="mlp"`` (HARL's default: input layer norm, ReLU layers, orthogonal
  init, action heads with gain 0.01) or ``"gru"`` (the paper's recurrent actor; re-evaluated
  from the hidden states stored during the rollout, chunk length 1).
* **Hybrid action** as distrax distributions: categorical target (3) and channel (L), Beta
  distributions on (0, 1) for ``a`` and ``b``; the joint log-probability and entropy are sums.
* **Reward and value.** Shared reward (eq. 23) ``-log1p(w_t T_t + w_e sum_n E_t^n)`` (the log
  tames the heavy tail of the round time; it is monotone per round); a centralised value
  function on the zero-padded concatenation of local states (eq. 25). HARL's value
  stabilisers are all on by default: value normalisation (:class:`ValueNorm`, running mean
  and variance of the returns), Huber loss (delta 10) and clipped value loss (0.2). Time
  limits are bootstrapped with the value of the state the limit cut off (HARL's
  ``use_proper_time_limits``), through :func:`losses.gae`.
* **Update** (HARL's ``on_policy_ha_runner.train``): advantages normalised, the agents in a
  random order, each with ``epochs`` clipped-surrogate steps on the advantages weighted by the
  compounding factor ``M`` (the product of the new / old probability ratios of the agents
  updated before it), then ``critic_epochs`` critic steps.
* **Delivery.** Every iteration the deterministic policy (argmax, Beta means) is scored on the
  fixed validation episodes that TAC and the transfers use (:func:`validation.validation_key`,
  ``eval_envs x eval_rounds``), and the best actor so far is what the run delivers.

Action parametrisation (not a HARL default; this problem needs it): the executed ``a`` and
``b`` are ``ab_min + (1 - ab_min) u`` with ``u`` the Beta sample, ``ab_min = 0.1``. ``b`` near 0
makes the local compute time ``s_in c / (b f_ue)`` explode (and the round time is a max over
UEs), ``a`` near 0 makes the uplink rate vanish. The Beta heads start at concentrations
``ab_init = (1.5, 1.5)``. Recurrent and hidden kernels use an orthogonal init without QR
(:func:`orthogonal_no_qr`): flax's orthogonal init calls LAPACK ``geqrf``, which, batched over
agents and seeds, deadlocked XLA's CPU runtime (docs/known_issues.md).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from dtac_jax.algos import budget, losses, rollouts, validation
from dtac_jax.algos.policy import Policy
from dtac_jax.config import Config
from dtac_jax.env import rng
from dtac_jax.env.env import Action, Obs
from dtac_jax.env.scenarios import EnvParams
from dtac_jax.env.wrappers import EnvConfig
from dtac_jax.nets.transformer import normalize_obs

LOCAL_DIM = 8  # eq. 24
POLICIES = ("mlp", "gru")


@dataclasses.dataclass(frozen=True)
class HAPPOConfig(Config):
    """Defaults are HARL's ``happo.yaml`` except where a comment says otherwise; ``quick()``
    is the CPU budget of ``dtac reproduce --profile quick``."""

    RESUMABLE = frozenset({"lr_actor", "lr_critic", "max_grad_norm"})
    RENAMED = {"lr": "lr_actor", "critic_lr": "lr_critic", "episodes": "iterations"}

    iterations: int = 300        # training iterations: one rollout and one update each
    envs: int = 128              # parallel environments (HARL: 20; cheap here)
    rollout: int = 25            # rounds per rollout (HARL: 200; environments persist)
    share_param: bool = True     # one actor for all agent slots (HARL: option, off)
    policy: str = "mlp"          # "mlp" (HARL's default) or "gru" (the paper's actor)
    epochs: int = 5              # actor epochs per agent (ppo_epoch)
    critic_epochs: int = 5
    clip: float = 0.2
    entropy: float = 0.01
    lr_actor: float = 5e-4
    lr_critic: float = 5e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    hidden: tuple[int, ...] = (128, 128)
    max_grad_norm: float = 10.0
    value_norm: bool = True      # use_valuenorm
    huber_delta: float = 10.0    # use_huber_loss; 0: squared error
    value_clip: float = 0.2      # use_clipped_value_loss (clip_param); 0: unclipped
    eval_envs: int = 32          # validation episodes (TAC's protocol) ...
    eval_rounds: int = 50        #   ... and their rounds
    ab_min: float = 0.1          # executed a, b = ab_min + (1 - ab_min) * Beta sample
    ab_init: tuple[float, float] = (1.5, 1.5)  # initial Beta concentrations of a and b
    env: EnvConfig = EnvConfig()    # the training rollouts' environment (effects)

    def __post_init__(self):
        for f in ("iterations", "envs", "rollout", "epochs", "critic_epochs", "eval_envs",
                  "eval_rounds"):
            if getattr(self, f) < 1:
                raise ValueError(f"HAPPOConfig.{f} must be >= 1, got {getattr(self, f)}")
        if self.policy not in POLICIES:
            raise ValueError(f"HAPPOConfig.policy must be one of {', '.join(POLICIES)}, got "
                             f"{self.policy!r}")
        if not 0.0 <= self.ab_min < 1.0:
            raise ValueError("HAPPOConfig.ab_min must lie in [0, 1)")
        if min(self.ab_init) <= 1.0:
            raise ValueError("HAPPOConfig.ab_init concentrations must be > 1")
        if len(self.hidden) != 2 or min(self.hidden) < 1:
            raise ValueError("HAPPOConfig.hidden must be two positive widths")
        for f in ("lr_actor", "lr_critic", "clip"):
            if not getattr(self, f) > 0:
                raise ValueError(f"HAPPOConfig.{f} must be > 0")
        if not (0 < self.gamma <= 1 and 0 <= self.gae_lambda <= 1):
            raise ValueError("HAPPOConfig.gamma must be in (0, 1] and gae_lambda in [0, 1]")
        if self.huber_delta < 0 or self.value_clip < 0 or self.entropy < 0:
            raise ValueError("HAPPOConfig.huber_delta, value_clip and entropy must be >= 0")

    @staticmethod
    def quick(**kw) -> "HAPPOConfig":
        """CPU budget: hidden 64x64 (a quarter of the reference's compute per sample) and 32
        environments (docs/algorithms.md has the measurement behind both), with overrides
        ``kw``."""
        return HAPPOConfig(**{"hidden": (64, 64), "envs": 32, **kw})

    @staticmethod
    def paper(**kw) -> "HAPPOConfig":
        """The reference sizes (HARL's defaults, hidden 128x128) with the paper's GRU actor,
        with overrides ``kw``."""
        return HAPPOConfig(**{"policy": "gru", **kw})

    def budget(self, params: EnvParams) -> dict:
        """Training budget (:func:`budget.budget`): the sequential agent updates count one
        actor step per agent slot and epoch."""
        return budget.budget(self.iterations, self.iterations * self.envs * self.rollout, params,
                             actor_steps=self.iterations * params.n_max * self.epochs,
                             critic_steps=self.iterations * self.critic_epochs)


# --------------------------------------------------------------------------- networks
def orthogonal_no_qr(scale: float = 1.0, iterations: int = 60):
    """Orthogonal initialiser without a QR decomposition (Haar-distributed like
    ``nn.initializers.orthogonal``): the orthogonal polar factor of a Gaussian matrix, by
    Newton-Schulz iterations (matrix products only).

    Why: flax's orthogonal init calls LAPACK ``geqrf``; batched (vmapped over agents and
    seeds) on XLA's CPU runtime it runs ``ParallelBatchMap`` on the same Eigen pool that
    executes the program and can deadlock (every thread waiting)."""
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


SQRT2 = math.sqrt(2.0)   # the orthogonal gain of ReLU layers (HARL's)


def _dense(width, gain=SQRT2, name=None):
    return nn.Dense(width, kernel_init=orthogonal_no_qr(gain), name=name)


class _Heads(nn.Module):
    """Distribution parameters of the hybrid action from a feature vector (gain 0.01)."""

    n_channels: int
    ab_init: tuple[float, float]

    @nn.compact
    def __call__(self, x):
        logits_x = _dense(3, 0.01, "head_x")(x)                     # near-uniform at start
        logits_l = _dense(self.n_channels, 0.01, "head_l")(x)
        # Beta concentrations > 1 (unimodal), starting at ab_init for both a and b
        c0 = jnp.asarray(self.ab_init * 2, x.dtype) - 1.0
        z = _dense(4, 0.01, "head_ab")(x)
        conc = 1.0 + nn.softplus(z + jnp.log(jnp.expm1(c0)))         # softplus^-1 bias
        return logits_x, logits_l, conc


class MLPPolicy(nn.Module):
    """One agent: ``(h, local_state[8]) -> (h, distribution parameters)``; ``h`` is passed
    through unused, so both policies share one interface."""

    hidden: tuple[int, ...]
    n_channels: int
    ab_init: tuple[float, float] = (1.5, 1.5)

    @nn.compact
    def __call__(self, h, x):
        x = nn.LayerNorm()(x)                       # HARL's use_feature_normalization
        for w in self.hidden:
            x = nn.relu(_dense(w)(x))
        return h, _Heads(self.n_channels, self.ab_init)(x)


class GRUPolicy(nn.Module):
    """One agent with memory (the paper's actor): ``(h, local_state[8]) -> (h', dist)``."""

    hidden: tuple[int, ...]
    n_channels: int
    ab_init: tuple[float, float] = (1.5, 1.5)

    @nn.compact
    def __call__(self, h, x):
        x = nn.LayerNorm()(x)
        x = nn.relu(_dense(self.hidden[0])(x))
        h, x = nn.GRUCell(self.hidden[1], recurrent_kernel_init=orthogonal_no_qr(),
                          kernel_init=orthogonal_no_qr())(h, x)
        return h, _Heads(self.n_channels, self.ab_init)(x)


def make_policy_net(cfg: HAPPOConfig, n_channels: int):
    """The actor module and the width of its carry (1 for the MLP, which ignores it: Orbax
    saves no zero-size arrays)."""
    if cfg.policy == "gru":
        return GRUPolicy(cfg.hidden, n_channels, cfg.ab_init), cfg.hidden[1]
    return MLPPolicy(cfg.hidden, n_channels, cfg.ab_init), 1


class ValueNet(nn.Module):
    hidden: tuple[int, ...]

    @nn.compact
    def __call__(self, s_global):
        x = nn.LayerNorm()(s_global)
        for w in self.hidden:
            x = nn.relu(_dense(w)(x))
        return _dense(1, 1.0)(x)[..., 0]


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


def agents_apply(policy: nn.Module, share_param: bool):
    """``(actors, h [..., N, H], local [..., N, 8]) -> (h', dist)``: every agent slot with the
    shared actor, or with its own slice of the stacked actors."""
    apply = jax.vmap(policy.apply, in_axes=(None if share_param else 0, -2, -2), out_axes=-2)
    return apply


# --------------------------------------------------------------------------- HAPPO maths
class ValueNorm(NamedTuple):
    """HARL's ``ValueNorm``: debiased running mean and mean square of the value targets
    (``beta = 0.99999`` per batch, variance floored at 1e-2)."""

    mean: jax.Array
    mean_sq: jax.Array
    debias: jax.Array

    BETA = 0.99999

    @staticmethod
    def init(dtype=jnp.float32) -> "ValueNorm":
        z = jnp.zeros((), dtype)
        return ValueNorm(z, z, z)

    def update(self, x) -> "ValueNorm":
        w = self.BETA
        return ValueNorm(self.mean * w + jnp.mean(x) * (1 - w),
                         self.mean_sq * w + jnp.mean(x * x) * (1 - w),
                         self.debias * w + (1 - w))

    def stats(self):
        d = jnp.maximum(self.debias, 1e-5)
        mean = self.mean / d
        var = jnp.maximum(self.mean_sq / d - mean ** 2, 1e-2)
        return mean, jnp.sqrt(var)

    def normalize(self, x):
        mean, std = self.stats()
        return (x - mean) / std

    def denormalize(self, x):
        mean, std = self.stats()
        return x * std + mean


def huber(err, delta: float):
    """Huber loss of ``err`` (``delta = 0``: half the squared error, HARL's ``mse_loss``)."""
    if delta == 0:
        return 0.5 * err ** 2
    a = jnp.abs(err)
    return jnp.where(a <= delta, 0.5 * err ** 2, delta * (a - 0.5 * delta))


def value_loss(pred, old_pred, target, cfg: HAPPOConfig):
    """HARL's critic loss on normalised values: Huber of the error, with the clipped
    prediction's error taken where it is larger (``value_clip > 0``)."""
    loss = huber(target - pred, cfg.huber_delta)
    if cfg.value_clip > 0:
        clipped = old_pred + jnp.clip(pred - old_pred, -cfg.value_clip, cfg.value_clip)
        loss = jnp.maximum(loss, huber(target - clipped, cfg.huber_delta))
    return jnp.mean(loss)


def clipped_surrogate(logp, logp_old, adv, m_factor, mask, clip):
    """HAPPO agent objective (to minimise): ``-E[min(r M A, clip(r) M A)]`` over real samples."""
    ratio = jnp.exp(logp - logp_old)
    w = m_factor * adv
    s = jnp.minimum(ratio * w, jnp.clip(ratio, 1 - clip, 1 + clip) * w)
    return -jnp.sum(jnp.where(mask, s, 0.0)) / jnp.maximum(jnp.sum(mask), 1)


class Batch(NamedTuple):
    local: jax.Array      # [T, E, N, 8]
    h: jax.Array          # [T, E, N, H] carry before the step (unused by the MLP)
    x: jax.Array
    l: jax.Array
    a: jax.Array          # Beta variables u_a, u_b in (0, 1) (executed: scale_ab(u, ab_min))
    b: jax.Array
    logp: jax.Array       # [T, E, N]
    mask: jax.Array       # [T, E, N]


def update_actors(key, actors, opt_states, batch: Batch, adv, policy: nn.Module, opt,
                  cfg: HAPPOConfig):
    """Sequential agent updates in a random order with the compounding factor ``M``.

    With ``cfg.share_param`` there is one actor (and one optimiser state), moved once per
    agent on that agent's samples; otherwise each agent's slice of the stacked actors moves.
    Returns ``(actors, opt_states, order, m_used [N, T, E], ratios [N, T, E])``, where
    ``m_used[k]`` is the factor agent ``order[k]`` trained with and ``ratios[k]`` its
    probability ratio after / before its update (1 on padded samples).
    """
    n = batch.mask.shape[-1]
    order = jax.random.permutation(key, n)
    share = cfg.share_param
    take = (lambda tree, i: tree) if share else (
        lambda tree, i: jax.tree_util.tree_map(lambda v: v[i], tree))
    put = (lambda tree, i, x: x) if share else (
        lambda tree, i, x: jax.tree_util.tree_map(lambda v, y: v.at[i].set(y), tree, x))

    def evaluate(p, i):
        _, dist = policy.apply(p, batch.h[:, :, i], batch.local[:, :, i])
        return (joint_log_prob(dist, batch.x[:, :, i], batch.l[:, :, i], batch.a[:, :, i],
                               batch.b[:, :, i]), joint_entropy(dist))

    def agent(carry, i):
        actors, opt_states, m = carry
        p, o = take(actors, i), take(opt_states, i)
        mask = batch.mask[:, :, i]
        logp_before = jax.lax.stop_gradient(evaluate(p, i)[0])

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
        logp_after, _ = evaluate(p, i)
        ratio = jax.lax.stop_gradient(jnp.where(mask, jnp.exp(logp_after - logp_before), 1.0))
        return (put(actors, i, p), put(opt_states, i, o), m * ratio), (m, ratio)

    m0 = jnp.ones(adv.shape, adv.dtype)
    (actors, opt_states, _), (m_used, ratios) = jax.lax.scan(agent, (actors, opt_states, m0),
                                                              order)
    return actors, opt_states, order, m_used, ratios


# --------------------------------------------------------------------------- training
@struct.dataclass
class HAPPOState:
    actors: Any
    best_actors: Any      # the actors with the lowest validation objective so far
    critic: Any
    actor_opt: Any
    critic_opt: Any
    value_norm: ValueNorm
    obs: Any
    env_state: Any
    h: jax.Array
    key: jax.Array
    eval_key: jax.Array   # fixed: the validation episodes (validation.validation_key)
    best_score: jax.Array
    iteration: jax.Array


def shared_reward(objective):
    """Eq. 23 as a reward, log-compressed: ``-log1p(w_t T_t + w_e sum_n E_t^n)``."""
    return -losses.cost_transform(objective, 1.0)


def make_happo(params: EnvParams, cfg: HAPPOConfig):
    n = params.n_max
    policy, hdim = make_policy_net(cfg, params.l_channels)
    value = ValueNet(cfg.hidden)
    opt = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm),
                      optax.adam(cfg.lr_actor, eps=1e-5))
    copt = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm),
                       optax.adam(cfg.lr_critic, eps=1e-5))
    dtype = params.s_in.dtype
    env = cfg.env.make()   # the simulator inside the config's effects
    apply_agents = agents_apply(policy, cfg.share_param)
    batched_apply = jax.vmap(apply_agents, in_axes=(None, 0, 0))     # over environments

    def values(critic, local, norm: ValueNorm):
        """State values (denormalised) of ``[..., N, 8]`` local states."""
        raw = value.apply(critic, global_state(local))
        return norm.denormalize(raw) if cfg.value_norm else raw

    def init(key) -> HAPPOState:
        ka, kc, ke, kr = rng.split(key, 4)
        one = lambda k: policy.init(k, jnp.zeros((hdim,), dtype),
                                    jnp.zeros((LOCAL_DIM,), dtype))
        if cfg.share_param:
            actors = one(ka)
            actor_opt = opt.init(actors)
        else:
            actors = jax.vmap(one)(rng.split(ka, n))
            actor_opt = jax.vmap(opt.init)(actors)
        critic = value.init(kc, jnp.zeros((LOCAL_DIM * n,), dtype))
        obs, env_state = rollouts.init_envs(ke, params, cfg.envs, env)
        inf = jnp.asarray(jnp.inf, dtype)
        return HAPPOState(actors=actors, best_actors=actors, critic=critic,
                          actor_opt=actor_opt, critic_opt=copt.init(critic),
                          value_norm=ValueNorm.init(dtype), obs=obs, env_state=env_state,
                          h=jnp.zeros((cfg.envs, n, hdim), dtype), key=kr,
                          eval_key=validation.validation_key(key), best_score=inf,
                          iteration=jnp.zeros((), jnp.int32))

    def rollout(ts: HAPPOState, key):
        def behave(k, obs, st, h):
            local = local_states(obs, params)                      # [E, N, 8]
            h2, dist = batched_apply(ts.actors, h, local)
            x, l, a, b = sample_action(k, dist)
            act = Action(x=x, channel=l, a=scale_ab(a, cfg.ab_min), b=scale_ab(b, cfg.ab_min))
            extras = dict(local=local, h=h, x=x, l=l, a=a, b=b,
                          logp=joint_log_prob(dist, x, l, a, b))
            return act, extras, h2

        def bootstrap(obs):
            return values(ts.critic, local_states(obs, params), ts.value_norm)

        items, obs, st, h = rollouts.rollout(key, behave, ts.obs, ts.env_state, params, cfg.envs,
                                             cfg.rollout, bootstrap=bootstrap, carry=ts.h,
                                             env=env)
        return ts.replace(obs=obs, env_state=st, h=h), items

    def learn(ts: HAPPOState, items):
        key, k_order = rng.split(ts.key)
        reward = shared_reward(items["objective"])
        raw_v = value.apply(ts.critic, global_state(items["local"]))       # [T, E]
        v = ts.value_norm.denormalize(raw_v) if cfg.value_norm else raw_v
        adv, targets = losses.gae(reward, v, items["next_value"], items["done"], cfg.gamma,
                                  cfg.gae_lambda)
        adv_n = (adv - adv.mean()) / (adv.std() + 1e-5)
        batch = Batch(local=items["local"], h=items["h"], x=items["x"], l=items["l"],
                      a=items["a"], b=items["b"], logp=items["logp"], mask=items["mask"])
        actors, actor_opt, _, _, ratios = update_actors(k_order, ts.actors, ts.actor_opt,
                                                        batch, adv_n, policy, opt, cfg)
        norm = ts.value_norm.update(targets) if cfg.value_norm else ts.value_norm
        target_n = norm.normalize(targets) if cfg.value_norm else targets
        s_global = global_state(items["local"])

        def vepoch(co, _):
            c, o = co
            lval, g = jax.value_and_grad(
                lambda c: value_loss(value.apply(c, s_global), raw_v, target_n, cfg))(c)
            u, o = copt.update(g, o, c)
            return (optax.apply_updates(c, u), o), lval

        (critic, critic_opt), vl = jax.lax.scan(vepoch, (ts.critic, ts.critic_opt), None,
                                                length=cfg.critic_epochs)
        ts = ts.replace(actors=actors, actor_opt=actor_opt, critic=critic,
                        critic_opt=critic_opt, value_norm=norm, key=key)
        m_final = jnp.exp(jnp.sum(jnp.log(ratios), axis=0))
        return ts, dict(value_loss=vl[-1], reward=jnp.mean(reward),
                        rollout_objective=jnp.mean(items["objective"]),
                        m_max=jnp.max(m_final))

    def iteration(ts: HAPPOState):
        key, k_roll = rng.split(ts.key)
        ts, items = rollout(ts.replace(key=key), k_roll)
        ts, metrics = learn(ts, items)
        measured = validation.validation_objective(
            happo_policy(ts.actors, params, cfg), ts.eval_key, params, cfg.eval_envs,
            cfg.eval_rounds)
        best, best_score, _ = validation.track_best(ts.best_actors, ts.best_score, ts.best_score,
                                                    ts.actors, measured, 0.0)
        ts = ts.replace(best_actors=best, best_score=best_score, iteration=ts.iteration + 1)
        return ts, dict(objective=measured, **metrics)

    iteration.rollout, iteration.learn = rollout, learn   # the phases, to time them apart
    return init, iteration


def happo_policy(actors, params: EnvParams, cfg: HAPPOConfig) -> Policy:
    """Deterministic HAPPO policy for evaluation (argmax categoricals, Beta means)."""
    policy, hdim = make_policy_net(cfg, params.l_channels)
    apply_agents = agents_apply(policy, cfg.share_param)

    def init(env_params):
        return jnp.zeros((env_params.n_max, hdim), env_params.s_in.dtype)

    def apply(h, key, obs, state, env_params):
        h2, dist = apply_agents(actors, h, local_states(obs, env_params))
        x, l, a, b = mode_action(dist, cfg.ab_min)
        return h2, Action(x=x, channel=l, a=a, b=b)

    return Policy(init, apply)


# ---------------------------------------------------------------------- registry entry
def make(params: EnvParams, cfg: HAPPOConfig, deps: dict):
    """:mod:`dtac_jax.algos.registry` ``make``: HAPPO starts from nothing."""
    return (*make_happo(params, cfg), ())


def deliverable(state: HAPPOState, cfg: HAPPOConfig):
    """The validation-best actors."""
    return state.best_actors


def policy(actors, cfg: HAPPOConfig, params: EnvParams, deps: dict) -> Policy:
    return happo_policy(actors, params, cfg)
