"""Reference policies and evaluate(): same episodes, sane metrics, Search on top."""
import jax
import numpy as np

from dtac_jax.algos.heuristics import HEURISTICS
from dtac_jax.algos.search import SearchConfig, make_search_policy
from dtac_jax.env import make_params, make_scenario
from dtac_jax.env import env as E
from dtac_jax.evaluate import evaluate


def test_policies_respect_action_ranges():
    p = make_params(make_scenario("small"))
    obs, st = E.reset(jax.random.PRNGKey(0), p)
    for name, pol in {**HEURISTICS, "search": make_search_policy(
            SearchConfig(candidates=32, iterations=2))}.items():
        a = pol(jax.random.PRNGKey(1), obs, st, p)
        x, c, aa, bb = map(np.asarray, (a.x, a.channel, a.a, a.b))
        assert set(np.unique(x)) <= {0, 1, 2}, name
        assert c.min() >= 0 and c.max() < p.l_channels, name
        assert (aa > 0).all() and (aa <= 1).all() and (bb > 0).all() and (bb <= 1).all(), name


def test_evaluate_uses_same_episodes_for_every_policy():
    """All-local is deterministic and cache-free: its metrics only depend on the episodes."""
    p = make_params(make_scenario("small", rounds=5))
    r1 = evaluate(HEURISTICS["all_local"], p, jax.random.PRNGKey(0), episodes=4)
    r2 = evaluate(HEURISTICS["all_local"], p, jax.random.PRNGKey(0), episodes=4)
    r3 = evaluate(HEURISTICS["all_local"], p, jax.random.PRNGKey(1), episodes=4)
    assert r1 == r2 and r1.avg_time != r3.avg_time
    assert r1.frac_local == 1.0 and r1.energy_per_task > 0


def test_search_beats_every_heuristic_and_uses_all_targets():
    p = make_params(make_scenario("small", rounds=8))
    key = jax.random.PRNGKey(0)
    search = evaluate(make_search_policy(SearchConfig(candidates=128, iterations=3)), p, key, 4)
    for name, pol in HEURISTICS.items():
        r = evaluate(pol, p, key, 4)
        assert search.weighted_reward > r.weighted_reward, name
    assert min(search.frac_local, search.frac_edge, search.frac_cloud) >= 0.05
    np.testing.assert_allclose(search.frac_local + search.frac_edge + search.frac_cloud, 1.0)


def test_random_floor_is_random_rescaled_above_its_floor():
    from dtac_jax.algos.heuristics import RANDOM_FLOOR
    p = make_params(make_scenario("small"))
    obs, st = E.reset(jax.random.PRNGKey(0), p)
    key = jax.random.PRNGKey(3)
    lit, flo = HEURISTICS["random"](key, obs, st, p), HEURISTICS["random_floor"](key, obs, st, p)
    np.testing.assert_array_equal(lit.x, flo.x)
    np.testing.assert_array_equal(lit.channel, flo.channel)
    for u, v in ((lit.a, flo.a), (lit.b, flo.b)):
        np.testing.assert_allclose(v, RANDOM_FLOOR + (1 - RANDOM_FLOOR) * np.asarray(u),
                                   rtol=1e-6)
        assert float(v.min()) >= RANDOM_FLOOR
    # the floor bounds the slowdown of a small b (local) or a (upload): on the same episodes
    # the floored Random's mean time is below the literal one's
    pf = make_params(make_scenario("small", rounds=20))
    r_lit = evaluate(HEURISTICS["random"], pf, key, 8)
    r_flo = evaluate(HEURISTICS["random_floor"], pf, key, 8)
    assert r_flo.avg_time < r_lit.avg_time
