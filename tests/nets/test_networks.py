"""The actor and critic networks: identity attention decentralises, sizes near the paper's
Table IV, gradients reach every parameter."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from cases import joint_state, net_params
from dtac_jax.algos import losses, replay
from dtac_jax.algos.policy import actor_fn
from dtac_jax.algos.replay import CollectConfig
from dtac_jax.algos.tac import TACConfig, make_tac
from dtac_jax.env import make_params, make_scenario
from dtac_jax.nets.complexity import complexity
from dtac_jax.nets.transformer import Actor, NetConfig

NET = NetConfig()
TINY = TACConfig(iterations=4, updates=2, batch_size=8, buffer_size=256, eval_envs=2,
                 eval_rounds=3,
                 collect=CollectConfig(envs=4, rounds=2, noise_var=0.05, noise_decay=0.98))


_apply = {a: jax.jit(Actor(NET, a).apply) for a in ("full", "identity")}


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), what=st.sampled_from(["obs", "edge", "padding"]))
def test_identity_attention_decentralises(seed, what):
    s, edge, mask = joint_state(seed)
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
    out1 = _apply["identity"](net_params()["actor"], s, edge, mask)
    out2 = _apply["identity"](net_params()["actor"], s2, e2, m2)
    for a, b in zip(out1, out2):
        np.testing.assert_array_equal(np.asarray(a)[keep], np.asarray(b)[keep])
    # with full attention the others' outputs move
    f1 = _apply["full"](net_params()["actor"], s, edge, mask)
    f2 = _apply["full"](net_params()["actor"], s2, e2, m2)
    real_keep = keep & np.asarray(mask) & np.asarray(m2)
    assert np.abs(np.asarray(f1[0])[real_keep] - np.asarray(f2[0])[real_keep]).max() > 1e-7


def test_complexity_near_paper_table_iv():
    c = complexity(NET)
    assert 6_000 < c["actor_params"] < 11_000 and 6_000 < c["critic_params"] < 11_000
    assert c["actor_identity_flops_per_ue"] < c["actor_full_flops_per_ue"]


def _grad_norms(tree):
    return [float(jnp.linalg.norm(g)) for g in jax.tree_util.tree_leaves(tree)]


@pytest.mark.slow
def test_gradients_reach_every_parameter_and_are_finite():
    params = make_params(make_scenario("small"))
    init, _ = make_tac(params, TINY)
    ts = jax.jit(init)(jax.random.PRNGKey(0))

    @jax.jit
    def grads(ts, key):
        items = replay.collect(key, actor_fn(NET, "full"), ts.actor, ts.obs, ts.env_state,
                               0.05, params, TINY.collect, NET.a_min)[0]
        gc = jax.grad(losses.critic_loss)(ts.critic, items, NET, TINY.cost_scale)
        ga = jax.grad(losses.actor_critic_loss)(ts.actor, ts.critic, items,
                                                actor_fn(NET, "full"), NET, TINY.cost_scale,
                                                0.01)
        return gc, ga

    gc, ga = grads(ts, jax.random.PRNGKey(1))
    for g in (gc, ga):
        norms = _grad_norms(g)
        assert all(np.isfinite(norms)) and all(n > 0 for n in norms)
