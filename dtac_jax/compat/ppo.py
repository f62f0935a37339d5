"""A PureJaxRL-style PPO for continuous-action gymnax environments: the whole training run
(vmapped environments, rollout, GAE, epochs of minibatch updates) is one ``jit``-able
function of a key, so ``vmap`` over keys trains several seeds at once.

It is written here rather than taken from rejax because rejax 0.1.3 unpacks gymnax's ``step``
into five values and gymnax 1.0 returns six (``terminated`` and ``truncated``); with the older
gymnax rejax needs, JaxMARL's wrappers do not import. Usage::

    from dtac_jax.compat.gymnax import CloudEdgeGymnax
    from dtac_jax.compat.ppo import PureJaxRLConfig, make_train
    env = CloudEdgeGymnax()
    train = jax.jit(make_train(env, env.default_params, PureJaxRLConfig(total_timesteps=4096)))
    state, metrics = train(jax.random.PRNGKey(0))   # metrics: [updates] losses and returns
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax.training.train_state import TrainState

from dtac_jax.algos.losses import gae
from dtac_jax.config import Config


@dataclasses.dataclass(frozen=True)
class PureJaxRLConfig(Config):
    num_envs: int = 8
    num_steps: int = 16              # rollout length per environment and update
    total_timesteps: int = 1024
    update_epochs: int = 2
    num_minibatches: int = 2
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    lr: float = 3e-4
    hidden: int = 64

    def __post_init__(self):
        if self.num_envs * self.num_steps % self.num_minibatches:
            raise ValueError("PureJaxRLConfig: num_envs * num_steps must divide into "
                             "num_minibatches")
        if self.total_timesteps < self.num_envs * self.num_steps:
            raise ValueError("PureJaxRLConfig: total_timesteps below one rollout "
                             "(num_envs * num_steps)")


class ActorCritic(nn.Module):
    """Tanh MLP actor (diagonal Gaussian, state-independent log-std) and critic. Inputs pass
    through symlog, ``sign(x) log(1 + |x|)``, since observations may span many decades."""

    action_dim: int
    hidden: int = 64

    @nn.compact
    def __call__(self, x):
        x = jnp.sign(x) * jnp.log1p(jnp.abs(x))
        a = nn.tanh(nn.Dense(self.hidden)(x))
        a = nn.tanh(nn.Dense(self.hidden)(a))
        mean = nn.Dense(self.action_dim, kernel_init=nn.initializers.orthogonal(0.01))(a)
        log_std = self.param("log_std", nn.initializers.constant(-0.5), (self.action_dim,))
        v = nn.tanh(nn.Dense(self.hidden)(x))
        v = nn.tanh(nn.Dense(self.hidden)(v))
        v = nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0))(v)
        return distrax.MultivariateNormalDiag(mean, jnp.exp(log_std)), v[..., 0]


def clipped_surrogate(log_prob, old_log_prob, adv, clip_eps: float):
    """PPO's clipped policy loss (minus the surrogate), the advantages normalised."""
    ratio = jnp.exp(log_prob - old_log_prob)
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    return -jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - clip_eps, 1 + clip_eps) * adv).mean()


