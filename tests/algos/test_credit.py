"""Difference credit from the learned critic: its what-ifs against the critic asked one UE at a
time, the first-order credit against finite differences, and a TAC update that never consults
the simulator's cost function."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dtac_jax.algos import credit, losses
from dtac_jax.algos.tac import TACConfig, make_tac, recipe
from dtac_jax.env import env as E
from dtac_jax.env import make_params, make_scenario
from dtac_jax.env.env import Action
from dtac_jax.nets.transformer import Critic, NetConfig, init_actor_critic

NET = NetConfig()
SCALE = 0.01


def _round(seed=0):
    params = make_params(make_scenario("small", ue_min=2, ue_max=3))
    obs, _ = E.reset(jax.random.PRNGKey(seed), params)
    rng = np.random.default_rng(seed)
    n = params.n_max
    action = Action(x=jnp.asarray(rng.integers(0, 3, n), jnp.int32),
                    channel=jnp.asarray(rng.integers(0, 4, n), jnp.int32),
                    a=jnp.asarray(rng.uniform(0.2, 1.0, n), jnp.float32),
                    b=jnp.asarray(rng.uniform(0.2, 1.0, n), jnp.float32))
    p_x = jax.nn.softmax(jnp.asarray(rng.normal(size=(n, 3)), jnp.float32))
    p_l = jax.nn.softmax(jnp.asarray(rng.normal(size=(n, 4)), jnp.float32))
    mean = (jnp.asarray(rng.uniform(0.2, 1.0, n), jnp.float32),
            jnp.asarray(rng.uniform(0.2, 1.0, n), jnp.float32))
    critic = init_actor_critic(jax.random.PRNGKey(seed + 7), NET)["critic"]
    return obs, action, p_x, p_l, mean, critic


def _critic_objective_ref(critic, obs, x, channel, a, b):
    """The critic's round objective written out: one forward pass, inverse transform, the max
    of the time heads plus the sum of the energy heads over real UEs (float64 after the net)."""
    pred = np.asarray(Critic(NET).apply(critic, obs.s, obs.edge, obs.mask,
                                        jax.nn.one_hot(x, 3), jax.nn.one_hot(channel, 4),
                                        jnp.asarray(a), jnp.asarray(b)), np.float64)
    q = SCALE * np.expm1(np.minimum(pred, 30.0))
    m = np.asarray(obs.mask)
    return q[m, 0].max() + q[m, 1].sum()


def test_critic_what_ifs_match_the_critic_asked_one_ue_at_a_time():
    obs, action, p_x, p_l, mean, critic = _round()
    obj = lambda x, ch, a, b: losses.critic_objective(
        critic, NET, obs, jax.nn.one_hot(x, 3), jax.nn.one_hot(ch, 4), a, b, SCALE)
    base, per_x, per_l, at_mean = jax.jit(
        lambda: credit.counterfactual_objectives(obj, action, mean, 4))()
    x, ch = np.asarray(action.x), np.asarray(action.channel)
    a, b = np.asarray(action.a), np.asarray(action.b)
    np.testing.assert_allclose(float(base), _critic_objective_ref(critic, obs, x, ch, a, b),
                               rtol=1e-4)
    for ue in np.flatnonzero(np.asarray(obs.mask))[::3]:
        for k in range(3):
            alt = x.copy()
            alt[ue] = k
            np.testing.assert_allclose(float(per_x[ue, k]),
                                       _critic_objective_ref(critic, obs, alt, ch, a, b), rtol=1e-4)
        for k in range(4):
            alt = ch.copy()
            alt[ue] = k
            np.testing.assert_allclose(float(per_l[ue, k]),
                                       _critic_objective_ref(critic, obs, x, alt, a, b), rtol=1e-4)
        a2, b2 = a.copy(), b.copy()
        a2[ue], b2[ue] = mean[0][ue], mean[1][ue]
        np.testing.assert_allclose(float(at_mean[ue]),
                                   _critic_objective_ref(critic, obs, x, ch, a2, b2), rtol=1e-4)
    # the advantages are the expectations of the transformed what-ifs minus the sampled one's
    value = credit.critic_value(critic, NET, obs, SCALE, 1.0)
    adv = np.asarray(credit.exact_advantages(value, action, p_x, p_l, mean))
    c = np.log1p
    ue = int(np.flatnonzero(np.asarray(obs.mask))[0])
    np.testing.assert_allclose(adv[ue, 0], float(jnp.sum(p_x[ue] * c(per_x[ue])) - c(base)),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(adv[ue, 2], float(c(at_mean[ue]) - c(base)), rtol=1e-4, atol=1e-6)


def test_first_order_credit_is_the_tangent_of_the_critic():
    """For small moves of ``(a, b)`` and of the target's mixture, the first-order credit is the
    critic's exact credit divided by the step (finite differences, central)."""
    obs, action, p_x, p_l, _, critic = _round(1)
    eps = 1e-2
    mean = (action.a + eps * 0.5, action.b - eps * 0.3)
    lin = np.asarray(credit.linearised_advantages(critic, NET, obs, action, p_x, p_l, mean,
                                                  SCALE, 1.0))

    def c_obj(hx, hl, a, b):
        return float(jnp.log1p(losses.critic_objective(critic, NET, obs, hx, hl, a, b, SCALE)))

    hx, hl = jax.nn.one_hot(action.x, 3), jax.nn.one_hot(action.channel, 4)
    real = np.flatnonzero(np.asarray(obs.mask))
    for ue in real[::4]:
        da = np.zeros(action.a.shape, np.float32)
        db = np.zeros(action.b.shape, np.float32)
        da[ue], db[ue] = eps * 0.5, -eps * 0.3
        fd = (c_obj(hx, hl, action.a + da / 2, action.b + db / 2)
              - c_obj(hx, hl, action.a - da / 2, action.b - db / 2))
        np.testing.assert_allclose(lin[ue, 2], fd, rtol=0.05, atol=1e-6)
        # the target: the directional derivative towards the policy's mixture p_x[ue]
        d = np.zeros(hx.shape, np.float32)
        d[ue] = np.asarray(p_x[ue] - hx[ue])
        h = 1e-3
        fd = (c_obj(hx + h * d, hl, action.a, action.b)
              - c_obj(hx - h * d, hl, action.a, action.b)) / (2 * h)
        np.testing.assert_allclose(lin[ue, 0], fd, rtol=0.05, atol=1e-5)
    # padded UEs get no credit
    pad = np.flatnonzero(~np.asarray(obs.mask))
    np.testing.assert_array_equal(lin[pad], 0.0)


