"""TAC: centralised Transformer Actor-Critic training (paper Algorithm 1, lines 1-12).

Pure functions over an explicit :class:`TACState`; ``make_tac(...)`` returns ``init(key)`` and
``episode(state)``, both jit- and vmap-able (over seeds). Two estimators train the same
transformer actor (``TACConfig.estimator``):

* ``"ppo"`` (default): a stochastic policy gradient for the transformer actor, as MAT does.
  Targets and channels are sampled from the actor's categorical ``p_x``, ``p_l``; ``a``, ``b``
  from Gaussians around the actor's values (a learned, state-independent standard deviation),
  clipped to ``[a_min, 1]``. Each training episode rolls ``collect.envs`` environments for
  ``collect.rounds`` rounds, trains the per-UE critic ``Q`` of eq. 18 on the executed decisions
  (replay buffer, ``updates`` steps), credits each UE's target, channel and ``(a, b)`` with the
  change of the round's transformed objective had that factor alone been replaced
  (:mod:`dtac_jax.algos.credit`; ``ppo.credit_source``: the critic's what-ifs by default, the
  simulator's in the ``oracle-credit`` recipe; ``ppo.credit="team"``: GAE of the shared reward
  against a state value instead), and makes ``ppo.epochs`` passes of ``ppo.minibatches``
  clipped-surrogate updates. DTAC's transfer fine-tunes against the same critic.
* ``"critic"`` (the paper's): the deterministic actor's gradient through the critic (eq. 19),
  exploration by Gaussian noise on the probabilities, ``updates`` critic-then-actor steps per
  episode on replayed rounds.

Each training episode ends by scoring the deterministic actor (argmax, ``a``, ``b``) on a fixed
validation set and keeping the best actor seen (``best_actor``). :func:`recipe` names the
configurations: ``"default"`` (PPO, the critic's credit), ``"oracle-credit"`` (PPO, the
simulator's credit), ``"critic"`` (the paper's estimator, tuned learning rates) and ``"paper"``
(the paper's recipe, lr 2e-5).

The continuous hyper-parameters (:data:`HYPER`: the learning rates, the entropy weight and the
exploration noise) are values in the state, not constants of the compiled program: the
learning rates live in the optimisers' states (``optax.inject_hyperparams``), the rest in
``TACState.hyper`` and ``noise_var``. ``init(key, hyper)`` takes them per run, so runs that
differ only in them train vmapped in one program (``dtac sweep``); ``init(key)`` takes the
config's.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import distrax
import jax
import jax.numpy as jnp
import optax
from flax import struct

from dtac_jax.algos import budget, credit, losses, replay, rollouts, validation
from dtac_jax.algos.policy import Policy, actor_fn, greedy
from dtac_jax.config import Config
from dtac_jax.env import rng
from dtac_jax.env.env import Action, Obs
from dtac_jax.env.scenarios import EnvParams
from dtac_jax.env.wrappers import EnvConfig
from dtac_jax.nets.transformer import NetConfig, ValueNet, init_actor_critic

ESTIMATORS = ("ppo", "critic")
CRITIC_INPUTS = ("executed", "probs")
RECIPES = ("default", "oracle-credit", "critic", "paper")
#: the continuous hyper-parameters ``init(key, hyper)`` takes (:func:`hyper_params`)
HYPER = ("lr_actor", "lr_critic", "lr_value", "entropy_weight", "noise_var", "noise_decay")
# "team": every UE's decision factors share the GAE advantage of the shared reward; "difference":
# each factor of each UE gets its own immediate advantage, the shared reward's change when that
# factor alone is replaced by its expectation, answered by PPOConfig.credit_source (credit.py)
CREDITS = ("team", "difference")
CREDIT_SOURCES = credit.SOURCES
# what a round's critic credit reads
CREDIT_ITEMS = ("s", "edge", "mask", "x", "l", "a", "b", "p_x_pol", "p_l_pol", "a_mean", "b_mean")


@dataclasses.dataclass(frozen=True)
class PPOConfig(Config):
    """The stochastic-policy estimator's settings (``TACConfig.estimator = "ppo"``)."""

    RESUMABLE = frozenset({"lr_value"})

    epochs: int = 2
    minibatches: int = 8
    clip: float = 0.2
    gamma: float = 0.5            # rounds are coupled only through the edge caches
    gae_lambda: float = 0.9
    reward_scale: float = 1.0     # shared reward -log1p(objective / reward_scale)
    init_std: float = 0.1         # initial std of the Gaussians around a and b
    lr_value: float = 1e-3
    credit: str = "difference"    # per-UE advantages (CREDITS)
    credit_source: str = "critic"  # what answers the difference credit's what-ifs (CREDIT_SOURCES)
    # a measurement only: also compute the simulator's credit and report its correlation with
    # the credit used, per factor (metrics credit_corr_*); nothing trains on it
    diagnose_credit: bool = False
    # rounds after the current one whose discounted (gamma) transformed objective the critic
    # also predicts and the credit counts (0: the round alone); needs the critic's credit
    horizon: int = 0

    # a dict without credit_source was written when the simulator answered them
    _legacy_defaults = {"credit_source": "simulator"}

    def __post_init__(self):
        for f in ("epochs", "minibatches"):
            if getattr(self, f) < 1:
                raise ValueError(f"PPOConfig.{f} must be >= 1, got {getattr(self, f)}")
        for f in ("clip", "reward_scale", "init_std", "lr_value"):
            if not getattr(self, f) > 0:
                raise ValueError(f"PPOConfig.{f} must be > 0, got {getattr(self, f)}")
        for f in ("gamma", "gae_lambda"):
            if not 0 <= getattr(self, f) <= 1:
                raise ValueError(f"PPOConfig.{f} must be in [0, 1], got {getattr(self, f)}")
        if self.horizon < 0:
            raise ValueError(f"PPOConfig.horizon must be >= 0, got {self.horizon}")
        if self.horizon and (self.credit != "difference" or self.credit_source == "simulator"):
            raise ValueError("PPOConfig.horizon > 0 needs the difference credit from the critic "
                             f"(credit='difference', credit_source 'critic' or 'critic_linear'; "
                             f"got {self.credit!r}, {self.credit_source!r})")
        if self.credit not in CREDITS:
            raise ValueError(f"unknown PPO credit {self.credit!r} (known: {', '.join(CREDITS)})")
        if self.credit_source not in CREDIT_SOURCES:
            raise ValueError(f"unknown credit source {self.credit_source!r} (known: "
                             f"{', '.join(CREDIT_SOURCES)})")


