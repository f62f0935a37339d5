"""Decentralised transfer (paper Algorithm 1, lines 13-19) and the TL baselines.

The student starts from the converged TAC actor (``student="transformer"``: the same
parameters run with identity attention, so each UE sees only its own state) or from scratch
(``student="mlp"``: the TL baseline's per-UE MLP with ids, eq. 24). Its loss is a choice:

* ``loss="critic"`` (DTAC, eq. 22): the actor loss through the frozen centralised TAC critic,
  evaluated on the stacked decentralised actions of all UEs;
* ``loss="mse"`` (TL / TL transformer, eq. 26): MSE to the TAC actor's joint actions.

Every variant sees the same data: each transfer episode collects rounds with the TAC teacher
(plus small exploration noise) into a replay buffer that starts as TAC's own buffer.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from dtac_jax.algos import budget, losses, replay, rollouts, validation
from dtac_jax.algos.policy import Policy, actor_fn, greedy
from dtac_jax.config import Config
from dtac_jax.env import rng
from dtac_jax.env.scenarios import EnvParams
from dtac_jax.nets.mlp import MLPActor
from dtac_jax.nets.transformer import NetConfig

LOSSES = ("critic", "mse")
STUDENTS = ("transformer", "mlp")


@dataclasses.dataclass(frozen=True)
class TransferConfig(Config):
    """The transfer's settings: DTAC (``loss="critic"``) or a TL baseline (``loss="mse"``)."""

    episodes: int = 100
    updates: int = 20
    batch_size: int = 64
    lr: float = 3e-4
    weight_decay: float = 1e-4
    entropy_weight: float = 0.01
    grad_clip: float = 1.0
    loss: str = "critic"
    anchor_weight: float = 100.0      # critic loss + anchor_weight * MSE to TAC (0 = eq. 22 alone)
    keep_best: bool = True            # return the student with the best validation objective
    eval_envs: int = 32               # fixed validation episodes scoring each episode's student
    eval_rounds: int = 50             #   ... and their rounds (TAC's validation protocol)
    score_ema: float = 0.0            # optional EMA of that score over episodes (0: none)
    student: str = "transformer"
    mlp_hidden: tuple[int, ...] = (64, 64)
    collect: replay.CollectConfig = replay.CollectConfig(noise_var=0.01, noise_decay=1.0)

    def budget(self, params) -> dict:
        """Training budget (:func:`budget.budget`): teacher rollouts and student steps."""
        return budget.budget(self.episodes,
                             self.episodes * self.collect.envs * self.collect.rounds, params,
                             actor_steps=self.episodes * self.updates, critic_steps=0)

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"unknown transfer loss {self.loss!r} (known: {', '.join(LOSSES)})")
        if self.student not in STUDENTS:
            raise ValueError(f"unknown student {self.student!r} (known: {', '.join(STUDENTS)})")
        for f in ("episodes", "updates", "batch_size", "eval_envs", "eval_rounds"):
            if getattr(self, f) < 1:
                raise ValueError(f"TransferConfig.{f} must be >= 1")
        if not 0 <= self.score_ema < 1:
            raise ValueError(f"TransferConfig.score_ema must be in [0, 1), got {self.score_ema}")

    @staticmethod
    def quick(**kw) -> TransferConfig:
        """The project's transfer (the class defaults, lr 3e-4) with overrides ``kw``."""
        return TransferConfig().replace(**kw)

    @staticmethod
    def paper(**kw) -> TransferConfig:
        """The paper's learning rate (Table II: 2e-5, AdamW) with overrides ``kw``."""
        return TransferConfig().replace(**{"lr": 2e-5, **kw})

    @property
    def name(self) -> str:
        return {("critic", "transformer"): "dtac", ("mse", "transformer"): "tl_transformer",
                ("mse", "mlp"): "tl", ("critic", "mlp"): "mlp_critic"}[(self.loss, self.student)]


@struct.dataclass
class TransferState:
    student: Any
    best: Any         # student with the lowest validation objective so far
    score: jax.Array  # validation objective of the current student (optionally smoothed)
    best_score: jax.Array
    opt: Any
    teacher: Any      # frozen TAC actor
    critic: Any       # frozen TAC critic
    buffer: Any
    obs: Any
    env_state: Any
    key: jax.Array
    eval_key: jax.Array  # fixed: the validation episodes (validation.validation_objective)
    noise_var: jax.Array
    episode: jax.Array


def student_model(cfg: TransferConfig, net: NetConfig):
    """``(module, act)``: the student network and its ``act(params, obs)``."""
    if cfg.student == "transformer":
        return None, actor_fn(net, "identity")
    model = MLPActor(n_channels=net.n_channels, hidden=cfg.mlp_hidden, a_min=net.a_min)
    return model, lambda prm, obs: model.apply(prm, obs.s, obs.edge, obs.mask)


def student_policy(student_params, cfg: TransferConfig, net: NetConfig) -> Policy:
    """The deterministic policy of student parameters (each UE acts on its own state)."""
    return greedy(student_model(cfg, net)[1], student_params)


