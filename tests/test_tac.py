"""TAC / DTAC: decentralisation by identity attention, deploy parity, learning signal, resume."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dtac_jax.algos import common
from dtac_jax.algos.common import CollectConfig
from dtac_jax.algos.dtac import TransferConfig
from dtac_jax.algos.tac import TACConfig, make_tac, recipe
from dtac_jax.checkpoint import CheckpointMismatch
from dtac_jax.deploy import act_fn
from dtac_jax.env import make_params, make_scenario
from dtac_jax.nets.transformer import Actor, NetConfig, complexity, init_actor_critic

NET = NetConfig()
PARAMS = init_actor_critic(jax.random.PRNGKey(0), NET)
TINY = TACConfig(episodes=4, updates=2, batch_size=8, buffer_size=256, eval_envs=2,
                 eval_rounds=3, collect=CollectConfig(envs=4, rounds=2))
TINY_CRITIC = recipe("critic", episodes=4, updates=2, batch_size=8, buffer_size=256,
                     collect=dict(envs=4, rounds=2))


def _state(seed, n=12):
    rng = np.random.default_rng(seed)
    s = np.abs(rng.lognormal(-1, 1.5, (n, 6))).astype(np.float32)
    s[:, 0] = 10 ** rng.uniform(-13, -8, n)
    edge = rng.integers(0, 5, n).astype(np.int32)
    mask = rng.random(n) < 0.8
    mask[0] = True
    return jnp.asarray(s), jnp.asarray(edge), jnp.asarray(mask)


_apply = {a: jax.jit(Actor(NET, a).apply) for a in ("full", "identity")}


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), what=st.sampled_from(["obs", "edge", "padding"]))
def test_identity_attention_decentralises(seed, what):
    s, edge, mask = _state(seed)
    rng = np.random.default_rng(seed + 1)
    other = int(rng.integers(1, len(mask)))
    if what == "obs":
        s2, e2, m2 = s.at[other].multiply(7.0), edge, mask.at[other].set(True)
        s, mask = s, mask.at[other].set(True)
    elif what == "edge":
        e2, s2, m2 = edge.at[other].set((edge[other] + 1) % 5), s, mask.at[other].set(True)
        mask = mask.at[other].set(True)
    else:
        s2, e2, m2 = s, edge, mask.at[other].set(~mask[other])
    keep = np.arange(len(mask)) != other
    out1 = _apply["identity"](PARAMS["actor"], s, edge, mask)
    out2 = _apply["identity"](PARAMS["actor"], s2, e2, m2)
    for a, b in zip(out1, out2):
        np.testing.assert_array_equal(np.asarray(a)[keep], np.asarray(b)[keep])
    # with full attention the others' outputs move
    f1 = _apply["full"](PARAMS["actor"], s, edge, mask)
    f2 = _apply["full"](PARAMS["actor"], s2, e2, m2)
    real_keep = keep & np.asarray(mask) & np.asarray(m2)
    assert np.abs(np.asarray(f1[0])[real_keep] - np.asarray(f2[0])[real_keep]).max() > 1e-7


def test_deploy_act_equals_batched_dtac():
    s, edge, mask = _state(3, n=20)
    cfg = TransferConfig()
    act = act_fn(PARAMS["actor"], cfg, NET)
    p_x, p_l, a, b = _apply["identity"](PARAMS["actor"], s, edge, mask)
    for n in np.flatnonzero(np.asarray(mask)):
        x1, l1, a1, b1 = act(s[n], edge[n])
        assert int(x1) == int(jnp.argmax(p_x[n])) and int(l1) == int(jnp.argmax(p_l[n]))
        np.testing.assert_allclose([float(a1), float(b1)], [float(a[n]), float(b[n])], rtol=1e-6)


def test_complexity_near_paper_table_iv():
    c = complexity(NET)
    assert 6_000 < c["actor_params"] < 11_000 and 6_000 < c["critic_params"] < 11_000
    assert c["actor_identity_flops_per_ue"] < c["actor_full_flops_per_ue"]


def _grad_norms(tree):
    return [float(jnp.linalg.norm(g)) for g in jax.tree_util.tree_leaves(tree)]


def test_gradients_reach_every_parameter_and_are_finite():
    params = make_params(make_scenario("small"))
    init, _ = make_tac(params, TINY)
    ts = init(jax.random.PRNGKey(0))
    items, _, _, _ = common.collect(jax.random.PRNGKey(1), common.actor_fn(NET, "full"), ts.actor,
                                    ts.obs, ts.env_state, 0.05, params, TINY.collect, NET.a_min)
    gc = jax.grad(common.critic_loss)(ts.critic, items, NET, TINY.cost_scale)
    ga = jax.grad(common.actor_critic_loss)(ts.actor, ts.critic, items,
                                            common.actor_fn(NET, "full"), NET, TINY.cost_scale,
                                            0.01)
    for g in (gc, ga):
        norms = _grad_norms(g)
        assert all(np.isfinite(norms)) and all(n > 0 for n in norms)


@pytest.mark.slow
def test_tiny_training_reduces_losses():
    params = make_params(make_scenario("small"))
    cfg = TINY_CRITIC.replace(updates=10, batch_size=32, collect=dict(envs=8, rounds=4))
    init, episode = make_tac(params, cfg)
    run = jax.jit(lambda s: jax.lax.scan(lambda c, _: episode(c), s, None, length=15))
    ts, m = run(init(jax.random.PRNGKey(0)))
    c = np.asarray(m["critic_loss"])
    assert np.all(np.isfinite(c)) and np.all(np.isfinite(np.asarray(m["actor_loss"])))
    assert c[-3:].mean() < 0.5 * c[:3].mean()
    # the actor loss (predicted cost under the critic) falls when the critic is held fixed
    act = common.actor_fn(NET, "full")
    batch = common.make_buffer(cfg.buffer_size, 64).sample(ts.buffer, jax.random.PRNGKey(3)).experience
    loss = jax.jit(lambda a: common.actor_critic_loss(a, ts.critic, batch, act, NET, cfg.cost_scale, 0.01))
    import optax
    opt = optax.adam(1e-3)
    a, o = ts.actor, opt.init(ts.actor)
    first = float(loss(a))
    for _ in range(30):
        g = jax.grad(loss)(a)
        u, o = opt.update(g, o)
        a = optax.apply_updates(a, u)
    assert float(loss(a)) < first


@pytest.mark.slow
def test_resume_is_bit_identical_and_mismatch_is_reported(tmp_path):
    from dtac_jax.runs import train_tac, train_transfer
    scn = make_scenario("small", rounds=3)
    full = train_tac(scn, TINY, tmp_path / "a", seeds=2, chunk=2, progress=False)
    half = dataclasses.replace(TINY, episodes=2)
    train_tac(scn, half, tmp_path / "b", seeds=2, chunk=2, progress=False)
    with pytest.raises(ValueError, match="--resume"):
        train_tac(scn, TINY, tmp_path / "b", seeds=2, chunk=2, progress=False)
    resumed = train_tac(scn, TINY, tmp_path / "b", seeds=2, chunk=2, resume=True, progress=False)
    for x, y in zip(jax.tree_util.tree_leaves((full.actor, full.critic, full.key)),
                    jax.tree_util.tree_leaves((resumed.actor, resumed.critic, resumed.key))):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    # seeds really differ
    assert not np.array_equal(np.asarray(jax.tree_util.tree_leaves(full.actor)[0][0]),
                              np.asarray(jax.tree_util.tree_leaves(full.actor)[0][1]))
    lines = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4 * 2  # episodes x seeds
    other = dataclasses.replace(TINY, collect=CollectConfig(envs=8, rounds=2))
    with pytest.raises(CheckpointMismatch, match="tac.collect.envs: checkpoint has 4, expected 8"):
        train_tac(scn, other, tmp_path / "b", seeds=2, chunk=2, resume=True, progress=False)
    with pytest.raises(CheckpointMismatch, match="scenario.l_channels"):
        train_tac(make_scenario("small", rounds=3, l_channels=6),
                  dataclasses.replace(TINY, net=NetConfig(n_channels=6)), tmp_path / "b",
                  seeds=2, chunk=2, resume=True, progress=False)
    # a run made by another simulator version (other state layout and random streams)
    import json
    cfg_path = tmp_path / "b" / "config.json"
    old = json.loads(cfg_path.read_text())
    cfg_path.write_text(json.dumps(dict(old, sim_version=2)))
    with pytest.raises(CheckpointMismatch, match="sim_version: checkpoint has 2, expected 3"):
        train_tac(scn, TINY, tmp_path / "b", seeds=2, chunk=2, resume=True, progress=False)
    cfg_path.write_text(json.dumps(old))
    # a transfer starts from the TAC run and trains the identity-attention student
    st_ = train_transfer(tmp_path / "a", TransferConfig(episodes=2, updates=2, batch_size=8,
                                                        eval_envs=2, eval_rounds=3,
                                                        collect=CollectConfig(envs=4, rounds=2)),
                         tmp_path / "d", chunk=2, progress=False)
    assert np.all(np.isfinite(np.asarray(jax.tree_util.tree_leaves(st_.student)[0])))


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

    key = jax.random.PRNGKey(3)
    score = float(common.validation_objective(local_act(1.0), None, key, params, 3, 4))
    assert score == float(common.validation_objective(local_act(1.0), None, key, params, 3, 4))
    k_reset, k_steps = rng.split(key)
    total = []
    for e, k_env in enumerate(rng.split(k_reset, 3)):
        obs, st = E.reset(k_env, params)
        for k in rng.split(k_steps, 4):
            act = common.to_action(*local_act(1.0)(None, obs))
            obs, st, _, _, info = E.step(rng.split(k, 3)[e], st, act, params)
            total.append(float(info["objective"]))
    np.testing.assert_allclose(score, np.mean(total), rtol=1e-5)
    slow = float(common.validation_objective(local_act(0.05), None, key, params, 3, 4))
    assert slow > 2 * score


def test_track_best_keeps_the_lowest_score():
    best, best_score, score = "a", jnp.inf, jnp.inf
    for name, obj in (("b", 5.0), ("c", 3.0), ("d", 4.0)):
        best, best_score, score = common.track_best(jnp.asarray(0.0) if best == "a" else best,
                                                    best_score, score, jnp.asarray(ord(name)),
                                                    jnp.asarray(obj), 0.0)
    assert int(best) == ord("c") and float(best_score) == 3.0 and float(score) == 4.0
