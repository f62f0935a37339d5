"""TAC: centralised Transformer Actor-Critic training (paper Algorithm 1, lines 1-12).

Pure functions over an explicit :class:`TACState`. One *training episode* collects
``collect.rounds`` rounds from ``collect.envs`` vmapped environments with the noisy argmax
policy, stores them in the replay buffer, then makes ``updates`` critic-then-actor updates
(AdamW), and decays the noise variance. ``make_tac(...)`` returns ``init(key)`` and
``episode(state)``; both jit and vmap (over seeds).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from dtac_jax.algos import common
from dtac_jax.env import rng
from dtac_jax.env.scenarios import EnvParams
from dtac_jax.nets.transformer import NetConfig, init_actor_critic


@dataclasses.dataclass(frozen=True)
class TACConfig:
    """Training hyper-parameters. Paper values: lr 2e-5 (``paper_defaults()``), entropy 0.01.

    The defaults are tuned for quick CPU runs: learning rates 1e-3 for critic and actor
    reach in tens of episodes what 2e-5 reaches in thousands.
    """

    episodes: int = 150
    updates: int = 20                 # U updates per training episode
    batch_size: int = 64              # joint rounds per update
    buffer_size: int = 20_000         # joint rounds kept
    lr_critic: float = 1e-3
    lr_actor: float = 1e-3
    weight_decay: float = 1e-4
    entropy_weight: float = 0.01      # w_s
    cost_scale: float = 0.01          # critic target log1p(cost / cost_scale)
    grad_clip: float = 1.0
    eval_envs: int = 16               # fixed validation episodes scoring each episode's actor
    eval_rounds: int = 10             #   ... and their rounds (best-actor choice, curves)
    score_ema: float = 0.0            # optional EMA of that score over episodes (0: none)
    collect: common.CollectConfig = common.CollectConfig(noise_var=0.02)
    net: NetConfig = NetConfig()

    def __post_init__(self):
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

    @staticmethod
    def paper_defaults(**kw) -> "TACConfig":
        return TACConfig(lr_critic=2e-5, lr_actor=2e-5, **kw)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TACConfig":
        d = dict(d)
        d["collect"] = common.CollectConfig(**d.get("collect", {}))
        d["net"] = NetConfig(**d.get("net", {}))
        return cls(**d)


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
    eval_key: jax.Array   # fixed: the validation episodes (common.validation_objective)
    noise_var: jax.Array
    episode: jax.Array


def optimizer(lr: float, cfg: TACConfig):
    return optax.chain(optax.clip_by_global_norm(cfg.grad_clip),
                       optax.adamw(lr, weight_decay=cfg.weight_decay))


def make_tac(params: EnvParams, cfg: TACConfig):
    """Returns ``(init, episode)``: ``init(key) -> TACState``, ``episode(state) -> (state, metrics)``."""
    if cfg.net.n_channels != params.l_channels:
        raise ValueError(f"NetConfig.n_channels ({cfg.net.n_channels}) != scenario "
                         f"l_channels ({params.l_channels})")
    buffer = common.make_buffer(cfg.buffer_size, cfg.batch_size)
    opt_a, opt_c = optimizer(cfg.lr_actor, cfg), optimizer(cfg.lr_critic, cfg)
    act = common.actor_fn(cfg.net, "full")

    def init(key) -> TACState:
        k_net, k_env, k_run, k_eval = rng.split(key, 4)
        nets = init_actor_critic(k_net, cfg.net)
        obs, env_state = common.init_envs(k_env, params, cfg.collect.envs)
        inf = jnp.asarray(jnp.inf, params.s_in.dtype)
        return TACState(
            actor=nets["actor"], best_actor=nets["actor"], score=inf, best_score=inf,
            critic=nets["critic"], actor_opt=opt_a.init(nets["actor"]),
            critic_opt=opt_c.init(nets["critic"]),
            buffer=buffer.init(common.example_item(params, cfg.net.n_channels)),
            obs=obs, env_state=env_state, key=k_run, eval_key=k_eval,
            noise_var=jnp.asarray(cfg.collect.noise_var, params.s_in.dtype),
            episode=jnp.zeros((), jnp.int32))

    def update(ts: TACState, key):
        batch = buffer.sample(ts.buffer, key).experience
        c_loss, g_c = jax.value_and_grad(common.critic_loss)(ts.critic, batch, cfg.net,
                                                             cfg.cost_scale)
        upd, critic_opt = opt_c.update(g_c, ts.critic_opt, ts.critic)
        critic = optax.apply_updates(ts.critic, upd)
        a_loss, g_a = jax.value_and_grad(common.actor_critic_loss)(
            ts.actor, critic, batch, act, cfg.net, cfg.cost_scale, cfg.entropy_weight)
        upd, actor_opt = opt_a.update(g_a, ts.actor_opt, ts.actor)
        actor = optax.apply_updates(ts.actor, upd)
        ts = ts.replace(actor=actor, critic=critic, actor_opt=actor_opt, critic_opt=critic_opt)
        return ts, (c_loss, a_loss)

    def episode(ts: TACState):
        key, k_col, k_upd = rng.split(ts.key, 3)
        items, objective, obs, env_state = common.collect(
            k_col, act, ts.actor, ts.obs, ts.env_state, ts.noise_var, params, cfg.collect,
            cfg.net.a_min)
        ts = ts.replace(buffer=buffer.add(ts.buffer, items), obs=obs, env_state=env_state)
        ts, (c_loss, a_loss) = jax.lax.scan(update, ts, rng.split(k_upd, cfg.updates))
        measured = common.validation_objective(act, ts.actor, ts.eval_key, params,
                                               cfg.eval_envs, cfg.eval_rounds)
        best, best_score, score = common.track_best(ts.best_actor, ts.best_score, ts.score,
                                                    ts.actor, measured, cfg.score_ema)
        ts = ts.replace(best_actor=best, best_score=best_score, score=score)
        metrics = dict(objective=measured, collect_objective=jnp.mean(objective),
                       critic_loss=jnp.mean(c_loss), actor_loss=jnp.mean(a_loss),
                       noise_var=ts.noise_var)
        ts = ts.replace(key=key, noise_var=ts.noise_var * cfg.collect.noise_decay,
                        episode=ts.episode + 1)
        return ts, metrics

    return init, episode
