"""Decentralised transfer (paper Algorithm 1, lines 13-19) and the TL baselines.

The student starts from the converged TAC actor (``student="transformer"``: the same
parameters run with identity attention, so each UE sees only its own state) or from scratch
(``student="mlp"``: the TL baseline's per-UE MLP with ids, eq. 24). Its loss is a choice:

* ``loss="critic"`` (DTAC, eq. 22): the actor loss through the frozen centralised TAC critic,
  evaluated on the stacked decentralised actions of all UEs (for a critic of executed
  decisions, differentiated through its per-UE what-ifs: ``critic_gradient``), optionally plus
  a trust region to TAC (``trust_weight``, 0 in the registry's DTAC) and an MSE anchor
  (``anchor_weight``, 0; the ``dtac_anchor`` entry uses 100);
* ``loss="mse"`` (TL / TL transformer, eq. 26): MSE to the TAC actor's joint actions.

Every variant sees the same data: each transfer iteration collects rounds with the TAC teacher
(plus small exploration noise) into a replay buffer that starts as TAC's own buffer.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from dtac_jax.algos import budget, credit, losses, replay, rollouts, validation
from dtac_jax.algos.policy import Policy, actor_fn, greedy, to_action
from dtac_jax.config import Config
from dtac_jax.env import rng
from dtac_jax.env.env import Obs
from dtac_jax.env.scenarios import EnvParams
from dtac_jax.env.wrappers import EnvConfig
from dtac_jax.nets.mlp import MLPActor
from dtac_jax.nets.transformer import NetConfig

LOSSES = ("critic", "mse")
# how eq. 22 differentiates a critic trained on executed one-hot decisions with respect to the
# student's target and channel probabilities (see TransferConfig.critic_gradient)
GRADIENTS = ("what_if", "straight_through")
#: DTAC's fields (registry entry "dtac"): eq. 22 alone through the critic's what-ifs, 16 rounds
#: a step (each round asks the critic 1 + N (2 + L) questions); no trust region and no anchor
#: (docs/algorithms.md: a trust region to TAC cost more than it saved in the quick profile)
DTAC = dict(loss="critic", student="transformer", batch_size=16)
STUDENTS = ("transformer", "mlp")


@dataclasses.dataclass(frozen=True)
class TransferConfig(Config):
    """The transfer's settings: DTAC (``loss="critic"``) or a TL baseline (``loss="mse"``)."""

    iterations: int = 100
    updates: int = 20
    batch_size: int = 64
    lr_actor: float = 3e-4
    weight_decay: float = 1e-4
    entropy_weight: float = 0.01
    grad_clip: float = 1.0
    loss: str = "critic"
    # "what_if": the exact per-UE what-ifs of the critic; "straight_through": its tangent
    critic_gradient: str = "what_if"
    anchor_weight: float = 0.0        # critic loss + anchor_weight * MSE to TAC (0: eq. 22 alone)
    trust_weight: float = 0.0         # ... + trust_weight * KL(teacher || student) of the targets
                                      #   and channels, a trust region to TAC (0: none)
    keep_best: bool = True            # return the student with the best validation objective
    eval_envs: int = 32               # fixed validation episodes scoring each iteration's student
    eval_rounds: int = 50             #   ... and their rounds (TAC's validation protocol)
    score_ema: float = 0.0            # optional EMA of that score over iterations (0: none)
    student: str = "transformer"
    mlp_hidden: tuple[int, ...] = (64, 64)
    collect: replay.CollectConfig = replay.CollectConfig(envs=32, rounds=10, noise_var=0.01,
                                                         noise_decay=1.0)
    env: EnvConfig = EnvConfig()      # the training rollouts' environment (effects)

    # a dict without critic_gradient was written when eq. 22 used the straight-through tangent
    _legacy_defaults = {"critic_gradient": "straight_through"}
    RESUMABLE = frozenset({"lr_actor", "weight_decay", "grad_clip"})
    RENAMED = {"lr": "lr_actor", "episodes": "iterations"}

    def budget(self, params) -> dict:
        """Training budget (:func:`budget.budget`): teacher rollouts and student steps."""
        return budget.budget(self.iterations,
                             self.iterations * self.collect.envs * self.collect.rounds, params,
                             actor_steps=self.iterations * self.updates, critic_steps=0)

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"unknown transfer loss {self.loss!r} (known: {', '.join(LOSSES)})")
        if self.student not in STUDENTS:
            raise ValueError(f"unknown student {self.student!r} (known: {', '.join(STUDENTS)})")
        for f in ("iterations", "updates", "batch_size", "eval_envs", "eval_rounds"):
            if getattr(self, f) < 1:
                raise ValueError(f"TransferConfig.{f} must be >= 1")
        if not 0 <= self.score_ema < 1:
            raise ValueError(f"TransferConfig.score_ema must be in [0, 1), got {self.score_ema}")
        if self.critic_gradient not in GRADIENTS:
            raise ValueError(f"unknown critic gradient {self.critic_gradient!r} (known: "
                             f"{', '.join(GRADIENTS)})")
        for f in ("anchor_weight", "trust_weight"):
            if not getattr(self, f) >= 0:
                raise ValueError(f"TransferConfig.{f} must be >= 0, got {getattr(self, f)}")

    @staticmethod
    def quick(**kw) -> TransferConfig:
        """The project's transfer (the class defaults, lr 3e-4) with overrides ``kw``."""
        return TransferConfig().replace(**kw)

    @staticmethod
    def paper(**kw) -> TransferConfig:
        """The paper's learning rate (Table II: 2e-5, AdamW) with overrides ``kw``."""
        return TransferConfig().replace(**{"lr_actor": 2e-5, **kw})

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
    iteration: jax.Array


