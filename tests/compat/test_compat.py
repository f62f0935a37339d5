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
    from dtac_jax.compat.ppo import PureJaxRLConfig, make_train

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
    cfg = PureJaxRLConfig(num_envs=4, num_steps=16, total_timesteps=4 * 16 * 4, hidden=32)
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


def _spec_uniform(spec, key):
    """A uniform draw within a nested Jumanji spec's bounds (discrete: its values)."""
    from jumanji import specs
    leaves = {}
    for i, (name, sub) in enumerate(sorted(spec._specs.items())):
        k = jax.random.fold_in(key, i)
        if isinstance(sub, specs.MultiDiscreteArray):
            leaves[name] = jax.random.randint(k, sub.shape, 0, sub.num_values).astype(sub.dtype)
        else:
            leaves[name] = jax.random.uniform(k, sub.shape, sub.dtype, sub.minimum, sub.maximum)
    return spec._constructor(**leaves)


def test_jumanji_specs_tell_the_truth_and_convert_to_gym_and_dm_env():
    pytest.importorskip("jumanji")
    from jumanji.testing.env_not_smoke import check_env_does_not_smoke
    from jumanji.wrappers import JumanjiToDMEnvWrapper, JumanjiToGymWrapper

    from dtac_jax.compat import A_MIN
    from dtac_jax.compat.jumanji import CloudEdgeJumanji

    env = CloudEdgeJumanji(SCN)
    spec = env.action_spec
    zero = spec.generate_value()   # the spec's own value: the lower bounds of a and b
    np.testing.assert_allclose([zero.a.min(), zero.b.min()], A_MIN, rtol=1e-6)
    # Jumanji's finite-everything check, fed only what the spec generates or allows
    check_env_does_not_smoke(env, select_action=lambda key, obs: spec.generate_value())
    check_env_does_not_smoke(env, select_action=lambda key, obs: _spec_uniform(spec, key))
    # the mask is a bounded boolean, so the Gym and dm_env wrappers convert the specs (Gym's
    # step reads its action with jnp.asarray: it takes array actions only, not this hybrid one)
    gym_env = JumanjiToGymWrapper(env)
    obs, _ = gym_env.reset(seed=0)
    assert gym_env.observation_space.contains(obs)
    assert set(gym_env.action_space.sample()) == {"x", "channel", "a", "b"}
    dm_env = JumanjiToDMEnvWrapper(env)
    dm_env.reset()
    ts = dm_env.step(zero)
    assert np.isfinite(ts.reward)


def test_gymnax_conventions_of_older_scripts():
    pytest.importorskip("gymnax")
    from dtac_jax.compat.gymnax import CloudEdgeGymnax, LegacyStep, decode

    env = CloudEdgeGymnax(SCN, action_range=(-1.0, 1.0))
    params = env.default_params
    space = env.action_space(params)
    assert (space.low, space.high) == (-1.0, 1.0)
    # [-1, 1] maps affinely onto [0, 1]: -1 is the floor, 0 the middle, 1 the top
    n = params.n_max
    for v, want in ((-1.0, 0.0), (0.0, 0.5), (1.0, 1.0)):
        act = decode(jnp.full((4 * n,), v), params, -1.0, 1.0)
        np.testing.assert_allclose(act.b, max(want, 1e-3), rtol=1e-6)
    # the observation space is finite and holds the observations
    obs_space = env.observation_space(params)
    sample = obs_space.sample(jax.random.PRNGKey(0))
    assert np.isfinite(np.asarray(sample)).all()
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    assert bool(obs_space.contains(obs))
    # the 0.x step: five values, done = terminated or truncated
    legacy = LegacyStep(env)
    for i in range(ROUNDS):
        out = legacy.step(jax.random.PRNGKey(i), state, space.sample(jax.random.PRNGKey(9)),
                          params)
        assert len(out) == 5
        obs, state, reward, done, info = out
        assert bool(done) == (i == ROUNDS - 1) and np.isfinite(float(reward))
    assert legacy.num_actions == env.num_actions   # the rest is the wrapped environment's
    with pytest.raises(ValueError, match="action_range must be two finite numbers"):
        CloudEdgeGymnax(SCN, action_range=(1.0, -1.0))


def test_jaxmarl_takes_ippo_shaped_actions_and_checks_its_ratios():
    pytest.importorskip("jaxmarl")
    from dtac_jax.compat.jaxmarl import CloudEdgeMARL

    env = CloudEdgeMARL(SCN)
    obs, state = env.reset(jax.random.PRNGKey(0))
    acts = {a: jnp.int32(i % env.n_actions) for i, a in enumerate(env.agents)}
    out_scalar = env.step_env(jax.random.PRNGKey(1), state, acts)
    out_ippo = env.step_env(jax.random.PRNGKey(1), state,
                            {a: v.reshape(1) for a, v in acts.items()})   # IPPO's (1,)
    np.testing.assert_array_equal(out_scalar[2]["ue_0"], out_ippo[2]["ue_0"])
    with pytest.raises(ValueError, match="the fixed ratios a, b must lie in"):
        CloudEdgeMARL(SCN, a=0.0)


def test_reward_and_observation_transforms_and_a_short_ippo_run():
    pytest.importorskip("jaxmarl")
    pytest.importorskip("gymnax")
    from dtac_jax.compat.gymnax import CloudEdgeGymnax
    from dtac_jax.compat.ippo import IPPOConfig, make_train
    from dtac_jax.compat.jaxmarl import CloudEdgeMARL

    raw = CloudEdgeGymnax(SCN)
    comp = CloudEdgeGymnax(SCN, reward="log1p", obs="log1p")
    p = raw.default_params
    key = jax.random.PRNGKey(3)
    o_raw, s_raw = raw.reset(key, p)
    o_comp, _ = comp.reset(key, p)
    n6 = p.n_max * E.OBS_DIM
    np.testing.assert_allclose(o_comp[:n6], np.log1p(np.asarray(o_raw[:n6])), rtol=1e-5)
    np.testing.assert_array_equal(o_comp[n6:], o_raw[n6:])      # mask and edges unchanged
    assert bool(comp.observation_space(p).contains(o_comp))
    u = raw.action_space(p).sample(jax.random.PRNGKey(4))
    out = raw.step(key, s_raw, u, p)
    r_raw, info = out[2], out[5]
    r_comp = comp.step(key, s_raw, u, p)[2]
    np.testing.assert_allclose(r_comp, -np.log1p(float(info["objective"])), rtol=1e-5)
    np.testing.assert_allclose(r_raw, -float(info["objective"]), rtol=1e-5)
    for bad in (dict(reward="log"), dict(obs="scaled")):
        with pytest.raises(ValueError, match="unknown (reward|observation) transform"):
            CloudEdgeMARL(SCN, **bad)

    # IPPO on the JaxMARL adapter: finite, and a few updates move the policy and the return
    env = CloudEdgeMARL(SCN, reward="log1p", obs="log1p")
    cfg = IPPOConfig(num_envs=4, num_steps=6, total_timesteps=4 * 6 * 4, num_minibatches=2,
                     hidden=16, lr=3e-3)
    ts, metrics = jax.jit(make_train(env, cfg))(jax.random.PRNGKey(0))
    for k, v in metrics.items():
        assert v.shape == (4,) and np.isfinite(np.asarray(v)).all(), k
    assert float(jnp.abs(metrics["reward"][-1] - metrics["reward"][0])) > 0
    assert float(metrics["entropy"][-1]) != float(metrics["entropy"][0])
