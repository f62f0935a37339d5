"""Functional transforms on the simulator, as a user would apply them: ``jax.grad`` of a
round's objective with respect to the continuous actions, and ``vmap`` over an ``EnvParams``
field in one compiled program."""
import jax
import jax.numpy as jnp
import numpy as np

from dtac_jax.algos.heuristics import fixed_target_policy, spread_channels
from dtac_jax.env import env as E
from dtac_jax.env import make_params, make_scenario, physics
from dtac_jax.env.env import Action
from dtac_jax.evaluate import episode_keys, run_episode


def _round_objective(a, b, state, x, channel, params):
    t_ue, e_ue, t_round = E.costs(state, Action(x=x, channel=channel, a=a, b=b), params)
    return physics.objective(t_round, e_ue, params.w_time, params.w_energy)


def test_grad_of_round_objective_wrt_power_and_frequency_matches_finite_differences():
    params = make_params(make_scenario("small"))
    _, state = E.reset(jax.random.PRNGKey(3), params)
    n = state.mask.shape[0]
    # a mix of targets; interior a, b so the objective is smooth around them
    x = jnp.asarray(np.arange(n) % 3, jnp.int32)
    channel = spread_channels(params)
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.uniform(0.3, 0.9, n), jnp.float32)
    b = jnp.asarray(rng.uniform(0.3, 0.9, n), jnp.float32)
    f = jax.jit(lambda a, b: _round_objective(a, b, state, x, channel, params))
    ga, gb = jax.jit(jax.grad(lambda a, b: _round_objective(a, b, state, x, channel, params),
                              argnums=(0, 1)))(a, b)
    assert np.all(np.isfinite(ga)) and np.all(np.isfinite(gb))
    # padded UEs do not move the objective
    np.testing.assert_array_equal(np.asarray(ga)[~np.asarray(state.mask)], 0.0)
    # directional derivatives along random directions against central differences
    for seed in range(3):
        d = np.random.default_rng(seed + 1).normal(size=(2, n)).astype(np.float32)
        d = jnp.asarray(d * np.asarray(state.mask, np.float32))
        eps = 1e-3
        fd = (float(f(a + eps * d[0], b + eps * d[1])) - float(f(a - eps * d[0], b - eps * d[1]))) \
            / (2 * eps)
        ad = float(jnp.vdot(ga, d[0]) + jnp.vdot(gb, d[1]))
        np.testing.assert_allclose(ad, fd, rtol=2e-2, atol=1e-3)
    # lowering b for a UE computing locally saves energy at the cost of time: a sign check
    local = int(np.flatnonzero((np.asarray(x) == 0) & np.asarray(state.mask))[0])
    e_only = make_params(make_scenario("small", w_time=0.0))
    g_e = jax.grad(lambda b: _round_objective(a, b, state, x, channel, e_only))(b)
    assert float(g_e[local]) > 0          # energy rises with the UE's CPU frequency


def test_vmap_over_bandwidth_sweeps_in_one_program_and_matches_separate_runs():
    params = make_params(make_scenario("small"))
    keys = episode_keys(jax.random.PRNGKey(4), 1)[0]
    policy = fixed_target_policy(physics.EDGE)
    traces = []

    def episode(bandwidth):
        traces.append(1)                  # counts traces, not calls
        return run_episode(policy, params.replace(bandwidth=bandwidth), keys, 5)["t_round"]

    widths = params.bandwidth * jnp.asarray([0.5, 1.0, 2.0, 4.0])
    swept = jax.jit(jax.vmap(episode))(widths)
    assert len(traces) == 1               # one compiled program for the whole sweep
    single = jax.jit(episode)
    for i, w in enumerate(widths):
        np.testing.assert_allclose(float(swept[i]), float(single(w)), rtol=1e-5)
    # offloading everything: more bandwidth per channel, shorter rounds
    assert np.all(np.diff(np.asarray(swept)) < 0), swept