@dataclasses.dataclass(frozen=True)
class TACConfig(Config):
    """Training hyper-parameters; :func:`recipe` gives the named configurations.

    The defaults are the PPO estimator's. ``updates`` x ``batch_size`` are the per-episode
    critic steps (with ``estimator="critic"``, critic-then-actor steps). A dict without
    ``estimator`` or ``critic_input`` is the paper's estimator's (``_legacy_defaults``).
    """

    _legacy_defaults = {"estimator": "critic", "critic_input": "probs"}
    RESUMABLE = frozenset({"lr_actor", "lr_critic", "weight_decay", "grad_clip"})

    episodes: int = 60
    estimator: str = "ppo"
    critic_input: str = "executed"    # what the critic sees of a decision (CRITIC_INPUTS)
    updates: int = 100                # U critic updates per training episode
    batch_size: int = 128             # joint rounds per update
    buffer_size: int = 20_000         # joint rounds kept
    lr_critic: float = 3e-3
    lr_actor: float = 1e-3
    weight_decay: float = 1e-4
    entropy_weight: float = 0.01      # w_s
    cost_scale: float = 0.01          # critic target log1p(cost / cost_scale)
    grad_clip: float = 1.0
    eval_envs: int = 32               # fixed validation episodes scoring each episode's actor
    eval_rounds: int = 50             #   ... and their rounds (best-actor choice, curves)
    score_ema: float = 0.0            # optional EMA of that score over episodes (0: none)
    collect: replay.CollectConfig = replay.CollectConfig(envs=32, rounds=8, noise_var=0.0,
                                                         noise_decay=1.0)
    ppo: PPOConfig = PPOConfig()
    net: NetConfig = NetConfig()
    env: EnvConfig = EnvConfig()      # the training rollouts' environment (effects)

    def budget(self, params) -> dict:
        """Training budget (:func:`budget.budget`) of ``episodes`` episodes."""
        actor = (self.ppo.epochs * self.ppo.minibatches if self.estimator == "ppo"
                 else self.updates)
        return budget.budget(self.episodes,
                             self.episodes * self.collect.envs * self.collect.rounds, params,
                             actor_steps=self.episodes * actor,
                             critic_steps=self.episodes * self.updates)

    def __post_init__(self):
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"unknown TAC estimator {self.estimator!r} (known: "
                             f"{', '.join(ESTIMATORS)})")
        if self.critic_input not in CRITIC_INPUTS:
            raise ValueError(f"unknown critic input {self.critic_input!r} (known: "
                             f"{', '.join(CRITIC_INPUTS)})")
        for f in ("episodes", "updates", "batch_size", "buffer_size", "eval_envs",
                  "eval_rounds"):
            if getattr(self, f) < 1:
                raise ValueError(f"TACConfig.{f} must be >= 1, got {getattr(self, f)}")
        if not 0 <= self.score_ema < 1:
            raise ValueError(f"TACConfig.score_ema must be in [0, 1), got {self.score_ema}")
        if self.buffer_size < self.batch_size:
            raise ValueError("TACConfig.buffer_size must be >= batch_size")
        for f in ("lr_critic", "lr_actor", "cost_scale"):
            if not getattr(self, f) > 0:
                raise ValueError(f"TACConfig.{f} must be > 0")
        if self.estimator == "ppo" and self.ppo.horizon >= self.collect.rounds:
            raise ValueError(f"ppo.horizon ({self.ppo.horizon}) must be below collect.rounds "
                             f"({self.collect.rounds}): a rollout must hold the rounds it sums")
        if self.estimator != "ppo" and self.ppo.horizon:
            raise ValueError("ppo.horizon > 0 needs estimator='ppo'")
        if self.estimator == "ppo":
            n = self.collect.envs * self.collect.rounds
            if n % self.ppo.minibatches:
                raise ValueError(f"collect.envs x collect.rounds ({n}) must be divisible by "
                                 f"ppo.minibatches ({self.ppo.minibatches})")

    @staticmethod
    def quick(**kw) -> TACConfig:
        """The CPU recipe: the class defaults (:func:`recipe` ``"default"``) with overrides
        ``kw`` (``collect``, ``ppo`` and ``net`` also take a dict of their own fields)."""
        return TACConfig().replace(**kw)

    @staticmethod
    def paper(**kw) -> TACConfig:
        """The paper's recipe (:func:`recipe` ``"paper"``: its estimator, lr 2e-5) with
        overrides ``kw``."""
        return recipe("paper", **kw)