def epochs(ts: TrainState, key, data, size: int, cfg, loss_fn):
    """``cfg.update_epochs`` passes over ``data`` (leading axis of length ``size``), each in
    ``cfg.num_minibatches`` shuffled minibatches of ``loss_fn(params, batch) -> (loss, aux)``;
    returns the train state, the key and the mean loss and aux over all minibatches."""
    def epoch(state, _):
        ts, key = state
        key, k_perm = jax.random.split(key)
        perm = jax.random.permutation(k_perm, size)
        mini = jax.tree_util.tree_map(
            lambda v: v[perm].reshape(cfg.num_minibatches, -1, *v.shape[1:]), data)

        def minibatch(ts, batch):
            (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(ts.params, batch)
            return ts.apply_gradients(grads=grads), (loss, *aux)
        ts, losses = jax.lax.scan(minibatch, ts, mini)
        return (ts, key), losses

    (ts, key), losses = jax.lax.scan(epoch, (ts, key), None, cfg.update_epochs)
    return ts, key, tuple(v.mean() for v in losses)


class Transition(NamedTuple):
    done: jax.Array
    action: jax.Array
    value: jax.Array
    reward: jax.Array
    log_prob: jax.Array
    obs: jax.Array


def make_train(env, env_params, cfg: PureJaxRLConfig = PureJaxRLConfig()):
    """``train(key) -> (train_state, metrics)`` for a gymnax ``env`` with a ``Box`` action
    space; ``metrics`` holds per update the mean ``loss``, ``value_loss``, ``actor_loss``,
    ``entropy`` and the mean ``reward`` of its rollout."""
    space = env.action_space(env_params)
    n_updates = cfg.total_timesteps // (cfg.num_envs * cfg.num_steps)
    net = ActorCritic(int(space.shape[0]), cfg.hidden)
    reset = jax.vmap(env.reset, in_axes=(0, None))
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def train(key):
        key, k_net, k_env = jax.random.split(key, 3)
        obs, env_state = reset(jax.random.split(k_env, cfg.num_envs), env_params)
        tx = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(cfg.lr))
        ts = TrainState.create(apply_fn=net.apply, params=net.init(k_net, obs[0]), tx=tx)

        def env_step(carry, _):
            ts, env_state, obs, key = carry
            key, k_act, k_step = jax.random.split(key, 3)
            pi, value = net.apply(ts.params, obs)
            action = pi.sample(seed=k_act)
            out = step(jax.random.split(k_step, cfg.num_envs), env_state,
                       jnp.clip(action, space.low, space.high), env_params)
            next_obs, env_state, reward, terminated, truncated = out[:5]
            done = jnp.logical_or(terminated, truncated)
            return ((ts, env_state, next_obs, key),
                    Transition(done, action, value, reward, pi.log_prob(action), obs))

        def loss_fn(params, batch):
            traj, adv, target = batch
            pi, value = net.apply(params, traj.obs)
            actor = clipped_surrogate(pi.log_prob(traj.action), traj.log_prob, adv,
                                      cfg.clip_eps)
            v_clip = traj.value + jnp.clip(value - traj.value, -cfg.clip_eps, cfg.clip_eps)
            critic = 0.5 * jnp.maximum((value - target) ** 2, (v_clip - target) ** 2).mean()
            entropy = pi.entropy().mean()
            total = actor + cfg.vf_coef * critic - cfg.ent_coef * entropy
            return total, (critic, actor, entropy)

        def update(carry, _):
            ts, env_state, obs, key = carry
            (ts, env_state, obs, key), traj = jax.lax.scan(env_step, carry, None,
                                                           cfg.num_steps)
            last = net.apply(ts.params, obs)[1]
            not_done = 1.0 - traj.done.astype(last.dtype)
            # an episode's end is treated as terminal (PureJaxRL's convention)
            next_v = jnp.concatenate([traj.value[1:], last[None]], 0) * not_done
            adv, target = gae(traj.reward, traj.value, next_v, traj.done, cfg.gamma,
                              cfg.gae_lambda)
            size = cfg.num_envs * cfg.num_steps
            flat = jax.tree_util.tree_map(lambda v: v.reshape(size, *v.shape[2:]),
                                          (traj, adv, target))
            ts, key, (loss, critic, actor, entropy) = epochs(ts, key, flat, size, cfg, loss_fn)
            metrics = dict(loss=loss, value_loss=critic, actor_loss=actor, entropy=entropy,
                           reward=traj.reward.mean())
            return (ts, env_state, obs, key), metrics

        (ts, *_), metrics = jax.lax.scan(update, (ts, env_state, obs, key), None, n_updates)
        return ts, metrics

    return train