def student_model(cfg: TransferConfig, net: NetConfig):
    """``(module, act)``: the student network and its ``act(params, obs)``."""
    if cfg.student == "transformer":
        return None, actor_fn(net, "identity")
    model = MLPActor(n_channels=net.n_channels, hidden=cfg.mlp_hidden, a_min=net.a_min)
    return model, lambda prm, obs: model.apply(prm, obs.s, obs.edge, obs.mask)


def make_transfer(params: EnvParams, cfg: TransferConfig, net: NetConfig, cost_scale: float,
                  buffer_size: int, critic_input: str = "probs"):
    """``(init, iteration)``; ``init(key, tac_actor, tac_critic, tac_buffer) -> TransferState``.

    ``critic_input`` is the TAC critic's (:class:`~dtac_jax.algos.tac.TACConfig`): what the
    collected rounds store of a decision, and how eq. 22 feeds the student's decisions to it.
    """
    buffer = replay.make_buffer(buffer_size, cfg.batch_size)
    env = cfg.env.make()   # the simulator inside the config's effects
    opt = optax.chain(optax.clip_by_global_norm(cfg.grad_clip),
                      optax.adamw(cfg.lr_actor, weight_decay=cfg.weight_decay))
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
        obs, env_state = rollouts.init_envs(k_env, params, cfg.collect.envs, env)
        # the starting student is a candidate too (for DTAC and TL transformer the TAC copy under
        # identity attention, for TL a fresh MLP): it is scored on the validation set before
        # any fine-tuning, so the delivered best student is never worse there than the start;
        # the smoothed score (score_ema > 0) still starts at the first fine-tuned iteration
        inf = jnp.asarray(jnp.inf, params.s_in.dtype)
        best_score = validation.validation_objective(greedy(act, student), k_eval, params,
                                                     cfg.eval_envs, cfg.eval_rounds)
        return TransferState(student=student, best=student, score=inf, best_score=best_score,
                             opt=opt.init(student), teacher=tac_actor,
                             critic=tac_critic, buffer=tac_buffer, obs=obs, env_state=env_state,
                             key=k_run, eval_key=k_eval,
                             noise_var=jnp.asarray(cfg.collect.noise_var,
                                                   params.s_in.dtype),
                             iteration=jnp.zeros((), jnp.int32))

    def loss_fn(student, ts: TransferState, batch):
        if cfg.loss == "mse":
            return losses.imitation_loss(student, ts.teacher, batch, act, teacher_act)
        if what_if:
            loss = what_if_loss(student, ts.critic, batch)
        else:
            loss = losses.actor_critic_loss(student, ts.critic, batch, act, net, cost_scale,
                                             cfg.entropy_weight, critic_input)
        if cfg.anchor_weight:
            loss = loss + cfg.anchor_weight * losses.imitation_loss(student, ts.teacher, batch,
                                                                    act, teacher_act)
        if cfg.trust_weight:
            loss = loss + cfg.trust_weight * losses.teacher_kl(student, ts.teacher, batch, act,
                                                               teacher_act)
        return loss

    what_if = critic_input == "executed" and cfg.critic_gradient == "what_if"

    def what_if_loss(student, critic, batch):
        """Eq. 22 for a critic of executed decisions, differentiated exactly: for each UE, the
        student's target and channel probabilities weight the critic's values (``log1p`` of
        the round objective) of the round with that UE's target (channel) set to each choice,
        everyone else at the student's argmax; ``a``, ``b`` move along the critic's gradient
        at the argmax decision; minus the entropy bonus."""
        obs = Obs(s=batch["s"], mask=batch["mask"], edge=batch["edge"])
        dist = jax.vmap(act, in_axes=(None, 0))(student, obs)
        p_x, p_l, a, b = dist
        mine = jax.lax.stop_gradient(to_action(dist))

        def what_ifs(state):   # constants of the gradient: no tangent flows through them
            o, action = state
            value = credit.critic_value(critic, net, o, cost_scale, 1.0)
            return credit.counterfactual_objectives(value, action, None, net.n_channels)[1:3]

        per_x, per_l = jax.lax.stop_gradient(
            jax.lax.map(what_ifs, (obs, mine), batch_size=credit.exact_batch()))

        def one(o, action, p_x, p_l, a, b, per_x, per_l):
            value = credit.critic_value(critic, net, o, cost_scale, 1.0)
            choice = jnp.sum(p_x * per_x, -1) + jnp.sum(p_l * per_l, -1)
            return (jnp.sum(jnp.where(o.mask, choice, 0.0))
                    + value(action.x, action.channel, a, b))

        q = jax.vmap(one)(obs, mine, p_x, p_l, a, b, per_x, per_l)
        ent = losses.policy_entropy(p_x, p_l, obs.mask)
        return jnp.mean(q - cfg.entropy_weight * ent)

    def diagnosed(behave, student, critic):
        """The teacher's behaviour, recording how well the frozen critic predicts the round
        objective of the teacher's executed decision and of the student's greedy decision on
        the same state, against the simulator's (a measurement only: nothing trains on it)."""
        def fit(obs, env_state, action, decision):
            true = credit.simulator_objective(env_state, params)(action.x, action.channel,
                                                                 action.a, action.b)
            pred = losses.critic_objective(critic, net, obs, *decision, cost_scale)
            return jnp.stack([jnp.log1p(true), jnp.log1p(jnp.maximum(pred, 0.0))])

        def fn(key, obs, env_state):
            action, extras = behave(key, obs, env_state)
            dist = jax.vmap(act, in_axes=(None, 0))(student, obs)
            mine = to_action(dist)
            if critic_input == "executed":   # the stored one-hots, the student's argmax
                mine_in = (jax.nn.one_hot(mine.x, 3, dtype=obs.s.dtype),
                           jax.nn.one_hot(mine.channel, net.n_channels, dtype=obs.s.dtype),
                           mine.a, mine.b)
            else:
                mine_in = tuple(dist)
            teach_in = (extras["p_x"], extras["p_l"], extras["a"], extras["b"])
            return action, dict(extras,
                                diag_teacher=jax.vmap(fit)(obs, env_state, action, teach_in),
                                diag_student=jax.vmap(fit)(obs, env_state, mine, mine_in))
        return fn

    def update(ts: TransferState, key):
        batch = buffer.sample(ts.buffer, key).experience
        loss, g = jax.value_and_grad(loss_fn)(ts.student, ts, batch)
        upd, o = opt.update(g, ts.opt, ts.student)
        return ts.replace(student=optax.apply_updates(ts.student, upd), opt=o), loss

    def iteration(ts: TransferState):
        key, k_col, k_upd = rng.split(ts.key, 3)
        behave = replay.noisy_behaviour(teacher_act, ts.teacher, ts.noise_var, net.a_min,
                                        critic_input, cfg.collect.explore, cfg.collect.floor)
        behave = diagnosed(behave, ts.student, ts.critic)
        items, obs, env_state = rollouts.rollout(k_col, behave, ts.obs, ts.env_state, params,
                                                 cfg.collect.envs, cfg.collect.rounds, env=env)
        objective = items["objective"]
        diag = _diagnostics(items["diag_teacher"], items["diag_student"])
        new = replay.flatten_rounds(replay.critic_item(items))
        if "future" in ts.buffer.experience:   # a TAC critic with the multi-round output
            n = new["mask"].shape[0]            # ... whose targets the transfer does not need
            new.update(future=jnp.zeros((n,), objective.dtype),
                       future_valid=jnp.zeros((n,), bool))
        ts = ts.replace(buffer=buffer.add(ts.buffer, new), obs=obs, env_state=env_state)
        ts, loss = jax.lax.scan(update, ts, rng.split(k_upd, cfg.updates))
        ts = ts.replace(key=key, noise_var=ts.noise_var * cfg.collect.noise_decay,
                        iteration=ts.iteration + 1)
        obj = validation.validation_objective(greedy(act, ts.student), ts.eval_key, params,
                                              cfg.eval_envs, cfg.eval_rounds)
        best, best_score, score = validation.track_best(ts.best, ts.best_score, ts.score,
                                                        ts.student, obj, cfg.score_ema)
        ts = ts.replace(best=best, best_score=best_score, score=score)
        return ts, dict(loss=jnp.mean(loss), objective=obj, smoothed_objective=score,
                        teacher_objective=jnp.mean(objective), **diag)

    return init, iteration


