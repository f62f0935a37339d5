"""The ecosystem adapters, checked by each library's own code: gymnax's step (auto-reset,
truncation) and PureJaxRL-style LogWrapper under a PPO run, Jumanji's smoke checks, and
JaxMARL's LogWrapper under a few IPPO-style updates. ``make test`` installs the ``compat``
extra; without it these tests are skipped."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dtac_jax.env import env as E
from dtac_jax.env import make_scenario, spaces

ROUNDS = 3
SCN = make_scenario("small", rounds=ROUNDS)


@pytest.mark.slow
def test_gymnax_adapter_truncates_resets_and_trains_a_ppo():
    pytest.importorskip("gymnax")
    from gymnax.wrappers.purerl import LogWrapper

    from dtac_jax.compat.gymnax import CloudEdgeGymnax, decode
    from dtac_jax.compat.ppo import PPOConfig, make_train

    env = CloudEdgeGymnax(SCN)
    params = env.default_params
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    assert env.observation_space(params).contains(obs)
    u = env.action_space(params).sample(jax.random.PRNGKey(1))
    act = decode(u, params)
    assert bool(spaces.action_space(params).contains(act))
    # gymnax's own step (it splits the key: the first half steps) equals the simulator's on
    # the decoded action, truncates at the episode limit and resets
    from dtac_jax.env.wrappers import FlatObs
    st, st_ref = state, state
    for i in range(ROUNDS):
        key = jax.random.PRNGKey(2 + i)
        obs_ref, st_ref, _, _, info_ref = E.step(jax.random.split(key)[0], st_ref, act, params)
        obs1, st, reward, terminated, truncated, info = env.step(key, st, u, params)
        np.testing.assert_allclose(reward, -info_ref["objective"], rtol=1e-5)
        np.testing.assert_allclose(info["final_observation"], FlatObs.flatten(obs_ref),
                                   rtol=1e-5)
        assert not bool(terminated) and bool(truncated) == (i == ROUNDS - 1)
    assert int(st.t) == 0 and int(st_ref.t) == ROUNDS   # gymnax reset the adapter's episode
    # PureJaxRL-style PPO through gymnax's LogWrapper, a few hundred steps
    cfg = PPOConfig(num_envs=4, num_steps=16, total_timesteps=4 * 16 * 4, hidden=32)
    train = jax.jit(make_train(LogWrapper(env), params, cfg))
    ts, metrics = train(jax.random.PRNGKey(4))
    assert metrics["loss"].shape == (4,)
    for k, v in metrics.items():
        assert np.isfinite(np.asarray(v)).all(), k
    moved = jax.tree_util.tree_map(lambda a, b: float(jnp.abs(a - b).max()), ts.params,
                                   make_train_init(env, params, cfg))
    assert max(jax.tree_util.tree_leaves(moved)) > 0


def make_train_init(env, params, cfg):
    """The PPO's initial parameters (the same key split as ``make_train``)."""
    from dtac_jax.compat.ppo import ActorCritic
    _, k_net, _ = jax.random.split(jax.random.PRNGKey(4), 3)
    obs, _ = env.reset(jax.random.PRNGKey(0), params)
    return ActorCritic(env.action_space(params).shape[0], cfg.hidden).init(k_net, obs)


def test_jumanji_adapter_passes_jumanji_smoke_checks_and_truncates():
    pytest.importorskip("jumanji")
    from jumanji.testing.env_not_smoke import (check_env_does_not_smoke,
                                               check_env_specs_does_not_smoke)
    from jumanji.types import StepType

    from dtac_jax.compat.jumanji import CloudEdgeJumanji

    env = CloudEdgeJumanji(SCN)
    space = spaces.action_space(env.params)
    check_env_does_not_smoke(env, select_action=lambda key, obs: space.sample(key))
    check_env_specs_does_not_smoke(env)
    state, ts = env.reset(jax.random.PRNGKey(0))
    assert ts.first()
    step = jax.jit(env.step)
    for i in range(ROUNDS):
        state, ts = step(state, space.sample(jax.random.PRNGKey(i)))
        assert int(ts.step_type) == (StepType.LAST if i == ROUNDS - 1 else StepType.MID)
    assert float(ts.discount) == 1.0   # truncation, not termination
    np.testing.assert_allclose(ts.reward, -ts.extras["objective"])


