"""A toy learned algorithm, written as a user would add one: this module plus one
``registry.register`` line (tests/algos/test_registry.py).

Every UE computes at one target (local, edge or cloud) given by three preference logits. Each
training iteration scores the three targets on the seed's validation episodes, moves the logits
towards the cheapest one and keeps the validation-best logits.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from dtac_jax.algos import budget, validation
from dtac_jax.algos.heuristics import spread_channels
from dtac_jax.algos.policy import stateless
from dtac_jax.config import Config
from dtac_jax.env.env import Action


@dataclasses.dataclass(frozen=True)
class ToyConfig(Config):
    RESUMABLE = frozenset({"lr_actor"})   # a resumed run may take another step size
    RENAMED = {"lr": "lr_actor"}          # config files naming it "lr" still load
    iterations: int = 3
    lr_actor: float = 1.0
    eval_envs: int = 2
    eval_rounds: int = 3

    @staticmethod
    def quick(**kw) -> "ToyConfig":
        return ToyConfig(**kw)

    @staticmethod
    def paper(**kw) -> "ToyConfig":
        return ToyConfig(**{"eval_envs": 32, "eval_rounds": 50, **kw})

    def budget(self, params) -> dict:
        return budget.budget(self.iterations, 3 * self.iterations * self.eval_envs
                             * self.eval_rounds, params, actor_steps=self.iterations,
                             critic_steps=0)


def _fixed(target):
    def fn(key, obs, state, params):
        n = obs.mask.shape[0]
        ones = jnp.ones((n,), obs.s.dtype)
        return Action(x=jnp.full((n,), target, jnp.int32), channel=spread_channels(params),
                      a=ones, b=ones)
    return fn


def make(params, cfg: ToyConfig, deps: dict):
    def score(target, key):
        return validation.validation_objective(_fixed(target), key, params, cfg.eval_envs,
                                               cfg.eval_rounds)

    def init(key):
        inf = jnp.asarray(jnp.inf, jnp.float32)
        return dict(logits=jnp.zeros(3), best=jnp.zeros(3), best_score=inf, score=inf,
                    eval_key=validation.validation_key(key))

    def iteration(st):
        costs = jnp.stack([score(t, st["eval_key"]) for t in range(3)])
        logits = st["logits"] + cfg.lr_actor * jax.nn.one_hot(jnp.argmin(costs), 3)
        measured = costs[jnp.argmax(logits)]
        best, best_score, score_ = validation.track_best(st["best"], st["best_score"],
                                                         st["score"], logits, measured, 0.0)
        return (dict(st, logits=logits, best=best, best_score=best_score, score=score_),
                dict(objective=measured))

    return init, iteration, ()


def deliverable(state, cfg: ToyConfig):
    return state["best"]


def policy(logits, cfg: ToyConfig, params, deps: dict):
    def fn(key, obs, state, env_params):
        return _fixed(jnp.argmax(logits))(key, obs, state, env_params)
    return stateless(fn)