def _diagnostics(teacher, student):
    """Metrics of the critic's fit (``[..., 2]``: log1p of the simulator's round objective and
    of the critic's prediction) on the teacher's and the student's decisions: the mean
    absolute log error of each, and the critic's mean optimism on the student's (prediction
    minus truth, in log units: positive means the critic thinks the student's decisions cost
    more than they do)."""
    err = lambda d: jnp.mean(jnp.abs(d[..., 1] - d[..., 0]))
    return dict(critic_err_teacher=err(teacher), critic_err_student=err(student),
                critic_bias_student=jnp.mean(student[..., 1] - student[..., 0]),
                student_log_objective=jnp.mean(student[..., 0]),
                teacher_log_objective=jnp.mean(teacher[..., 0]))


def delivered_field(cfg: TransferConfig) -> str:
    """The :class:`TransferState` field holding the student a run delivers: ``best`` (the
    best measured one) or ``student`` (the last)."""
    return "best" if cfg.keep_best else "student"


def final_student(ts: TransferState, cfg: TransferConfig):
    """The student a transfer run delivers: the best measured one, or the last."""
    return getattr(ts, delivered_field(cfg))


# ---------------------------------------------------------------------- registry entries
def make(params: EnvParams, cfg: TransferConfig, deps: dict):
    """:mod:`dtac_jax.algos.registry` ``make``: starts from the TAC run ``deps["tac"]`` (its
    validation-best actor, critic and replay buffer; the same seeds)."""
    tac_cfg, tac_state = deps["tac"].config, deps["tac"].state
    init, iteration = make_transfer(params, cfg, tac_cfg.net, tac_cfg.cost_scale,
                                    tac_cfg.buffer_size, tac_cfg.critic_input)
    return init, iteration, (tac_state.best_actor, tac_state.critic, tac_state.buffer)


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