def make_transfer(params: EnvParams, cfg: TransferConfig, net: NetConfig, cost_scale: float,
                  buffer_size: int, critic_input: str = "probs"):
    """``(init, episode)``; ``init(key, tac_actor, tac_critic, tac_buffer) -> TransferState``.

    ``critic_input`` is the TAC critic's (:class:`~dtac_jax.algos.tac.TACConfig`): what the
    collected rounds store of a decision, and how eq. 22 feeds the student's decisions to it.
    """
    buffer = replay.make_buffer(buffer_size, cfg.batch_size)
    opt = optax.chain(optax.clip_by_global_norm(cfg.grad_clip),
                      optax.adamw(cfg.lr, weight_decay=cfg.weight_decay))
    module, act = student_model(cfg, net)
    teacher_act = actor_fn(net, "full")

    def init(key, tac_actor, tac_critic, tac_buffer) -> TransferState:
        k_net, k_env, k_run, _ = rng.split(key, 4)
        k_eval = validation.validation_key(key)   # the same episodes for every method
        if module is None:
            student = tac_actor  # Algorithm 1 line 14: copy of the TAC actor
        else:
            n = params.n_max
            student = module.init(k_net, jnp.ones((n, 6)), jnp.zeros((n,), jnp.int32),
                                  jnp.ones((n,), bool))
        obs, env_state = rollouts.init_envs(k_env, params, cfg.collect.envs)
        # the starting student is a candidate too (for DTAC and TL transformer the TAC copy under
        # identity attention, for TL a fresh MLP): it is scored on the validation set before
        # any fine-tuning, so the delivered best student is never worse there than the start;
        # the smoothed score (score_ema > 0) still starts at the first fine-tuned episode
        inf = jnp.asarray(jnp.inf, params.s_in.dtype)
        best_score = validation.validation_objective(greedy(act, student), k_eval, params,
                                                     cfg.eval_envs, cfg.eval_rounds)
        return TransferState(student=student, best=student, score=inf, best_score=best_score,
                             opt=opt.init(student), teacher=tac_actor,
                             critic=tac_critic, buffer=tac_buffer, obs=obs, env_state=env_state,
                             key=k_run, eval_key=k_eval,
                             noise_var=jnp.asarray(cfg.collect.noise_var,
                                                   params.s_in.dtype),
                             episode=jnp.zeros((), jnp.int32))

    def loss_fn(student, ts: TransferState, batch):
        mse = losses.imitation_loss(student, ts.teacher, batch, act, teacher_act)
        if cfg.loss == "mse":
            return mse
        crit = losses.actor_critic_loss(student, ts.critic, batch, act, net, cost_scale,
                                        cfg.entropy_weight, critic_input)
        return crit + cfg.anchor_weight * mse if cfg.anchor_weight else crit

    def update(ts: TransferState, key):
        batch = buffer.sample(ts.buffer, key).experience
        loss, g = jax.value_and_grad(loss_fn)(ts.student, ts, batch)
        upd, o = opt.update(g, ts.opt, ts.student)
        return ts.replace(student=optax.apply_updates(ts.student, upd), opt=o), loss

    def episode(ts: TransferState):
        key, k_col, k_upd = rng.split(ts.key, 3)
        items, objective, obs, env_state = replay.collect(
            k_col, teacher_act, ts.teacher, ts.obs, ts.env_state, ts.noise_var, params,
            cfg.collect, net.a_min, critic_input)
        ts = ts.replace(buffer=buffer.add(ts.buffer, items), obs=obs, env_state=env_state)
        ts, loss = jax.lax.scan(update, ts, rng.split(k_upd, cfg.updates))
        ts = ts.replace(key=key, noise_var=ts.noise_var * cfg.collect.noise_decay,
                        episode=ts.episode + 1)
        obj = validation.validation_objective(greedy(act, ts.student), ts.eval_key, params,
                                              cfg.eval_envs, cfg.eval_rounds)
        best, best_score, score = validation.track_best(ts.best, ts.best_score, ts.score,
                                                        ts.student, obj, cfg.score_ema)
        ts = ts.replace(best=best, best_score=best_score, score=score)
        return ts, dict(loss=jnp.mean(loss), objective=obj, smoothed_objective=score,
                        teacher_objective=jnp.mean(objective))

    return init, episode


def final_student(ts: TransferState, cfg: TransferConfig):
    """The student a transfer run delivers: the best measured one, or the last."""
    return ts.best if cfg.keep_best else ts.student


# ---------------------------------------------------------------------- registry entries
def make(params: EnvParams, cfg: TransferConfig, deps: dict):
    """:mod:`dtac_jax.algos.registry` ``make``: starts from the TAC run ``deps["tac"]`` (its
    validation-best actor, critic and replay buffer; the same seeds)."""
    tac_cfg, tac_state = deps["tac"].config, deps["tac"].state
    init, episode = make_transfer(params, cfg, tac_cfg.net, tac_cfg.cost_scale,
                                  tac_cfg.buffer_size, tac_cfg.critic_input)
    return init, episode, (tac_state.best_actor, tac_state.critic, tac_state.buffer)


def deliverable(state: TransferState, cfg: TransferConfig):
    return final_student(state, cfg)


def actor(cfg: TransferConfig, deps: dict):
    """``act(student_params, obs) -> ActionDist``: the student (each UE sees itself only)."""
    return student_model(cfg, deps["tac"].config.net)[1]


def policy(student_params, cfg: TransferConfig, params: EnvParams, deps: dict) -> Policy:
    return greedy(actor(cfg, deps), student_params)


def record(cfg: TransferConfig, deps: dict) -> dict:
    """What a transfer run records of its TAC run in ``config.json``."""
    tac_cfg = deps["tac"].config
    return dict(net=dataclasses.asdict(tac_cfg.net), cost_scale=tac_cfg.cost_scale,
                buffer_size=tac_cfg.buffer_size, critic_input=tac_cfg.critic_input)