def recipe(name: str, **kw) -> TACConfig:
    """A named TAC configuration, with overrides ``kw``.

    * ``"default"``: the PPO estimator (:class:`TACConfig` defaults), difference credit from the
      learned critic.
    * ``"oracle-credit"``: ``"default"`` with the difference credit answered by the simulator's
      own cost function (model-based; a reference, see :mod:`dtac_jax.algos.credit`).
    * ``"critic"``: the paper's estimator (gradient through the critic, noise on the
      probabilities, the critic fed the noisy probabilities) with learning rates 1e-3, 32
      environments x 10 rounds per episode and 16 x 10-round validation episodes.
    * ``"paper"``: ``"critic"`` at the paper's learning rate 2e-5.
    """
    if name not in RECIPES:
        raise ValueError(f"unknown TAC recipe {name!r} (known: {', '.join(RECIPES)})")
    if name == "default":
        return TACConfig.quick(**kw)
    if name == "oracle-credit":
        return TACConfig.quick(updates=20, batch_size=64, lr_critic=1e-3,
                               collect=dict(envs=128),
                               ppo=dict(credit_source="simulator")).replace(**kw)
    base = TACConfig(episodes=150, estimator="critic", critic_input="probs", updates=20,
                     batch_size=64, lr_critic=1e-3, lr_actor=1e-3, eval_envs=16, eval_rounds=10,
                     collect=replay.CollectConfig(envs=32, rounds=10, noise_var=0.02,
                                                  noise_decay=0.98))
    if name == "paper":
        base = base.replace(lr_critic=2e-5, lr_actor=2e-5)
    return base.replace(**kw)