@pytest.mark.parametrize("source", ["critic", "critic_linear", "simulator"])
def test_only_the_oracle_recipe_asks_the_simulator(source, monkeypatch):
    """With the critic as the credit source, a TAC iteration is built and run without the
    simulator's what-ifs (they raise here); the simulator source needs them."""
    def refuse(*a, **k):
        raise RuntimeError("the simulator's cost function was asked a what-if")

    monkeypatch.setattr(credit, "simulator_objective", refuse)
    params = make_params(make_scenario("small", rounds=3, ue_min=2, ue_max=3))
    cfg = recipe("default", iterations=1, updates=2, batch_size=8, buffer_size=64, eval_envs=2,
                 eval_rounds=2, collect=dict(envs=4, rounds=2),
                 ppo=dict(credit_source=source, minibatches=2))
    init, iteration = make_tac(params, cfg)
    ts = init(jax.random.PRNGKey(0))
    if source == "simulator":
        with pytest.raises(RuntimeError, match="what-if"):
            jax.eval_shape(iteration, ts)
        return
    ts, m = jax.jit(iteration)(ts)
    assert np.isfinite(float(m["objective"])) and np.isfinite(float(m["actor_loss"]))


def test_future_targets_sum_the_discounted_rounds_of_the_same_episode():
    rng = np.random.default_rng(3)
    r, e, gamma, horizon = 9, 4, 0.6, 3
    obj = rng.lognormal(2, 1, (r, e))
    done = rng.random((r, e)) < 0.2
    g, valid = losses.future_targets(jnp.asarray(obj), jnp.asarray(done), gamma, horizon, 1.0)
    for j in range(e):
        for t in range(r):
            ref, ok = 0.0, True
            for k in range(1, horizon + 1):
                if t + k - 1 < r and done[t + k - 1, j]:
                    break               # the episode ended after round t + k - 1
                if t + k > r - 1:
                    ok = False          # a round of this episode the rollout does not hold
                    break
                ref += gamma ** k * np.log1p(obj[t + k, j])
            assert bool(valid[t, j]) == ok, (t, j)
            if ok:
                np.testing.assert_allclose(float(g[t, j]), ref, rtol=1e-5)


