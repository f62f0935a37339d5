"""Experience for the critic-based learners (TAC's ``critic`` estimator, DTAC, TL): exploration
around the deterministic actor (paper Algorithm 1 lines 2-5: argmax of the action probabilities
plus Gaussian noise) and the flashbax replay buffer of joint rounds.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import flashbax as fbx
import jax
import jax.numpy as jnp

from dtac_jax.algos.rollouts import rollout
from dtac_jax.config import Config
from dtac_jax.env import env as E
from dtac_jax.env import rng
from dtac_jax.env.scenarios import EnvParams
from dtac_jax.nets.distributions import ActionDist

@dataclasses.dataclass(frozen=True)
class CollectConfig(Config):
    """How an algorithm collects its training rounds. The four sizes and noise levels have no
    default here: each owner (``TACConfig.collect``, ``TransferConfig.collect``) states its
    own, and a dict of some fields changes the owner's."""

    envs: int                 # parallel episodes stepped together
    rounds: int               # rounds collected per env per training iteration
    noise_var: float          # initial variance v of the Gaussian exploration noise
    noise_decay: float        # v <- v * eps every training iteration (Algorithm 1 line 12)
    explore: str = "prob_noise"  # how targets and channels explore (EXPLORE)
    floor: float = 0.0        # when sampling (PPO; explore="sample"): p mixed with the uniform

    def __post_init__(self):
        for f in ("envs", "rounds"):
            if getattr(self, f) < 1:
                raise ValueError(f"{f} must be >= 1, got {getattr(self, f)}")
        if self.noise_var < 0 or not (0 < self.noise_decay <= 1):
            raise ValueError("noise_var must be >= 0 and noise_decay in (0, 1]")
        if self.explore not in EXPLORE:
            raise ValueError(f"unknown exploration scheme {self.explore!r} (known: "
                             f"{', '.join(EXPLORE)})")
        if not 0 <= self.floor < 1:
            raise ValueError(f"floor must be in [0, 1), got {self.floor}")


# "prob_noise": argmax of the probabilities plus N(0, v) (the paper); "sample": targets and
# channels drawn from the (floored) probabilities
EXPLORE = ("prob_noise", "sample")


def make_buffer(buffer_size: int, batch_size: int):
    """On-device replay of joint rounds (flashbax item buffer)."""
    return fbx.make_item_buffer(max_length=buffer_size, min_length=batch_size,
                                sample_batch_size=batch_size, add_batches=True)


def example_item(params: EnvParams, n_channels: int, future: bool = False):
    """One replay item: a joint round; with ``future``, its multi-round critic target and
    whether it is known (:func:`dtac_jax.algos.losses.future_targets`)."""
    n = params.n_max
    f = params.s_in.dtype
    item = dict(s=jnp.zeros((n, E.OBS_DIM), f), edge=jnp.zeros((n,), jnp.int32),
                mask=jnp.zeros((n,), bool), p_x=jnp.zeros((n, 3), f),
                p_l=jnp.zeros((n, n_channels), f), a=jnp.zeros((n,), f), b=jnp.zeros((n,), f),
                cost=jnp.zeros((n, 2), f))
    if future:
        item.update(future=jnp.zeros((), f), future_valid=jnp.zeros((), bool))
    return item


def flatten_rounds(items):
    """``[rounds, envs, ...] -> [rounds * envs, ...]`` for every leaf."""
    return jax.tree_util.tree_map(lambda v: v.reshape((-1,) + v.shape[2:]), items)


def critic_item(items):
    """The replay-buffer item (:func:`example_item`) of rollout items."""
    keys = ("s", "edge", "mask", "p_x", "p_l", "a", "b", "cost", "future", "future_valid")
    return {k: items[k] for k in keys if k in items}


def noisy_behaviour(act: Callable, actor_params, noise_var, a_min: float,
                    critic_input: str = "probs", explore: str = "prob_noise",
                    floor: float = 0.0) -> Callable:
    """Paper Algorithm 1 line 4: ``argmax`` of the probabilities plus ``N(0, v)`` noise; ``a``,
    ``b`` perturbed by the same noise and clipped to ``[a_min, 1]``. With ``explore="sample"``
    targets and channels are drawn from the probabilities mixed with the uniform by ``floor``
    instead (the executed one-hots then replace the noisy probabilities for argmax).

    The stored critic input is the noisy probabilities (``critic_input="probs"``, the paper) or
    the executed one-hot target and channel (``"executed"``), with the executed ``a``, ``b``.
    """
    std = jnp.sqrt(noise_var)

    def behave(key, obs, env_state):
        p_x, p_l, a, b = jax.vmap(act, in_axes=(None, 0))(actor_params, obs)
        kx, kl, ka, kb = rng.split(key, 4)
        if explore == "sample":
            mix = lambda p: (1.0 - floor) * p + floor / p.shape[-1]
            draw = lambda k, p: jax.nn.one_hot(
                jax.random.categorical(k, jnp.log(mix(p) + 1e-12)), p.shape[-1], dtype=p.dtype)
            p_x, p_l = draw(kx, p_x), draw(kl, p_l)
        else:
            p_x = p_x + std * jax.random.normal(kx, p_x.shape, p_x.dtype)
            p_l = p_l + std * jax.random.normal(kl, p_l.shape, p_l.dtype)
        a = jnp.clip(a + std * jax.random.normal(ka, a.shape, a.dtype), a_min, 1.0)
        b = jnp.clip(b + std * jax.random.normal(kb, b.shape, b.dtype), a_min, 1.0)
        action = ActionDist(p_x, p_l, a, b).mode()
        if critic_input == "executed":
            p_x = jax.nn.one_hot(action.x, p_x.shape[-1], dtype=p_x.dtype)
            p_l = jax.nn.one_hot(action.channel, p_l.shape[-1], dtype=p_l.dtype)
        return action, dict(p_x=p_x, p_l=p_l, a=a, b=b)

    return behave


def collect(key, act: Callable, actor_params, obs, env_state, noise_var, params: EnvParams,
            cfg: CollectConfig, a_min: float, critic_input: str = "probs", env=None):
    """Step ``cfg.envs`` episodes of ``env`` (default: the simulator; :func:`~dtac_jax.algos.
    rollouts.rollout`) for ``cfg.rounds`` rounds with noisy argmax actions.

    Returns ``(items [rounds*envs, ...], objective [rounds, envs], obs, env_state)``.
    """
    behave = noisy_behaviour(act, actor_params, noise_var, a_min, critic_input, cfg.explore,
                             cfg.floor)
    items, obs, env_state = rollout(key, behave, obs, env_state, params, cfg.envs, cfg.rounds,
                                    env=env)
    return flatten_rounds(critic_item(items)), items["objective"], obs, env_state
