"""Environment: determinism, bounds, LRU caches against a reference, jit/vmap parity."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dtac_jax.algos.heuristics import random_policy
from dtac_jax.env import make_params, make_scenario, reset, step
from dtac_jax.env import env as E
from reference_numpy import LRUCacheRef, lru_round_update_ref


def _params(**kw):
    return make_params(make_scenario("small", **kw))


def _rollout(key, params, rounds, jit=True):
    """Trajectory under the random policy, with fixed per-round keys."""
    k_reset, k_env, k_pol = jax.random.split(key, 3)
    reset_fn = jax.jit(reset, static_argnums=()) if jit else reset
    step_fn = jax.jit(step) if jit else step
    obs, state = reset_fn(k_reset, params)
    out = []
    for t in range(rounds):
        act = random_policy(jax.random.fold_in(k_pol, t), obs, state, params)
        obs, state, rew, done, info = step_fn(jax.random.fold_in(k_env, t), state, act, params)
        out.append((obs, state, rew, done, info, act))
    return out


def _leaves_equal(a, b):
    return all(np.array_equal(np.asarray(x), np.asarray(y))
               for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


def test_same_key_same_trajectory_different_keys_differ():
    p = _params()
    a = _rollout(jax.random.PRNGKey(0), p, 4)
    b = _rollout(jax.random.PRNGKey(0), p, 4)
    c = _rollout(jax.random.PRNGKey(1), p, 4)
    assert _leaves_equal([x[:3] for x in a], [x[:3] for x in b])
    assert not np.array_equal(np.asarray(a[0][0].s), np.asarray(c[0][0].s))


def test_jit_and_vmap_agree_with_unjitted_step():
    p = _params()
    key = jax.random.PRNGKey(3)
    eager = _rollout(key, p, 3, jit=False)
    jitted = _rollout(key, p, 3, jit=True)
    for e, j in zip(eager, jitted):
        for x, y in zip(jax.tree_util.tree_leaves(e[:5]), jax.tree_util.tree_leaves(j[:5])):
            np.testing.assert_allclose(np.asarray(x, float), np.asarray(y, float), rtol=1e-5)
    # vmap over 5 episodes equals the single-episode steps
    keys = jax.random.split(jax.random.PRNGKey(9), 5)
    obs_v, st_v = jax.jit(jax.vmap(reset, in_axes=(0, None)))(keys, p)
    act = jax.jit(jax.vmap(lambda k, o, s: random_policy(k, o, s, p)))(keys, obs_v, st_v)
    out_v = jax.jit(jax.vmap(step, in_axes=(0, 0, 0, None)))(keys, st_v, act, p)
    for i in range(5):
        o, s = reset(keys[i], p)
        a_i = jax.tree_util.tree_map(lambda v, i=i: v[i], act)
        out = step(keys[i], s, a_i, p)
        for x, y in zip(jax.tree_util.tree_leaves(out), jax.tree_util.tree_leaves(out_v)):
            np.testing.assert_allclose(np.asarray(x, float), np.asarray(y, float)[i], rtol=1e-5)


def test_ue_count_within_bounds_and_mask_layout():
    for preset in ("small", "medium", "large"):
        scn = make_scenario(preset)
        p = make_params(scn)
        keys = jax.random.split(jax.random.PRNGKey(0), 256)
        _, st = jax.jit(jax.vmap(reset, in_axes=(0, None)))(keys, p)
        n = np.asarray(st.n_per_edge)
        assert n.min() >= scn.ue_min and n.max() <= scn.ue_max
        assert set(np.unique(n)) == set(range(scn.ue_min, scn.ue_max + 1))  # all counts occur
        total = np.asarray(st.mask).sum(1)
        assert ((total >= scn.n_edges * scn.ue_min).all()
                and (total <= scn.n_edges * scn.ue_max).all())
        np.testing.assert_array_equal(total, n.sum(1))
        d = np.asarray(st.dist)[np.asarray(st.mask)]
        assert d.min() >= scn.min_dist and d.max() <= scn.r_edge


def test_fixed_ue_count_per_edge():
    p = _params()
    _, st = reset(jax.random.PRNGKey(0), p, n_per_edge=jnp.array([6, 5, 4, 3, 2]))
    np.testing.assert_array_equal(np.asarray(st.mask).reshape(5, 6).sum(1), [6, 5, 4, 3, 2])
    scn = make_scenario("small").with_fixed_ues(3)
    _, st = reset(jax.random.PRNGKey(0), make_params(scn))
    assert int(st.mask.sum()) == 15


def test_observation_lower_bounds_hold():
    """The realised per-UE time is never below the observed bound of the chosen target."""
    p = _params()
    for seed in range(3):
        traj = _rollout(jax.random.PRNGKey(seed), p, 6)
        prev_obs, _ = reset(jax.random.split(jax.random.PRNGKey(seed), 3)[0], p)
        for obs, _state, _rew, _done, info, act in traj:
            s = np.asarray(prev_obs.s)
            lb = np.stack([s[:, 1], s[:, 2] + s[:, 3], s[:, 4] + s[:, 3] + s[:, 5]], 1)
            x = np.asarray(act.x)
            m = np.asarray(prev_obs.mask)
            t_ue = np.asarray(info["t_ue"])
            chosen = lb[np.arange(len(x)), x]
            assert (t_ue[m] >= chosen[m] * (1 - 1e-5)).all()
            prev_obs = obs


def test_lru_cache_matches_reference_and_respects_capacity():
    scn = make_scenario("small", cache_capacity=120e6, zipf_alpha=1.2)
    p = make_params(scn)
    k_reset, k_env, k_pol = jax.random.split(jax.random.PRNGKey(5), 3)
    obs, state = reset(k_reset, p)
    s_out = np.asarray(p.s_out, np.float64)
    refs = [LRUCacheRef(scn.cache_capacity, s_out) for _ in range(scn.n_edges)]
    step_j = jax.jit(step)
    hits = 0
    for t in range(40):
        act = random_policy(jax.random.fold_in(k_pol, t), obs, state, p)
        # cached flags seen by the env equal the reference's membership
        task, edge, mask = map(np.asarray, (state.task, state.edge, state.mask))
        ref_cached = np.array([mask[n] and refs[edge[n]].contains(task[n])
                               for n in range(len(task))])
        obs, new_state, _, _, info = step_j(jax.random.fold_in(k_env, t), state, act, p)
        np.testing.assert_array_equal(np.asarray(info["cached"]), ref_cached)
        hits += ref_cached.sum()
        lru_round_update_ref(refs, np.asarray(act.x), edge, mask, task)
        lists = np.asarray(new_state.cache_task)
        for k in range(scn.n_edges):
            n_k = int((lists[k] >= 0).sum())
            assert (lists[k, :n_k] >= 0).all() and (lists[k, n_k:] == -1).all()  # compact
            assert lists[k, :n_k].tolist() == refs[k].recency(), (t, k)  # same LRU order
            assert s_out[lists[k, :n_k]].sum() <= scn.cache_capacity * (1 + 1e-6)
        state = new_state
    assert hits > 0  # the cache really is exercised


def test_done_after_rounds_and_info_fields():
    p = _params(rounds=3)
    traj = _rollout(jax.random.PRNGKey(0), p, 3)
    assert [bool(x[3]) for x in traj] == [False, False, True]
    obs, state, rew, done, info, act = traj[0]
    n = p.n_max
    assert rew.shape == (n, 2) and obs.s.shape == (n, 6)
    for k in ("t_round", "t_ue", "e_ue", "objective", "x", "cache_hit"):
        assert k in info
    assert np.all(np.isfinite(np.asarray(rew)))
    m = np.asarray(state.mask)
    assert (np.asarray(rew)[~m] == 0).all() and (np.asarray(obs.s)[~m] == 0).all()
    np.testing.assert_allclose(float(info["objective"]),
                               float(-rew[:, 1].sum() + p.w_time * info["t_round"]), rtol=1e-5)


def test_scan_over_rounds_and_step_compiles_once():
    import chex
    p = _params()
    step_once = chex.assert_max_traces(step, n=1)
    step_j = jax.jit(step_once)
    keys = jax.random.split(jax.random.PRNGKey(0), 64)
    obs, st = jax.jit(jax.vmap(reset, in_axes=(0, None)))(keys, p)
    vstep = jax.jit(jax.vmap(step_once, in_axes=(0, 0, 0, None)))

    def body(carry, t):
        obs, st = carry
        act = jax.vmap(lambda k, o, s: random_policy(k, o, s, p))(
            jax.vmap(lambda k: jax.random.fold_in(k, t))(keys), obs, st)
        obs, st, r, d, info = vstep(keys, st, act, p)
        return (obs, st), info["t_round"]

    (_, st2), tr = jax.lax.scan(body, (obs, st), jnp.arange(5))
    assert tr.shape == (5, 64) and np.all(np.isfinite(np.asarray(tr)))
    assert int(st2.t[0]) == 5
    del step_j


def test_cache_slots_bound():
    from dtac_jax.env.scenarios import cache_slots
    assert cache_slots(np.array([5.0, 1.0, 3.0, 2.0]), 6.0) == 4  # 1+2+3 fit, plus one spare
    assert cache_slots(np.array([5.0, 1.0, 3.0, 2.0]), 5.9) == 3
    assert cache_slots(np.array([5.0, 1.0]), 100.0) == 2  # never more than the task kinds
    assert cache_slots(np.array([5.0, 1.0]), 0.5) == 1


@pytest.mark.parametrize("ue_min,ue_max", [(4, 6), (1, 1), (6, 9)])
def test_lru_cache_under_heavy_reuse_matches_reference_order(ue_min, ue_max):
    """Few task kinds, skewed popularity, mostly offloading: repeated and re-touched tasks in
    every round, full caches; the recency lists equal the one-by-one LRU reference's (UEs per
    edge of 1, 6 and 9: compacting shifts of one, three and four bits)."""
    scn = make_scenario("small", n_tasks=12, cache_capacity=70e6, zipf_alpha=1.5,
                        ue_min=ue_min, ue_max=ue_max)
    p = make_params(scn)
    s_out = np.asarray(p.s_out, np.float64)
    refs = [LRUCacheRef(scn.cache_capacity, s_out) for _ in range(scn.n_edges)]
    _, state = reset(jax.random.PRNGKey(11), p)
    upd = jax.jit(E.update_cache)
    rs = np.random.default_rng(0)
    longest = 0
    for t in range(80):
        task = rs.choice(scn.n_tasks, size=p.n_max, p=np.exp(np.asarray(p.pop_logits[0])))
        state = state.replace(task=jnp.asarray(task, jnp.int32))
        x = rs.choice(3, size=p.n_max, p=[0.15, 0.45, 0.4])
        lists = upd(state, jnp.asarray(x, jnp.int32), p)
        lru_round_update_ref(refs, x, np.asarray(state.edge), np.asarray(state.mask), task)
        lists = np.asarray(lists)
        for k in range(scn.n_edges):
            n_k = int((lists[k] >= 0).sum())
            assert lists[k, :n_k].tolist() == refs[k].recency(), (t, k)
            longest = max(longest, n_k)
        state = state.replace(cache_task=jnp.asarray(lists))
    assert longest >= 3 and longest < p.cache_slots  # caches full, bound never reached


def test_benchmark_numpy_reference_matches_the_jax_env():
    """The NumPy env that ``experiments/bench_sim.py`` races against computes the same costs,
    observations and LRU updates (so the speed ratio compares like with like)."""
    from experiments.numpy_env import check_against_jax
    assert check_against_jax(make_scenario("small", cache_capacity=80e6), n_states=9, seed=1) == 9


def test_a_new_effect_is_a_wrapper_around_step():
    """docs/extending.md's bursty arrivals (``wrappers.BurstyArrivals``), added without editing
    env.py: under jit and scan,
    with p = 1 every real UE meets the same task each round; with p = 0 tasks stay drawn per UE."""
    from dtac_jax.algos.heuristics import all_local
    from dtac_jax.env.wrappers import BurstyArrivals, CloudEdgeEnv

    params = make_params(make_scenario("small", rounds=4))
    obs0, st0 = E.reset(jax.random.PRNGKey(0), params)

    def run(p):
        def body(carry, k):
            obs, st = carry
            k_split = jax.random.split(k)
            action = all_local(k_split[0], obs, st, params)
            obs, st, _, _, _ = BurstyArrivals(CloudEdgeEnv(), p).step(k_split[1], st,
                                                                      action, params)
            return (obs, st), (st.task, obs.s)
        return jax.jit(lambda: jax.lax.scan(body, (obs0, st0),
                                            jax.random.split(jax.random.PRNGKey(1), 4))[1])()

    tasks, _ = run(1.0)
    real = np.asarray(st0.mask)
    for t in np.asarray(tasks):
        assert len(set(t[real].tolist())) == 1
    plain_tasks, plain_obs = run(0.0)
    assert len(set(np.asarray(plain_tasks)[0][real].tolist())) > 1   # no burst: tasks differ
    assert np.isfinite(np.asarray(plain_obs)).all()