def hyper_params(cfg: TACConfig) -> dict[str, float]:
    """The config's values of the :data:`HYPER` hyper-parameters."""
    return dict(lr_actor=cfg.lr_actor, lr_critic=cfg.lr_critic, lr_value=cfg.ppo.lr_value,
                entropy_weight=cfg.entropy_weight, noise_var=cfg.collect.noise_var,
                noise_decay=cfg.collect.noise_decay)


def with_hyper(cfg: TACConfig, hyper: dict) -> TACConfig:
    """``cfg`` with the :data:`HYPER` values in ``hyper`` (any subset)."""
    unknown = set(hyper) - set(HYPER)
    if unknown:
        raise ValueError(f"unknown TAC hyper-parameter(s) {', '.join(sorted(unknown))} "
                         f"(known: {', '.join(HYPER)})")
    top = {k: hyper[k] for k in ("lr_actor", "lr_critic", "entropy_weight") if k in hyper}
    collect = {k: hyper[k] for k in ("noise_var", "noise_decay") if k in hyper}
    ppo = {"lr_value": hyper["lr_value"]} if "lr_value" in hyper else {}
    return cfg.replace(**top, **({"collect": collect} if collect else {}),
                       **({"ppo": ppo} if ppo else {}))


@struct.dataclass
class TACState:
    actor: Any
    best_actor: Any       # actor with the lowest validation objective so far
    score: jax.Array
    best_score: jax.Array
    critic: Any
    actor_opt: Any
    critic_opt: Any
    buffer: Any
    obs: Any
    env_state: Any
    key: jax.Array
    eval_key: jax.Array   # fixed: the validation episodes (validation.validation_objective)
    noise_var: jax.Array
    episode: jax.Array
    value: Any = None      # PPO: state-value network parameters
    value_opt: Any = None
    log_std: Any = None    # PPO: log std of the Gaussians around a and b, [2]
    hyper: Any = None      # entropy_weight, noise_decay: scalars (see HYPER)


def optimizer(lr, cfg: TACConfig):
    """Gradient clipping, then AdamW with the learning rate ``lr`` (a float or a traced
    scalar) in the optimiser's state (``state.hyperparams["learning_rate"]``): the update
    reads it from there, so one program serves any learning rate."""
    def make(learning_rate):
        return optax.chain(optax.clip_by_global_norm(cfg.grad_clip),
                           optax.adamw(learning_rate, weight_decay=cfg.weight_decay))
    return optax.inject_hyperparams(make)(learning_rate=lr)


# --------------------------------------------------------------------------- PPO pieces
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


