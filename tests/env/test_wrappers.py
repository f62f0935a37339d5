"""Functional wrappers (dtac_jax.env.wrappers) and spaces (dtac_jax.env.spaces), checked
against the unwrapped simulator stepped by hand."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dtac_jax.env import env as E
from dtac_jax.env import make_params, make_scenario, spaces
from dtac_jax.env.wrappers import (AutoReset, CloudEdgeEnv, EpisodeStats, FixedUECount, FlatObs,
                                   TeamReward)

ROUNDS = 3
SCN = make_scenario("small", rounds=ROUNDS)


def _actions(params, key, steps):
    space = spaces.action_space(params)
    return jax.vmap(space.sample)(jax.random.split(key, steps))


def test_spaces_contain_what_the_simulator_produces_and_accepts():
    env = CloudEdgeEnv(SCN)
    params = env.default_params
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    assert bool(env.observation_space(params).contains(obs))
    act = env.action_space(params).sample(jax.random.PRNGKey(1))
    assert isinstance(act, E.Action) and bool(env.action_space(params).contains(act))
    assert set(np.unique(np.asarray(act.x))) <= {0, 1, 2}
    assert np.asarray(act.a).min() > 0 and np.asarray(act.a).max() <= 1
    obs, _, reward, _, _ = env.step(jax.random.PRNGKey(2), state, act, params)
    assert bool(env.observation_space(params).contains(obs))
    assert reward.shape == (params.n_max, 2) and np.isfinite(np.asarray(reward)).all()
    bad = act.replace(x=act.x.at[0].set(3))
    assert not bool(env.action_space(params).contains(bad))
    assert env.num_agents(params) == params.n_max


def test_auto_reset_equals_the_unwrapped_episode_then_starts_a_new_one():
    params = make_params(SCN)
    env = AutoReset(CloudEdgeEnv(SCN))
    steps = 2 * ROUNDS
    keys = jax.random.split(jax.random.PRNGKey(3), steps)
    actions = _actions(params, jax.random.PRNGKey(4), steps)

    @jax.jit
    def wrapped():
        obs, st = env.reset(jax.random.PRNGKey(5), params)

        def body(st, inp):
            k, a = inp
            obs, st, r, done, info = env.step(k, st, a, params)
            return st, (obs.s, st.t, done, info["objective"], info["final_obs"].s)
        return jax.lax.scan(body, st, (keys, actions))[1]

    s, t, done, objective, final = wrapped()
    # by hand: the plain simulator, reset after ROUNDS steps with fold_in(key, 1)
    obs, st = E.reset(jax.random.PRNGKey(5), params)
    for i in range(steps):
        a = jax.tree_util.tree_map(lambda v, i=i: v[i], actions)
        obs, st, _, d, info = E.step(keys[i], st, a, params)
        np.testing.assert_allclose(final[i], obs.s, rtol=1e-5)
        np.testing.assert_allclose(objective[i], info["objective"], rtol=1e-5)
        assert bool(done[i]) == bool(d) == (i % ROUNDS == ROUNDS - 1)
        if d:
            obs, st = E.reset(jax.random.fold_in(keys[i], 1), params)
        np.testing.assert_allclose(s[i], obs.s, rtol=1e-5)
        assert int(t[i]) == int(st.t)
    assert list(np.asarray(t)) == [1, 2, 0, 1, 2, 0]


def test_episode_stats_and_team_reward_sum_the_objective_per_episode():
    params = make_params(SCN)
    env = EpisodeStats(AutoReset(TeamReward(CloudEdgeEnv(SCN))))
    steps = 2 * ROUNDS + 1
    keys = jax.random.split(jax.random.PRNGKey(6), steps)
    actions = _actions(params, jax.random.PRNGKey(7), steps)
    obs, st = env.reset(jax.random.PRNGKey(8), params)

    def body(st, inp):
        k, a = inp
        obs, st, r, done, info = env.step(k, st, a, params)
        return st, (r, done, info)
    _, (reward, done, info) = jax.jit(lambda st: jax.lax.scan(body, st, (keys, actions)))(st)
    assert reward.shape == (steps,)
    np.testing.assert_allclose(reward, -info["objective"], rtol=1e-5)
    np.testing.assert_allclose(info["ue_reward"][..., 0],
                               -params.w_time * info["t_ue"], rtol=1e-5)
    objective, t_round = np.asarray(info["objective"]), np.asarray(info["t_round"])
    energy = np.asarray(info["e_ue"]).sum(-1)
    for end in (ROUNDS - 1, 2 * ROUNDS - 1):
        assert bool(info["returned_episode"][end])
        ep = slice(end + 1 - ROUNDS, end + 1)
        np.testing.assert_allclose(info["returned_episode_return"][end], -objective[ep].sum(),
                                   rtol=1e-5)
        np.testing.assert_allclose(info["returned_episode_time"][end], t_round[ep].sum(),
                                   rtol=1e-5)
        np.testing.assert_allclose(info["returned_episode_energy"][end], energy[ep].sum(),
                                   rtol=1e-5)
        assert int(info["returned_episode_length"][end]) == ROUNDS
    # before the first episode ends nothing is returned; after it, the last one stays
    assert float(info["returned_episode_return"][0]) == 0.0
    np.testing.assert_allclose(info["returned_episode_return"][-1],
                               info["returned_episode_return"][2 * ROUNDS - 1])


def test_flat_obs_and_fixed_ue_count():
    params = make_params(SCN)
    counts = (4, 6, 5, 6, 4)
    env = FlatObs(FixedUECount(CloudEdgeEnv(SCN), counts))
    flat, state = jax.jit(env.reset)(jax.random.PRNGKey(9), params)
    assert bool(env.observation_space(params).contains(flat))
    obs = E.observe(state, params)
    n = params.n_max
    np.testing.assert_allclose(flat[:n * E.OBS_DIM], np.asarray(obs.s).reshape(-1), rtol=1e-5)
    np.testing.assert_array_equal(flat[n * E.OBS_DIM:n * (E.OBS_DIM + 1)], np.asarray(obs.mask))
    np.testing.assert_array_equal(np.asarray(state.n_per_edge), counts)
    assert int(np.asarray(state.mask).sum()) == sum(counts)
    # a batch of wrapped environments under vmap, one step each
    keys = jax.random.split(jax.random.PRNGKey(10), 4)
    flats, states = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    acts = jax.vmap(env.action_space(params).sample)(keys)
    out = jax.vmap(env.step, in_axes=(0, 0, 0, None))(keys, states, acts, params)
    assert out[0].shape == (4, n * (E.OBS_DIM + 2))
    with pytest.raises(ValueError, match="outside"):
        FixedUECount(CloudEdgeEnv(SCN), (params.ue_max + 1,) * params.n_edges).reset(
            jax.random.PRNGKey(0), params)
    assert env.unwrapped.scenario == SCN and env.num_agents(params) == n   # forwarded


def test_space_sampling_is_pure():
    space = spaces.action_space(make_params(SCN))
    a1, a2 = space.sample(jax.random.PRNGKey(0)), space.sample(jax.random.PRNGKey(0))
    for x, y in zip(jax.tree_util.tree_leaves(a1), jax.tree_util.tree_leaves(a2)):
        np.testing.assert_array_equal(x, y)
    assert not bool(spaces.Box(0.0, 1.0, (3,)).contains(jnp.array([0.0, 0.5, 2.0])))


def test_batched_is_vmap_over_split_keys():
    from dtac_jax.env import rng
    from dtac_jax.env.wrappers import Batched
    params = make_params(SCN)
    env = Batched(AutoReset(CloudEdgeEnv(SCN)), 3)
    obs, state = env.reset(jax.random.PRNGKey(4), params)
    assert obs.s.shape == (3, params.n_max, E.OBS_DIM) and state.mask.shape == (3, params.n_max)
    key = jax.random.PRNGKey(5)
    acts = jax.vmap(env.action_space(params).sample)(jax.random.split(key, 3))
    batched = env.step(key, state, acts, params)
    for i, k in enumerate(rng.split(key, 3)):
        one = AutoReset(CloudEdgeEnv(SCN)).step(
            k, jax.tree_util.tree_map(lambda v, i=i: v[i], state),
            jax.tree_util.tree_map(lambda v, i=i: v[i], acts), params)
        for x, y in zip(jax.tree_util.tree_leaves(one),
                        jax.tree_util.tree_leaves(jax.tree_util.tree_map(lambda v, i=i: v[i],
                                                                         batched))):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6)