def test_a_critic_with_the_future_output_learns_it_and_counts_it_in_the_credit():
    obs, action, p_x, p_l, mean, _ = _round(2)
    critic = init_actor_critic(jax.random.PRNGKey(3), NET, future=True)["critic"]
    assert critic["params"]["head_q"]["kernel"].shape[-1] == 3
    o, f = losses.critic_predict(critic, NET, obs, jax.nn.one_hot(action.x, 3),
                                 jax.nn.one_hot(action.channel, 4), action.a, action.b, SCALE)
    pred = np.asarray(Critic(NET, future=True).apply(
        critic, obs.s, obs.edge, obs.mask, jax.nn.one_hot(action.x, 3),
        jax.nn.one_hot(action.channel, 4), action.a, action.b))
    np.testing.assert_allclose(float(f), pred[np.asarray(obs.mask), 2].sum(), rtol=1e-5)
    value = credit.critic_value(critic, NET, obs, SCALE, 1.0)
    np.testing.assert_allclose(float(value(action.x, action.channel, action.a, action.b)),
                               float(jnp.log1p(o) + f), rtol=1e-5)
    # the loss counts the future term only where it is valid
    b = {k: v[None] for k, v in dict(s=obs.s, edge=obs.edge, mask=obs.mask,
                                     p_x=jax.nn.one_hot(action.x, 3),
                                     p_l=jax.nn.one_hot(action.channel, 4), a=action.a,
                                     b=action.b, cost=jnp.ones((obs.s.shape[0], 2))).items()}
    ok = losses.critic_loss(critic, dict(b, future=f[None] + 2.0, future_valid=jnp.ones(1, bool)),
                            NET, SCALE)
    off = losses.critic_loss(critic, dict(b, future=f[None] + 2.0,
                                          future_valid=jnp.zeros(1, bool)), NET, SCALE)
    np.testing.assert_allclose(float(ok - off), 0.5 * 2.0 ** 2, rtol=1e-4)


def test_credit_correlation_metric():
    rng = np.random.default_rng(0)
    ref = jnp.asarray(rng.normal(size=(4, 6, 3)), jnp.float32)
    mask = jnp.ones((4, 6), bool)
    off = jnp.asarray(rng.random((4, 6)) < 0.5)
    c = credit.correlations(2.0 * ref + 1.0, ref, mask, off)
    for v in c.values():
        np.testing.assert_allclose(float(v), 1.0, rtol=1e-5)
    c = credit.correlations(-ref, ref, mask, off)
    np.testing.assert_allclose(float(c["credit_corr_ab"]), -1.0, rtol=1e-5)


def test_bad_credit_settings_raise_one_line():
    for build, match in [(lambda: recipe("default", ppo=dict(credit_source="oracle")),
                          "unknown credit source 'oracle'"),
                         (lambda: recipe("oracle_credit"), "unknown TAC recipe"),
                         (lambda: recipe("default", ppo=dict(horizon=-1)),
                          "horizon must be >= 0"),
                         (lambda: recipe("oracle-credit", ppo=dict(horizon=2)),
                          "needs the difference credit from the critic"),
                         (lambda: recipe("default", ppo=dict(horizon=8)),
                          "must be below collect.rounds")]:
        with pytest.raises(ValueError, match=match) as e:
            build()
        assert "\n" not in str(e.value)
    assert recipe("oracle-credit").ppo.credit_source == "simulator"
    assert TACConfig().ppo.credit_source == "critic"
    # a PPO config saved without a credit source was trained with the simulator's credit
    old = TACConfig().to_dict()
    old["ppo"].pop("credit_source")
    assert TACConfig.from_dict(old).ppo.credit_source == "simulator"