def test_jaxmarl_adapter_runs_jaxmarl_wrappers_and_ippo_updates():
    pytest.importorskip("jaxmarl")
    import optax
    from jaxmarl.wrappers.baselines import LogWrapper

    from dtac_jax.compat.jaxmarl import CloudEdgeMARL

    base = CloudEdgeMARL(SCN)
    env = LogWrapper(base)
    n, n_act, dim = base.num_agents, base.n_actions, base.obs_dim
    obs, state = env.reset(jax.random.PRNGKey(0))
    assert len(obs) == n and obs["ue_0"].shape == (dim,)
    avail = base.get_avail_actions(state.env_state)
    mask = np.asarray(state.env_state.mask)
    for i, agent in enumerate(base.agents):   # padded slots may only compute locally
        assert np.asarray(avail[agent]).sum() == (n_act if mask[i] else 1)
    # decoding: 0 local, 1..L edge on channel 0..L-1, L+1..2L cloud
    l_ch = base.params.l_channels
    act = base.decode(jnp.array([0, 1, l_ch, l_ch + 1, 2 * l_ch]))
    assert list(np.asarray(act.x)) == [0, 1, 1, 2, 2]
    assert list(np.asarray(act.channel)) == [0, 0, l_ch - 1, 0, l_ch - 1]

    # IPPO-style: one actor-critic shared by all agents, masked logits, PPO-clip updates
    def net(p, x):
        h = jnp.tanh(jnp.sign(x) * jnp.log1p(jnp.abs(x)) @ p["w1"] + p["b1"])
        return h @ p["wa"], (h @ p["wv"])[..., 0]
    k = jax.random.split(jax.random.PRNGKey(1), 3)
    params = {"w1": 0.3 * jax.random.normal(k[0], (dim, 32)), "b1": jnp.zeros(32),
              "wa": 0.01 * jax.random.normal(k[1], (32, n_act)),
              "wv": 0.1 * jax.random.normal(k[2], (32, 1))}
    opt = optax.adam(3e-3)
    opt_state = opt.init(params)
    envs, steps = 4, 2 * ROUNDS
    reset = jax.vmap(env.reset)
    vstep = jax.vmap(env.step)
    avail_fn = jax.vmap(lambda s: jnp.stack([v for v in base.get_avail_actions(s).values()]))

    def stack(d):
        return jnp.stack([d[a] for a in base.agents], axis=1)   # [envs, agents, ...]

    @jax.jit
    def iteration(params, opt_state, obs, state, key):
        def rollout(carry, key):
            obs, state = carry
            k_act, k_env = jax.random.split(key)
            x, av = stack(obs), avail_fn(state.env_state)
            logits, value = net(params, x)
            logits = jnp.where(av, logits, -1e9)
            a = jax.random.categorical(k_act, logits)
            logp = jax.nn.log_softmax(logits)[jnp.arange(envs)[:, None],
                                              jnp.arange(n)[None], a]
            obs2, state2, r, done, info = vstep(jax.random.split(k_env, envs), state,
                                                {ag: a[:, i] for i, ag in enumerate(base.agents)})
            return (obs2, state2), (x, av, a, logp, value, stack(r), done["__all__"],
                                    info["returned_episode_returns"])
        (obs, state), (x, av, a, logp, value, r, done, ret) = jax.lax.scan(
            rollout, (obs, state), jax.random.split(key, steps))
        target = jnp.flip(jax.lax.scan(
            lambda g, t: ((t[0] + 0.9 * g * (1 - t[1][:, None])),) * 2,
            jnp.zeros_like(r[0]), (jnp.flip(r, 0), jnp.flip(done, 0)))[1], 0)

        def loss(p):
            logits, v = net(p, x)
            lp = jax.nn.log_softmax(jnp.where(av, logits, -1e9))
            lp = jnp.take_along_axis(lp, a[..., None], -1)[..., 0]
            adv = jax.lax.stop_gradient(target - value)
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            ratio = jnp.exp(lp - logp)
            actor = -jnp.minimum(ratio * adv, jnp.clip(ratio, 0.8, 1.2) * adv).mean()
            return actor + 0.5 * ((v - target) ** 2).mean()
        value_loss, grads = jax.value_and_grad(loss)(params)
        updates, opt_state = opt.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state, obs, state, value_loss, ret

    obs, state = reset(jax.random.split(jax.random.PRNGKey(2), envs))
    losses = []
    for i in range(3):
        params, opt_state, obs, state, l, ret = iteration(params, opt_state, obs, state,
                                                          jax.random.PRNGKey(10 + i))
        losses.append(float(l))
    assert np.isfinite(losses).all()
    # JaxMARL's LogWrapper summed the shared reward over each finished episode
    assert np.isfinite(np.asarray(ret)).all() and float(np.asarray(ret).min()) < 0
