"""Model selection shared by every learned method: fixed validation episodes per seed
(:func:`validation_key`), the objective of a policy on them (:func:`validation_objective`) and
the validation-best parameters (:func:`track_best`).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from dtac_jax.algos.policy import Policy, PolicyFn
from dtac_jax.algos.rollouts import episode
from dtac_jax.env import rng
from dtac_jax.env.scenarios import EnvParams

VALIDATION_STREAM = 0x7A1  # fold_in constant of the validation episodes' key


def validation_key(key):
    """The key of the fixed validation episodes of a run started from ``key``. Every learned
    method (TAC, the transfers, HAPPO) derives it this way from its per-seed key, and
    :func:`dtac_jax.train.run_training` gives seed ``i`` the same key in every run with the
    same ``seed``, so all methods are validated and selected on the same episodes."""
    return jax.random.fold_in(key, VALIDATION_STREAM)


def validation_objective(policy: Policy | PolicyFn, key, params: EnvParams, envs: int,
                         rounds: int):
    """Mean round objective of ``policy`` on the fixed validation episodes of ``key``.

    ``envs`` episodes are reset from ``key`` and stepped ``rounds`` rounds with keys drawn from
    ``key`` (the real simulator, not a critic); the policy's own keys come from a separate
    stream. Every policy scored with the same key meets the same UEs, tasks and fading, so the
    comparison between two parameter sets (the best-parameter choice, the convergence curves)
    carries no sampling noise of its own.
    """
    k_reset, k_steps = rng.split(key)
    steps = rng.split(k_steps, rounds)
    k_policy = jax.random.fold_in(key, 1)

    def one(i, reset_key):
        def round_keys(t):
            return (rng.split(steps[t], envs)[i],
                    rng.split(jax.random.fold_in(k_policy, t), envs)[i])

        return episode(policy, params, reset_key, round_keys, rounds,
                       lambda obs, action, state, info: info["objective"])

    objective = jax.vmap(one)(jnp.arange(envs), rng.split(k_reset, envs))
    return jnp.mean(objective)


def track_best(best, best_score, score, current, objective, ema: float):
    """Smooth the measured objective (EMA over training iterations; ``ema = 0``: none) and keep the
    parameters that had the lowest smoothed value. Returns ``(best, best_score, score)``."""
    if ema == 0:  # no smoothing (also: a NaN score must not stick through 0 * NaN)
        score = objective
    else:
        score = jnp.where(jnp.isinf(score), objective, ema * score + (1 - ema) * objective)
    better = score < best_score
    best = jax.tree_util.tree_map(lambda b, c: jnp.where(better, c, b), best, current)
    return best, jnp.where(better, score, best_score), score
