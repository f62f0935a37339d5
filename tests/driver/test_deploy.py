"""Distributed execution: one UE's decision from its own state equals the batched DTAC actor's."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cases import joint_state, net_params
from dtac_jax.algos.dtac import TransferConfig
from dtac_jax.deploy import act_fn
from dtac_jax.nets.transformer import Actor, NetConfig

NET = NetConfig()


def test_deploy_act_equals_batched_dtac():
    s, edge, mask = joint_state(3, n=20)
    cfg = TransferConfig()
    act = act_fn(net_params()["actor"], cfg, NET)
    p_x, p_l, a, b = jax.jit(Actor(NET, "identity").apply)(net_params()["actor"], s, edge, mask)
    for n in np.flatnonzero(np.asarray(mask)):
        x1, l1, a1, b1 = act(s[n], edge[n])
        assert int(x1) == int(jnp.argmax(p_x[n])) and int(l1) == int(jnp.argmax(p_l[n]))
        np.testing.assert_allclose([float(a1), float(b1)], [float(a[n]), float(b[n])], rtol=1e-6)


@pytest.mark.parametrize("net", [NetConfig(), NetConfig(d_model=8, heads=4, d_ff=16, encoders=1,
                                                        decoders=2, n_channels=3),
                                 NetConfig(encoders=0, decoders=1), NetConfig(decoders=0)],
                         ids=["default", "1enc-2dec-4heads", "0enc", "0dec"])
def test_folded_decision_equals_the_flax_identity_actor(net):
    """The one-token program (attention blocks folded into affine maps, the heads into one
    matrix) decides what the flax actor with identity attention decides, for every UE of joint
    states, at several network shapes (trained-like weights: the default init's scaled up, so
    that LayerNorm and the heads see spread values)."""
    from dtac_jax.deploy import fold_identity_actor, folded_decision
    actor = jax.tree_util.tree_map(lambda v: 3.0 * v, net_params(net, seed=1)["actor"])
    folded = fold_identity_actor(actor, net)
    one = jax.jit(jax.vmap(lambda s, e: folded_decision(folded, s, e, net)))
    for seed in range(3):
        s, edge, mask = joint_state(10 + seed, n=40)
        p_x, p_l, a, b = jax.jit(Actor(net, "identity").apply)(actor, s, edge, mask)
        x1, l1, a1, b1 = one(s, edge)
        m = np.asarray(mask)
        # argmax agrees unless the two best probabilities tie to float precision
        for probs, choice in ((p_x, x1), (p_l, l1)):
            top2 = np.sort(np.asarray(probs), axis=-1)[:, -2:]
            clear = m & (top2[:, 1] - top2[:, 0] > 1e-5)
            assert clear.sum() > 0.9 * m.sum()
            np.testing.assert_array_equal(np.asarray(choice)[clear],
                                          np.argmax(np.asarray(probs), -1)[clear])
        np.testing.assert_allclose(np.asarray(a1)[m], np.asarray(a)[m], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(b1)[m], np.asarray(b)[m], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.xdist_group("tiny_reproduction")
def test_deploy_from_a_trained_run_equals_its_evaluated_policy(tiny_reproduction):
    """``make_act(run_dir, seed)`` on a DTAC run folder decides for one UE exactly what the
    run's evaluated policy (``runs.load_family``) decides for that UE in the joint state."""
    from dtac_jax.deploy import make_act
    from dtac_jax.env import make_params, reset
    from dtac_jax.runs import load_family
    from dtac_jax.train import seed_slice
    run = tiny_reproduction.runs / "dtac"
    _, scn, stacked, make = load_family(run)
    params = make_params(scn)
    obs, state = reset(jax.random.PRNGKey(7), params)
    policy = make(seed_slice(stacked, 0))
    _, joint = policy.apply(policy.init(params), jax.random.PRNGKey(0), obs, state, params)
    act = make_act(run, seed_index=0)
    with pytest.raises(ValueError, match="seed_index 1 is not one of them"):
        make_act(run, seed_index=1)
    for n in np.flatnonzero(np.asarray(obs.mask)):
        x, ch, a, b = act(obs.s[n], obs.edge[n])
        assert (int(x), int(ch)) == (int(joint.x[n]), int(joint.channel[n]))
        np.testing.assert_allclose([float(a), float(b)], [float(joint.a[n]), float(joint.b[n])],
                                   rtol=1e-6)

