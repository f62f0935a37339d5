"""An IPPO-style learner for the JaxMARL adapter (:class:`dtac_jax.compat.jaxmarl.CloudEdgeMARL`):
one actor-critic shared by every agent (parameter sharing, as JaxMARL's IPPO baselines), each
agent acting on its own observation with the unavailable actions masked, PPO-clip updates on
the shared reward. Like :mod:`dtac_jax.compat.ppo` the whole run is one ``jit``-able function
of a key, so ``vmap`` over keys trains several seeds at once. Usage::

    from dtac_jax.compat.jaxmarl import CloudEdgeMARL
    from dtac_jax.compat.ippo import IPPOConfig, make_train
    env = CloudEdgeMARL(reward="log1p", obs="log1p")
    train = jax.jit(make_train(env, IPPOConfig(total_timesteps=4096)))
    state, metrics = train(jax.random.PRNGKey(0))   # metrics: [updates]
"""
from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax.training.train_state import TrainState

from dtac_jax.algos.losses import gae
from dtac_jax.compat.ppo import PureJaxRLConfig, clipped_surrogate, epochs


@dataclasses.dataclass(frozen=True)
class IPPOConfig(PureJaxRLConfig):
    """:class:`PureJaxRLConfig`'s fields; minibatches split the environments (whole rollouts), and
    ``total_timesteps`` counts environment rounds (every agent acts in each)."""

    num_envs: int = 16
    num_steps: int = 32
    update_epochs: int = 4
    num_minibatches: int = 4
    ent_coef: float = 0.01

    def __post_init__(self):
        if self.num_envs % self.num_minibatches:
            raise ValueError("IPPOConfig: num_envs must divide into num_minibatches")
        if self.total_timesteps < self.num_envs * self.num_steps:
            raise ValueError("IPPOConfig: total_timesteps below one rollout "
                             "(num_envs * num_steps)")


class AgentNet(nn.Module):
    """One agent's tanh-MLP policy logits and value from its own observation (symlog inputs,
    since raw observations span decades)."""

    n_actions: int
    hidden: int = 64

    @nn.compact
    def __call__(self, x):
        x = jnp.sign(x) * jnp.log1p(jnp.abs(x))
        h = nn.tanh(nn.Dense(self.hidden)(x))
        h = nn.tanh(nn.Dense(self.hidden)(h))
        logits = nn.Dense(self.n_actions, kernel_init=nn.initializers.orthogonal(0.01))(h)
        v = nn.tanh(nn.Dense(self.hidden)(x))
        v = nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0))(v)
        return logits, v[..., 0]


def masked_logits(logits, avail):
    return jnp.where(avail, logits, -1e9)


def make_train(env, cfg: IPPOConfig = IPPOConfig()):
    """``train(key) -> (train_state, metrics)`` for a JaxMARL ``env`` whose agents share one
    discrete action space and expose ``get_avail_actions``; ``metrics`` holds per update the
    mean ``loss``, ``value_loss``, ``actor_loss``, ``entropy`` and the mean ``reward``."""
    agents = env.agents
    n_updates = cfg.total_timesteps // (cfg.num_envs * cfg.num_steps)
    net = AgentNet(env.action_space(agents[0]).n, cfg.hidden)
    reset = jax.vmap(env.reset)
    step = jax.vmap(env.step)
    avail_fn = jax.vmap(lambda s: jnp.stack([v for v in env.get_avail_actions(s).values()]))

    def stack(d):
        return jnp.stack([d[a] for a in agents], axis=1)   # [envs, agents, ...]

    def train(key):
        key, k_net, k_env = jax.random.split(key, 3)
        obs, state = reset(jax.random.split(k_env, cfg.num_envs))
        x0 = stack(obs)
        tx = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), optax.adam(cfg.lr))
        ts = TrainState.create(apply_fn=net.apply, params=net.init(k_net, x0[0, 0]), tx=tx)

        def env_step(carry, _):
            ts, obs, state, key = carry
            key, k_act, k_env = jax.random.split(key, 3)
            x, av = stack(obs), avail_fn(state)
            logits, value = net.apply(ts.params, x)
            logits = masked_logits(logits, av)
            a = jax.random.categorical(k_act, logits)
            logp = jnp.take_along_axis(jax.nn.log_softmax(logits), a[..., None], -1)[..., 0]
            obs2, state2, r, done, _ = step(jax.random.split(k_env, cfg.num_envs), state,
                                            {ag: a[:, i] for i, ag in enumerate(agents)})
            out = dict(x=x, av=av, a=a, logp=logp, value=value, reward=stack(r),
                       done=done["__all__"])
            return (ts, obs2, state2, key), out

        def loss_fn(params, batch):
            logits, value = net.apply(params, batch["x"])
            logits = masked_logits(logits, batch["av"])
            logp_all = jax.nn.log_softmax(logits)
            logp = jnp.take_along_axis(logp_all, batch["a"][..., None], -1)[..., 0]
            actor = clipped_surrogate(logp, batch["logp"], batch["adv"], cfg.clip_eps)
            critic = 0.5 * ((value - batch["target"]) ** 2).mean()
            entropy = -(jnp.exp(logp_all) * jnp.where(batch["av"], logp_all, 0.0)).sum(-1).mean()
            return actor + cfg.vf_coef * critic - cfg.ent_coef * entropy, (critic, actor,
                                                                            entropy)

        def update(carry, _):
            carry, traj = jax.lax.scan(env_step, carry, None, cfg.num_steps)
            ts, obs, state, key = carry
            last = net.apply(ts.params, stack(obs))[1]
            next_v = jnp.concatenate([traj["value"][1:], last[None]], 0)
            done = traj["done"][:, :, None]
            # an episode's end is treated as terminal (its round limit is not observed)
            adv, target = gae(traj["reward"], traj["value"], next_v * (1.0 - done),
                              jnp.broadcast_to(done, traj["reward"].shape), cfg.gamma,
                              cfg.gae_lambda)
            data = dict(traj, adv=adv, target=target)
            data.pop("reward")
            data.pop("done")
            # [steps, envs, ...] -> [envs, steps, ...]: minibatches of whole environments
            data = jax.tree_util.tree_map(lambda v: jnp.swapaxes(v, 0, 1), data)

            ts, key, (loss, critic, actor, entropy) = epochs(ts, key, data, cfg.num_envs, cfg,
                                                             loss_fn)
            metrics = dict(loss=loss, value_loss=critic, actor_loss=actor, entropy=entropy,
                           reward=traj["reward"].mean())
            return (ts, obs, state, key), metrics

        (ts, *_), metrics = jax.lax.scan(update, (ts, obs, state, key), None, n_updates)
        return ts, metrics

    return train


def greedy_actions(params, env, obs: dict, state) -> jax.Array:
    """Each agent's most probable available action (int[agents]) under ``params``."""
    x = jnp.stack([obs[a] for a in env.agents])
    av = jnp.stack([v for v in env.get_avail_actions(state).values()])
    hidden = params["params"]["Dense_0"]["kernel"].shape[1]
    logits, _ = AgentNet(env.action_space(env.agents[0]).n, hidden).apply(params, x)
    return jnp.argmax(masked_logits(logits, av), -1)
