"""TAC: centralised Transformer Actor-Critic training (paper Algorithm 1, lines 1-12).

Pure functions over an explicit :class:`TACState`; ``make_tac(...)`` returns ``init(key)`` and
``iteration(state)``, both jit- and vmap-able (over seeds). An estimator
(:mod:`dtac_jax.algos.estimators`, named by ``TACConfig.estimator``) makes each training
iteration's collection and updates of the transformer actor and the per-UE critic ``Q`` of
eq. 18: ``"ppo"`` (default: a stochastic policy gradient with per-UE difference credit from
the learned critic, :mod:`~dtac_jax.algos.estimators.ppo`) or ``"critic"`` (the paper's
gradient through the critic, eq. 19, :mod:`~dtac_jax.algos.estimators.critic_gradient`).
DTAC's transfer fine-tunes against the same critic.

Each training iteration ends by scoring the deterministic actor (argmax, ``a``, ``b``) on a
fixed validation set and keeping the best actor seen (``best_actor``). :func:`recipe` names
the configurations: ``"default"`` (PPO, the critic's credit), ``"oracle-credit"`` (PPO, the
simulator's credit), ``"critic"`` (the paper's estimator, tuned learning rates) and
``"paper"`` (the paper's recipe, lr 2e-5).

The continuous hyper-parameters (:data:`HYPER`: the learning rates, the entropy weight and the
exploration noise) are values in the state, not constants of the compiled program: the
learning rates live in the optimisers' states (``optax.inject_hyperparams``), the rest in
``TACState.hyper`` and ``noise_var``. ``init(key, hyper)`` takes them per run, so runs that
differ only in them train vmapped in one program (``dtac sweep``); ``init(key)`` takes the
config's.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from dtac_jax.algos import budget, credit, estimators, replay, rollouts, validation
from dtac_jax.algos.policy import Policy, actor_fn, greedy
from dtac_jax.config import Config
from dtac_jax.env import rng
from dtac_jax.env.scenarios import EnvParams
from dtac_jax.env.wrappers import EnvConfig
from dtac_jax.nets.transformer import NetConfig, init_actor_critic

CRITIC_INPUTS = ("executed", "probs")
RECIPES = ("default", "oracle-credit", "critic", "paper")
#: the continuous hyper-parameters ``init(key, hyper)`` takes (:func:`hyper_params`)
HYPER = ("lr_actor", "lr_critic", "lr_value", "entropy_weight", "noise_var", "noise_decay")
# "team": every UE's decision factors share the GAE advantage of the shared reward; "difference":
# each factor of each UE gets its own immediate advantage, the shared reward's change when that
# factor alone is replaced by its expectation, answered by PPOConfig.credit_source (credit.py)
CREDITS = ("team", "difference")
CREDIT_SOURCES = credit.SOURCES


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

    The defaults are the PPO estimator's. ``updates`` x ``batch_size`` are the per-iteration
    critic steps (with ``estimator="critic"``, critic-then-actor steps). A dict without
    ``estimator`` or ``critic_input`` is the paper's estimator's (``_legacy_defaults``).
    """

    _legacy_defaults = {"estimator": "critic", "critic_input": "probs"}
    RESUMABLE = frozenset({"lr_actor", "lr_critic", "weight_decay", "grad_clip"})
    RENAMED = {"episodes": "iterations"}

    iterations: int = 60
    estimator: str = "ppo"
    critic_input: str = "executed"    # what the critic sees of a decision (CRITIC_INPUTS)
    updates: int = 100                # U critic updates per training iteration
    batch_size: int = 128             # joint rounds per update
    buffer_size: int = 20_000         # joint rounds kept
    lr_critic: float = 3e-3
    lr_actor: float = 1e-3
    weight_decay: float = 1e-4
    entropy_weight: float = 0.01      # w_s
    cost_scale: float = 0.01          # critic target log1p(cost / cost_scale)
    grad_clip: float = 1.0
    eval_envs: int = 32               # fixed validation episodes scoring each iteration's actor
    eval_rounds: int = 50             #   ... and their rounds (best-actor choice, curves)
    score_ema: float = 0.0            # optional EMA of that score over iterations (0: none)
    collect: replay.CollectConfig = replay.CollectConfig(envs=32, rounds=8, noise_var=0.0,
                                                         noise_decay=1.0)
    ppo: PPOConfig = PPOConfig()
    net: NetConfig = NetConfig()
    env: EnvConfig = EnvConfig()      # the training rollouts' environment (effects)

    def budget(self, params) -> dict:
        """Training budget (:func:`budget.budget`) of ``iterations`` iterations."""
        actor = (self.ppo.epochs * self.ppo.minibatches if self.estimator == "ppo"
                 else self.updates)
        return budget.budget(self.iterations,
                             self.iterations * self.collect.envs * self.collect.rounds, params,
                             actor_steps=self.iterations * actor,
                             critic_steps=self.iterations * self.updates)

    def __post_init__(self):
        if self.estimator not in estimators.ESTIMATORS:   # read now: registered by name
            raise ValueError(f"unknown TAC estimator {self.estimator!r} (known: "
                             f"{', '.join(estimators.ESTIMATORS)})")
        if self.critic_input not in CRITIC_INPUTS:
            raise ValueError(f"unknown critic input {self.critic_input!r} (known: "
                             f"{', '.join(CRITIC_INPUTS)})")
        for f in ("iterations", "updates", "batch_size", "buffer_size", "eval_envs",
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
      environments x 10 rounds per iteration and 16 x 10-round validation episodes.
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
    base = TACConfig(iterations=150, estimator="critic", critic_input="probs", updates=20,
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
    actor_opt: Any        # the estimator's actor optimiser state
    critic_opt: Any
    buffer: Any
    obs: Any
    env_state: Any
    key: jax.Array
    eval_key: jax.Array   # fixed: the validation episodes (validation.validation_objective)
    noise_var: jax.Array
    iteration: jax.Array
    hyper: Any            # entropy_weight, noise_decay: scalars (see HYPER)
    estimator: Any        # the estimator's own state: a dict, {} when it keeps none


@struct.dataclass
class _LayoutV0:
    """:class:`TACState` as checkpoints of dtac-jax 0.3 hold it: the PPO estimator's state
    in its own fields (None where unused) rather than in ``estimator``. The counter has its
    current name, ``iteration``: :func:`dtac_jax.checkpoint.restore` reads a 0.3 checkpoint's
    ``episode`` into it (:data:`dtac_jax.checkpoint.RENAMED_FIELDS`)."""
    actor: Any
    best_actor: Any
    score: jax.Array
    best_score: jax.Array
    critic: Any
    actor_opt: Any
    critic_opt: Any
    buffer: Any
    obs: Any
    env_state: Any
    key: jax.Array
    eval_key: jax.Array
    noise_var: jax.Array
    iteration: jax.Array
    value: Any = None
    value_opt: Any = None
    log_std: Any = None
    hyper: Any = None


_V0_OWN = ("log_std", "value", "value_opt")


def upgrade(like: TACState):
    """``(like in the 0.3 layout, convert)``: restore a checkpoint written before
    ``TACState.estimator`` (:func:`dtac_jax.checkpoint.restore`'s ``upgrade``)."""
    common = {f.name: getattr(like, f.name) for f in dataclasses.fields(TACState)
              if f.name != "estimator"}
    old_like = _LayoutV0(**common, **{k: like.estimator.get(k) for k in _V0_OWN})

    def convert(old: _LayoutV0) -> TACState:
        own = {k: getattr(old, k) for k in _V0_OWN if getattr(old, k) is not None}
        return TACState(**{k: getattr(old, k) for k in common}, estimator=own)
    return old_like, convert


def make_tac(params: EnvParams, cfg: TACConfig):
    """Returns ``(init, iteration)``: ``init(key, hyper=None) -> TACState``,
    ``iteration(state) -> (state, metrics)``. ``hyper`` maps names in :data:`HYPER` to values
    (floats or traced scalars, e.g. one member's of a vmapped sweep); the others are
    ``cfg``'s."""
    if cfg.net.n_channels != params.l_channels:
        raise ValueError(f"NetConfig.n_channels ({cfg.net.n_channels}) != scenario "
                         f"l_channels ({params.l_channels})")
    horizon = cfg.ppo.horizon if cfg.estimator == "ppo" else 0
    ctx = estimators.Context(params=params, cfg=cfg, env=cfg.env.make(),
                             buffer=replay.make_buffer(cfg.buffer_size, cfg.batch_size),
                             act=actor_fn(cfg.net, "full"), horizon=horizon)
    estimator = estimators.get(cfg.estimator)

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
        obs, env_state = rollouts.init_envs(k_env, params, cfg.collect.envs, ctx.env)
        inf = jnp.asarray(jnp.inf, dtype)
        actor_opt, own = estimator.init(ctx, k_net, nets["actor"], h)
        return TACState(
            actor=nets["actor"], best_actor=nets["actor"], score=inf, best_score=inf,
            critic=nets["critic"], actor_opt=actor_opt,
            critic_opt=ctx.optimizer(h["lr_critic"]).init(nets["critic"]),
            buffer=ctx.buffer.init(replay.example_item(params, cfg.net.n_channels,
                                                       horizon > 0)),
            obs=obs, env_state=env_state, key=k_run, eval_key=k_eval,
            noise_var=jnp.asarray(h["noise_var"], dtype),
            iteration=jnp.zeros((), jnp.int32),
            hyper={k: jnp.asarray(h[k], dtype) for k in ("entropy_weight", "noise_decay")},
            estimator=own)

    def iteration(ts: TACState):
        key, k_train = rng.split(ts.key)
        ts, metrics = estimator.train(ctx, ts, k_train)
        measured = validation.validation_objective(greedy(ctx.act, ts.actor), ts.eval_key,
                                                   params, cfg.eval_envs, cfg.eval_rounds)
        best, best_score, score = validation.track_best(ts.best_actor, ts.best_score, ts.score,
                                                        ts.actor, measured, cfg.score_ema)
        ts = ts.replace(best_actor=best, best_score=best_score, score=score)
        metrics = dict(objective=measured, noise_var=ts.noise_var, **metrics)
        ts = ts.replace(key=key, noise_var=ts.noise_var * ts.hyper["noise_decay"],
                        iteration=ts.iteration + 1)
        return ts, metrics

    return init, iteration


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
