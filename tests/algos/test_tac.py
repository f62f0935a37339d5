"""TAC: the learning signal, the validation objective and best-parameter tracking."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dtac_jax.algos import losses, replay, validation
from dtac_jax.algos.policy import actor_fn, greedy, to_action
from dtac_jax.algos.tac import make_tac, recipe
from dtac_jax.env import make_params, make_scenario
from dtac_jax.nets.transformer import NetConfig

NET = NetConfig()
TINY_CRITIC = recipe("critic", iterations=4, updates=2, batch_size=8, buffer_size=256,
                     collect=dict(envs=4, rounds=2))


@pytest.mark.slow
def test_tiny_training_reduces_losses():
    params = make_params(make_scenario("small"))
    cfg = TINY_CRITIC.replace(updates=10, batch_size=32, collect=dict(envs=8, rounds=4))
    init, iteration = make_tac(params, cfg)
    run = jax.jit(lambda s: jax.lax.scan(lambda c, _: iteration(c), s, None, length=15))
    ts, m = run(jax.jit(init)(jax.random.PRNGKey(0)))
    c = np.asarray(m["critic_loss"])
    assert np.all(np.isfinite(c)) and np.all(np.isfinite(np.asarray(m["actor_loss"])))
    assert c[-3:].mean() < 0.5 * c[:3].mean()
    # the actor loss (predicted cost under the critic) falls when the critic is held fixed
    act = actor_fn(NET, "full")
    batch = replay.make_buffer(cfg.buffer_size, 64).sample(ts.buffer,
                                                          jax.random.PRNGKey(3)).experience
    loss = jax.jit(lambda a: losses.actor_critic_loss(a, ts.critic, batch, act, NET,
                                                      cfg.cost_scale, 0.01))
    import optax
    opt = optax.adam(1e-3)
    a, o = ts.actor, opt.init(ts.actor)
    first = float(loss(a))
    for _ in range(30):
        g = jax.grad(loss)(a)
        u, o = opt.update(g, o)
        a = optax.apply_updates(a, u)
    assert float(loss(a)) < first


def test_validation_objective_replays_the_same_episodes():
    """The best-actor score: the deterministic policy on episodes reset and stepped from one
    key; equal to a plain Python loop over the same envs and keys, identical for a repeated
    key, and it ranks an obviously worse policy (everyone at 5% CPU) worse."""
    from dtac_jax.env import env as E
    from dtac_jax.env import rng
    params = make_params(make_scenario("small", rounds=6))
    n_ch = params.l_channels

    def local_act(b_ratio):
        def act(_, obs):
            n = obs.mask.shape[0]
            p_x = jnp.zeros((n, 3)).at[:, 0].set(1.0)
            p_l = jnp.zeros((n, n_ch)).at[:, 0].set(1.0)
            return p_x, p_l, jnp.ones(n), jnp.full(n, b_ratio)
        return act

    def objective(b_ratio, key):
        return validation.validation_objective(greedy(local_act(b_ratio), None), key, params,
                                               3, 4)

    objective = jax.jit(objective, static_argnums=0)
    key = jax.random.PRNGKey(3)
    score = float(objective(1.0, key))
    assert score == float(objective(1.0, key))
    # the reference: a Python loop over the same environments and keys, one round at a time
    reset, step = jax.jit(E.reset), jax.jit(E.step)
    k_reset, k_steps = rng.split(key)
    total = []
    for e, k_env in enumerate(rng.split(k_reset, 3)):
        obs, st = reset(k_env, params)
        for k in rng.split(k_steps, 4):
            act = to_action(local_act(1.0)(None, obs))
            obs, st, _, _, info = step(rng.split(k, 3)[e], st, act, params)
            total.append(float(info["objective"]))
    np.testing.assert_allclose(score, np.mean(total), rtol=1e-5)
    slow = float(objective(0.05, key))
    assert slow > 2 * score


def test_track_best_keeps_the_lowest_score():
    best, best_score, score = "a", jnp.inf, jnp.inf
    for name, obj in (("b", 5.0), ("c", 3.0), ("d", 4.0)):
        best, best_score, score = validation.track_best(jnp.asarray(0.0) if best == "a" else best,
                                                        best_score, score, jnp.asarray(ord(name)),
                                                        jnp.asarray(obj), 0.0)
    assert int(best) == ord("c") and float(best_score) == 3.0 and float(score) == 4.0
