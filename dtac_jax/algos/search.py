"""Search: a centralised near-optimal reference that plans each round with the true physics.

Cross-entropy method over joint actions: per-UE categorical distributions over target and
channel and a clipped Gaussian over the power ratio ``a``; each iteration samples
``candidates`` joint actions, scores them all in parallel with ``round_costs`` (vmap), and
refits the distributions to the ``elites`` best. The CPU ratios ``b`` are not searched: for
every candidate they are set to their exact optimum given the other UEs' times
(:func:`physics.optimal_local_frequency`). The heuristics' actions and the best so far are
always among the candidates, so Search is never worse than them within a round.

It is myopic (one round at a time): the cache effect of a decision on later rounds is not
planned for, which the README notes.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from dtac_jax.algos import heuristics
from dtac_jax.config import Config
from dtac_jax.env import physics, rng
from dtac_jax.env.env import Action, EnvState, Obs, physics_kwargs
from dtac_jax.env.scenarios import EnvParams


@dataclasses.dataclass(frozen=True)
class SearchConfig(Config):
    candidates: int = 256   # joint actions scored per iteration
    iterations: int = 5     # CEM iterations per round (1 = random shooting)
    elites: int = 16        # candidates the distributions are refitted to
    smoothing: float = 0.7  # weight of the elite frequencies in each refit
    a_min: float = 0.05     # lower clip of the power ratio

    def __post_init__(self):
        if self.candidates < 8:
            raise ValueError(f"SearchConfig.candidates must be >= 8, got {self.candidates}")
        if self.iterations < 1:
            raise ValueError(f"SearchConfig.iterations must be >= 1, got {self.iterations}")
        if not (1 <= self.elites <= self.candidates):
            raise ValueError(f"SearchConfig.elites must be in [1, candidates], got {self.elites}")
        if not (0.0 < self.smoothing <= 1.0):
            raise ValueError(f"SearchConfig.smoothing must be in (0, 1], got {self.smoothing}")
        if not (0.0 < self.a_min <= 1.0):
            raise ValueError(f"SearchConfig.a_min must be in (0, 1], got {self.a_min}")


def polished_costs(x, channel, a, kw: dict, params: EnvParams):
    """Objective of a joint action with ``b`` set to its optimum; returns ``(objective, b)``."""
    ones = jnp.ones_like(a)
    t_ue, _, _ = physics.round_costs(x=x, channel=channel, a=a, b=ones, **kw)
    is_local = kw["mask"] & (x == physics.LOCAL)
    t_others = jnp.max(jnp.where(is_local, 0.0, t_ue), initial=jnp.zeros((), t_ue.dtype))
    b = physics.optimal_local_frequency(
        x=x, mask=kw["mask"], work=kw["s_in"] * kw["cycles"], f_ue=kw["f_ue"],
        t_others=t_others, kappa=params.kappa, w_time=params.w_time, w_energy=params.w_energy)
    _, e_ue, t_round = physics.round_costs(x=x, channel=channel, a=a, b=b, **kw)
    return physics.objective(t_round, e_ue, params.w_time, params.w_energy), b


def make_search_policy(cfg: SearchConfig = SearchConfig()):
    seeds = (heuristics.all_local, heuristics.all_edge, heuristics.all_cloud,
             heuristics.greedy_policy)

    def search_policy(key, obs: Obs, state: EnvState, params: EnvParams) -> Action:
        kw = physics_kwargs(state, params)
        n, n_ch = obs.mask.shape[0], params.l_channels
        dtype = obs.s.dtype
        score = jax.vmap(lambda x, c, a: polished_costs(x, c, a, kw, params)[0])

        seed_actions = [p(key, obs, state, params) for p in seeds]
        seed_x = jnp.stack([s.x for s in seed_actions])
        seed_c = jnp.stack([s.channel for s in seed_actions])
        seed_a = jnp.stack([s.a for s in seed_actions])
        n_seed = len(seeds)

        def iteration(carry, k):
            px, pl, mu, sd, best = carry
            kx, kc, ka = rng.split(k, 3)
            c = cfg.candidates
            xs = jax.random.categorical(kx, jnp.log(px), axis=-1, shape=(c, n)).astype(jnp.int32)
            cs = jax.random.categorical(kc, jnp.log(pl), axis=-1, shape=(c, n)).astype(jnp.int32)
            as_ = jnp.clip(mu + sd * jax.random.normal(ka, (c, n), dtype), cfg.a_min, 1.0)
            # seeds and the incumbent best take the first slots
            xs = xs.at[:n_seed].set(seed_x).at[n_seed].set(best[0])
            cs = cs.at[:n_seed].set(seed_c).at[n_seed].set(best[1])
            as_ = as_.at[:n_seed].set(seed_a).at[n_seed].set(best[2])
            obj = score(xs, cs, as_)
            _, elite = jax.lax.top_k(-obj, cfg.elites)
            i_best = elite[0]
            best = (xs[i_best], cs[i_best], as_[i_best], obj[i_best])
            fx = jnp.mean(jax.nn.one_hot(xs[elite], 3, dtype=dtype), axis=0)
            fl = jnp.mean(jax.nn.one_hot(cs[elite], n_ch, dtype=dtype), axis=0)
            s = cfg.smoothing
            px = jnp.clip((1 - s) * px + s * fx, 1e-3, 1.0)
            pl = jnp.clip((1 - s) * pl + s * fl, 1e-3, 1.0)
            px, pl = px / px.sum(-1, keepdims=True), pl / pl.sum(-1, keepdims=True)
            mu = (1 - s) * mu + s * jnp.mean(as_[elite], axis=0)
            sd = jnp.maximum((1 - s) * sd + s * jnp.std(as_[elite], axis=0), 0.02)
            return (px, pl, mu, sd, best), obj[i_best]

        init = (jnp.full((n, 3), 1.0 / 3, dtype), jnp.full((n, n_ch), 1.0 / n_ch, dtype),
                jnp.full((n,), 0.8, dtype), jnp.full((n,), 0.3, dtype),
                (seed_x[-1], seed_c[-1], seed_a[-1], jnp.asarray(jnp.inf, dtype)))
        (_, _, _, _, best), _ = jax.lax.scan(iteration, init,
                                              rng.split(key, cfg.iterations))
        x, c, a, _ = best
        _, b = polished_costs(x, c, a, kw, params)
        return Action(x=x, channel=c, a=a, b=b)

    search_policy.__name__ = "search"
    return search_policy
