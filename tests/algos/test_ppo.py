"""TAC's stochastic-policy estimator: counterfactual credit against a one-by-one NumPy reference,
GAE against a plain loop, the factor log-probabilities, a tiny training run, configuration
errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from reference_numpy import round_costs_ref

from dtac_jax.algos import credit, losses
from dtac_jax.algos.estimators.ppo import log_probs
from dtac_jax.algos.tac import PPOConfig, TACConfig, make_tac, recipe
from dtac_jax.env import env as E
from dtac_jax.env import make_params, make_scenario
from dtac_jax.env.env import Action


def _objective_ref(state, action, params):
    kw = {k: np.asarray(v, np.float64) if np.ndim(v) else float(v)
          for k, v in E.physics_kwargs(state, params).items()}
    kw["edge"], kw["mask"] = np.asarray(state.edge), np.asarray(state.mask)
    kw["cached"] = np.asarray(kw["cached"], bool)
    _, e_ue, t_round = round_costs_ref(x=action["x"], channel=action["channel"], a=action["a"],
                                       b=action["b"], **kw)
    return params.w_time * t_round + params.w_energy * float(np.sum(e_ue))


def test_counterfactual_objectives_match_one_ue_at_a_time():
    """Each entry equals the NumPy reference's objective of the action with that one UE's
    target, channel, or (a, b) replaced; everyone else's decision unchanged."""
    params = make_params(make_scenario("small", ue_min=3, ue_max=4))
    rng = np.random.default_rng(0)
    _, state = E.reset(jax.random.PRNGKey(5), params)
    n = params.n_max
    act = dict(x=rng.integers(0, 3, n).astype(np.int32),
               channel=rng.integers(0, params.l_channels, n).astype(np.int32),
               a=rng.uniform(0.2, 1.0, n).astype(np.float32),
               b=rng.uniform(0.2, 1.0, n).astype(np.float32))
    mean = (rng.uniform(0.2, 1.0, n).astype(np.float32),
            rng.uniform(0.2, 1.0, n).astype(np.float32))
    base, per_x, per_l, at_mean = jax.jit(
        lambda st, ac, m: credit.counterfactual_objectives(
            credit.simulator_objective(st, params), ac, m, params.l_channels))(
        state, Action(**{k: jnp.asarray(v) for k, v in act.items()}), tuple(map(jnp.asarray, mean)))
    np.testing.assert_allclose(float(base), _objective_ref(state, act, params), rtol=1e-4)
    real = np.flatnonzero(np.asarray(state.mask))
    for ue in real[:: max(1, len(real) // 5)]:
        for k in range(3):
            alt = dict(act, x=act["x"].copy())
            alt["x"][ue] = k
            np.testing.assert_allclose(float(per_x[ue, k]), _objective_ref(state, alt, params),
                                       rtol=1e-4)
        for k in range(params.l_channels):
            alt = dict(act, channel=act["channel"].copy())
            alt["channel"][ue] = k
            np.testing.assert_allclose(float(per_l[ue, k]), _objective_ref(state, alt, params),
                                       rtol=1e-4)
        alt = dict(act, a=act["a"].copy(), b=act["b"].copy())
        alt["a"][ue], alt["b"][ue] = mean[0][ue], mean[1][ue]
        np.testing.assert_allclose(float(at_mean[ue]), _objective_ref(state, alt, params),
                                   rtol=1e-4)
    # a padded slot changes nothing, whatever it is set to
    pad = np.flatnonzero(~np.asarray(state.mask))
    if len(pad):
        np.testing.assert_allclose(np.asarray(per_x[pad[0]]), float(base), rtol=1e-6)


def test_gae_bootstraps_time_limits_and_stops_at_episode_ends():
    rng = np.random.default_rng(1)
    t, e, gamma, lam = 7, 3, 0.8, 0.7
    r, v, nv = rng.normal(size=(3, t, e))
    d = rng.random((t, e)) < 0.3
    adv, target = losses.gae(jnp.asarray(r), jnp.asarray(v), jnp.asarray(nv), jnp.asarray(d),
                             gamma, lam)
    ref = np.zeros((t, e))
    for j in range(e):
        nxt = 0.0
        for i in reversed(range(t)):
            delta = r[i, j] + gamma * nv[i, j] - v[i, j]   # bootstrapped even at a time limit
            nxt = delta + (0.0 if d[i, j] else gamma * lam * nxt)
            ref[i, j] = nxt
    np.testing.assert_allclose(np.asarray(adv), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(target), ref + v, rtol=1e-5, atol=1e-6)


def test_log_probs_count_only_the_factors_that_act():
    p_x = jnp.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]])
    p_l = jnp.array([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]])
    a, b = jnp.array([0.5, 0.5]), jnp.array([0.4, 0.9])
    log_std = jnp.log(jnp.array([0.1, 0.2]))
    x, l = jnp.array([1, 0]), jnp.array([3, 2])
    a_raw, b_raw = jnp.array([0.55, 0.1]), jnp.array([0.0, 0.7])
    lp = np.asarray(log_probs((p_x, p_l, a, b), log_std, x, l, a_raw, b_raw))
    gauss = lambda v, m, s: -0.5 * ((v - m) / s) ** 2 - np.log(s * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(lp[0], [np.log(0.5), np.log(0.4), gauss(0.55, 0.5, 0.1)],
                               rtol=1e-5)
    np.testing.assert_allclose(lp[1], [np.log(0.6), 0.0, gauss(0.7, 0.9, 0.2)], rtol=1e-5)
    # with an exploration floor the sampling distribution is mixed with the uniform
    lp = np.asarray(log_probs((p_x, p_l, a, b), log_std, x, l, a_raw, b_raw, 0.3))
    np.testing.assert_allclose(lp[0, 0], np.log(0.7 * 0.5 + 0.1), rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("credit", ["difference", "team"])
def test_tiny_ppo_training_is_finite_and_moves_the_actor(credit):
    params = make_params(make_scenario("small", rounds=3))
    cfg = recipe("default", iterations=3, updates=2, batch_size=8, buffer_size=64, eval_envs=2,
                 eval_rounds=3, collect=dict(envs=4, rounds=2),
                 ppo=dict(credit=credit, minibatches=2))
    init, iteration = make_tac(params, cfg)
    ts0 = jax.jit(init)(jax.random.PRNGKey(0))
    ts, m = jax.jit(lambda s: jax.lax.scan(lambda c, _: iteration(c), s, None, length=3))(ts0)
    for k, v in m.items():
        assert np.all(np.isfinite(np.asarray(v))), k
    moved = [float(jnp.max(jnp.abs(a - b))) for a, b in
             zip(jax.tree_util.tree_leaves(ts.actor), jax.tree_util.tree_leaves(ts0.actor))]
    assert max(moved) > 0
    # the per-UE critic is trained on the executed decisions (one-hot targets and channels)
    px = np.asarray(ts.buffer.experience["p_x"][: 8])
    assert set(np.unique(px)) <= {0.0, 1.0}
    if credit == "team":
        assert float(m["value_loss"][-1]) > 0


@pytest.mark.parametrize("build, match", [
    (lambda: recipe("default", collect=dict(envs=0)), "envs must be >= 1"),
    (lambda: recipe("default", collect=dict(noise_var=-0.1)), "noise_var must be >= 0"),
    (lambda: recipe("critic", collect=dict(explore="boltzmann")),
     "unknown exploration scheme 'boltzmann'"),
    (lambda: recipe("default", ppo=dict(credit="shapley")), "unknown PPO credit 'shapley'"),
    (lambda: recipe("default", estimator="ddpg"), "unknown TAC estimator 'ddpg'"),
    (lambda: recipe("default", critic_input="logits"), "unknown critic input 'logits'"),
    (lambda: recipe("fast"), "unknown TAC recipe 'fast'"),
    (lambda: recipe("default", collect=dict(envs=3, rounds=3)), "divisible by ppo.minibatches"),
    (lambda: recipe("default", collect=dict(floor=1.0)), "floor must be in"),
    (lambda: PPOConfig(gamma=1.5), "gamma must be in"),
])
def test_bad_tac_configuration_raises_one_line(build, match):
    with pytest.raises(ValueError, match=match) as e:
        build()
    assert "\n" not in str(e.value)


def test_recipes_and_old_configs():
    assert TACConfig().estimator == "ppo" and recipe("paper").lr_actor == 2e-5
    assert recipe("critic").collect.noise_var == 0.02
    assert TACConfig.from_dict(recipe("critic").to_dict()) == recipe("critic")
    old = recipe("critic").to_dict()
    for k in ("estimator", "critic_input", "ppo"):
        old.pop(k)
    assert TACConfig.from_dict(old).estimator == "critic"