def make_tac(params: EnvParams, cfg: TACConfig):
    """Returns ``(init, episode)``: ``init(key, hyper=None) -> TACState``, ``episode(state) ->
    (state, metrics)``. ``hyper`` maps names in :data:`HYPER` to values (floats or traced
    scalars, e.g. one member's of a vmapped sweep); the others are ``cfg``'s."""
    if cfg.net.n_channels != params.l_channels:
        raise ValueError(f"NetConfig.n_channels ({cfg.net.n_channels}) != scenario "
                         f"l_channels ({params.l_channels})")
    buffer = replay.make_buffer(cfg.buffer_size, cfg.batch_size)
    env = cfg.env.make()   # the simulator inside the config's effects
    # the updates read the learning rates from the optimiser states that init() made
    opt_a, opt_c = optimizer(cfg.lr_actor, cfg), optimizer(cfg.lr_critic, cfg)
    opt_v = optimizer(cfg.ppo.lr_value, cfg)
    act = actor_fn(cfg.net, "full")
    value_net = ValueNet(cfg.net)
    value_fn = lambda prm, obs: value_net.apply(prm, obs.s, obs.edge, obs.mask)  # noqa: E731
    ppo = cfg.estimator == "ppo"
    floor = cfg.collect.floor   # sampling: p mixed with the uniform by this weight
    team = cfg.ppo.credit == "team"
    horizon = cfg.ppo.horizon if ppo else 0
    source = cfg.ppo.credit_source
    oracle = not team and source == "simulator"   # credit computed in the rollout

    def init(key, hyper: dict | None = None) -> TACState:
        unknown = set(hyper or {}) - set(HYPER)
        if unknown:
            raise ValueError(f"unknown TAC hyper-parameter(s) {', '.join(sorted(unknown))} "
                             f"(known: {', '.join(HYPER)})")
        h = dict(hyper_params(cfg), **(hyper or {}))
        dtype = params.s_in.dtype
        k_net, k_env, k_run, _ = rng.split(key, 4)
        k_eval = validation.validation_key(key)   # the same episodes for every method
        nets = init_actor_critic(k_net, cfg.net, future=horizon > 0)
        obs, env_state = rollouts.init_envs(k_env, params, cfg.collect.envs, env)
        inf = jnp.asarray(jnp.inf, dtype)
        extra = dict(actor_opt=optimizer(h["lr_actor"], cfg).init(nets["actor"]))
        if ppo:
            log_std = jnp.full((2,), math.log(cfg.ppo.init_std), dtype)
            # the PPO actor optimiser also moves the Gaussians' log std
            extra = dict(log_std=log_std,
                         actor_opt=optimizer(h["lr_actor"], cfg).init((nets["actor"], log_std)))
            if team:   # the state value (the difference credit needs none)
                n = 4
                value = value_net.init(jax.random.fold_in(k_net, 1), jnp.ones((n, 6)),
                                       jnp.zeros((n,), jnp.int32), jnp.ones((n,), bool))
                extra.update(value=value,
                             value_opt=optimizer(h["lr_value"], cfg).init(value))
        return TACState(
            actor=nets["actor"], best_actor=nets["actor"], score=inf, best_score=inf,
            critic=nets["critic"],
            critic_opt=optimizer(h["lr_critic"], cfg).init(nets["critic"]),
            buffer=buffer.init(replay.example_item(params, cfg.net.n_channels, horizon > 0)),
            obs=obs, env_state=env_state, key=k_run, eval_key=k_eval,
            noise_var=jnp.asarray(h["noise_var"], dtype),
            episode=jnp.zeros((), jnp.int32),
            hyper={k: jnp.asarray(h[k], dtype) for k in ("entropy_weight", "noise_decay")},
            **extra)

    def critic_step(ts: TACState, key):
        batch = buffer.sample(ts.buffer, key).experience
        c_loss, g_c = jax.value_and_grad(losses.critic_loss)(ts.critic, batch, cfg.net,
                                                             cfg.cost_scale)
        upd, critic_opt = opt_c.update(g_c, ts.critic_opt, ts.critic)
        return ts.replace(critic=optax.apply_updates(ts.critic, upd),
                          critic_opt=critic_opt), (batch, c_loss)

    def critic_only(ts: TACState, key):
        ts, (_, c_loss) = critic_step(ts, key)
        return ts, c_loss

    def critic_update(ts: TACState, key):
        """Critic step, then the actor through the just-updated critic (eq. 19)."""
        ts, (batch, c_loss) = critic_step(ts, key)
        a_loss, g_a = jax.value_and_grad(losses.actor_critic_loss)(
            ts.actor, ts.critic, batch, act, cfg.net, cfg.cost_scale, ts.hyper["entropy_weight"],
            cfg.critic_input)
        upd, actor_opt = opt_a.update(g_a, ts.actor_opt, ts.actor)
        ts = ts.replace(actor=optax.apply_updates(ts.actor, upd), actor_opt=actor_opt)
        return ts, (c_loss, a_loss)

    # ------------------------------------------------------------------ PPO
    def ppo_behaviour(ts: TACState):
        def behave(key, obs, env_state):
            out = jax.vmap(act, in_axes=(None, 0))(ts.actor, obs)
            p_x, p_l, a, b = out
            kx, kl, ka, kb = rng.split(key, 4)
            x = jax.random.categorical(kx, jnp.log(behaviour_probs(p_x, floor) + 1e-12))
            l = jax.random.categorical(kl, jnp.log(behaviour_probs(p_l, floor) + 1e-12))
            std = jnp.exp(ts.log_std)
            a_raw = a + std[0] * jax.random.normal(ka, a.shape, a.dtype)
            b_raw = b + std[1] * jax.random.normal(kb, b.shape, b.dtype)
            action = Action(x=x.astype(jnp.int32), channel=l.astype(jnp.int32),
                                   a=jnp.clip(a_raw, cfg.net.a_min, 1.0),
                                   b=jnp.clip(b_raw, cfg.net.a_min, 1.0))
            logp = log_probs(out, ts.log_std, action.x, action.channel, a_raw, b_raw, floor)
            extras = dict(p_x=jax.nn.one_hot(action.x, 3, dtype=p_x.dtype),
                          p_l=jax.nn.one_hot(action.channel, p_l.shape[-1], dtype=p_l.dtype),
                          a=action.a, b=action.b, x=action.x, l=action.channel,
                          a_raw=a_raw, b_raw=b_raw, logp=logp)
            if team:
                extras["value"] = jax.vmap(value_fn, in_axes=(None, 0))(ts.value, obs)
                return action, extras
            if oracle or cfg.ppo.diagnose_credit:   # needs the round's hidden state
                extras["ue_adv"] = jax.vmap(oracle_advantages)(env_state, action, p_x, p_l, a, b)
            if not oracle:   # the critic's what-ifs come after its update (ppo_train)
                extras.update(p_x_pol=p_x, p_l_pol=p_l, a_mean=a, b_mean=b)
            return action, extras
        return behave

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

    def ppo_minibatch(ts: TACState, mb):
        adv, m = mb["adv"], mb["mask"][..., None]
        if cfg.ppo.credit == "team":   # [B] -> every factor of every UE, normalised
            adv = (adv - jnp.mean(adv)) / (jnp.std(adv) + 1e-8)
            adv = jnp.broadcast_to(adv[:, None, None], mb["logp"].shape)
        else:                          # [B, N, 3], already centred: scaled only
            n = jnp.maximum(jnp.sum(jnp.broadcast_to(m, adv.shape)), 1)
            adv = adv / (jnp.sqrt(jnp.sum(jnp.where(m, adv ** 2, 0.0)) / n) + 1e-8)
        mb = dict(mb, adv=adv)
        (loss, (pg, ent)), g = jax.value_and_grad(ppo_loss, has_aux=True)(
            (ts.actor, ts.log_std), mb, ts.hyper["entropy_weight"])
        upd, actor_opt = opt_a.update(g, ts.actor_opt, (ts.actor, ts.log_std))
        actor, log_std = optax.apply_updates((ts.actor, ts.log_std), upd)
        ts = ts.replace(actor=actor, log_std=log_std, actor_opt=actor_opt)
        if not team:   # the counterfactual credits need no state value
            return ts, (pg, ent, jnp.zeros_like(pg))
        v_loss, g_v = jax.value_and_grad(value_loss)(ts.value, mb)
        upd, value_opt = opt_v.update(g_v, ts.value_opt, ts.value)
        ts = ts.replace(value=optax.apply_updates(ts.value, upd), value_opt=value_opt)
        return ts, (pg, ent, v_loss)

    def ppo_train(ts: TACState, key):
        k_col, k_epochs, k_crit = rng.split(key, 3)
        boot = lambda o: jax.vmap(value_fn, in_axes=(None, 0))(ts.value, o)  # noqa: E731
        items, obs, env_state = rollouts.rollout(k_col, ppo_behaviour(ts), ts.obs,
                                                 ts.env_state, params, cfg.collect.envs,
                                                 cfg.collect.rounds,
                                                 bootstrap=boot if team else None, env=env)
        if horizon:
            items["future"], items["future_valid"] = losses.future_targets(
                items["objective"], items["done"], cfg.ppo.gamma, horizon, cfg.ppo.reward_scale)
        ts = ts.replace(buffer=buffer.add(ts.buffer, replay.flatten_rounds(
            replay.critic_item(items))), obs=obs, env_state=env_state)
        # the critic learns from this rollout before it answers the credit's what-ifs
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
            return jax.lax.scan(ppo_minibatch, ts, shuffled)

        ts, (pg, ent, v_loss) = jax.lax.scan(epoch, ts, rng.split(k_epochs, cfg.ppo.epochs))
        x = jnp.where(items["mask"], items["x"], -1)
        n_real = jnp.maximum(jnp.sum(items["mask"]), 1)
        metrics = dict(collect_objective=jnp.mean(items["objective"]),
                       critic_loss=jnp.mean(c_loss), actor_loss=jnp.mean(pg),
                       value_loss=jnp.mean(v_loss), entropy=jnp.mean(ent),
                       std_a=jnp.exp(ts.log_std[0]), std_b=jnp.exp(ts.log_std[1]),
                       collect_edge=jnp.sum(x == 1) / n_real,
                       collect_cloud=jnp.sum(x == 2) / n_real, **diag)
        return ts, metrics

    def critic_train(ts: TACState, key):
        k_col, k_upd = rng.split(key)
        items, objective, obs, env_state = replay.collect(
            k_col, act, ts.actor, ts.obs, ts.env_state, ts.noise_var, params, cfg.collect,
            cfg.net.a_min, cfg.critic_input)
        ts = ts.replace(buffer=buffer.add(ts.buffer, items), obs=obs, env_state=env_state)
        ts, (c_loss, a_loss) = jax.lax.scan(critic_update, ts, rng.split(k_upd, cfg.updates))
        return ts, dict(collect_objective=jnp.mean(objective), critic_loss=jnp.mean(c_loss),
                        actor_loss=jnp.mean(a_loss))

    def episode(ts: TACState):
        key, k_train = rng.split(ts.key)
        ts, metrics = (ppo_train if ppo else critic_train)(ts, k_train)
        measured = validation.validation_objective(greedy(act, ts.actor), ts.eval_key, params,
                                                   cfg.eval_envs, cfg.eval_rounds)
        best, best_score, score = validation.track_best(ts.best_actor, ts.best_score, ts.score,
                                                        ts.actor, measured, cfg.score_ema)
        ts = ts.replace(best_actor=best, best_score=best_score, score=score)
        metrics = dict(objective=measured, noise_var=ts.noise_var, **metrics)
        ts = ts.replace(key=key, noise_var=ts.noise_var * ts.hyper["noise_decay"],
                        episode=ts.episode + 1)
        return ts, metrics

    return init, episode


# ---------------------------------------------------------------------- registry entry
def make(params: EnvParams, cfg: TACConfig, deps: dict):
    """:mod:`dtac_jax.algos.registry` ``make``: TAC starts from nothing."""
    return (*make_tac(params, cfg), ())


def deliverable(state: TACState, cfg: TACConfig):
    """The validation-best actor."""
    return state.best_actor


def actor(cfg: TACConfig, deps: dict):
    """``act(actor_params, obs) -> ActionDist``: the centralised actor (full attention)."""
    return actor_fn(cfg.net, "full")


def policy(actor_params, cfg: TACConfig, params: EnvParams, deps: dict) -> Policy:
    """The deterministic centralised policy of actor parameters."""
    return greedy(actor(cfg, deps), actor_params)
